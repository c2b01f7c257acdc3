"""Fixtures for the Lambda package's unit tests: seed rules, moto AWS, API Gateway v2 events.

The ``aws`` fixture builds, inside moto, what the stacks build for real: a versioned bucket,
the files table (with the sweep's sparse ``pending`` index, keys only), the idempotency table,
the product's event bus, plus a test-only rule sending everything on that bus to a queue
(``published_events`` reads it), and for the lifecycle (docs/lifecycle.md) the erasures table,
the erasure queue, the cursor secret, the origin-verify secret (docs/front-door.md) and a
CloudFront distribution. The edge's revocation store
is ``FakeRevocations`` (in memory), passed in where the lifecycle adapters are built
(``lifecycle_wiring.make_revocations``). Records are written straight to DynamoDB by ``put_record``,
in the layout docs/verification.md gives, independently of the code under test.

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
FILES_TABLE = "filegate-test-files"
IDEMPOTENCY_TABLE = "filegate-test-idempotency"
EVENT_BUS = "filegate-test-files"
EVENTS_QUEUE = "filegate-test-published-events"
BASE_URL = "https://d111111abcdef8.cloudfront.net"
PUBLIC_KEY_ID = "K2JCJMDEHXQW5F"
ERASURES_TABLE = "filegate-test-erasures"
ERASURE_QUEUE = "filegate-test-erasures"
ERASURE_QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/123456789012/{ERASURE_QUEUE}"
CURSOR_SECRET = "filegate-test-cursor"
CURSOR_KEY = "k" * 40
REVOCATION_STORE_ARN = "arn:aws:cloudfront::123456789012:key-value-store/537baf2d-ab71-4bb4-8d56-5bdc8bc4d0c3"
#: The moto distribution's id (set by the ``aws`` fixture; any valid id before it runs).
DISTRIBUTION = {"id": "E2TESTDISTRIBUTION"}
#: The origin-verify secret and its value (64 alphanumerics, as rotation makes them): every user
#: route's event carries it in ``x-origin-verify``, as CloudFront adds it.
ORIGIN_SECRET = "filegate-test-origin-verify"
ORIGIN_VALUE = "Zq4r7TnW2xKpB9sLmV3cHdF8gJ6yQeA1uRtYo5iPzXbNw0kMlCaSvEhGjU4DfIr2"
API_STAGE = "api"
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


#: Path segments after which the next one is a path parameter, and the parameter's name.
_PATH_PARAMETERS = {"files": "{file_id}", "erasures": "{erasure_id}"}


def route_key(method: str, path: str) -> str:
    """The HTTP API's ``routeKey`` for a request path (``GET /files/abc`` -> ``GET /files/{file_id}``)."""
    parts = path.split("/")
    for index in range(1, len(parts)):
        if parts[index - 1] in _PATH_PARAMETERS and parts[index]:
            parts[index] = _PATH_PARAMETERS[parts[index - 1]]
    return f"{method} {'/'.join(parts)}"


def api_event(path: str, body: Any = None, *, claims: dict[str, Any] | None = None, iam_arn: str | None = None,
              headers: dict[str, str] | None = None, raw_body: str | None = None, base64_body: bool = False,
              source_ip: str = "198.51.100.7", method: str = "POST", origin: str | None = ORIGIN_VALUE,
              stage: str = API_STAGE) -> dict[str, Any]:
    """An HTTP API (payload v2) event as API Gateway hands it to the Lambda, on stage ``api``
    (``rawPath`` starts ``/api``; ``path`` is the route's). A user route's request came through
    CloudFront, which adds ``x-origin-verify: origin`` (``origin=None``: a direct call)."""
    authorizer: dict[str, Any] = {}
    if claims is not None:
        authorizer["jwt"] = {"claims": claims, "scopes": ["filegate/files"]}
    if iam_arn is not None:
        authorizer["iam"] = {"userArn": iam_arn, "accountId": "123456789012", "callerId": "AROAEXAMPLE:rails"}
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    if text is not None and base64_body:
        text = base64.b64encode(text.encode("utf-8")).decode("ascii")
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    key = route_key(method, path)
    origin_header = {"x-origin-verify": origin} if origin is not None and not path.startswith("/backend/") else {}
    return {
        "version": "2.0", "routeKey": key, "rawPath": raw_path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": "Bearer secret-token-value",
                    **origin_header, **(headers or {})},
        "requestContext": {
            "accountId": "123456789012", "apiId": "a1b2c3d4e5", "domainName": "a1b2c3d4e5.execute-api.example.com",
            "domainPrefix": "a1b2c3d4e5",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": "pytest"},
            "requestId": "req-abc-123", "routeKey": key, "stage": stage,
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

    def file(self, event: dict[str, Any]) -> dict[str, Any]:
        from filegate.handlers import files
        return files.handler(event, FakeContext())

    def delete(self, event: dict[str, Any]) -> dict[str, Any]:
        from filegate.handlers import deletions
        return deletions.handler(event, FakeContext())

    @staticmethod
    def work(*bodies: dict[str, Any] | str) -> dict[str, Any]:
        from filegate.handlers import erasure_worker
        response: dict[str, Any] = erasure_worker.handler(sqs_batch(*bodies), FakeContext())
        return response

    @staticmethod
    def reset() -> None:
        from filegate.handlers import deletions, downloads, erasure_worker, files, revocation_expiry, uploads
        uploads.runtime.cache_clear()
        downloads.runtime.cache_clear()
        files.runtime.cache_clear()
        deletions.runtime.cache_clear()
        erasure_worker.runtime.cache_clear()
        revocation_expiry.runtime.cache_clear()
        try:
            from filegate.handlers import sweep, verifier
        except ImportError:  # filegate.domain.content not there (yet)
            pass
        else:
            verifier.runtime.cache_clear()
            sweep.runtime.cache_clear()
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
        "FILEGATE_FILES_TABLE": FILES_TABLE,
        # Off by default (IPv4-only conditions); these tests exercise the custom-policy paths.
        "FILEGATE_ALLOW_IP_RESTRICTION": "true",
        "FILEGATE_ORIGIN_SECRET": ORIGIN_SECRET,
        **lifecycle_env(),
    }
    env.update(overrides)
    return env


