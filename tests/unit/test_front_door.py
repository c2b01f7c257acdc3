"""The front door (docs/front-door.md): the shared names, the origin check on user routes, the
accepted values' cache, and what the audit says about requests that came through CloudFront."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from conftest import (
    BACKEND_ARN,
    ORIGIN_SECRET,
    ORIGIN_VALUE,
    REGION,
    Minting,
    api_event,
    body,
    careers,
    put_record,
)

from filegate.adapters.dependency_config import worst_case_seconds
from filegate.adapters.origin_secret import OriginSecret, OriginSecretUnavailable
from filegate.domain.errors import HTTP_STATUS, ErrorCode
from filegate.domain.front_door import (
    API_STAGE,
    GATEWAY_MESSAGES,
    ORIGIN_SECRET_CACHE_SECONDS,
    ORIGIN_SECRET_REFRESH_SECONDS,
    ORIGIN_VERIFY_HEADER,
    WAF_RESPONSES,
    waf_response_body,
)

CV_KEY = "private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf"
FILE_ID = "0123456789abcdef0123456789abcdef"
UPLOAD = {"rule": "cv", "content_type": "application/pdf", "size": 5}


def _audits(lines: list[str]) -> list[dict[str, Any]]:
    return [record["audit"] for record in map(json.loads, lines) if "audit" in record]


# --- the shared names -------------------------------------------------------------------------

def test_the_contract_names_are_the_documented_ones() -> None:
    # Given the names docs/front-door.md uses verbatim / Then the constants spell them so
    assert (API_STAGE, ORIGIN_VERIFY_HEADER) == ("api", "x-origin-verify")
    assert (ORIGIN_SECRET_REFRESH_SECONDS, ORIGIN_SECRET_CACHE_SECONDS) == (5, 300)
    assert dict(GATEWAY_MESSAGES) == {401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                                      413: "Request Entity Too Large",
                                      429: "Too Many Requests", 500: "Internal Server Error",
                                      503: "Service Unavailable"}


def test_waf_bodies_are_compact_deterministic_json_with_listed_codes() -> None:
    # Given the three WebACL custom responses
    assert set(WAF_RESPONSES) == {"api-blocked", "api-body-too-large", "api-rate-limited"}
    expected = {"api-blocked": (403, "request_blocked"), "api-body-too-large": (413, "request_too_large"),
                "api-rate-limited": (429, "rate_limited")}
    for key, (status, code) in expected.items():
        response = WAF_RESPONSES[key]
        text = waf_response_body(key)
        # Then each body is {"error": {"code", "message"}} exactly, compact, the same on every call
        assert (response.status, response.code) == (status, code)
        assert json.loads(text) == {"error": {"code": code, "message": response.message}}
        assert text == '{"error":{"code":"' + code + '","message":"' + response.message + '"}}'
        assert text == waf_response_body(key) and text.isascii()
        # And its code is one of the API's error codes, with the same status
        assert HTTP_STATUS[ErrorCode(code)] == status
    with pytest.raises(KeyError):
        waf_response_body("api-unknown")


# --- the origin check -------------------------------------------------------------------------

USER_ROUTES: list[tuple[str, str, Any, str]] = [
    ("POST", "/uploads", UPLOAD, "upload"),
    ("POST", "/downloads", {"key": CV_KEY}, "download"),
    ("POST", "/downloads/cookies", {"prefix": "private/users/alice/"}, "download"),
    ("GET", "/files", None, "file"),
    ("GET", f"/files/{FILE_ID}", None, "file"),
    ("DELETE", f"/files/{FILE_ID}", None, "delete"),
]


def _call(minting: Minting, function: str, event: dict[str, Any]) -> dict[str, Any]:
    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "upload": minting.upload, "download": minting.download, "file": minting.file, "delete": minting.delete}
    return handlers[function](event)


@pytest.fixture
def clean_cv(aws: None) -> None:
    put_record(CV_KEY, owner_sub="alice")


@pytest.mark.parametrize(("method", "path", "payload", "function"), USER_ROUTES,
                         ids=[f"{method} {path}" for method, path, _, _ in USER_ROUTES])
@pytest.mark.parametrize("presented", [None, "", "wrong", ORIGIN_VALUE + "x", ORIGIN_VALUE[:-1], ORIGIN_VALUE.lower()],
                         ids=["missing", "empty", "wrong", "longer", "shorter", "other-case"])
def test_user_routes_refuse_a_request_without_the_origin_value(
        *, clean_cv: None, minting: Minting, logs: list[str], method: str, path: str, payload: Any, function: str,
        presented: str | None) -> None:
    # Given a user route called with a valid token but without CloudFront's value (straight at execute-api)
    event = api_event(path, payload, claims=careers("alice"), method=method, origin=presented)
    # When it is handled
    response = _call(minting, function, event)
    # Then it is 403 origin_not_verified, with one refusal audit record
    assert response["statusCode"] == 403, response["body"]
    assert body(response)["error"]["code"] == "origin_not_verified"
    [audit] = _audits(logs)
    assert (audit["event"], audit["status"], audit["code"], audit["reason"]) == (
        "refusal", 403, "origin_not_verified", "origin_not_verified")
    assert audit["channel"] == "user" and audit["sub"] == "alice" and audit["route"] == f"{method} {path}"


@pytest.mark.parametrize(("method", "path", "payload", "function"), USER_ROUTES,
                         ids=[f"{method} {path}" for method, path, _, _ in USER_ROUTES])
def test_user_routes_pass_with_the_origin_value(*, clean_cv: None, minting: Minting, method: str, path: str,
                                                payload: Any, function: str) -> None:
    # Given the same calls as CloudFront forwards them (the header name in any case)
    event = api_event(path, payload, claims=careers("alice"), method=method, origin=None,
                      headers={"X-Origin-Verify": ORIGIN_VALUE})
    # When handled / Then the route itself answers (the seed rules allow no delete: its own 403)
    response = _call(minting, function, event)
    assert response["statusCode"] in {200, 201, 204, 403, 404}, response["body"]
    assert "origin_not_verified" not in (response.get("body") or "")


def test_the_origin_is_checked_before_the_body_is_parsed(minting: Minting) -> None:
    # Given a direct call with a body that is not even JSON
    event = api_event("/uploads", raw_body="{nope", claims=careers("alice"), origin="wrong")
    # When handled / Then the answer is the front door's 403, not the body's 400
    response = minting.upload(event)
    assert response["statusCode"] == 403 and body(response)["error"]["code"] == "origin_not_verified"


def test_a_refused_call_never_parses_its_body(minting: Minting, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a direct call (no CloudFront, so no body limit) with a large body
    from filegate.handlers import common
    parsed: list[int] = []
    real = common._parsed_body
    monkeypatch.setattr(common, "_parsed_body", lambda event: parsed.append(1) or real(event))
    event = api_event("/uploads", raw_body=json.dumps({"filename": "x" * 2_000_000}), claims=careers("alice"),
                      origin="wrong")
    # When handled
    response = minting.upload(event)
    # Then it is the front door's 403, and the body was never parsed
    assert response["statusCode"] == 403 and body(response)["error"]["code"] == "origin_not_verified"
    assert parsed == []
    # And with the right value the same route does parse it (the probe sees parsing)
    minting.upload(api_event("/uploads", UPLOAD, claims=careers("alice")))
    assert parsed == [1]


def test_a_backend_route_key_on_a_user_path_is_a_user_route(minting: Minting) -> None:
    # Given an event whose route key says backend but whose path (what the resolver routes on) is a user route
    event = api_event("/uploads", UPLOAD, claims=careers("alice"), origin="wrong")
    for holder in (event, event["requestContext"]):
        holder["routeKey"] = "POST /backend/uploads"
    # When handled / Then the front door is checked: 403
    response = minting.upload(event)
    assert response["statusCode"] == 403 and body(response)["error"]["code"] == "origin_not_verified"


def test_backend_routes_ignore_the_origin_header(clean_cv: None, minting: Minting) -> None:
    # Given backend calls (SigV4 to execute-api, never through CloudFront): none, or a wrong value
    request = {"key": CV_KEY, "on_behalf_of": {"sub": "alice", "groups": ["careers"]}}
    for headers in ({}, {ORIGIN_VERIFY_HEADER: "wrong"}):
        response = minting.download(api_event("/backend/downloads", request, iam_arn=BACKEND_ARN, headers=headers))
        # Then the route answers as before
        assert response["statusCode"] == 200, response["body"]


@pytest.mark.parametrize("route_key", [None, "$default", "", "POST", "post /backend/uploads", 42,
                                       "POST /uploads/../backend/uploads x"])
def test_a_missing_or_odd_route_key_is_a_user_route(minting: Minting, route_key: Any) -> None:
    # Given an event for the backend upload route whose route key is missing or not of the usual shape
    event = api_event("/backend/uploads", {**UPLOAD, "on_behalf_of": {"sub": "alice", "groups": ["careers"]}},
                      iam_arn=BACKEND_ARN)
    for holder in (event, event["requestContext"]):
        if route_key is None:
            holder.pop("routeKey")
        else:
            holder["routeKey"] = route_key
    # When handled / Then it is checked as a user route (fail closed): no header, 403
    response = minting.upload(event)
    assert response["statusCode"] == 403 and body(response)["error"]["code"] == "origin_not_verified"


def test_a_function_whose_secret_cannot_be_read_answers_503(configure: Any, logs: list[str]) -> None:
    # Given a function configured with an origin secret that does not exist (nothing cached)
    from conftest import create_kms_key, filegate_env
    minting = configure(**filegate_env(kms_key_id=create_kms_key(), FILEGATE_ORIGIN_SECRET="filegate-missing"))
    # When a user route is called with a value / Then 503 temporarily_unavailable, retryable
    response = minting.upload(api_event("/uploads", UPLOAD, claims=careers("alice")))
    assert response["statusCode"] == 503, response["body"]
    assert body(response)["error"]["code"] == "temporarily_unavailable" and response["headers"]["Retry-After"] == "1"
    [audit] = _audits(logs)
    assert audit["reason"] == "origin_check_unavailable"
    # And a call without any value is still the front door's 403 (nothing to compare)
    response = minting.upload(api_event("/uploads", UPLOAD, claims=careers("alice"), origin=None))
    assert response["statusCode"] == 403


def test_the_origin_value_is_never_logged_or_audited(
        clean_cv: None, minting: Minting, logs: list[str], capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given logging as verbose as Powertools gets, event logging asked for included (read when the
    # entry point is made, so the entry points are made again here)
    from conftest import FakeContext

    from filegate.handlers import downloads, files, uploads
    from filegate.handlers.common import lambda_entry_point, logger
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    handlers = {module: lambda_entry_point(module.app, backend_principals=module._backend_principals,
                                           origin=module._origin) for module in (uploads, downloads, files)}
    logger.setLevel("DEBUG")
    wrong = secrets.token_urlsafe(40)
    try:
        # When user routes are called with the right value, a wrong one, and the right one refused
        # for another reason (a bad body)
        for module, event in (
                (uploads, api_event("/uploads", UPLOAD, claims=careers("alice"))),
                (downloads, api_event("/downloads", {"key": CV_KEY}, claims=careers("alice"))),
                (downloads, api_event("/downloads", {"key": CV_KEY}, claims=careers("alice"), origin=wrong)),
                (downloads, api_event("/downloads", raw_body="{", claims=careers("alice"))),
                (files, api_event("/files", claims=careers("alice"), method="GET", origin=None,
                                  headers={"X-Origin-Verify": ORIGIN_VALUE}))):
            handlers[module](event, FakeContext())
    finally:
        logger.setLevel("INFO")
    captured = capfd.readouterr()
    output = "\n".join(logs) + captured.out + captured.err
    # Then the requests were logged (the check looks at real output)...
    assert len(_audits(logs)) == 5 and "origin_not_verified" in output
    # ...and neither the secret's value nor a presented value appears anywhere in it
    assert ORIGIN_VALUE not in output
    assert wrong not in output
    assert ORIGIN_VERIFY_HEADER not in output.lower()


def test_the_check_can_see_a_leak(minting: Minting, logs: list[str], capfd: pytest.CaptureFixture[str]) -> None:
    # Given the value written to the log on purpose / Then the capture the test above relies on finds it
    from filegate.handlers.common import logger
    logger.info("oops", extra={"header": ORIGIN_VALUE})
    captured = capfd.readouterr()
    assert ORIGIN_VALUE in "\n".join(logs) + captured.out + captured.err


def test_the_origin_client_is_built_once_with_the_short_budget(minting: Minting) -> None:
    # Given the verifier each user-route function builds
    from filegate.handlers import deletions, downloads, files, uploads
    for module in (uploads, downloads, files, deletions):
        origin = module.runtime().origin
        # Then it is the one of the execution environment, with the dependency budget
        assert module.runtime().origin is origin
        config = origin._client.meta.config  # type: ignore[attr-defined]
        assert (config.connect_timeout, config.read_timeout) == (1, 2)
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}
        assert worst_case_seconds(config) < 8


# --- the accepted values ----------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """A Secrets Manager client that counts (and may fail) ``GetSecretValue`` calls."""

    def __init__(self) -> None:
        self.client = boto3.client("secretsmanager", region_name=REGION)
        self.calls: list[str] = []
        self.fail: Exception | None = None

    def get_secret_value(self, **request: Any) -> Any:
        self.calls.append(request["VersionStage"])
        if self.fail is not None:
            raise self.fail
        return self.client.get_secret_value(**request)


def _verifier(clock: Clock) -> tuple[OriginSecret, Counting]:
    client = Counting()
    return OriginSecret(client, ORIGIN_SECRET, clock=clock), client


def test_current_pending_and_previous_are_accepted(aws: None) -> None:
    # Given a secret with a pending version, then a new current one (the old one becomes previous)
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.put_secret_value(SecretId=ORIGIN_SECRET, SecretString="p" * 64, VersionStages=["AWSPENDING"])
    sm.put_secret_value(SecretId=ORIGIN_SECRET, SecretString="c" * 64)
    stages = sm.describe_secret(SecretId=ORIGIN_SECRET)["VersionIdsToStages"]
    assert sorted(label for labels in stages.values() for label in labels) == [
        "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"]
    verifier, client = _verifier(Clock())
    # Then each staged value passes, read with one call per stage, and nothing else does
    assert verifier.accepts("c" * 64) and verifier.accepts("p" * 64) and verifier.accepts(ORIGIN_VALUE)
    assert client.calls == ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"]
    assert not verifier.accepts(secrets.token_hex(32))


def test_missing_stages_are_skipped(aws: None) -> None:
    # Given a secret that has only its current version / Then that one value is the set
    verifier, client = _verifier(Clock())
    assert verifier.accepts(ORIGIN_VALUE)
    assert client.calls == ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"]


def test_a_miss_rereads_at_most_once_per_refresh_interval(aws: None) -> None:
    # Given a primed verifier
    clock = Clock()
    verifier, client = _verifier(clock)
    assert verifier.accepts(ORIGIN_VALUE)
    client.calls.clear()
    # When unknown values are presented within the interval / Then no further read is made
    clock.now += 1
    assert not verifier.accepts("x" * 64)
    assert not verifier.accepts("y" * 64)
    assert client.calls == []
    # And once the interval has passed, a miss re-reads, and a value staged meanwhile passes
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=ORIGIN_SECRET, SecretString="n" * 64, VersionStages=["AWSPENDING"])
    clock.now += ORIGIN_SECRET_REFRESH_SECONDS
    assert verifier.accepts("n" * 64)
    assert len(client.calls) == 3
    # And a known value never re-reads within the cache lifetime
    clock.now += ORIGIN_SECRET_CACHE_SECONDS - 1
    assert verifier.accepts(ORIGIN_VALUE) and len(client.calls) == 3


def test_the_set_is_read_again_after_the_cache_lifetime(aws: None) -> None:
    # Given a verifier primed, then the current value rotated away entirely
    clock = Clock()
    verifier, client = _verifier(clock)
    assert verifier.accepts(ORIGIN_VALUE)
    sm = boto3.client("secretsmanager", region_name=REGION)
    for value in ("a" * 64, "b" * 64):  # two rotations: the first value is no longer staged at all
        sm.put_secret_value(SecretId=ORIGIN_SECRET, SecretString=value)
    # When the cache lifetime passes / Then the set is read again, and the old value is refused
    clock.now += ORIGIN_SECRET_CACHE_SECONDS
    assert not verifier.accepts(ORIGIN_VALUE)
    assert verifier.accepts("a" * 64) and verifier.accepts("b" * 64)
    assert client.calls.count("AWSCURRENT") == 2


@pytest.mark.parametrize("failure", [
    EndpointConnectionError(endpoint_url="https://secretsmanager.example"),
    ClientError({"Error": {"Code": "InternalServiceError", "Message": "down"}}, "GetSecretValue"),
    ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetSecretValue"),
], ids=["unreachable", "internal", "denied"])
def test_a_failing_secrets_manager_keeps_the_cached_set(aws: None, failure: Exception) -> None:
    # Given a primed verifier, then Secrets Manager failing
    clock = Clock()
    verifier, client = _verifier(clock)
    assert verifier.accepts(ORIGIN_VALUE)
    client.calls.clear()
    client.fail = failure
    # When the cache expires / Then the cached set still decides, both ways
    clock.now += ORIGIN_SECRET_CACHE_SECONDS + 1
    assert verifier.accepts(ORIGIN_VALUE)
    clock.now += ORIGIN_SECRET_REFRESH_SECONDS
    assert not verifier.accepts("x" * 64)
    # And the failing service is asked at most once per refresh interval
    assert client.calls == ["AWSCURRENT", "AWSCURRENT"]


def test_nothing_cached_and_secrets_manager_down_is_unavailable(aws: None) -> None:
    # Given a fresh verifier whose Secrets Manager is unreachable
    clock = Clock()
    verifier, client = _verifier(clock)
    client.fail = EndpointConnectionError(endpoint_url="https://secretsmanager.example")
    # When a value is presented / Then OriginSecretUnavailable, without the value in its message
    with pytest.raises(OriginSecretUnavailable) as raised:
        verifier.accepts(ORIGIN_VALUE)
    assert ORIGIN_VALUE not in str(raised.value)
    # And within the refresh interval it fails fast, without another call
    with pytest.raises(OriginSecretUnavailable):
        verifier.accepts(ORIGIN_VALUE)
    assert client.calls == ["AWSCURRENT"]
    # And once Secrets Manager is back (after the interval) the value passes
    client.fail = None
    clock.now += ORIGIN_SECRET_REFRESH_SECONDS
    assert verifier.accepts(ORIGIN_VALUE)


def test_a_secret_without_a_current_value_is_unavailable_not_empty(aws: None) -> None:
    # Given a secret name that does not exist / Then no set is made of it: unavailable, not "refuse all"
    verifier = OriginSecret(boto3.client("secretsmanager", region_name=REGION), "filegate-missing")
    with pytest.raises(OriginSecretUnavailable):
        verifier.accepts(ORIGIN_VALUE)


# --- routes and audit behind CloudFront -------------------------------------------------------

@pytest.mark.parametrize(("stage", "raw_path", "route_key", "route", "action", "channel"), [
    ("api", "/api/uploads", "POST /uploads", "POST /uploads", "upload", "user"),
    ("api", "/api/backend/uploads", "POST /backend/uploads", "POST /backend/uploads", "upload", "backend"),
    ("api", "/api/downloads/cookies", "POST /downloads/cookies", "POST /downloads/cookies", "cookies", "user"),
    ("api", "/api/files/abc", "GET /files/{file_id}", "GET /files/abc", "file", "user"),
    ("api", "/api/backend/erasures/e1", "GET /backend/erasures/{erasure_id}", "GET /backend/erasures/e1", "erasure",
     "backend"),
    ("$default", "/backend/files", "GET /backend/files", "GET /backend/files", "list", "backend"),
    # a raw path naming the backend while the route key does not: the route key decides
    ("api", "/api/backend/uploads", "POST /uploads", "POST /backend/uploads", "upload", "user"),
    ("api", "/apiary/uploads", None, "GET /apiary/uploads", "upload", "user"),
])
def test_route_action_and_channel_ignore_the_stage(*, stage: str, raw_path: str, route_key: str | None, route: str,
                                                   action: str, channel: str) -> None:
    # Given an event on a stage / When the request is read
    from filegate.handlers.common import _route
    method = route.split(" ", maxsplit=1)[0]
    event: dict[str, Any] = {"rawPath": raw_path, "requestContext": {
        "stage": stage, "http": {"method": method, "path": raw_path},
        **({"routeKey": route_key} if route_key else {})}}
    # Then the audited route is the stage-stripped path, the action and channel the route's
    assert _route(event) == (route, action, channel)


def test_every_mint_behind_the_stage_is_audited_with_its_route(clean_cv: None, minting: Minting,
                                                                logs: list[str]) -> None:
    # Given requests on stage api, a user and a backend one
    minting.download(api_event("/downloads", {"key": CV_KEY}, claims=careers("alice")))
    minting.download(api_event("/backend/downloads", {"key": CV_KEY, "on_behalf_of": {
        "sub": "alice", "groups": ["careers"]}}, iam_arn=BACKEND_ARN))
    # Then the records name the routes without the stage, and the backend one as backend
    user, backend = _audits(logs)
    assert (user["route"], user["channel"], user["action"]) == ("POST /downloads", "user", "download")
    assert (backend["route"], backend["channel"], backend["principal"]) == (
        "POST /backend/downloads", "backend", BACKEND_ARN)


@pytest.mark.parametrize(("header", "expected"), [
    (None, None),
    ("203.0.113.9", "203.0.113.9"),
    ("203.0.113.9, 198.51.100.7", "203.0.113.9, 198.51.100.7"),
    ("1.2.3.4, " * 60, ("1.2.3.4, " * 60)[:256]),
    ("203.0.113.9\n, evil", "203.0.113.9?, evil"),
], ids=["absent", "one", "chain", "long", "control"])
def test_forwarded_for_is_audited_as_received(clean_cv: None, minting: Minting, logs: list[str],
                                              header: str | None, expected: str | None) -> None:
    # Given a request through CloudFront (source_ip is the edge's) with or without x-forwarded-for
    headers = {"x-forwarded-for": header} if header is not None else {}
    minting.download(api_event("/downloads", {"key": CV_KEY}, claims=careers("alice"), headers=headers,
                               source_ip="130.176.0.1"))
    # Then the audit keeps both, the header at most 256 printable characters
    [audit] = _audits(logs)
    assert audit["source_ip"] == "130.176.0.1" and audit["forwarded_for"] == expected
    assert expected is None or (len(audit["forwarded_for"]) <= 256 and re.fullmatch(r"[\x20-\x7e]*", expected))
