"""Rotating the origin-verify secret (docs/front-door.md, "Rotation with no failed request"):
each of the four steps, each step repeated, a whole rotation during which the API never
refuses CloudFront, and the pure config change behind ``setSecret``.

Secrets Manager starts a rotation by staging a new version id ``AWSPENDING`` (no value yet) and
then invokes the function once per step. moto runs rotation functions only through its Lambda
emulation (Docker), so ``start_rotation`` stages that version as moto's own ``RotateSecret``
does, and the tests invoke the handler for each step.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import BUCKET, ORIGIN_SECRET, ORIGIN_VALUE, REGION, FakeContext
from moto.core import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import secretsmanager_backends

from filegate.adapters.distribution_config import DistributionConfigs
from filegate.adapters.origin_secret import OriginSecret
from filegate.adapters.secret_rotation import RotationError
from filegate.domain.front_door import ORIGIN_SECRET_REFRESH_SECONDS
from filegate.domain.origin_header import NoOriginHeader, origin_header_values, with_origin_header
from filegate.settings import OriginRotationSettings, SettingsError

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
API_DOMAIN = "a1b2c3d4e5.execute-api.ap-southeast-1.amazonaws.com"


def _custom_origin(origin_id: str, domain: str, headers: list[dict[str, str]]) -> dict[str, Any]:
    return {"Id": origin_id, "DomainName": domain,
            "CustomHeaders": {"Quantity": len(headers), "Items": headers},
            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only",
                                   "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]}}}


def create_front_door(*, with_header: bool = True) -> str:
    """A distribution as the file store stack makes it: the S3 origin, the API origin carrying
    ``x-origin-verify`` (and a second API origin, and one with an unrelated header)."""
    verify = [{"HeaderName": "x-origin-verify", "HeaderValue": ORIGIN_VALUE}] if with_header else []
    origins = [
        {"Id": "s3", "DomainName": f"{BUCKET}.s3.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""}},
        _custom_origin("api", API_DOMAIN, [{"HeaderName": "x-other", "HeaderValue": "keep"}, *verify]),
        _custom_origin("api-2", "f6g7h8.execute-api.ap-southeast-1.amazonaws.com",
                       [{"HeaderName": "X-Origin-Verify", "HeaderValue": ORIGIN_VALUE}] if with_header else []),
        _custom_origin("other", "example.org", [{"HeaderName": "x-other", "HeaderValue": "keep"}]),
    ]
    config = {
        "CallerReference": "filegate-front-door", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": len(origins), "Items": origins},
        "DefaultCacheBehavior": {"TargetOriginId": "s3", "ViewerProtocolPolicy": "https-only", "MinTTL": 0,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "TrustedSigners": {"Enabled": False, "Quantity": 0}},
    }
    return str(boto3.client("cloudfront", region_name=REGION).create_distribution(
        DistributionConfig=config)["Distribution"]["Id"])


def distribution_config(distribution_id: str) -> dict[str, Any]:
    config: dict[str, Any] = boto3.client("cloudfront", region_name=REGION).get_distribution_config(
        Id=distribution_id)["DistributionConfig"]
    return config


def header_values(distribution_id: str) -> dict[str, str]:
    """Origin id -> x-origin-verify value, read independently of the code under test."""
    found = {}
    for origin in distribution_config(distribution_id)["Origins"]["Items"]:
        for header in origin.get("CustomHeaders", {}).get("Items", []):
            if header["HeaderName"].lower() == "x-origin-verify":
                found[origin["Id"]] = header["HeaderValue"]
    return found


def start_rotation() -> str:
    """What ``RotateSecret`` does before the first step: rotation on, a new version id staged
    ``AWSPENDING`` with no value (moto's ``rotate_secret``, without its Lambda invocation)."""
    secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[ORIGIN_SECRET]
    token = str(uuid.uuid4())
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {"createdate": 1, "version_id": token, "version_stages": ["AWSPENDING"]}
    secret.rotation_requested = secret.rotation_enabled = True
    secret.rotation_lambda_arn = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:filegate-origin-rotation"
    secret.auto_rotate_after_days = 30
    return token


def stages() -> dict[str, list[str]]:
    """Stage -> version ids, from DescribeSecret."""
    found: dict[str, list[str]] = {}
    versions = boto3.client("secretsmanager", region_name=REGION).describe_secret(
        SecretId=ORIGIN_SECRET)["VersionIdsToStages"]
    for version, labels in versions.items():
        for label in labels:
            found.setdefault(label, []).append(version)
    return found


def value(stage: str) -> str:
    return str(boto3.client("secretsmanager", region_name=REGION).get_secret_value(
        SecretId=ORIGIN_SECRET, VersionStage=stage)["SecretString"])


@pytest.fixture
def front_door(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The rotation function configured for a front-door distribution; its id."""
    from filegate.handlers import origin_rotation
    distribution_id = create_front_door()
    monkeypatch.setenv("FILEGATE_DISTRIBUTION_ID", distribution_id)
    monkeypatch.setattr(origin_rotation, "sleep", WAITS.append)  # setSecret's settle wait, recorded
    WAITS.clear()
    origin_rotation.runtime.cache_clear()
    yield distribution_id
    origin_rotation.runtime.cache_clear()


#: The seconds setSecret asked to wait, in order (the front_door fixture records them).
WAITS: list[float] = []


def step(name: str, token: str, *, secret_id: str = ORIGIN_SECRET) -> dict[str, Any]:
    from filegate.handlers import origin_rotation
    response: dict[str, Any] = origin_rotation.handler(
        {"SecretId": secret_id, "ClientRequestToken": token, "Step": name}, FakeContext())
    return response


def updates() -> list[dict[str, Any]]:
    """From now on, the parameters of every UpdateDistribution the function sends."""
    from filegate.handlers import origin_rotation
    sent: list[dict[str, Any]] = []
    origin_rotation.runtime().cloudfront.meta.events.register(
        "provide-client-params.cloudfront.UpdateDistribution", lambda params, **_: sent.append(copy.deepcopy(params)))
    return sent


# --- each step, and each step again ---------------------------------------------------------------

def test_create_secret_stages_a_new_random_pending_value(front_door: str) -> None:
    # Given a rotation started
    token = start_rotation()
    # When createSecret runs, twice
    step("createSecret", token)
    pending = value("AWSPENDING")
    step("createSecret", token)
    # Then the pending version is the token's, 64 letters and digits, not the current value; the
    # repeat changed nothing; the current value is untouched
    assert stages()["AWSPENDING"] == [token] and value("AWSPENDING") == pending
    assert re.fullmatch(r"[A-Za-z0-9]{64}", pending) and pending != ORIGIN_VALUE
    assert value("AWSCURRENT") == ORIGIN_VALUE and "AWSPREVIOUS" not in stages()
    # And the distribution is not touched yet
    assert set(header_values(front_door).values()) == {ORIGIN_VALUE}


def test_set_secret_writes_the_pending_value_into_every_header_origin_only(front_door: str) -> None:
    # Given a pending value
    token = start_rotation()
    step("createSecret", token)
    pending = value("AWSPENDING")
    before = distribution_config(front_door)
    etag = boto3.client("cloudfront", region_name=REGION).get_distribution_config(Id=front_door)["ETag"]
    sent = updates()
    # When setSecret runs, twice
    step("setSecret", token)
    step("setSecret", token)
    # Then both origins carrying the header (any case) hold the pending value, under the read ETag,
    # in one update: the repeat found nothing to change
    assert header_values(front_door) == {"api": pending, "api-2": pending}
    assert len(sent) == 1 and sent[0]["IfMatch"] == etag and sent[0]["Id"] == front_door
    # And nothing else in the config changed
    after = distribution_config(front_door)
    for config in (before, after):
        for origin in config["Origins"]["Items"]:
            for header in origin["CustomHeaders"]["Items"]:
                if header["HeaderName"].lower() == "x-origin-verify":
                    header["HeaderValue"] = "<value>"
    assert after == before
    # And the secret's stages are as createSecret left them
    assert stages()["AWSPENDING"] == [token] and value("AWSCURRENT") == ORIGIN_VALUE


def test_set_secret_fails_when_no_origin_carries_the_header(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a distribution whose origins carry no x-origin-verify
    from filegate.handlers import origin_rotation
    distribution_id = create_front_door(with_header=False)
    monkeypatch.setenv("FILEGATE_DISTRIBUTION_ID", distribution_id)
    origin_rotation.runtime.cache_clear()
    token = start_rotation()
    step("createSecret", token)
    before = distribution_config(distribution_id)
    # When setSecret runs / Then it fails (rotating would protect nothing), changing nothing
    with pytest.raises(NoOriginHeader):
        step("setSecret", token)
    with pytest.raises(RotationError, match="no origin"):
        step("testSecret", token)
    assert distribution_config(distribution_id) == before
    origin_rotation.runtime.cache_clear()


def test_test_secret_passes_only_once_the_distribution_carries_the_pending_value(front_door: str) -> None:
    # Given a pending value not yet set
    token = start_rotation()
    step("createSecret", token)
    # When testSecret runs before setSecret / Then it fails, naming the origins, not the values
    with pytest.raises(RotationError) as raised:
        step("testSecret", token)
    assert "api" in str(raised.value) and value("AWSPENDING") not in str(raised.value)
    assert ORIGIN_VALUE not in str(raised.value)
    # And after setSecret it passes, every time
    step("setSecret", token)
    assert step("testSecret", token) == {"step": "testSecret"}
    assert step("testSecret", token) == {"step": "testSecret"}


def test_finish_secret_makes_the_pending_value_current_and_keeps_the_old_as_previous(front_door: str) -> None:
    # Given the first three steps done
    old_version = stages()["AWSCURRENT"][0]
    token = start_rotation()
    for name in STEPS[:3]:
        step(name, token)
    pending = value("AWSPENDING")
    # When finishSecret runs, twice
    step("finishSecret", token)
    step("finishSecret", token)
    # Then the token is current, the old version previous, and every step after it changes nothing
    current = stages()
    assert current["AWSCURRENT"] == [token] and current["AWSPREVIOUS"] == [old_version]
    assert value("AWSCURRENT") == pending and value("AWSPREVIOUS") == ORIGIN_VALUE
    sent = updates()
    for name in STEPS:
        step(name, token)
    assert sent == [] and stages() == current


@pytest.mark.parametrize("event", [
    {"ClientRequestToken": "t", "Step": "createSecret"},
    {"SecretId": ORIGIN_SECRET, "Step": "createSecret"},
    {"SecretId": ORIGIN_SECRET, "ClientRequestToken": "t", "Step": "rotateEverything"},
    "not an event",
], ids=["no-secret", "no-token", "unknown-step", "not-a-dict"])
def test_events_that_are_not_rotation_steps_are_refused(front_door: str, event: Any) -> None:
    from filegate.handlers import origin_rotation
    # Given a malformed event / Then it fails before any change
    with pytest.raises(RotationError):
        origin_rotation.handler(event, FakeContext())
    assert "AWSPENDING" not in stages()


def test_a_token_that_is_not_pending_is_refused(front_door: str) -> None:
    # Given a token Secrets Manager never staged, and a rotation that is not enabled
    with pytest.raises(RotationError, match="rotation is not enabled"):
        step("createSecret", str(uuid.uuid4()))
    start_rotation()
    with pytest.raises(RotationError, match="no stage for rotation"):
        step("createSecret", str(uuid.uuid4()))
    # And a version that is neither pending nor current (an old one)
    token = start_rotation()
    for name in STEPS:
        step(name, token)
    previous = stages()["AWSPREVIOUS"][0]
    with pytest.raises(RotationError, match="not staged AWSPENDING"):
        step("setSecret", previous)
    # Then the distribution still carries the current value
    assert set(header_values(front_door).values()) == {value("AWSCURRENT")}


# --- a whole rotation, as the API sees it ----------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def test_a_whole_rotation_refuses_no_request_from_cloudfront(front_door: str, logs: list[str],
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    # Given the API's verifier (warm, its set read before the rotation) and edges sending the old value
    clock = Clock()
    verifier = OriginSecret(boto3.client("secretsmanager", region_name=REGION), ORIGIN_SECRET, clock=clock)
    assert verifier.accepts(ORIGIN_VALUE)
    token = start_rotation()
    refused: list[str] = []
    new_value: str | None = None
    for name in STEPS:
        # When each step runs (CloudFront takes minutes to deploy a config: far more than the
        # refresh interval between a value's staging and its first arrival at the origin)
        step(name, token)
        clock.now += ORIGIN_SECRET_REFRESH_SECONDS
        new_value = new_value or value("AWSPENDING")
        # Then, at every step, both what edges still send and what switched edges send passes
        for presented in {ORIGIN_VALUE, new_value, *header_values(front_door).values()}:
            if not verifier.accepts(presented):
                refused.append(f"{name}: {'old' if presented == ORIGIN_VALUE else 'new'}")
        # And a value nobody staged does not
        assert not verifier.accepts(uuid.uuid4().hex * 2)
    assert refused == []
    assert set(header_values(front_door).values()) == {new_value} and value("AWSCURRENT") == new_value
    # And no log line holds either value
    captured = capfd.readouterr()
    output = "\n".join(logs) + captured.out + captured.err
    assert "origin secret rotation step done" in output
    assert ORIGIN_VALUE not in output and new_value not in output


def test_after_rotation_the_previous_value_is_still_accepted(front_door: str) -> None:
    # Given a rotation done
    token = start_rotation()
    for name in STEPS:
        step(name, token)
    new_value = value("AWSCURRENT")
    # When a fresh execution environment reads the set (AWSPENDING may be gone by then)
    verifier = OriginSecret(boto3.client("secretsmanager", region_name=REGION), ORIGIN_SECRET)
    # Then AWSPREVIOUS (edges not yet switched) and AWSCURRENT pass, a random value does not
    assert verifier.accepts(ORIGIN_VALUE) and verifier.accepts(new_value)
    assert not verifier.accepts(uuid.uuid4().hex * 2)
    # And after the next rotation, the value from two rotations ago is no longer accepted
    second = start_rotation()
    for name in STEPS:
        step(name, second)
    later = OriginSecret(boto3.client("secretsmanager", region_name=REGION), ORIGIN_SECRET)
    assert later.accepts(new_value) and later.accepts(value("AWSCURRENT"))
    assert not later.accepts(ORIGIN_VALUE)


# --- the pure change and the adapter ------------------------------------------------------------

def test_with_origin_header_changes_only_that_header() -> None:
    # Given a config with the header on two origins (any case), other headers, other fields
    config = {"Comment": "c", "Origins": {"Quantity": 3, "Items": [
        {"Id": "a", "CustomHeaders": {"Quantity": 2, "Items": [{"HeaderName": "x-origin-verify", "HeaderValue": "1"},
                                                              {"HeaderName": "x-keep", "HeaderValue": "k"}]}},
        {"Id": "b", "CustomHeaders": {"Quantity": 1, "Items": [{"HeaderName": "X-ORIGIN-VERIFY",
                                                                "HeaderValue": "1"}]}},
        {"Id": "s3", "S3OriginConfig": {"OriginAccessIdentity": ""}}]}}
    original = json.loads(json.dumps(config))
    # When the value is set
    changed = with_origin_header(config, "new")
    # Then both carry it, nothing else changed, and the input is untouched
    assert origin_header_values(changed) == {"a": "new", "b": "new"}
    assert origin_header_values(config) == {"a": "1", "b": "1"} and config == original
    masked = json.loads(json.dumps(changed).replace('"new"', '"1"'))
    assert masked == original
    # And a config without the header is an error, as is one without origins
    for bare in ({"Origins": {"Quantity": 1, "Items": [{"Id": "s3"}]}}, {}):
        with pytest.raises(NoOriginHeader):
            with_origin_header(bare, "new")
        assert origin_header_values(bare) == {}


class Flaky:
    """A CloudFront client whose UpdateDistribution fails with PreconditionFailed ``failures`` times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.reads = 0
        self.writes: list[str] = []

    def get_distribution_config(self, Id: str) -> dict[str, Any]:
        self.reads += 1
        return {"DistributionConfig": {"Origins": {"Items": [
            {"Id": "api", "CustomHeaders": {"Items": [{"HeaderName": "x-origin-verify", "HeaderValue": "old"}]}}]}},
            "ETag": f"E{self.reads}"}

    def update_distribution(self, Id: str, IfMatch: str, DistributionConfig: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise ClientError({"Error": {"Code": "PreconditionFailed", "Message": "changed"}}, "UpdateDistribution")
        self.writes.append(IfMatch)


def test_a_config_changed_meanwhile_is_read_again_not_overwritten() -> None:
    # Given a config another writer changes once between our read and our write
    client = Flaky(failures=1)
    # When the header is set / Then it is read again and written under the new ETag
    assert DistributionConfigs(client, "E1").update(lambda config: with_origin_header(config, "new"))
    assert client.reads == 2 and client.writes == ["E2"]
    # And a writer that keeps changing it makes the step fail (Secrets Manager retries it)
    with pytest.raises(ClientError):
        DistributionConfigs(Flaky(failures=3), "E1").update(lambda config: with_origin_header(config, "new"))


def test_rotation_settings_need_the_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the rotation function's environment
    settings = OriginRotationSettings.from_environ({"FILEGATE_DISTRIBUTION_ID": "E2ABCDEF", "AWS_REGION": REGION})
    assert (settings.distribution_id, settings.region) == ("E2ABCDEF", REGION)
    # Then a missing or malformed id names the variable
    for environ in ({}, {"FILEGATE_DISTRIBUTION_ID": "not an id"}):
        with pytest.raises(SettingsError, match=r"^FILEGATE_DISTRIBUTION_ID: "):
            OriginRotationSettings.from_environ(environ)


def test_set_secret_waits_until_no_warm_function_can_miss_the_new_value(front_door: str) -> None:
    # Given a warm function that read the set just before createSecret, and re-read it on an unknown
    # value (a probe), so that its next re-read on a miss is ORIGIN_SECRET_REFRESH_SECONDS away
    from filegate.handlers import origin_rotation
    clock = Clock()
    verifier = OriginSecret(boto3.client("secretsmanager", region_name=REGION), ORIGIN_SECRET, clock=clock)
    assert verifier.accepts(ORIGIN_VALUE) and not verifier.accepts("probe" * 10)
    token = start_rotation()
    step("createSecret", token)
    pending = value("AWSPENDING")
    # When setSecret runs right after createSecret
    step("setSecret", token)
    # Then it waited (once) long enough for the refresh interval to pass before any edge could send the value
    assert len(WAITS) == 1
    assert origin_rotation.SETTLE_SECONDS - 3 <= WAITS[0] <= origin_rotation.SETTLE_SECONDS
    assert WAITS[0] > ORIGIN_SECRET_REFRESH_SECONDS
    # And an edge sending the new value at the earliest moment after that wait is accepted
    clock.now += WAITS[0]
    assert verifier.accepts(pending)


def test_without_the_settle_wait_a_fast_edge_would_be_refused(front_door: str) -> None:
    # Given the same warm function, re-read just before createSecret
    clock = Clock()
    verifier = OriginSecret(boto3.client("secretsmanager", region_name=REGION), ORIGIN_SECRET, clock=clock)
    assert verifier.accepts(ORIGIN_VALUE) and not verifier.accepts("probe" * 10)
    token = start_rotation()
    step("createSecret", token)
    # When an edge sent the pending value within the refresh interval (what the wait prevents)
    clock.now += ORIGIN_SECRET_REFRESH_SECONDS / 2
    # Then it would be refused: the hazard the wait in setSecret closes is real
    assert not verifier.accepts(value("AWSPENDING"))


def test_a_retried_set_secret_neither_waits_nor_writes(front_door: str) -> None:
    # Given setSecret done once (it waited once)
    token = start_rotation()
    step("createSecret", token)
    step("setSecret", token)
    assert len(WAITS) == 1
    sent = updates()
    # When it is retried
    step("setSecret", token)
    # Then it does not wait again, nor write
    assert len(WAITS) == 1 and sent == []


class Deploying:
    """A CloudFront stand-in reporting ``InProgress`` for the first ``polls`` status reads."""

    def __init__(self, real: Any, polls: int) -> None:
        self.real, self.polls, self.reads = real, polls, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def get_distribution(self, Id: str) -> dict[str, Any]:
        self.reads += 1
        response: dict[str, Any] = self.real.get_distribution(Id=Id)
        if self.reads <= self.polls:
            response["Distribution"]["Status"] = "InProgress"
        return response


def with_cloudfront(monkeypatch: pytest.MonkeyPatch, cloudfront: Any) -> None:
    """The rotation runtime with another CloudFront client (the runtime is a frozen dataclass)."""
    from filegate.handlers import origin_rotation
    real = origin_rotation.runtime()
    monkeypatch.setattr(origin_rotation, "runtime",
                        functools.lru_cache(maxsize=1)(lambda: dataclasses.replace(real, cloudfront=cloudfront)))


def test_test_secret_waits_for_the_deployment(front_door: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the pending value set on a distribution that is still deploying (two status reads)
    from filegate.handlers import origin_rotation
    token = start_rotation()
    step("createSecret", token)
    step("setSecret", token)
    WAITS.clear()
    deploying = Deploying(origin_rotation.runtime().cloudfront, polls=2)
    with_cloudfront(monkeypatch, deploying)
    # When testSecret runs / Then it polls until Deployed, then passes
    step("testSecret", token)
    assert deploying.reads == 3 and WAITS == [origin_rotation.DEPLOY_POLL_SECONDS] * 2


def test_test_secret_fails_while_the_deployment_outlasts_its_wait(front_door: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a distribution that stays InProgress past the wait
    from filegate.handlers import origin_rotation
    token = start_rotation()
    step("createSecret", token)
    step("setSecret", token)
    with_cloudfront(monkeypatch, Deploying(origin_rotation.runtime().cloudfront, polls=10_000))
    now = [1000.0]
    monkeypatch.setattr(origin_rotation, "clock", lambda: now[0])
    monkeypatch.setattr(origin_rotation, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))
    # When testSecret runs / Then it raises (Secrets Manager retries), and the value stays pending
    with pytest.raises(RotationError, match="still deploying"):
        step("testSecret", token)
    assert stages()["AWSPENDING"] == [token] and value("AWSCURRENT") == ORIGIN_VALUE


@pytest.mark.parametrize("shape", ["no value", "a copy of the current value"])
def test_the_configuration_test_passes_without_a_rotation(front_door: str, shape: str) -> None:
    # Given Secrets Manager testing the rotation configuration (a schedule created without rotating at once):
    # a version staged AWSPENDING that holds no value, or (moto's shape) the current one
    token = start_rotation()
    if shape != "no value":
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId=ORIGIN_SECRET, ClientRequestToken=token, SecretString=ORIGIN_VALUE, VersionStages=["AWSPENDING"])
    before = distribution_config(front_door)
    # When testSecret runs alone
    step("testSecret", token)
    # Then it passes, waits for nothing and changes nothing
    assert WAITS == [] and distribution_config(front_door) == before
    assert value("AWSCURRENT") == ORIGIN_VALUE