def lifecycle_env() -> dict[str, str]:
    """The six names ``LifecycleSettings`` adds (docs/lifecycle.md, "Settings")."""
    return {"FILEGATE_CURSOR_SECRET": CURSOR_SECRET, "FILEGATE_EVENT_BUS": EVENT_BUS,
            "FILEGATE_REVOCATION_STORE_ARN": REVOCATION_STORE_ARN, "FILEGATE_DISTRIBUTION_ID": DISTRIBUTION["id"],
            "FILEGATE_ERASURES_TABLE": ERASURES_TABLE, "FILEGATE_ERASURE_QUEUE_URL": ERASURE_QUEUE_URL}


def verifier_env(*, scanning: str = "guardduty", rules: list[dict[str, Any]] | None = None,
                 **overrides: str) -> dict[str, str]:
    """The verifier's and the sweep's environment (``VerifierSettings``)."""
    env = {
        "FILEGATE_BUCKET": BUCKET,
        "FILEGATE_RULES": json.dumps(rules if rules is not None else SEED_RULES),
        "FILEGATE_FILES_TABLE": FILES_TABLE,
        "FILEGATE_EVENT_BUS": EVENT_BUS,
        "FILEGATE_IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "FILEGATE_SCANNING": scanning,
        "FILEGATE_VERIFYING_TIMEOUT_SECONDS": "600",
    }
    env.update(overrides)
    return env


def create_verification_resources() -> None:
    """The tables and the bus (as stacks/constructs/file_index.py and events.py make them)."""
    from filegate.adapters.files_table import create_tables
    create_tables(boto3.client("dynamodb", region_name=REGION), files_table=FILES_TABLE,
                  idempotency_table=IDEMPOTENCY_TABLE, erasures_table=ERASURES_TABLE)
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.create_queue(QueueName=ERASURE_QUEUE)
    secretsmanager = boto3.client("secretsmanager", region_name=REGION)
    secretsmanager.create_secret(Name=CURSOR_SECRET, SecretString=CURSOR_KEY)
    secretsmanager.create_secret(Name=ORIGIN_SECRET, SecretString=ORIGIN_VALUE)
    DISTRIBUTION["id"] = create_distribution()
    queue_url = sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name=EVENT_BUS)
    events.put_rule(Name="capture", EventBusName=EVENT_BUS, EventPattern=json.dumps({"source": ["filegate"]}))
    events.put_targets(Rule="capture", EventBusName=EVENT_BUS, Targets=[{"Id": "queue", "Arn": queue_arn}])


def create_distribution() -> str:
    """A CloudFront distribution in moto (what a delete invalidates); its id."""
    config = {
        "CallerReference": "filegate-test", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "s3", "DomainName": f"{BUCKET}.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "s3", "ViewerProtocolPolicy": "https-only",
                                 "MinTTL": 0, "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "TrustedSigners": {"Enabled": False, "Quantity": 0}},
    }
    return str(boto3.client("cloudfront", region_name=REGION).create_distribution(
        DistributionConfig=config)["Distribution"]["Id"])


def invalidations() -> list[list[str]]:
    """The paths of every invalidation made on the distribution, oldest first."""
    client = boto3.client("cloudfront", region_name=REGION)
    listing = client.list_invalidations(DistributionId=DISTRIBUTION["id"]).get("InvalidationList", {})
    found = []
    for summary in reversed(listing.get("Items", [])):
        batch = client.get_invalidation(DistributionId=DISTRIBUTION["id"], Id=summary["Id"])
        found.append(list(batch["Invalidation"]["InvalidationBatch"]["Paths"].get("Items", [])))
    return found


