"""Audit records, what never reaches a log line, settings parsing, and the handlers' import graphs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from conftest import (
    BACKEND_ARN,
    REGION,
    SEED_RULES,
    Minting,
    api_event,
    body,
    careers,
    create_kms_key,
    filegate_env,
    lifecycle_env,
    put_record,
    verifier_env,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from filegate.settings import (
    ENVIRONMENT,
    HANDLER_SETTINGS,
    LIFECYCLE_ENVIRONMENT,
    MINTING_ENVIRONMENT,
    ORIGIN_ROTATION_ENVIRONMENT,
    VERIFIER_ENVIRONMENT,
    LifecycleSettings,
    OriginRotationSettings,
    Settings,
    SettingsError,
    VerifierSettings,
)

ROOT = Path(__file__).resolve().parents[2]
CV_KEY = "private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf"
AUDIT_FIELDS = {"event", "action", "channel", "route", "status", "code", "reason", "rule", "key", "expires_at",
                "ip_range", "starts_at", "sub", "org_id", "groups", "principal", "source_ip", "request_id",
                # docs/lifecycle.md: added beside the others, null when not applicable
                "file_id", "owner_sub", "owner_org_id", "viewer_sub", "viewer_org_id", "grant_reason", "erasure_id",
                # docs/front-door.md: behind CloudFront source_ip is the edge's, so the viewer's chain too
                "forwarded_for"}


@pytest.fixture
def clean_cv(aws: None) -> None:
    """Alice's CV has been verified: its record is clean."""
    put_record(CV_KEY)


def _audits(lines: list[str]) -> list[dict[str, Any]]:
    return [record["audit"] for record in map(json.loads, lines) if "audit" in record]


def test_every_mint_and_refusal_writes_one_audit_record(clean_cv: None, minting: Minting, logs: list[str]) -> None:
    # Given a mint, a refusal, an invalid body and a backend mint
    minting.upload(api_event("/uploads", {"rule": "cv", "content_type": "application/pdf", "size": 5},
                             claims=careers("alice")))
    minting.download(api_event("/downloads", {"key": CV_KEY}, claims=careers("mallory"), source_ip="203.0.113.5"))
    minting.download(api_event("/downloads", raw_body="{oops", claims=careers("alice")))
    minting.download(api_event("/backend/downloads", {"key": CV_KEY, "on_behalf_of": {
        "sub": "alice", "groups": ["careers"]}}, iam_arn=BACKEND_ARN))
    # Then there is exactly one audit record per request, with the fixed field names
    audits = _audits(logs)
    assert len(audits) == 4 and all(set(audit) == AUDIT_FIELDS for audit in audits)
    upload, refused, invalid, backend = audits
    assert upload["event"] == "mint" and upload["action"] == "upload" and upload["rule"] == "cv"
    assert upload["key"].startswith("private/users/alice/cv/") and upload["sub"] == "alice"
    assert upload["groups"] == ["careers"] and upload["request_id"] == "req-abc-123" and upload["expires_at"]
    assert refused["event"] == "refusal" and refused["reason"] == "key_outside_rules" and refused["status"] == 403
    assert refused["sub"] == "mallory" and refused["key"] == CV_KEY and refused["source_ip"] == "203.0.113.5"
    assert invalid["code"] == "invalid_request" and invalid["sub"] == "alice"
    assert backend["channel"] == "backend" and backend["principal"] == BACKEND_ARN and backend["sub"] == "alice"


TOKEN = "secret-token-value"  # the bearer token every api_event carries


def _output(logs: list[str], capfd: pytest.CaptureFixture[str]) -> str:
    """Everything a request left behind: log records, metrics, anything printed."""
    captured = capfd.readouterr()
    return "\n".join(logs) + captured.out + captured.err


def _leaked(output: str, secrets: dict[str, str]) -> list[str]:
    """The names of the secrets found in the output, each checked on its own."""
    assert all(len(value) >= 16 for value in secrets.values()), secrets  # long enough to mean something
    return [name for name, value in secrets.items() if value in output]


def test_the_leak_check_can_fail(clean_cv: None, minting: Minting, logs: list[str],
                                 capfd: pytest.CaptureFixture[str]) -> None:
    # Given a minted URL that is then (wrongly) logged and printed
    from filegate.handlers.common import logger
    url = body(minting.download(api_event("/downloads", {"key": CV_KEY}, claims=careers("alice"))))["url"]
    signature = parse_qs(urlsplit(url).query)["Signature"][0]
    logger.info("oops", extra={"url": url})
    print(signature)
    # Then the check finds both
    assert _leaked(_output(logs, capfd), {"url": url, "signature": signature}) == ["url", "signature"]


