"""POST /downloads, /downloads/cookies and /backend/downloads through the real handler, in moto."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from cloudfront_verifier import verify_cookies, verify_url
from conftest import (
    BACKEND_ARN,
    BASE_URL,
    PUBLIC_KEY_ID,
    REGION,
    Minting,
    api_event,
    body,
    careers,
    create_kms_key,
    filegate_env,
    put_record,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

FILE_ID = "0123456789abcdef0123456789abcdef"
ALICE_CV = f"private/users/alice/cv/{FILE_ID}.pdf"
ALICE_CERTIFICATE = "private/users/alice/certificates/1111456789abcdef0123456789abcdef.png"
ACME_REGISTRATION = "private/orgs/acme/registration/2222456789abcdef0123456789abcdef.pdf"
AUTH0_CV = "private/users/auth0|42/cv/3333456789abcdef0123456789abcdef.pdf"
OTHER_ALICE_CV = ALICE_CV.replace("0123", "4567")
NOW = 1_800_000_000.0


@pytest.fixture(autouse=True)
def verified_files(aws: None) -> None:
    """Every file these tests download has been verified: its record is clean (the record
    checks themselves are in TestRecords)."""
    put_record(ALICE_CV)
    put_record(OTHER_ALICE_CV)
    put_record(ALICE_CERTIFICATE, rule="certificate", content_type="image/png")
    put_record(ACME_REGISTRATION, rule="business-registration", owner_sub="bob", owner_org_id="acme")
    put_record(AUTH0_CV, owner_sub="auth0|42")


def _kms_public_key(key_id: str) -> bytes:
    return boto3.client("kms", region_name=REGION).get_public_key(KeyId=key_id)["PublicKey"]


def _secret_key(kind: str) -> tuple[str, bytes]:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa" else rsa.generate_private_key(65537, 2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, der


#: KMS slots are ECDSA P-256 only (the stack's keys, the key policy's algorithm); the secret
#: signer also takes RSA-2048.
SIGNERS = ["kms-ecdsa", "secret-ecdsa", "secret-rsa"]


def configure_signer(configure: Any, variant: str, **overrides: str) -> tuple[Minting, bytes]:
    """filegate with the given signer; returns the public key (DER) CloudFront would hold."""
    if variant == "kms-ecdsa":
        key_id = create_kms_key("ECC_NIST_P256")
        return configure(**filegate_env(kms_key_id=key_id, **overrides)), _kms_public_key(key_id)
    pem, der = _secret_key(variant.removeprefix("secret-"))
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name="filegate/edge/k2026a", SecretString=pem)
    return configure(**filegate_env(secret_name="filegate/edge/k2026a", signer="secret", **overrides)), der


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    from filegate.handlers import downloads
    monkeypatch.setattr(downloads, "clock", lambda: NOW)
    return NOW


@pytest.mark.parametrize("variant", SIGNERS)
def test_signed_url_verifies_with_the_public_key(configure: Any, frozen_clock: float, variant: str) -> None:
    # Given filegate with this signer and Alice's CV key
    minting, public_key = configure_signer(configure, variant)
    # When Alice asks for a download URL
    response = minting.download(api_event("/downloads", {"key": ALICE_CV}, claims=careers("alice")))
    # Then it is a canned-policy URL for exactly that file, signed over exactly the policy CloudFront checks
    assert response["statusCode"] == 200, response["body"]
    result = body(response)
    verified = verify_url(result["url"], public_key)
    assert verified.canned
    assert result["url"].startswith(f"{BASE_URL}/{ALICE_CV}?Expires=")
    assert verified.params["Key-Pair-Id"] == PUBLIC_KEY_ID
    assert verified.policy == {"Statement": [{"Resource": f"{BASE_URL}/{ALICE_CV}",
                                              "Condition": {"DateLessThan": {"AWS:EpochTime": result["expires_at"]}}}]}
    assert verified.policy_bytes == json.dumps(verified.policy, separators=(",", ":")).encode()  # no white space


@pytest.mark.parametrize("variant", SIGNERS)
@pytest.mark.parametrize(("extra", "conditions"), [
    ({"ip": "203.0.113.9"}, {"DateLessThan", "IpAddress"}),
    ({"starts_at": int(NOW) + 10}, {"DateLessThan", "DateGreaterThan"}),
    ({"ip": "203.0.113.0/24", "starts_at": int(NOW)}, {"DateLessThan", "DateGreaterThan", "IpAddress"}),
])
def test_custom_policy_exactly_when_asked(configure: Any, frozen_clock: float, variant: str, extra: dict[str, Any],
                                          conditions: set[str]) -> None:
    minting, public_key = configure_signer(configure, variant)
    response = minting.download(api_event("/downloads", {"key": ALICE_CV, **extra}, claims=careers("alice")))
    assert response["statusCode"] == 200, response["body"]
    verified = verify_url(body(response)["url"], public_key)
    statement = verified.policy["Statement"][0]
    assert not verified.canned and set(statement["Condition"]) == conditions
    assert statement["Resource"] == f"{BASE_URL}/{ALICE_CV}"
    assert statement["Condition"]["DateLessThan"]["AWS:EpochTime"] == body(response)["expires_at"]
    if "ip" in extra:
        expected = "203.0.113.9/32" if extra["ip"] == "203.0.113.9" else "203.0.113.0/24"
        assert statement["Condition"]["IpAddress"] == {"AWS:SourceIp": expected}
    if "starts_at" in extra:
        assert statement["Condition"]["DateGreaterThan"] == {"AWS:EpochTime": extra["starts_at"]}


@pytest.mark.parametrize("variant", SIGNERS)
def test_cookies_for_an_owned_prefix(configure: Any, frozen_clock: float, variant: str) -> None:
    minting, public_key = configure_signer(configure, variant)
    response = minting.download(api_event("/downloads/cookies", {"prefix": "private/users/alice/"},
                                          claims=careers("alice")))
    assert response["statusCode"] == 200, response["body"]
    result = body(response)
    assert set(result["cookies"]) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id",
                                      "CloudFront-Hash-Algorithm"}
    assert result["cookies"]["CloudFront-Key-Pair-Id"] == PUBLIC_KEY_ID
    policy = verify_cookies(result["cookies"], public_key)
    assert policy == {"Statement": [{"Resource": f"{BASE_URL}/private/users/alice/*",
                                     "Condition": {"DateLessThan": {"AWS:EpochTime": result["expires_at"]}}}]}
    assert len(response["cookies"]) == 4  # and, the same values, as Set-Cookie (below)


def parsed_set_cookies(response: dict[str, Any]) -> dict[str, tuple[str, dict[str, str | None]]]:
    """Each ``Set-Cookie`` of the HTTP API response's ``cookies`` list: name -> (value, attributes),
    attribute names lower-cased, flags mapped to None (RFC 6265 section 5.2, by hand)."""
    found: dict[str, tuple[str, dict[str, str | None]]] = {}
    for header in response["cookies"]:
        pair, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = pair.partition("=")
        parsed: dict[str, str | None] = {}
        for attribute in attributes:
            key, equals, attribute_value = attribute.partition("=")
            parsed[key.lower()] = attribute_value if equals else None
        assert name not in found, f"{name} set twice"
        found[name] = (value, parsed)
    return found


def test_cookies_are_set_host_only_for_the_same_origin(minting: Minting, frozen_clock: float) -> None:
    # Given no cookie domain (the front door: the API and the files share the files domain)
    # When cookies are minted for an owned prefix
    response = minting.download(api_event("/downloads/cookies", {"prefix": "private/users/alice/"},
                                          claims=careers("alice")))
    assert response["statusCode"] == 200, response["body"]
    # Then each of the four is one Set-Cookie, with the body's value, for the prefix's path,
    # host-only (no Domain), a session cookie (no Expires, no Max-Age), Secure, HttpOnly, Lax
    cookies = parsed_set_cookies(response)
    assert {name: value for name, (value, _) in cookies.items()} == body(response)["cookies"]
    assert set(cookies) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id",
                            "CloudFront-Hash-Algorithm"}
    for _, attributes in cookies.values():
        assert attributes == {"path": "/private/users/alice/", "secure": None, "httponly": None, "samesite": "Lax"}


def test_cookie_paths_are_the_prefix_as_a_browser_requests_it(minting: Minting, frozen_clock: float) -> None:
    # Given a subject with characters a URL path escapes
    response = minting.download(api_event("/downloads/cookies", {"prefix": "private/users/auth0|42/"},
                                          claims=careers("auth0|42")))
    assert response["statusCode"] == 200, response["body"]
    # Then the Path is percent-encoded the way the signed resource (and so the browser's request) is
    paths = {attributes["path"] for _, attributes in parsed_set_cookies(response).values()}
    assert paths == {"/private/users/auth0%7C42/"}
    assert body(response)["cookies"] and "/private/users/auth0%7C42/*" in json.dumps(
        _policy(body(response)["cookies"]["CloudFront-Policy"]))


def _policy(encoded: str) -> Any:
    """A CloudFront-Policy cookie decoded (CloudFront's base64: ``-`` ``_`` ``~`` for ``+`` ``=`` ``/``)."""
    return json.loads(base64.b64decode(encoded.replace("-", "+").replace("_", "=").replace("~", "/")))


def test_cookies_set_cookie_headers_when_a_domain_is_configured(configure: Any, frozen_clock: float) -> None:
    # Given a parent-domain setup (cookie_domain set)
    minting = configure(**filegate_env(kms_key_id=create_kms_key(), FILEGATE_COOKIE_DOMAIN="files.example.com"))
    response = minting.download(api_event("/downloads/cookies", {"prefix": "private/users/alice/"},
                                          claims=careers("alice")))
    # Then the same four cookies name that domain, and nothing else changes
    cookies = parsed_set_cookies(response)
    assert len(cookies) == 4
    for _, attributes in cookies.values():
        assert attributes == {"path": "/private/users/alice/", "domain": "files.example.com", "secure": None,
                              "httponly": None, "samesite": "Lax"}


def test_refused_cookies_set_nothing(minting: Minting) -> None:
    # Given a prefix the caller does not own / Then a 403 with no Set-Cookie at all
    response = minting.download(api_event("/downloads/cookies", {"prefix": "private/users/bob/"},
                                          claims=careers("alice")))
    assert response["statusCode"] == 403 and not response.get("cookies")


@pytest.mark.parametrize("prefix", ["private/users/", "private/users/mallory/", "public/marketing/", "private/"])
def test_cookies_for_prefixes_the_caller_does_not_own_are_refused(minting: Minting, prefix: str) -> None:
    response = minting.download(api_event("/downloads/cookies", {"prefix": prefix}, claims=careers("alice")))
    assert response["statusCode"] == 403 and body(response)["error"]["code"] == "not_allowed"


class TestLifetimes:
    def test_default_is_the_rules_lifetime_rounded_to_the_cache_window(self, minting: Minting,
                                                                        frozen_clock: float) -> None:
        # cv sets url_lifetime_seconds=300; NOW+300 is already a multiple of 60
        response = minting.download(api_event("/downloads", {"key": ALICE_CV}, claims=careers("alice")))
        assert body(response)["expires_at"] == int(NOW) + 300

    def test_requests_never_exceed_the_rules_lifetime(self, minting: Minting, frozen_clock: float) -> None:
        response = minting.download(api_event("/downloads", {"key": ALICE_CV, "expires_in": 86400},
                                              claims=careers("alice")))
        assert body(response)["expires_at"] <= int(NOW) + 300

    def test_without_a_rule_lifetime_the_max_caps(self, configure: Any, frozen_clock: float) -> None:
        minting = configure(**filegate_env(kms_key_id=create_kms_key(), FILEGATE_URL_MAX_SECONDS="600",
                                           FILEGATE_SIGNATURE_CACHE_SECONDS="0"))
        key = ALICE_CERTIFICATE
        response = minting.download(api_event("/downloads", {"key": key, "expires_in": 86400},
                                              claims=careers("alice")))
        assert body(response)["expires_at"] == int(NOW) + 600
        short = minting.download(api_event("/downloads", {"key": key, "expires_in": 7}, claims=careers("alice")))
        assert body(short)["expires_at"] == int(NOW) + 7

    def test_rounding_up_to_the_window(self, minting: Minting, monkeypatch: pytest.MonkeyPatch) -> None:
        from filegate.handlers import downloads
        monkeypatch.setattr(downloads, "clock", lambda: NOW + 13.5)
        response = minting.download(api_event("/downloads", {"key": ALICE_CV, "expires_in": 100},
                                              claims=careers("alice")))
        expires = body(response)["expires_at"]
        assert expires % 60 == 0 and NOW + 13.5 + 100 <= expires < NOW + 13.5 + 160


class TestSignatureCache:
    def _kms_calls(self) -> int:
        from filegate.handlers import downloads
        signer: Any = downloads.runtime().signer
        return int(signer._signer.calls)

    def test_same_file_within_a_window_costs_one_kms_call(self, minting: Minting,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
        from filegate.handlers import downloads
        urls = set()
        for offset in (0.0, 5.0, 30.0, 59.0):
            monkeypatch.setattr(downloads, "clock", lambda offset=offset: NOW + offset)
            response = minting.download(api_event("/downloads", {"key": ALICE_CV}, claims=careers("alice")))
            urls.add(body(response)["url"])
        assert len(urls) == 1 and self._kms_calls() == 1

    def test_other_files_and_windows_are_signed_afresh(self, minting: Minting,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        from filegate.handlers import downloads
        monkeypatch.setattr(downloads, "clock", lambda: NOW)
        minting.download(api_event("/downloads", {"key": ALICE_CV}, claims=careers("alice")))
        minting.download(api_event("/downloads", {"key": OTHER_ALICE_CV}, claims=careers("alice")))
        monkeypatch.setattr(downloads, "clock", lambda: NOW + 61)
        minting.download(api_event("/downloads", {"key": ALICE_CV}, claims=careers("alice")))
        assert self._kms_calls() == 3

    def test_disabled_cache_signs_every_time(self, configure: Any, frozen_clock: float) -> None:
        minting = configure(**filegate_env(kms_key_id=create_kms_key(), FILEGATE_SIGNATURE_CACHE_SECONDS="0"))
        for _ in range(3):
            minting.download(api_event("/downloads", {"key": ALICE_CV}, claims=careers("alice")))
        from filegate.handlers import downloads
        assert downloads.runtime().signer.calls == 3  # type: ignore[attr-defined]


class TestRefusals:
    @pytest.mark.parametrize(("request_body", "claims", "status", "code"), [
        ({"key": ALICE_CV}, careers("mallory"), 403, "not_allowed"),
        ({"key": ALICE_CV}, {"sub": "alice", "cognito:groups": "[org]"}, 403, "not_allowed"),
        ({"key": ALICE_CV}, None, 401, "unauthenticated"),
        ({"key": ALICE_CV}, {"cognito:groups": "[careers]"}, 401, "unauthenticated"),
        ({"key": f"public/marketing/{FILE_ID}.png"}, {"sub": "m", "groups": ["marketing"]}, 403, "not_allowed"),
        ({"key": "private/users/alice/../bob/cv/x.pdf"}, careers("alice"), 400, "invalid_request"),
        ({"key": ALICE_CV, "ip": "2001:db8::/32"}, careers("alice"), 400, "invalid_request"),
        ({"key": ALICE_CV, "ip": "not an ip"}, careers("alice"), 400, "invalid_request"),
        ({"key": ALICE_CV, "starts_at": int(NOW) + 10_000}, careers("alice"), 400, "invalid_request"),
        ({"key": ALICE_CV, "expires_in": 0}, careers("alice"), 400, "invalid_request"),
        ({"key": ALICE_CV, "on_behalf_of": {"sub": "alice", "groups": ["careers"]}}, careers("mallory"), 400,
         "invalid_request"),
    ])
    def test_refusals(self, *, minting: Minting, frozen_clock: float, request_body: dict[str, Any],
                      claims: dict[str, Any] | None, status: int, code: str) -> None:
        response = minting.download(api_event("/downloads", request_body, claims=claims))
        assert response["statusCode"] == status, response["body"]
        assert body(response)["error"]["code"] == code and body(response)["error"]["message"]

    def test_ip_and_start_time_can_be_switched_off(self, configure: Any, frozen_clock: float) -> None:
        minting = configure(**filegate_env(kms_key_id=create_kms_key(), FILEGATE_ALLOW_IP_RESTRICTION="false",
                                           FILEGATE_ALLOW_START_TIME="false"))
        for extra in ({"ip": "203.0.113.9"}, {"starts_at": int(NOW)}):
            response = minting.download(api_event("/downloads", {"key": ALICE_CV, **extra}, claims=careers("alice")))
            assert response["statusCode"] == 400

    def test_kms_failure_is_a_retryable_503_without_internals(self, configure: Any, frozen_clock: float) -> None:
        # Given a slot whose KMS key does not exist
        minting = configure(**filegate_env(kms_key_id="arn:aws:kms:ap-southeast-1:123456789012:key/missing"))
        response = minting.download(api_event("/downloads", {"key": ALICE_CV}, claims=careers("alice")))
        # Then the client gets a retryable 503 and no trace of what failed inside
        assert response["statusCode"] == 503
        assert body(response) == {"error": {"code": "temporarily_unavailable",
                                            "message": "signing is temporarily unavailable; retry shortly"}}
        assert response["headers"]["Retry-After"] == "1"

    def test_missing_secret_is_a_retryable_503(self, configure: Any, frozen_clock: float) -> None:
        minting = configure(**filegate_env(secret_name="filegate/edge/none", signer="secret"))
        response = minting.download(api_event("/downloads", {"key": ALICE_CV}, claims=careers("alice")))
        assert response["statusCode"] == 503 and body(response)["error"]["code"] == "temporarily_unavailable"


class TestBackend:
    def test_backend_mints_for_the_user_it_names(self, minting: Minting, frozen_clock: float) -> None:
        public_key = _kms_public_key(minting.kms_keys["k2026a"])
        event = api_event("/backend/downloads", {"key": ALICE_CV,
                                                 "on_behalf_of": {"sub": "alice", "groups": ["careers"]}},
                          iam_arn=BACKEND_ARN)
        response = minting.download(event)
        assert response["statusCode"] == 200, response["body"]
        verify_url(body(response)["url"], public_key)

    def test_backend_org_download(self, minting: Minting, frozen_clock: float) -> None:
        key = ACME_REGISTRATION
        ok = minting.download(api_event("/backend/downloads", {"key": key, "on_behalf_of": {
            "sub": "bob", "groups": ["org"], "org_id": "acme"}}, iam_arn=BACKEND_ARN))
        other_org = minting.download(api_event("/backend/downloads", {"key": key, "on_behalf_of": {
            "sub": "eve", "groups": ["org"], "org_id": "evil"}}, iam_arn=BACKEND_ARN))
        assert ok["statusCode"] == 200 and other_org["statusCode"] == 403

    def test_backend_needs_iam_and_on_behalf_of(self, minting: Minting) -> None:
        no_iam = minting.download(api_event("/backend/downloads", {
            "key": ALICE_CV, "on_behalf_of": {"sub": "alice", "groups": ["careers"]}}, claims=careers("alice")))
        no_subject = minting.download(api_event("/backend/downloads", {"key": ALICE_CV}, iam_arn=BACKEND_ARN))
        assert no_iam["statusCode"] == 401 and no_subject["statusCode"] == 400


#: A distribution host so long that any policy naming it is over KMS's 4096-byte RAW limit.
LONG_BASE_URL = "https://" + "a" * 60 + ("." + "b" * 60) * 70 + ".example.com"


@pytest.mark.parametrize("variant", ["kms-ecdsa", "secret-ecdsa"])
@pytest.mark.parametrize(("path", "request_body"), [
    ("/downloads", {"key": ALICE_CV}),
    ("/downloads", {"key": ALICE_CV, "ip": "203.0.113.9"}),
    ("/downloads/cookies", {"prefix": "private/users/alice/"}),
])
def test_policies_over_4096_bytes_are_refused_before_signing(configure: Any, frozen_clock: float, variant: str,
                                                             path: str, request_body: dict[str, Any]) -> None:
    # Given either signer and a resource URL that makes the policy longer than KMS signs RAW
    minting, _ = configure_signer(configure, variant, FILEGATE_DOWNLOAD_BASE_URL=LONG_BASE_URL)
    # When Alice asks for her own file
    response = minting.download(api_event(path, request_body, claims=careers("alice")))
    # Then both signers refuse it the same way, and neither was asked to sign
    assert response["statusCode"] == 400, response["body"]
    assert body(response) == {"error": {"code": "invalid_request", "message": "resource URL too long"}}
    from filegate.handlers import downloads
    cache = downloads.runtime().signer.cache  # type: ignore[attr-defined]
    assert cache.misses == 0 and cache.hits == 0


def test_the_policy_limit_is_exactly_4096_bytes() -> None:
    # Given canned policies of exactly 4096 and 4097 bytes
    from filegate.domain.cloudfront import MAX_POLICY_BYTES, SigningKey, canned_policy, signed_url
    from filegate.domain.errors import Refusal
    signed: list[bytes] = []
    key = SigningKey(sign=lambda message: signed.append(message) or b"sig", key_pair_id="K1")
    overhead = len(canned_policy("https://x/", 2_000_000_000))
    at_limit = "https://x/" + "a" * (MAX_POLICY_BYTES - overhead)
    # When signed / Then the first is signed as is and the second is refused unsigned
    signed_url(at_limit, expires=2_000_000_000, key=key)
    assert len(signed[0]) == MAX_POLICY_BYTES == 4096
    with pytest.raises(Refusal, match="resource URL too long") as refused:
        signed_url(at_limit + "a", expires=2_000_000_000, key=key)
    assert refused.value.status == 400 and len(signed) == 1


def test_kms_signer_sends_only_raw_ecdsa_sha_256() -> None:
    # Given a KMS client that records its calls
    from filegate.adapters.kms_signer import KmsSigner
    calls: list[dict[str, Any]] = []

    class Recorder:
        def sign(self, **request: Any) -> dict[str, Any]:
            calls.append(request)
            return {"Signature": b"sig"}

    signer = KmsSigner(Recorder(), key_id="k", key_pair_id="K1")  # type: ignore[arg-type]
    # When it signs a 4096-byte message, then is handed a longer one
    assert signer.sign(b"x" * 4096) == b"sig"
    with pytest.raises(ValueError, match="4096"):
        signer.sign(b"x" * 4097)
    # Then KMS saw one RAW ECDSA_SHA_256 request (what the key policy allows), never a DIGEST
    assert calls == [{"KeyId": "k", "Message": b"x" * 4096, "MessageType": "RAW",
                      "SigningAlgorithm": "ECDSA_SHA_256"}]


def test_kms_slots_refuse_rsa(configure: Any) -> None:
    # Given a KMS slot configured for RSA signing / Then the settings refuse it at start
    from filegate.settings import Settings, SettingsError
    env = filegate_env(kms_key_id="k")
    slots = json.loads(env["FILEGATE_SIGNING_SLOTS"])
    slots["k2026a"]["kms_signing_algorithm"] = "RSASSA_PKCS1_V1_5_SHA_256"
    with pytest.raises(SettingsError, match=r"^FILEGATE_SIGNING_SLOTS\[k2026a\]\[kms_signing_algorithm\]: "):
        Settings.from_environ({**env, "FILEGATE_SIGNING_SLOTS": json.dumps(slots)})


def test_keys_are_path_escaped_in_the_url(configure: Any, frozen_clock: float) -> None:
    minting = configure(**filegate_env(kms_key_id=create_kms_key()))
    response = minting.download(api_event("/downloads", {"key": AUTH0_CV}, claims=careers("auth0|42")))
    assert body(response)["url"].startswith(
        f"{BASE_URL}/private/users/auth0%7C42/cv/3333456789abcdef0123456789abcdef.pdf?Expires=")


def test_finding3_ip_restriction_is_off_unless_configured_and_never_takes_ipv6(configure: Any) -> None:
    # Given the handlers' defaults (no FILEGATE_ALLOW_IP_RESTRICTION): an IP-bound URL is refused
    env = filegate_env(kms_key_id=create_kms_key())
    del env["FILEGATE_ALLOW_IP_RESTRICTION"]
    minting = configure(**env)
    response = minting.download(api_event("/downloads", {"key": ALICE_CV, "ip": "203.0.113.9"},
                                          claims=careers("alice")))
    assert response["statusCode"] == 400 and body(response)["error"]["code"] == "invalid_request"
    # Given it switched on (with the distribution IPv4-only) / Then IPv6 values stay a clear 400
    minting = configure(**filegate_env(kms_key_id=create_kms_key(), FILEGATE_ALLOW_IP_RESTRICTION="true"))
    for ip in ("2001:db8::1", "2001:db8::/32", "::ffff:203.0.113.9"):
        response = minting.download(api_event("/downloads", {"key": ALICE_CV, "ip": ip}, claims=careers("alice")))
        assert response["statusCode"] == 400 and body(response)["error"]["code"] == "invalid_request", ip


class TestRecords:
    """The rules decide first; then the file's record (docs/verification.md, "API")."""

    NEW_CV = "private/users/alice/cv/5555456789abcdef0123456789abcdef.pdf"

    @pytest.mark.parametrize(("status", "extra", "code", "http"), [
        ("awaiting_upload", {}, "not_ready", 409),
        ("verifying", {}, "not_ready", 409),
        ("rejected", {"reason": "active_content", "verified_at": 1_800_000_010}, "rejected", 403),
    ])
    @pytest.mark.parametrize("path", ["/downloads", "/backend/downloads"])
    def test_only_clean_files_get_a_url(self, *, minting: Minting, frozen_clock: float, status: str,
                                        extra: dict[str, Any], code: str, http: int, path: str) -> None:
        # Given Alice's CV whose record is not clean
        put_record(self.NEW_CV, status=status, **extra)
        if path.startswith("/backend/"):
            event = api_event(path, {"key": self.NEW_CV, "on_behalf_of": {"sub": "alice", "groups": ["careers"]}},
                              iam_arn=BACKEND_ARN)
        else:
            event = api_event(path, {"key": self.NEW_CV}, claims=careers("alice"))
        # When a URL is asked for (by Alice, or a backend on her behalf)
        response = minting.download(event)
        # Then it is refused with the record's code, and nothing is signed
        assert response["statusCode"] == http, response["body"]
        assert body(response)["error"]["code"] == code
        from filegate.handlers import downloads
        assert downloads.runtime().signer.cache.misses == 0  # type: ignore[attr-defined]

    def test_a_rejected_file_says_why_in_plain_words(self, minting: Minting, frozen_clock: float) -> None:
        put_record(self.NEW_CV, status="rejected", reason="malware")
        response = minting.download(api_event("/downloads", {"key": self.NEW_CV}, claims=careers("alice")))
        assert body(response)["error"] == {"code": "rejected",
                                           "message": "the file was rejected: the malware scan found a threat"}

    def test_the_same_file_gets_a_url_once_clean(self, minting: Minting, frozen_clock: float) -> None:
        # Given a file being verified, then verified
        put_record(self.NEW_CV, status="verifying")
        first = minting.download(api_event("/downloads", {"key": self.NEW_CV}, claims=careers("alice")))
        put_record(self.NEW_CV, status="clean")
        second = minting.download(api_event("/downloads", {"key": self.NEW_CV}, claims=careers("alice")))
        # Then it is refused while verifying and minted once clean
        assert (first["statusCode"], second["statusCode"]) == (409, 200)

    @pytest.mark.parametrize("stored_key", [
        None, "private/users/alice/certificates/5555456789abcdef0123456789abcdef.png",
        "private/users/bob/cv/5555456789abcdef0123456789abcdef.pdf"])
    def test_no_record_or_one_for_another_key_is_404(self, minting: Minting, frozen_clock: float,
                                                     stored_key: str | None) -> None:
        # Given no record for the file id, or a (clean) record whose key is another one
        if stored_key is not None:
            put_record(stored_key, status="clean")
        # When Alice asks for a URL to the key her rules allow / Then 404: nothing unverified is served
        response = minting.download(api_event("/downloads", {"key": self.NEW_CV}, claims=careers("alice")))
        assert response["statusCode"] == 404 and body(response)["error"]["code"] == "not_found"

    @pytest.mark.parametrize("status", ["clean", "verifying", "rejected", None])
    def test_the_rules_decide_before_the_record(self, minting: Minting, frozen_clock: float,
                                                status: str | None) -> None:
        # Given Alice's file in any state, or none at all
        if status is not None:
            put_record(self.NEW_CV, status=status)
        # When Mallory asks for it / Then the same 403 not_allowed: existence does not leak
        response = minting.download(api_event("/downloads", {"key": self.NEW_CV}, claims=careers("mallory")))
        assert response["statusCode"] == 403 and body(response)["error"]["code"] == "not_allowed"

    def test_an_unreadable_table_is_a_retryable_503(self, minting: Minting, frozen_clock: float) -> None:
        boto3.client("dynamodb", region_name=REGION).delete_table(TableName="filegate-test-files")
        response = minting.download(api_event("/downloads", {"key": ALICE_CV}, claims=careers("alice")))
        assert response["statusCode"] == 503 and body(response)["error"]["code"] == "temporarily_unavailable"