def drained(queue_url: str) -> list[dict[str, Any]]:
    """Every message on a queue, received and deleted (so the next call sees only newer ones)."""
    sqs = boto3.client("sqs", region_name=REGION)
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def erasure_messages() -> list[dict[str, Any]]:
    """Every message on the erasure queue (received and deleted), delays ignored."""
    return drained(ERASURE_QUEUE_URL)


class FakeRevocations:
    """The edge's revocation store in memory: ``EdgeRevocations``' two methods, and its entries."""

    def __init__(self) -> None:
        self.entries: dict[str, int] = {}
        self.calls: list[tuple[str, ...]] = []
        self.fail: Exception | None = None

    def revoke(self, names: Any, *, until: int) -> None:
        if self.fail is not None:
            raise self.fail
        self.calls.append(tuple(names))
        for name in names:
            self.entries[name] = until

    def expire(self, *, now: int) -> int:
        if self.fail is not None:
            raise self.fail
        expired = [name for name, until in self.entries.items() if until <= now]
        for name in expired:
            del self.entries[name]
        return len(expired)


@pytest.fixture
def revocations(monkeypatch: pytest.MonkeyPatch) -> FakeRevocations:
    """The in-memory store every lifecycle handler gets (built where its runtime is built)."""
    from filegate.handlers import lifecycle_wiring

    store = FakeRevocations()
    monkeypatch.setattr(lifecycle_wiring, "make_revocations", lambda _session, _settings: store)
    return store


def published_events() -> list[dict[str, Any]]:
    """Every event published on the product's bus since the last call (as EventBridge delivers them)."""
    sqs = boto3.client("sqs", region_name=REGION)
    return drained(sqs.get_queue_url(QueueName=EVENTS_QUEUE)["QueueUrl"])


def put_record(key: str, *, status: str = "clean", rule: str = "cv", owner_sub: str = "alice",
               content_type: str = "application/pdf", size: int = 1234, created_at: int = 1_800_000_000,
               **extra: Any) -> dict[str, Any]:
    """Write a file record straight to the table (docs/verification.md's layout); returns the item."""
    file_id = key.rpartition("/")[2].partition(".")[0]
    item: dict[str, Any] = {"file_id": file_id, "key": key, "rule": rule, "owner_sub": owner_sub,
                            "filename": "file.pdf", "content_type": content_type, "declared_size": size,
                            "status": status, "created_at": created_at, "updated_at": created_at, **extra}
    if status == "clean":
        item.setdefault("size", size)
        item.setdefault("verified_at", created_at + 5)
    if status == "verifying" or (status in {"clean", "rejected"} and "notified_at" not in item):
        item.setdefault("pending_status", status)  # unfinished work: in the sweep's index
    boto3.resource("dynamodb", region_name=REGION).Table(FILES_TABLE).put_item(Item=item)
    return item


def get_item(file_id: str) -> dict[str, Any] | None:
    """The stored item as DynamoDB holds it (numbers as Decimal), or None."""
    item = boto3.resource("dynamodb", region_name=REGION).Table(FILES_TABLE).get_item(
        Key={"file_id": file_id}, ConsistentRead=True).get("Item")
    return dict(item) if item else None


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS call, with fake credentials and no real endpoint anywhere."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in _BASE_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        create_verification_resources()
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
def life(configure: Any, revocations: FakeRevocations) -> Minting:
    """filegate with the lifecycle rules (delete allowed, quotas set) and the in-memory revocation store."""
    from lifecycle_helpers import LIFECYCLE_RULES  # it imports this module

    return configure(**filegate_env(kms_key_id=create_kms_key(), rules=LIFECYCLE_RULES))


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every log line the handlers write, formatted exactly as in Lambda: their Powertools
    logger's, and the audit lines ``request_log`` writes (as they reach standard output)."""
    from filegate.handlers.common import logger
    from filegate.handlers.observability import request_log

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    written = request_log.emit_audit

    def collect_audit(text: str) -> None:
        lines.append(text)
        written(text)

    monkeypatch.setattr(request_log, "emit_audit", collect_audit)
    collector = Collect()
    collector.setFormatter(logger.registered_formatter)
    logging.getLogger("filegate").addHandler(collector)
    yield lines
    logging.getLogger("filegate").removeHandler(collector)


# --- the verifier's events, as AWS delivers them ----------------------------------------------