def test_no_url_signature_or_token_in_any_log_line(clean_cv: None, minting: Minting, logs: list[str],
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    # Given every kind of mint: upload, canned and custom URLs, cookies, a backend URL
    upload = body(minting.upload(api_event("/uploads", {"rule": "cv", "content_type": "application/pdf", "size": 5},
                                           claims=careers("alice"))))
    urls = [body(minting.download(api_event("/downloads", request, claims=careers("alice"))))["url"]
            for request in ({"key": CV_KEY}, {"key": CV_KEY, "ip": "1.2.3.4"})]
    urls.append(body(minting.download(api_event("/backend/downloads", {
        "key": CV_KEY, "expires_in": 100, "on_behalf_of": {"sub": "alice", "groups": ["careers"]}},
        iam_arn=BACKEND_ARN)))["url"])
    cookies = body(minting.download(api_event("/downloads/cookies", {"prefix": "private/users/alice/"},
                                              claims=careers("alice"))))["cookies"]
    output = _output(logs, capfd)
    assert len(_audits(logs)) == 5
    # Then no URL, signature, policy or token appears anywhere, each checked on its own
    secrets = {"bearer token": TOKEN, "upload x-amz-signature": upload["fields"]["x-amz-signature"],
               "upload policy": upload["fields"]["policy"],
               "cookie signature": cookies["CloudFront-Signature"], "cookie policy": cookies["CloudFront-Policy"]}
    for index, url in enumerate(urls):
        query = parse_qs(urlsplit(url).query)
        secrets[f"url {index}"] = url
        secrets[f"url {index} Signature"] = query["Signature"][0]
        if "Policy" in query:
            secrets[f"url {index} Policy"] = query["Policy"][0]
    assert "url 1 Policy" in secrets  # the custom-policy URL carries one
    assert _leaked(output, secrets) == []


def test_signer_failures_log_no_policy_signature_or_secret(clean_cv: None, configure: Any, logs: list[str],
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    # Given a KMS that fails with an error quoting the policy it was asked to sign
    from botocore.exceptions import ClientError

    from filegate.domain.cloudfront import cloudfront_b64encode
    from filegate.handlers import downloads
    minting = configure(**filegate_env(kms_key_id=create_kms_key()))
    signed: list[bytes] = []

    def failing_sign(**request: Any) -> dict[str, Any]:
        signed.append(request["Message"])
        raise ClientError({"Error": {"Code": "KMSInternalException", "Message": f"cannot sign {request['Message']!r}"}},
                          "Sign")

    downloads.runtime().signer._signer._client.sign = failing_sign  # type: ignore[attr-defined]
    # When URLs and cookies are asked for / Then 503s
    for path, request in (("/downloads", {"key": CV_KEY, "ip": "1.2.3.4"}),
                          ("/downloads/cookies", {"prefix": "private/users/alice/"})):
        response = minting.download(api_event(path, request, claims=careers("alice")))
        assert response["statusCode"] == 503, response["body"]
    # And the logs hold neither the policies (raw or as sent in a URL) nor the token
    output = _output(logs, capfd)
    assert len(signed) == 2 and "signing dependency failed" in output
    secrets = {"bearer token": TOKEN}
    for index, message in enumerate(signed):
        secrets[f"policy {index}"] = message.decode()
        secrets[f"policy {index} encoded"] = cloudfront_b64encode(message)
    assert _leaked(output, secrets) == []


def test_secret_signer_failures_log_no_key_material(clean_cv: None, configure: Any, logs: list[str],
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    # Given a signing secret holding something that is not a usable key
    # (a key generated now, its PEM cut short: key material that cannot be loaded)
    real = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    header, body = real.split("\n", 1)
    material = body.replace("\n", "")[:48]
    pem = f"{header}\n{material}\n"
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name="filegate/edge/k2026a", SecretString=pem)
    minting = configure(**filegate_env(secret_name="filegate/edge/k2026a", signer="secret"))
    # When a URL is asked for / Then a 503 whose logs hold neither the secret nor the token
    response = minting.download(api_event("/downloads", {"key": CV_KEY}, claims=careers("alice")))
    assert response["statusCode"] == 503
    assert _leaked(_output(logs, capfd), {"key material": material, "bearer token": TOKEN}) == []


def test_unexpected_errors_log_no_url_or_signature(clean_cv: None, minting: Minting, logs: list[str],
                                                   capfd: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a failure after the URL is signed, with an exception message quoting it
    from filegate.handlers import downloads
    minted: list[str] = []

    def failing_success(status: int, response: Any, **headers: Any) -> Any:
        minted.append(response.url)
        raise RuntimeError(f"could not send {response!r}")

    monkeypatch.setattr(downloads, "success", failing_success)
    # When a URL is asked for
    response = minting.download(api_event("/downloads", {"key": CV_KEY, "ip": "1.2.3.4"}, claims=careers("alice")))
    # Then a 500 that logs where it failed, but not the URL, its signature or policy, or the token
    assert response["statusCode"] == 500 and body(response)["error"]["code"] == "internal_error"
    output = _output(logs, capfd)
    assert "unexpected error" in output and "RuntimeError" in output and "failing_success" in output
    query = parse_qs(urlsplit(minted[0]).query)
    secrets = {"url": minted[0], "Signature": query["Signature"][0], "Policy": query["Policy"][0],
               "bearer token": TOKEN}
    assert _leaked(output, secrets) == []


def test_settings_from_environment(minting: Minting) -> None:
    settings = Settings.from_environ()
    assert settings.upload_expiry_seconds == 300 and settings.url_max_seconds == 3600
    assert settings.allow_ip_restriction and settings.s3_addressing_style == "virtual"
    assert [rule.name for rule in settings.rules] == [rule["name"] for rule in SEED_RULES]


@pytest.mark.parametrize(("change", "message"), [
    ({"FILEGATE_BUCKET": None}, r"^FILEGATE_BUCKET: Field required"),
    ({"FILEGATE_FILES_TABLE": None}, r"^FILEGATE_FILES_TABLE: Field required"),
    ({"FILEGATE_FILES_TABLE": "a b"}, r"^FILEGATE_FILES_TABLE: String should match pattern"),
    ({"FILEGATE_RULES": "[{"}, r"^FILEGATE_RULES: not valid JSON"),
    ({"FILEGATE_RULES": json.dumps([{**SEED_RULES[0], "content_types": ["image/svg+xml"]}])},
     r"^FILEGATE_RULES\[0\]\.content_types\[0\]: 'image/svg\+xml' is not allowed"),
    ({"FILEGATE_DOWNLOAD_BASE_URL": "https://d111.cloudfront.net/"}, r"^FILEGATE_DOWNLOAD_BASE_URL: "),
    ({"FILEGATE_SIGNER": "hsm"}, r"^FILEGATE_SIGNER: "),
    ({"FILEGATE_ACTIVE_SLOT": "other"}, r"^FILEGATE_ACTIVE_SLOT: 'other' is not one of"),
    ({"FILEGATE_SIGNER": "secret"}, r"^FILEGATE_SIGNING_SLOTS: slot 'k2026a' has no secret_name"),
    ({"FILEGATE_URL_DEFAULT_SECONDS": "7200"}, r"^FILEGATE_URL_DEFAULT_SECONDS: must not exceed"),
    ({"FILEGATE_SIGNATURE_CACHE_SECONDS": "-1"}, r"^FILEGATE_SIGNATURE_CACHE_SECONDS: "),
    ({"FILEGATE_ALLOW_IP_RESTRICTION": "maybe"}, r"^FILEGATE_ALLOW_IP_RESTRICTION: "),
])
def test_bad_settings_name_the_variable(minting: Minting, monkeypatch: pytest.MonkeyPatch,
                                        change: dict[str, str | None], message: str) -> None:
    for name, value in change.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        Settings.from_environ()


def test_empty_optional_settings_mean_unset(minting: Minting, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEGATE_BUCKET_KMS_KEY_ARN", "")
    monkeypatch.setenv("FILEGATE_COOKIE_DOMAIN", "")
    settings = Settings.from_environ()
    assert settings.bucket_kms_key_arn is None and settings.cookie_domain is None


@pytest.mark.parametrize(("module", "signer", "crypto"), [
    ("filegate.handlers.uploads", "kms", False),
    ("filegate.handlers.downloads", "kms", False),
    ("filegate.handlers.downloads", "secret", True),
    ("filegate.handlers.files", "kms", False),
    ("filegate.handlers.deletions", "kms", False),
    ("filegate.handlers.erasure_worker", "kms", False),
    ("filegate.handlers.revocation_expiry", "kms", False),
])
def test_import_graphs_stay_minimal(module: str, signer: str, crypto: bool) -> None:
    # Given a fresh interpreter set up as Lambda's init phase (clients and signer built at import)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "lambdas"), "AWS_LAMBDA_FUNCTION_NAME": "t",
           "AWS_REGION": "ap-southeast-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "FILEGATE_BUCKET": "bucket", "FILEGATE_RULES": json.dumps(SEED_RULES),
           "FILEGATE_DOWNLOAD_BASE_URL": "https://d1.cloudfront.net", "FILEGATE_SIGNER": signer,
           "FILEGATE_SIGNING_SLOTS": json.dumps({"a": {"public_key_id": "K1", "kms_key_id": "k", "secret_name": "s"}}),
           "FILEGATE_ACTIVE_SLOT": "a", "FILEGATE_FILES_TABLE": "files", "FILEGATE_ORIGIN_SECRET": "origin",
           **lifecycle_env()}
    code = f"import sys, {module}; print(any(m.startswith('cryptography') for m in sys.modules))"
    # When the handler module is imported / Then cryptography comes along only for the secret signer
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == str(crypto)


def test_verifier_settings_read_only_their_own_variables() -> None:
    # Given the verifier's environment, with minting-only variables mixed in
    env = {**verifier_env(), "FILEGATE_SIGNING_SLOTS": "not even json", "AWS_REGION": REGION}
    # When it is read / Then the minting variables are not looked at, and every setting is there
    settings = VerifierSettings.from_environ(env)
    assert settings.scanning == "guardduty" and settings.verifying_timeout_seconds == 600
    assert settings.event_bus and settings.idempotency_table and settings.files_table
    assert [rule.name for rule in settings.rules] == [rule["name"] for rule in SEED_RULES]


@pytest.mark.parametrize(("change", "message"), [
    ({"FILEGATE_SCANNING": None}, r"^FILEGATE_SCANNING: Field required"),
    ({"FILEGATE_SCANNING": "clamav"}, r"^FILEGATE_SCANNING: Input should be 'guardduty' or 'none'"),
    ({"FILEGATE_EVENT_BUS": None}, r"^FILEGATE_EVENT_BUS: Field required"),
    ({"FILEGATE_IDEMPOTENCY_TABLE": None}, r"^FILEGATE_IDEMPOTENCY_TABLE: Field required"),
    ({"FILEGATE_VERIFYING_TIMEOUT_SECONDS": "999999"}, r"^FILEGATE_VERIFYING_TIMEOUT_SECONDS: "),
    ({"FILEGATE_RULES": "[]"}, r"^FILEGATE_RULES: at least one rule"),
])
def test_bad_verifier_settings_name_the_variable(change: dict[str, str | None], message: str) -> None:
    env = {name: value for name, value in {**verifier_env(), **change}.items() if value is not None}
    with pytest.raises(SettingsError, match=message):
        VerifierSettings.from_environ(env)


def test_every_handler_reads_a_known_model_and_every_name_is_listed() -> None:
    # Then each model reads exactly its own mapping, and ENVIRONMENT is their union
    assert set(ENVIRONMENT.values()) == (set(MINTING_ENVIRONMENT.values()) | set(VERIFIER_ENVIRONMENT.values())
                                         | set(LIFECYCLE_ENVIRONMENT.values())
                                         | set(ORIGIN_ROTATION_ENVIRONMENT.values()))
    assert Settings.ENVIRONMENT is MINTING_ENVIRONMENT and VerifierSettings.ENVIRONMENT is VERIFIER_ENVIRONMENT
    assert LifecycleSettings.ENVIRONMENT is LIFECYCLE_ENVIRONMENT
    assert OriginRotationSettings.ENVIRONMENT is ORIGIN_ROTATION_ENVIRONMENT
    for model in (Settings, VerifierSettings, LifecycleSettings, OriginRotationSettings):
        assert set(model.ENVIRONMENT) == set(model.model_fields) - {"region"}
    assert {HANDLER_SETTINGS[name] for name in HANDLER_SETTINGS} == {Settings, VerifierSettings, LifecycleSettings,
                                                                     OriginRotationSettings}
    assert HANDLER_SETTINGS["filegate.handlers.verifier.handler"] is VerifierSettings
    assert HANDLER_SETTINGS["filegate.handlers.origin_rotation.handler"] is OriginRotationSettings
    for name in ("files", "deletions", "erasure_worker", "revocation_expiry"):
        assert HANDLER_SETTINGS[f"filegate.handlers.{name}.handler"] is LifecycleSettings
