"""Rotating the origin-verify secret fails no request (docs/front-door.md, "Rotation with no
failed request").

Secrets Manager's ``RotateSecret`` (moto's) invokes the real rotation function,
``filegate.handlers.origin_rotation.handler``, in its own process (``local/function_worker.py``,
reached through ``local/moto_server.py``) for its four steps, while a thread keeps calling a user
route through the edge. The edge reads the distribution's origin header at most 2 s old, so it
switches to the new value during the test; the handlers accept ``AWSPENDING`` before the switch
and ``AWSPREVIOUS`` after, so not one answer may fail.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests

from filegate.domain.front_door import ORIGIN_SECRET_REFRESH_SECONDS, ORIGIN_VERIFY_HEADER
from local.edge import ORIGIN_FINGERPRINT_HEADER, origin_fingerprint
from tests.e2e.conftest import Local
from tests.e2e.helpers import mint_upload, post_file, wait_until_decided
from tests.unit import samples

pytestmark = pytest.mark.e2e

#: Bounds of the background caller: it stops on its own after this long whatever happens.
LOAD_MAX_SECONDS = 60.0
#: How long the edge may take to send the new value once the rotation is done: its config cache
#: (2 s) plus slack for a loaded 2-core machine.
SWITCH_TIMEOUT_SECONDS = 10.0


@functools.cache
def _client(service: str, endpoint: str, region: str) -> Any:
    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name=region,
                                          aws_access_key_id="test", aws_secret_access_key="test")


def aws(local: Local, service: str) -> Any:
    return _client(service, local.endpoints["aws"], local.region)


def staged(local: Local, stage: str) -> str:
    response = aws(local, "secretsmanager").get_secret_value(SecretId=local.runtime["origin_secret"],
                                                             VersionStage=stage)
    return str(response["SecretString"])


def distribution_header(local: Local) -> str:
    config = aws(local, "cloudfront").get_distribution_config(Id=local.runtime["distribution_id"])
    (api,) = [origin for origin in config["DistributionConfig"]["Origins"]["Items"] if origin["Id"] == "api"]
    (header,) = [item for item in api["CustomHeaders"]["Items"] if item["HeaderName"] == ORIGIN_VERIFY_HEADER]
    return str(header["HeaderValue"])


@dataclass
class Caller:
    """Calls ``GET {api}/files/{id}`` through the edge until stopped (or for at most
    ``LOAD_MAX_SECONDS``), recording every answer's status and the edge's origin-header fingerprint."""

    url: str
    token: str
    answers: list[tuple[float, int, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        session = requests.Session()
        deadline = time.monotonic() + LOAD_MAX_SECONDS
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                response = session.get(self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
            except requests.RequestException as error:  # a failed request, however it failed
                self.failures.append(f"{type(error).__name__}: {error}")
                continue
            self.answers.append((time.monotonic(), response.status_code,
                                 response.headers.get(ORIGIN_FINGERPRINT_HEADER, "")))
            if not 200 <= response.status_code < 300:
                self.failures.append(f"{response.status_code}: {response.text[:200]}")
            time.sleep(0.01)

    def latest(self) -> str:
        return self.answers[-1][2] if self.answers else ""


def direct(local: Local, token: str, key: str, value: str) -> requests.Response:
    """POST /downloads straight to the local API (execute-api's stand-in) with ``value`` as the header."""
    return requests.post(f"{local.backend_api}/downloads", json={"key": key}, timeout=30,
                         headers={"Authorization": f"Bearer {token}", ORIGIN_VERIFY_HEADER: value})


def test_rotating_the_origin_secret_fails_no_request(local: Local) -> None:
    token = local.token(user="alice")
    content = samples.pdf(text="calls during a rotation")
    upload = mint_upload(local, token, "cv", "application/pdf", len(content), filename="rotation.pdf")
    assert post_file(upload, content).status_code == 201
    assert wait_until_decided(local, token, upload.file_id)["status"] == "clean"
    old = staged(local, "AWSCURRENT")
    assert distribution_header(local) == old

    # Given a caller that keeps using a user route through the edge, with the current value
    caller = Caller(url=f"{local.api}/files/{upload.file_id}", token=token)
    thread = threading.Thread(target=caller.run, name="front-door-caller", daemon=True)
    thread.start()
    try:
        # (an unknown value makes the function re-read the secret at most once per refresh
        # interval; let any such read be over, as CloudFront's edges take longer than that to
        # switch after setSecret, while the local edge switches within 2 s)
        refused = requests.get(f"{local.backend_api}/files/{upload.file_id}", timeout=30, headers={
            "Authorization": f"Bearer {token}", ORIGIN_VERIFY_HEADER: secrets.token_urlsafe(48)})
        assert refused.status_code == 403
        time.sleep(ORIGIN_SECRET_REFRESH_SECONDS + 0.5)
        assert caller.answers and caller.latest() == origin_fingerprint(old), caller.answers[-3:]

        # When Secrets Manager rotates the secret: createSecret, setSecret, testSecret, finishSecret
        rotated_at = time.monotonic()
        rotation = aws(local, "secretsmanager").rotate_secret(
            SecretId=local.runtime["origin_secret"], RotationLambdaARN=local.runtime["origin_rotation_function_arn"],
            RotationRules={"AutomaticallyAfterDays": 30})
        new = staged(local, "AWSCURRENT")

        # Then the new value is current, the old one previous, and the distribution carries the new one
        assert new != old and len(new) == 64 and new.isalnum()
        assert staged(local, "AWSPREVIOUS") == old
        stages = aws(local, "secretsmanager").describe_secret(SecretId=local.runtime["origin_secret"])
        assert "AWSCURRENT" in stages["VersionIdsToStages"][rotation["VersionId"]]
        assert distribution_header(local) == new
        # And the edge switches to it within its 2 s cache, while the calls go on
        deadline = time.monotonic() + SWITCH_TIMEOUT_SECONDS
        while caller.latest() != origin_fingerprint(new) and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.05)
        switched_at = next(at for at, _, seen in caller.answers if seen == origin_fingerprint(new))
        assert switched_at - rotated_at < SWITCH_TIMEOUT_SECONDS
        time.sleep(1.0)  # more calls with the new value
    finally:
        caller.stop.set()
        thread.join(timeout=35)

    # And not one call failed, before, during or after the switch
    assert not caller.failures, caller.failures[:5]
    fingerprints = [seen for _, _, seen in caller.answers]
    assert fingerprints.count(origin_fingerprint(old)) > 10 and fingerprints.count(origin_fingerprint(new)) > 10
    switch = fingerprints.index(origin_fingerprint(new))
    assert set(fingerprints[switch:]) == {origin_fingerprint(new)}, "the edge went back to the old value"

    # And straight to the API: the new value passes (a function that has not seen it re-reads),
    # the old one still passes as AWSPREVIOUS (read in that re-read), a random one is refused
    assert direct(local, token, upload.key, new).status_code == 200
    assert direct(local, token, upload.key, old).status_code == 200
    random = direct(local, token, upload.key, secrets.token_urlsafe(48))
    assert random.status_code == 403 and random.json()["error"]["code"] == "origin_not_verified"

    # And a late retry of any step (Secrets Manager redelivers; the token is current by now) fails nothing and
    # changes nothing (each step's own retry is proven in tests/unit/test_origin_rotation.py)
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        invoked = aws(local, "lambda").invoke(
            FunctionName=local.runtime["origin_rotation_function_arn"], Payload=json.dumps({
                "Step": step, "SecretId": local.runtime["origin_secret"], "ClientRequestToken": rotation["VersionId"]}))
        assert "FunctionError" not in invoked, invoked["Payload"].read()
    assert staged(local, "AWSCURRENT") == new and staged(local, "AWSPREVIOUS") == old
    assert distribution_header(local) == new