def object_created(key: str, *, version_id: str, etag: str, size: int, bucket: str = BUCKET) -> dict[str, Any]:
    """S3's ``Object Created`` EventBridge event (EventBridge notifications on the bucket)."""
    return {
        "version": "0", "id": f"oc-{version_id}", "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2026-11-29T04:00:00Z", "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": size, "etag": etag, "version-id": version_id,
                              "sequencer": "00617F08299329D189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
                   "source-ip-address": "198.51.100.7", "reason": "POST Object"},
    }


def scan_result(key: str, *, version_id: str, etag: str, status: str | None = "NO_THREATS_FOUND",
                bucket: str = BUCKET) -> dict[str, Any]:
    """GuardDuty Malware Protection for S3's scan-result event (default bus)."""
    result: dict[str, Any] = {"threats": [{"name": "EICAR-Test-File (not a virus)"}]
                              if status == "THREATS_FOUND" else None}
    if status is not None:
        result["scanResultStatus"] = status
    return {
        "version": "0", "id": f"gd-{version_id}", "detail-type": "GuardDuty Malware Protection Object Scan Result",
        "source": "aws.guardduty", "account": "123456789012", "time": "2026-11-29T04:00:05Z", "region": REGION,
        "resources": ["arn:aws:guardduty:ap-southeast-1:123456789012:malware-protection-plan/b4c7f464ab3a4EXAMPLE"],
        "detail": {"schemaVersion": "1.0", "scanStatus": "COMPLETED" if status else "FAILED",
                   "resourceType": "S3_OBJECT",
                   "s3ObjectDetails": {"bucketName": bucket, "objectKey": key, "eTag": etag,
                                       "versionId": version_id, "s3Throttled": False},
                   "scanResultDetails": result},
    }


def sqs_batch(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it (each body an EventBridge event)."""
    records = []
    for index, message in enumerate(bodies):
        records.append({
            "messageId": f"message-{index}", "receiptHandle": f"handle-{index}",
            "body": message if isinstance(message, str) else json.dumps(message),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795924800000",
                           "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795924800000"},
            "messageAttributes": {}, "md5OfBody": "0" * 32, "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:filegate-test-verification", "awsRegion": REGION,
        })
    return {"Records": records}


@dataclass
class Verifying:
    """A configured verifier inside moto: quarantine objects, deliver events, inspect S3."""

    env: dict[str, str]

    @staticmethod
    def quarantine(final_key: str, data: bytes, content_type: str = "application/pdf") -> tuple[str, str]:
        """What the browser's POST leaves: an object at ``incoming/<final key>``; its (version id, ETag)."""
        response = boto3.client("s3", region_name=REGION).put_object(
            Bucket=BUCKET, Key="incoming/" + final_key, Body=data, ContentType=content_type)
        return response["VersionId"], response["ETag"].strip('"')

    @staticmethod
    def deliver(*bodies: dict[str, Any] | str) -> dict[str, Any]:
        from filegate.handlers import verifier
        response: dict[str, Any] = verifier.handler(sqs_batch(*bodies), FakeContext())
        return response

    def upload(self, final_key: str, data: bytes, content_type: str = "application/pdf", *,
               scan: str | None = "NO_THREATS_FOUND") -> tuple[str, str]:
        """Quarantine the bytes and deliver its Object Created (and, with a verdict, scan) events."""
        version_id, etag = self.quarantine(final_key, data, content_type)
        events: list[dict[str, Any]] = [object_created("incoming/" + final_key, version_id=version_id, etag=etag,
                                                       size=len(data))]
        if self.env["FILEGATE_SCANNING"] == "guardduty":
            events.append(scan_result("incoming/" + final_key, version_id=version_id, etag=etag, status=scan))
        for event in events:
            assert self.deliver(event) == {"batchItemFailures": []}
        return version_id, etag

    @staticmethod
    def requests(*operations: str) -> list[dict[str, Any]]:
        """From now on, the parameters of every such S3 call the verifier sends (moto ignores some,
        such as ``CopySourceIfMatch``: the request is where their presence shows)."""
        from filegate.handlers import verifier
        sent: list[dict[str, Any]] = []
        client = verifier.runtime().verifier.objects._client  # type: ignore[attr-defined]

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            sent.append({"operation": model.name, **params})

        for operation in operations:
            client.meta.events.register(f"provide-client-params.s3.{operation}", record)
        return sent

    @staticmethod
    def versions(key: str) -> list[dict[str, Any]]:
        """Every version and delete marker of exactly ``key``."""
        listing = boto3.client("s3", region_name=REGION).list_object_versions(Bucket=BUCKET, Prefix=key)
        return [item for item in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
                if item["Key"] == key]

    @staticmethod
    def read(key: str) -> bytes:
        return bytes(boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read())


@pytest.fixture
def verifying(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``verifying(scanning=...)``: the verifier configured with the seed rules."""

    def apply(**overrides: str) -> Verifying:
        env = verifier_env(**overrides)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        Minting.reset()
        return Verifying(env=env)

    yield apply
    Minting.reset()
