"""Fixtures for the Lambda package's unit tests: seed rules, moto AWS, API Gateway v2 events.

Hypothesis profiles: ``ci`` (selected when the CI environment variable is set) runs 1,000
examples per property with no deadline; ``dev`` (the default) runs fewer so that the unit
suite stays fast on a laptop.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, settings
from moto import mock_aws

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
if str(LAMBDAS) not in sys.path:
    sys.path.insert(0, str(LAMBDAS))

settings.register_profile("ci", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REGION = "ap-southeast-1"
BUCKET = "filegate-test-files"
BASE_URL = "https://d111111abcdef8.cloudfront.net"
PUBLIC_KEY_ID = "K2JCJMDEHXQW5F"
BACKEND_ARN = "arn:aws:iam::123456789012:role/rails-app"
#: How API Gateway reports a call signed with that role's session credentials.
BACKEND_SESSION_ARN = "arn:aws:sts::123456789012:assumed-role/rails-app/i-0abc123"

#: The four seed rules of DESIGN.md decision 6 (the lead keeps the deployed copy in cdk.json).
SEED_RULES: list[dict[str, Any]] = [
    {"name": "cv", "key_template": "private/users/{sub}/cv/{file}", "groups": ["careers"],
     "actions": ["upload", "download"],
     "content_types": ["application/pdf", "application/msword",
                       "application/vnd.openxmlformats-officedocument.wordprocessingml.document"],
     "max_bytes": 10 * 1024 * 1024, "url_lifetime_seconds": 300, "disposition": "attachment"},
    {"name": "certificate", "key_template": "private/users/{sub}/certificates/{file}", "groups": ["careers"],
     "actions": ["upload", "download"], "content_types": ["application/pdf", "image/png", "image/jpeg"],
     "max_bytes": 10 * 1024 * 1024},
    {"name": "business-registration", "key_template": "private/orgs/{org_id}/registration/{file}",
     "groups": ["org"], "actions": ["upload", "download"], "content_types": ["application/pdf"],
     "max_bytes": 20 * 1024 * 1024},
    {"name": "marketing", "key_template": "public/marketing/{file}", "groups": ["marketing"],
     "actions": ["upload"], "content_types": ["image/png", "image/jpeg", "image/webp"],
     "max_bytes": 5 * 1024 * 1024},
]

_BASE_ENV = {
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_SERVICE_NAME": "filegate", "POWERTOOLS_METRICS_NAMESPACE": "filegate",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
_CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_KMS",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_LAMBDA_FUNCTION_NAME", "AWS_CREDENTIAL_EXPIRATION")


@pytest.fixture
def seed_rules() -> list[dict[str, Any]]:
    return json.loads(json.dumps(SEED_RULES))


def api_event(path: str, body: Any = None, *, claims: dict[str, Any] | None = None, iam_arn: str | None = None,
              headers: dict[str, str] | None = None, raw_body: str | None = None, base64_body: bool = False,
              source_ip: str = "198.51.100.7", method: str = "POST") -> dict[str, Any]:
    """An HTTP API (payload v2) event as API Gateway hands it to the Lambda."""
    authorizer: dict[str, Any] = {}
    if claims is not None:
        authorizer["jwt"] = {"claims": claims, "scopes": ["filegate/files"]}
    if iam_arn is not None:
        authorizer["iam"] = {"userArn": iam_arn, "accountId": "123456789012", "callerId": "AROAEXAMPLE:rails"}
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    if text is not None and base64_body:
        text = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return {
        "version": "2.0", "routeKey": f"{method} {path}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": "Bearer secret-token-value",
                    **(headers or {})},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": "pytest"},
            "requestId": "req-abc-123", "routeKey": f"{method} {path}", "stage": "$default",
            "time": "29/Nov/2026:04:00:00 +0000", "timeEpoch": 1795924800000,
            **({"authorizer": authorizer} if authorizer else {}),
        },
        "body": text, "isBase64Encoded": base64_body,
    }


def careers(sub: str = "user-1", **extra: Any) -> dict[str, Any]:
    return {"sub": sub, "cognito:groups": "[careers]", **extra}


class FakeContext:
    function_name = "filegate-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:filegate-test"
    memory_limit_in_mb = 256
    aws_request_id = "lambda-req-1"
    log_group_name = "/aws/lambda/filegate-test"
    log_stream_name = "stream"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


@dataclass
class Minting:
    """A configured filegate inside moto: call the real handlers, inspect AWS."""

    env: dict[str, str]
    kms_keys: dict[str, str] = field(default_factory=dict)

    def upload(self, event: dict[str, Any]) -> dict[str, Any]:
        from filegate.handlers import uploads
        return uploads.handler(event, FakeContext())

    def download(self, event: dict[str, Any]) -> dict[str, Any]:
        from filegate.handlers import downloads
        return downloads.handler(event, FakeContext())

    @staticmethod
    def reset() -> None:
        from filegate.handlers import downloads, uploads
        uploads.runtime.cache_clear()
        downloads.runtime.cache_clear()
        from aws_lambda_powertools.utilities import parameters
        parameters.clear_caches()


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def create_kms_key(key_spec: str = "ECC_NIST_P256") -> str:
    kms = boto3.client("kms", region_name=REGION)
    return kms.create_key(KeySpec=key_spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]


def filegate_env(*, kms_key_id: str | None = None, secret_name: str | None = None, signer: str = "kms",
                 rules: list[dict[str, Any]] | None = None, **overrides: str) -> dict[str, str]:
    slot: dict[str, str] = {"public_key_id": PUBLIC_KEY_ID}
    if kms_key_id:
        slot["kms_key_id"] = kms_key_id
    if secret_name:
        slot["secret_name"] = secret_name
    env = {
        "FILEGATE_BUCKET": BUCKET,
        "FILEGATE_RULES": json.dumps(rules if rules is not None else SEED_RULES),
        "FILEGATE_DOWNLOAD_BASE_URL": BASE_URL,
        "FILEGATE_SIGNER": signer,
        "FILEGATE_SIGNING_SLOTS": json.dumps({"k2026a": slot}),
        "FILEGATE_ACTIVE_SLOT": "k2026a",
        "FILEGATE_BACKEND_PRINCIPALS": json.dumps([BACKEND_ARN]),
        # Off by default (IPv4-only conditions); these tests exercise the custom-policy paths.
        "FILEGATE_ALLOW_IP_RESTRICTION": "true",
    }
    env.update(overrides)
    return env


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS call, with fake credentials and no real endpoint anywhere."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in _BASE_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield


@pytest.fixture
def minting(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Minting]:
    """filegate configured with the seed rules and a KMS ECDSA P-256 signing key."""
    key_id = create_kms_key()
    env = filegate_env(kms_key_id=key_id)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    Minting.reset()
    yield Minting(env=env, kms_keys={"k2026a": key_id})
    Minting.reset()


@pytest.fixture
def configure(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Reconfigure filegate's environment inside a test: ``configure(**filegate_env(...))``."""

    def apply(**env: str) -> Minting:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        Minting.reset()
        return Minting(env=env)

    yield apply
    Minting.reset()


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
