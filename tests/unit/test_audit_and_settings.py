"""Audit records, what never reaches a log line, settings parsing, and the handlers' import graphs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import BACKEND_ARN, SEED_RULES, Minting, api_event, body, careers

from filegate.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
CV_KEY = "private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf"
AUDIT_FIELDS = {"event", "action", "channel", "route", "status", "code", "reason", "rule", "key", "expires_at",
                "ip_range", "starts_at", "sub", "org_id", "groups", "principal", "source_ip", "request_id"}


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every line the handlers' Powertools logger writes, formatted exactly as in Lambda."""
    from filegate.handlers.common import logger

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    collector = Collect()
    collector.setFormatter(logger.registered_formatter)
    logging.getLogger("filegate").addHandler(collector)
    yield lines
    logging.getLogger("filegate").removeHandler(collector)


def _audits(lines: list[str]) -> list[dict[str, Any]]:
    return [record["audit"] for record in map(json.loads, lines) if "audit" in record]


def test_every_mint_and_refusal_writes_one_audit_record(minting: Minting, logs: list[str]) -> None:
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


def test_no_url_signature_or_token_in_any_log_line(minting: Minting, logs: list[str],
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    responses = [
        minting.upload(api_event("/uploads", {"rule": "cv", "content_type": "application/pdf", "size": 5},
                                 claims=careers("alice"))),
        minting.download(api_event("/downloads", {"key": CV_KEY}, claims=careers("alice"))),
        minting.download(api_event("/downloads", {"key": CV_KEY, "ip": "1.2.3.4"}, claims=careers("alice"))),
        minting.download(api_event("/downloads/cookies", {"prefix": "private/users/alice/"}, claims=careers("alice"))),
    ]
    captured = capfd.readouterr()
    output = "\n".join(logs) + captured.out + captured.err  # log records, metrics, anything printed
    assert len(_audits(logs)) == 4
    secrets = {"secret-token-value", "Bearer"}
    upload = body(responses[0])
    secrets |= {upload["url"] + upload["key"], upload["fields"]["policy"], upload["fields"]["x-amz-signature"]}
    for response in responses[1:3]:
        url = body(response)["url"]
        query = parse_qs(urlsplit(url).query)
        secrets |= {url, "Signature=", query["Signature"][0], *query.get("Policy", [])}
    cookies = body(responses[3])["cookies"]
    secrets |= {cookies["CloudFront-Signature"], cookies["CloudFront-Policy"]}
    assert output and all(secret not in output for secret in secrets)


def test_settings_from_environment(minting: Minting) -> None:
    settings = Settings.from_environ()
    assert settings.upload_expiry_seconds == 300 and settings.url_max_seconds == 3600
    assert settings.allow_ip_restriction and settings.s3_addressing_style == "virtual"
    assert [rule.name for rule in settings.rules] == [rule["name"] for rule in SEED_RULES]


@pytest.mark.parametrize(("change", "message"), [
    ({"FILEGATE_BUCKET": None}, r"^FILEGATE_BUCKET: Field required"),
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
])
def test_import_graphs_stay_minimal(module: str, signer: str, crypto: bool) -> None:
    # Given a fresh interpreter set up as Lambda's init phase (clients and signer built at import)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "lambdas"), "AWS_LAMBDA_FUNCTION_NAME": "t",
           "AWS_REGION": "ap-southeast-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "FILEGATE_BUCKET": "bucket", "FILEGATE_RULES": json.dumps(SEED_RULES),
           "FILEGATE_DOWNLOAD_BASE_URL": "https://d1.cloudfront.net", "FILEGATE_SIGNER": signer,
           "FILEGATE_SIGNING_SLOTS": json.dumps({"a": {"public_key_id": "K1", "kms_key_id": "k", "secret_name": "s"}}),
           "FILEGATE_ACTIVE_SLOT": "a"}
    code = f"import sys, {module}; print(any(m.startswith('cryptography') for m in sys.modules))"
    # When the handler module is imported / Then cryptography comes along only for the secret signer
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == str(crypto)
