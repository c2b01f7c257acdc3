"""Starts and stops the whole local mode (``python -m local``); see local/README.md."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import string
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from filegate.adapters.files_table import create_tables
from filegate.domain.front_door import API_STAGE, ORIGIN_VERIFY_HEADER
from local import bucket_policy
from local.api import BACKEND_ROLE_ARN
from local.ceph import LocalCeph, missing_binaries
from local.clamd import Clamd, self_check
from local.demo_server import make_demo_server
from local.edge_function import host_argv
from local.events_feed import EventsFeed
from local.events_feed import make_server as make_events_server
from local.issuer import DEMO_USERS, DevIssuer, make_server, serve_in_thread
from local.keyvaluestore import PROXY_HOST
from local.procs import ChildFailed, Supervisor, pid_alive

ROOT = Path(__file__).resolve().parent.parent
#: The scope the deployed routes require when the environment names no issuer
#: (stacks/constructs/identity.py: RESOURCE_SERVER/FILES_SCOPE).
DEFAULT_SCOPE = "filegate/files"
PORT_NAMES = ("demo", "api", "edge", "issuer", "s3", "aws", "mon", "scanner", "events")
DEFAULT_BASE_PORT = 8080  # demo on 8080: an origin the dev config's frontend_origins allows
#: radosgw user of each principal (local/bucket_policy.py).
S3_ROLES: dict[str, str] = {
    "admin": bucket_policy.ADMIN, "uploader": bucket_policy.UPLOADER, "edge": bucket_policy.EDGE,
    "scanner": bucket_policy.SCANNER, "verifier": bucket_policy.VERIFIER, "deleter": bucket_policy.DELETER,
}
#: The verification queue locally: a short visibility timeout, so that a failed batch comes back in
#: seconds (the stack: 6 x the verifier's timeout); SQS moves a message to the DLQ after the stack's
#: receive count.
LOCAL_VISIBILITY_TIMEOUT_SECONDS = 10
LOCAL_VERIFIER_TIMEOUT_SECONDS = 30
#: The erasure queue locally: the worker's timeout and the queue's visibility timeout (the stack:
#: 120 s and 6 x that), short so that a failed step comes back within a test.
LOCAL_ERASURE_TIMEOUT_SECONDS = 30
#: The revocation expiry's schedule (the stack's: every 15 minutes).
REVOCATION_EXPIRY_SECONDS = 15 * 60
#: The lifecycle functions' modules (docs/lifecycle.md); each runs only when this checkout has it.
DELETIONS_HANDLER = "filegate.handlers.deletions.handler"
ERASURE_WORKER_HANDLER = "filegate.handlers.erasure_worker.handler"
REVOCATION_EXPIRY_HANDLER = "filegate.handlers.revocation_expiry.handler"
#: The origin-verify secret's rotation function (docs/front-door.md), invoked by moto's RotateSecret.
ORIGIN_ROTATION_HANDLER = "filegate.handlers.origin_rotation.handler"
ORIGIN_ROTATION_TIMEOUT_SECONDS = 30
#: Loopback is never proxied: only the KeyValueStore's unresolvable host goes to its stand-in.
NO_PROXY = "127.0.0.1,localhost"
CURSOR_SECRET_LENGTH = 64
#: The origin-verify secret (docs/front-door.md): 64 alphanumeric characters, as GetRandomPassword
#: makes them for the stack.
ORIGIN_SECRET_LENGTH = 64
#: CloudFront's managed policies the stack's ``/api/*`` behaviour uses (recorded in moto's
#: distribution; the local edge implements them): CachingDisabled, AllViewerExceptHostHeader.
CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST_POLICY_ID = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
API_METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE")
#: moto 5.2 drops ``account`` from events it hands to an SQS target; this input transformer (local
#: only) restores EventBridge's whole envelope. ``<time>`` is moto's epoch number at that point,
#: turned into EventBridge's ISO time when moto sends the message.
EVENT_ENVELOPE_PATHS = {name: f"$.{name}" for name in (
    "id", "detail-type", "source", "account", "time", "region", "resources", "detail")}
EVENT_ENVELOPE_TEMPLATE = ('{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
                           '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, '
                           '"detail": <detail>}')


@dataclass
class Ports:
    demo: int
    api: int
    edge: int
    issuer: int
    s3: int
    aws: int
    mon: int
    scanner: int
    events: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def choose_ports(args: argparse.Namespace) -> Ports:
    chosen: dict[str, int] = {}
    for offset, name in enumerate(PORT_NAMES):
        explicit = getattr(args, f"{name}_port")
        if explicit:
            chosen[name] = explicit
        elif args.free_ports:
            chosen[name] = free_port()
        else:
            chosen[name] = args.base_port + offset
    busy = [f"{name}={port}" for name, port in chosen.items() if port_in_use(port)]
    if busy:
        raise SystemExit(f"ports already in use on 127.0.0.1: {', '.join(busy)} "
                         "(is local mode already running? choose others with --base-port or --free-ports)")
    return Ports(**chosen)


def cloudfront_key_id() -> str:
    """An id shaped like CloudFront's public key ids (e.g. K2JCJMDEHXQW5F)."""
    return "K" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(13))


def wait_http(url: str, timeout: float, supervisor: Supervisor) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.check()
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our loopback URL
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def handler_exists(path: str) -> bool:
    return importlib.util.find_spec(path.rpartition(".")[0]) is not None


def write_json(path: Path, data: dict[str, Any], mode: int = 0o600) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.chmod(tmp, mode)
    tmp.replace(path)


class LocalMode:
    def __init__(self, args: argparse.Namespace) -> None:
        from stacks.config import load_environment

        self.args = args
        self.config = load_environment(args.env)
        self.data_dir: Path = args.data_dir.resolve()
        self.ports = choose_ports(args)
        self.region = self.config.region
        self.bucket = f"{self.config.prefix}-files-local"
        self.urls = {name: f"http://127.0.0.1:{getattr(self.ports, name)}" for name in PORT_NAMES if name != "mon"}
        #: The API's two bases (docs/front-door.md): through the edge (frontends), and the local
        #: API's stage (backends; user routes there need the origin header).
        self.api_url = f"{self.urls['edge']}/{API_STAGE}"
        self.backend_api_url = f"{self.urls['api']}/{API_STAGE}"
        self.origin_secret_value = ""
        demo_origin = self.urls["demo"]
        self.allowed_origins = list(self.config.frontend_origins)
        if demo_origin not in self.allowed_origins:  # local only: the demo page must be able to call in
            self.allowed_origins.append(demo_origin)
        self.audience = list(self.config.jwt_audience)
        self.scopes = list(self.config.jwt.scopes) if self.config.jwt else [DEFAULT_SCOPE]
        self.supervisor = Supervisor(self.data_dir / "logs")
        self.servers: list[Any] = []
        self.timings: dict[str, float] = {}
        self._t0 = time.monotonic()
        # One radosgw user per principal (local/bucket_policy.py), each with fresh keys.
        self.s3_keys: dict[str, tuple[str, str]] = {
            role: (f"FG{role[:4].upper()}{secrets.token_hex(7).upper()}", secrets.token_urlsafe(30))
            for role in S3_ROLES}
        self.uploader_keys = self.s3_keys["uploader"]
        self.edge_keys = self.s3_keys["edge"]
        self.scanning = self.config.scanning
        self.backend_key = secrets.token_urlsafe(24)
        # Internal services on free ports: the KeyValueStore stand-in (endpoints.json "revocations"),
        # the CloudFront Functions host, and the deletions function's own process.
        self.internal_urls = {name: f"http://127.0.0.1:{free_port()}"
                              for name in ("revocations", "edge_function", "deletions", "origin_rotation")}
        #: The rotation function's name in moto's Lambda (its code runs in a local function worker).
        self.origin_rotation_function = f"{self.config.prefix}-origin-rotation"
        #: Which lifecycle functions this checkout has (docs/lifecycle.md).
        self.lifecycle = {name: handler_exists(path) for name, path in (
            ("deletions", DELETIONS_HANDLER), ("erasure_worker", ERASURE_WORKER_HANDLER),
            ("revocation_expiry", REVOCATION_EXPIRY_HANDLER))}
        self._feed_stop = threading.Event()
        self.claimed = False  # True once this run owns the data folder (and may clean it up)

    def mark(self, name: str) -> None:
        self.timings[name] = round(time.monotonic() - self._t0, 2)
        if self.args.verbose:
            print(f"  [{self.timings[name]:5.2f} s] {name}", flush=True)

    # --- preparation ----------------------------------------------------------------------

    def claim_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pid_file = self.data_dir / "local.pid"
        if pid_file.exists():
            with contextlib.suppress(ValueError):
                pid = int(pid_file.read_text().strip())
                if pid != os.getpid() and pid_alive(pid):
                    raise SystemExit(f"local mode is already running from {self.data_dir} (pid {pid}); "
                                     "stop it (Ctrl-C) or pass another --data-dir")
        pid_file.write_text(str(os.getpid()))
        self.claimed = True
        for stale in ("endpoints.json", "runtime.json"):
            (self.data_dir / stale).unlink(missing_ok=True)
        logs = self.data_dir / "logs"
        if logs.exists():
            shutil.rmtree(logs)
        logs.mkdir()

    # --- AWS (moto): KMS keys, secrets ----------------------------------------------------

    def aws_client(self, service: str) -> Any:
        session: Any = boto3.session.Session()
        return session.client(
            service, endpoint_url=self.urls["aws"], region_name=self.region,
            aws_access_key_id=self.uploader_keys[0], aws_secret_access_key=self.uploader_keys[1])

    def setup_aws(self) -> dict[str, Any]:
        """The bucket's KMS key, one signing key per slot and, for the secret signer, its secrets."""
        kms = self.aws_client("kms")
        prefix = self.config.prefix
        bucket_key = kms.create_key(Description=f"{prefix} files bucket (local)", KeyUsage="ENCRYPT_DECRYPT",
                                    KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["Arn"]
        slots: dict[str, dict[str, Any]] = {}
        key_group: dict[str, str] = {}
        signing = self.config.signing
        for slot in signing.slots:
            key_id = cloudfront_key_id()
            entry: dict[str, Any] = {"public_key_id": key_id}
            if signing.signer == "kms":
                arn = kms.create_key(Description=f"{prefix} CloudFront signing slot {slot.name} (local)",
                                     KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
                kms.create_alias(AliasName=f"alias/{prefix}-signing-{slot.name}", TargetKeyId=arn)
                der = kms.get_public_key(KeyId=arn)["PublicKey"]
                public = serialization.load_der_public_key(der)
                entry["kms_key_id"] = arn
            else:
                # The configured public key's private half is not ours: a fresh key pair per slot,
                # its private key in (moto's) Secrets Manager under the configured secret name.
                private = ec.generate_private_key(ec.SECP256R1())
                pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()).decode()
                self.aws_client("secretsmanager").create_secret(Name=slot.secret_name, SecretString=pem)
                public = private.public_key()
                entry["secret_name"] = slot.secret_name
            slots[slot.name] = entry
            key_group[key_id] = public.public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        # The listing cursors' MAC key, generated here as the stack generates it (never in the repo).
        alphabet = string.ascii_letters + string.digits
        self.aws_client("secretsmanager").create_secret(
            Name=self.config.cursor_secret_name,
            SecretString="".join(secrets.choice(alphabet) for _ in range(CURSOR_SECRET_LENGTH)))
        # The origin-verify secret (docs/front-door.md): a fresh value at every start; the
        # distribution's ``api`` origin carries it (setup_cloudfront) and the handlers accept it.
        self.origin_secret_value = "".join(secrets.choice(alphabet) for _ in range(ORIGIN_SECRET_LENGTH))
        origin_secret = self.aws_client("secretsmanager").create_secret(
            Name=self.config.origin_secret_name, SecretString=self.origin_secret_value,
            Description="filegate origin-verify header value (local)")
        return {"bucket_key_arn": bucket_key, "slots": slots, "key_group": key_group,
                "bucket_sse_key": secrets.token_bytes(32), "cursor_secret": self.config.cursor_secret_name,
                "origin_secret": origin_secret["ARN"]}

    def setup_verification_aws(self) -> dict[str, Any]:
        """DynamoDB (file records, idempotency), SQS (verification queue + DLQ, events archive) and
        EventBridge (the product's bus; S3's and GuardDuty's events on the default bus) in moto."""
        from stacks.config import VERIFIER_MAX_RECEIVE_COUNT

        config = self.config
        dynamodb = self.aws_client("dynamodb")
        files_table, idempotency_table = config.files_table_name, config.idempotency_table_name
        create_tables(dynamodb, files_table=files_table, idempotency_table=idempotency_table,
                      erasures_table=config.erasures_table_name)

        sqs = self.aws_client("sqs")

        def queue(name: str, attributes: dict[str, str] | None = None) -> dict[str, str]:
            url = sqs.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            return {"name": name, "url": url, "arn": arn}

        prefix = config.prefix
        dlq = queue(f"{prefix}-verification-dlq", {"MessageRetentionPeriod": str(14 * 24 * 3600)})
        verification = queue(f"{prefix}-verification", {
            "VisibilityTimeout": str(LOCAL_VISIBILITY_TIMEOUT_SECONDS),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq["arn"],
                                         "maxReceiveCount": VERIFIER_MAX_RECEIVE_COUNT})})
        archive = queue(f"{prefix}-events-archive")
        erasure_dlq = queue(f"{config.erasure_queue_name}-dead-letters",
                            {"MessageRetentionPeriod": str(14 * 24 * 3600)})
        erasures = queue(config.erasure_queue_name, {
            "VisibilityTimeout": str(LOCAL_ERASURE_TIMEOUT_SECONDS),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": erasure_dlq["arn"],
                                         "maxReceiveCount": VERIFIER_MAX_RECEIVE_COUNT})})

        events = self.aws_client("events")
        bus = config.event_bus_name
        events.create_event_bus(Name=bus)

        def rule(name: str, pattern: dict[str, Any], target: dict[str, str], bus_name: str = "default") -> None:
            events.put_rule(Name=name, EventBusName=bus_name, EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(Rule=name, EventBusName=bus_name, Targets=[{
                "Id": target["name"], "Arn": target["arn"],
                "InputTransformer": {"InputPathsMap": EVENT_ENVELOPE_PATHS, "InputTemplate": EVENT_ENVELOPE_TEMPLATE}}])

        # What the stack routes to the verifier: S3's Object Created under incoming/ (EventBridge
        # notifications on the bucket) and GuardDuty's scan results for the same objects.
        rule(f"{prefix}-object-created", {
            "source": ["aws.s3"], "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [self.bucket]}, "object": {"key": [{"prefix": "incoming/"}]}}},
            verification)
        if self.scanning == "guardduty":
            rule(f"{prefix}-scan-result", {
                "source": ["aws.guardduty"], "detail-type": ["GuardDuty Malware Protection Object Scan Result"],
                "detail": {"s3ObjectDetails": {"bucketName": [self.bucket],
                                               "objectKey": [{"prefix": "incoming/"}]}}},
                verification)
        # Local only: everything on the product's bus, kept for the events URL.
        rule(f"{prefix}-events-archive", {"source": ["filegate"]}, archive, bus_name=bus)
        edge = self.setup_cloudfront()
        edge["origin_rotation_function_arn"] = self.setup_rotation_function()
        return {"files_table": files_table, "idempotency_table": idempotency_table, "event_bus": bus,
                "erasures_table": config.erasures_table_name, **edge,
                "queues": {"verification": verification, "dlq": dlq, "archive": archive,
                           "erasures": erasures, "erasures_dlq": erasure_dlq}}

    def setup_cloudfront(self) -> dict[str, str]:
        """A distribution and the revocations KeyValueStore, both in moto's CloudFront API as the
        stack makes them; the store's data plane is local/keyvaluestore.py, serving the ARN moto
        gave it. The distribution names ``CreateInvalidation``'s target (the local edge keeps no
        cache, so an invalidation has nothing to do) and holds the ``api`` origin with its
        ``x-origin-verify`` custom header: the local edge reads the value from here, and the
        rotation function's ``setSecret`` updates it here (docs/front-door.md)."""
        cloudfront = self.aws_client("cloudfront")
        distribution = cloudfront.create_distribution(DistributionConfig={
            "CallerReference": f"{self.config.prefix}-local", "Comment": "filegate local edge (no cache)",
            "Enabled": True,
            "Origins": {"Quantity": 2, "Items": [
                {"Id": "bucket", "DomainName": "127.0.0.1",
                 "CustomOriginConfig": {"HTTPPort": self.ports.s3, "HTTPSPort": 443,
                                        "OriginProtocolPolicy": "http-only"}},
                {"Id": "api", "DomainName": "127.0.0.1",
                 "CustomOriginConfig": {"HTTPPort": self.ports.api, "HTTPSPort": 443,
                                        "OriginProtocolPolicy": "http-only"},
                 "CustomHeaders": {"Quantity": 1, "Items": [
                     {"HeaderName": ORIGIN_VERIFY_HEADER, "HeaderValue": self.origin_secret_value}]}},
            ]},
            "DefaultCacheBehavior": {"TargetOriginId": "bucket", "ViewerProtocolPolicy": "allow-all",
                                     "CachePolicyId": CACHING_OPTIMIZED_POLICY_ID},
            "CacheBehaviors": {"Quantity": 1, "Items": [{
                "PathPattern": f"{API_STAGE}/*", "TargetOriginId": "api", "ViewerProtocolPolicy": "allow-all",
                "AllowedMethods": {"Quantity": len(API_METHODS), "Items": list(API_METHODS),
                                   "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}},
                "CachePolicyId": CACHING_DISABLED_POLICY_ID,
                "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST_POLICY_ID}]},
        })["Distribution"]
        store = cloudfront.create_key_value_store(
            Name=self.config.revocation_store_name,
            Comment="filegate revocations (local; data served by local/keyvaluestore.py)")["KeyValueStore"]
        return {"distribution_id": distribution["Id"], "revocation_store_arn": store["ARN"]}

    def setup_rotation_function(self) -> str:
        """The origin secret's rotation function in moto's Lambda (its role, as the stack's, and a
        placeholder package: its code runs in a local function worker, local/moto_server.py), so
        that ``RotateSecret(RotationLambdaARN=...)`` invokes the real handler; its ARN."""
        import io
        import zipfile

        iam = self.aws_client("iam")
        role = iam.create_role(RoleName=self.origin_rotation_function, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("README.txt", "filegate local mode: this function runs in local/function_worker.py\n")
        function = self.aws_client("lambda").create_function(
            FunctionName=self.origin_rotation_function, Runtime="python3.13", Role=role["Arn"],
            Handler=ORIGIN_ROTATION_HANDLER, Code={"ZipFile": package.getvalue()},
            Timeout=ORIGIN_ROTATION_TIMEOUT_SECONDS,
            Description="filegate origin-verify secret rotation (local: run by local/function_worker.py)")
        return str(function["FunctionArn"])

    # --- S3 (radosgw): users, bucket, CORS, policy ----------------------------------------

    def s3_client(self, keys: tuple[str, str]) -> Any:
        return boto3.session.Session().client(
            "s3", endpoint_url=self.urls["s3"], region_name=self.region,
            aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

    def setup_bucket(self, ceph: LocalCeph) -> None:
        """One radosgw user per principal, the bucket (owned by the admin user), versioning (the
        verifier pins the scanned version), CORS, and the policy of local/bucket_policy.py."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(S3_ROLES)) as pool:  # radosgw-admin takes ~0.15 s each
            list(pool.map(lambda role: ceph.create_user(S3_ROLES[role], *self.s3_keys[role]), S3_ROLES))
        s3 = self.s3_client(self.s3_keys["admin"])
        s3.create_bucket(Bucket=self.bucket)
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        # The deployed bucket's CORS (stacks/constructs/storage.py), for the configured origins.
        s3.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": [{
            "AllowedMethods": ["POST"], "AllowedOrigins": self.allowed_origins,
            "AllowedHeaders": ["content-type"], "ExposeHeaders": ["ETag", "Location"], "MaxAgeSeconds": 3000,
        }]})
        s3.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(bucket_policy.bucket_policy(self.bucket)))

    # --- the Lambda's environment ---------------------------------------------------------

    def aws_endpoints(self) -> dict[str, str]:
        """Every AWS service the handlers call, pointed at the local ones (botocore's
        ``AWS_ENDPOINT_URL_<SERVICE>`` variables)."""
        aws = self.urls["aws"]
        return {
            "AWS_ENDPOINT_URL_S3": self.urls["s3"],
            "AWS_ENDPOINT_URL_KMS": aws,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": aws,
            "AWS_ENDPOINT_URL_DYNAMODB": aws,
            "AWS_ENDPOINT_URL_SQS": aws,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": aws,
            "AWS_ENDPOINT_URL_CLOUDFRONT": aws,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }

    def revocations_endpoint(self) -> dict[str, str]:
        """How boto3's real ``cloudfront-keyvaluestore`` client reaches local/keyvaluestore.py: its
        endpoint rules make ``http://<account>.kvs.filegate.invalid`` of the endpoint (a name that
        never resolves), and ``HTTP_PROXY`` sends exactly that host to the stand-in, which answers
        the absolute-form request itself; ``NO_PROXY`` keeps every loopback service direct."""
        proxy = self.internal_urls["revocations"]
        return {"AWS_ENDPOINT_URL_CLOUDFRONT_KEYVALUESTORE": f"http://{PROXY_HOST}",
                "HTTP_PROXY": proxy, "http_proxy": proxy, "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY}

    def lambda_environment(self, aws: dict[str, Any], *, role: str = "uploader") -> dict[str, str]:
        """What the stack sets on the API and lifecycle functions (``stacks.lambda_settings``: the
        lifecycle environment is the minting one plus six names), pointed at the local services,
        with the S3 user of the function's role (the upload role's for uploads, downloads and files;
        the deleting one for deletions and the erasure worker)."""
        from stacks.lambda_settings import lifecycle_environment

        environment = lifecycle_environment(
            self.config, bucket=self.bucket, bucket_kms_key_arn=aws["bucket_key_arn"],
            download_base_url=self.urls["edge"], signing_slots_json=json.dumps(aws["slots"], separators=(",", ":")),
            revocation_store_arn=aws["revocation_store_arn"], distribution_id=aws["distribution_id"],
            erasure_queue_url=aws["queues"]["erasures"]["url"], s3_addressing_style="path",
            files_table=aws["files_table"], cursor_secret=aws["cursor_secret"], event_bus=aws["event_bus"],
            erasures_table=aws["erasures_table"], origin_secret=aws["origin_secret"],
        )
        # The local backend key stands in for IAM: its caller is this role, trusted like the configured ones.
        principals = [*self.config.backend_principal_arns, BACKEND_ROLE_ARN]
        environment["FILEGATE_BACKEND_PRINCIPALS"] = json.dumps(principals, separators=(",", ":"))
        environment.update(self.aws_endpoints())
        environment.update(self.revocations_endpoint())
        environment.update({
            # The role's credentials: radosgw's user (moto takes any keys for KMS, DynamoDB...).
            "AWS_ACCESS_KEY_ID": self.s3_keys[role][0],
            "AWS_SECRET_ACCESS_KEY": self.s3_keys[role][1],
        })
        return environment

    def lifecycle_worker_environment(self, aws: dict[str, Any], function: str) -> dict[str, str]:
        """A lifecycle function in a process of its own (deletions, the erasure worker with the
        revocation expiry): the deleting S3 user, and the runtime's own variables."""
        return {
            **self.lambda_environment(aws, role="deleter"),
            "POWERTOOLS_SERVICE_NAME": "filegate",
            "AWS_LAMBDA_FUNCTION_NAME": f"filegate-local-{function}",
        }

    def origin_rotation_lambda_environment(self, aws: dict[str, Any]) -> dict[str, str]:
        """The origin-verify secret's rotation function (``stacks.lambda_settings``), pointed at
        moto's Secrets Manager and CloudFront: what a test or script runs the four rotation steps
        with (``local/function_worker.py``), as Secrets Manager would invoke them."""
        from stacks.lambda_settings import origin_rotation_environment

        environment = origin_rotation_environment(self.config, distribution_id=aws["distribution_id"])
        environment.update(self.aws_endpoints())
        environment.update({
            "AWS_ACCESS_KEY_ID": "filegate-local-rotation", "AWS_SECRET_ACCESS_KEY": "filegate-local-rotation",
            "POWERTOOLS_SERVICE_NAME": "filegate-origin-rotation",
            "AWS_LAMBDA_FUNCTION_NAME": f"{self.config.prefix}-origin-rotation",
        })
        return environment

    def verifier_lambda_environment(self, aws: dict[str, Any]) -> dict[str, str]:
        """What the stack sets on the verifier and the sweep, pointed at the local services, with
        the verifier's own S3 user."""
        from stacks.lambda_settings import verifier_environment

        environment = verifier_environment(
            self.config, bucket=self.bucket, bucket_kms_key_arn=aws["bucket_key_arn"],
            files_table=aws["files_table"], idempotency_table=aws["idempotency_table"],
            event_bus=aws["event_bus"], s3_addressing_style="path")
        environment.update(self.aws_endpoints())
        environment.update({
            "AWS_ACCESS_KEY_ID": self.s3_keys["verifier"][0],
            "AWS_SECRET_ACCESS_KEY": self.s3_keys["verifier"][1],
            "POWERTOOLS_SERVICE_NAME": "filegate-verifier",
            # As the Lambda runtime sets them: the handler builds its clients at import (init phase).
            "AWS_LAMBDA_FUNCTION_NAME": "filegate-local-verifier",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.config.verification.verifier_memory_mb),
        })
        return environment

    def child_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("AWS_", "FILEGATE_", "POWERTOOLS_"))}
        pythonpath = [str(ROOT), str(ROOT / "lambdas")]
        env["PYTHONPATH"] = os.pathsep.join(pythonpath + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    # --- start / stop ---------------------------------------------------------------------

    def spawn_clamd(self) -> Clamd | None:
        """ClamAV with the repo's signatures (local/clamav/), for the GuardDuty stand-in."""
        if self.scanning != "guardduty":
            return None
        clamd = Clamd(self.data_dir / "clamav", log_file=self.data_dir / "logs" / "clamd-daemon.log",
                      tcp_port=free_port())
        clamd.prepare()
        self.supervisor.spawn("clamd", clamd.argv())
        return clamd

    def check_clamd(self, clamd: Clamd) -> str:
        """Wait for PONG, then the self-check (raises SelfCheckFailed: a scanner that cannot find
        EICAR never runs); clamd's address."""
        clamd.wait_ready(60, alive=self.supervisor.check)
        checked = self_check(clamd.client())
        found = "EICAR found" + (", a Debian test file found" if "clamav-testfiles" in checked else "")
        self.mark(f"clamd answering ({checked['version']}; {found}, a clean file OK)")
        return clamd.address

    def start(self) -> None:
        missing = missing_binaries()
        if self.scanning == "guardduty" and shutil.which("clamd") is None:
            missing.append("clamd")
        if missing:
            raise SystemExit(f"missing {', '.join(missing)}: run `bash local/install.sh` (or `make local`)")
        self.claim_data_dir()
        sup = self.supervisor
        python = sys.executable

        # 1. moto (KMS, Secrets Manager) and the Ceph monitor start together.
        # (moto's RotateSecret invokes the origin secret's rotation function: its local worker)
        sup.spawn("moto", [python, "-m", "local.moto_server", "--port", str(self.ports.aws),
                           "--data-dir", str(self.data_dir), "--function",
                           f"{self.origin_rotation_function}={self.internal_urls['origin_rotation']}"],
                  env=self.child_env(), cwd=ROOT)
        ceph = LocalCeph(self.data_dir / "ceph", mon_port=self.ports.mon, rgw_port=self.ports.s3,
                         memory_mb=self.args.s3_memory_mb)
        ceph.prepare()
        sup.spawn("ceph-mon", ceph.mon_argv())
        self.mark("monitor started")
        clamd = self.spawn_clamd()

        # The dev issuer and the demo page are threads of this process.
        issuer = DevIssuer(self.urls["issuer"], audience=self.audience, scopes=self.scopes)
        self.servers.append(make_server(issuer, self.ports.issuer))
        serve_in_thread(self.servers[-1], "issuer")

        aws_result: dict[str, Any] = {}
        aws_error: list[BaseException] = []

        def aws_setup() -> None:
            try:
                wait_http(self.urls["aws"] + "/moto-api/", 30, sup)
                aws_result.update(self.setup_aws())
                aws_result.update(self.setup_verification_aws())
            except BaseException as error:  # reported on the main thread
                aws_error.append(error)

        aws_thread = threading.Thread(target=aws_setup, name="aws-setup", daemon=True)
        aws_thread.start()

        # 2. The OSD (waits for the monitor), then radosgw (needs the bucket's SSE key id).
        ceph.create_osd()
        sup.spawn("ceph-osd", ceph.osd_argv())
        self.mark("OSD started")
        aws_thread.join(60)
        if aws_error or not aws_result:
            raise RuntimeError(f"setting up KMS/Secrets Manager in moto failed: {aws_error[:1]}")
        self.mark("KMS keys, secrets, tables, queues and event rules created")
        if clamd is not None:
            aws_result["clamd"] = self.check_clamd(clamd)
        sup.spawn("radosgw", ceph.rgw_argv({aws_result["bucket_key_arn"]: aws_result["bucket_sse_key"]}))
        # 3. The local API (the real handlers), the local edge, the verifier's event source mapping
        # and the demo page: they import (seconds of CPU on a small machine) while radosgw boots;
        # none of them touches S3 before a request comes.
        self.spawn_services(aws_result)
        ceph.wait_rgw(120, alive=sup.check)
        self.mark("radosgw answering")
        self.setup_bucket(ceph)
        self.mark("S3 users, bucket, versioning, CORS and policy created")
        # 4. The S3-notification + GuardDuty stand-in (it lists the bucket at once), then wait for all.
        self.start_scanner_and_wait()

        endpoints = {
            # One front door (DESIGN.md decision 13, docs/front-door.md): what a frontend uses is
            # the edge's /api/*; the backend's base is the local API itself (stage "api").
            "api": self.api_url, "edge": self.urls["edge"], "s3": self.urls["s3"], "aws": self.urls["aws"],
            "issuer": self.urls["issuer"], "bucket": self.bucket, "region": self.region,
            "events": self.urls["events"], "scanner": self.urls["scanner"], "scanning": self.scanning,
            "backend_api": self.backend_api_url, "revocations": self.internal_urls["revocations"],
            "demo": self.urls["demo"], "backend_key": self.backend_key, "backend_key_header": "X-Local-Backend-Key",
            # The bucket owner's keys (filegate-admin): the local stand-in for an operator's own
            # credentials, which the deployment verifier's S3 checks sign with (docs/deployment.md).
            "operator": {"access_key": self.s3_keys["admin"][0], "secret_key": self.s3_keys["admin"][1]},
            "env": self.config.name, "pid": os.getpid(), "ports": asdict(self.ports),
            "started_in_seconds": self.timings["all services answering"],
        }
        write_json(self.data_dir / "endpoints.json", endpoints)
        self.print_banner()

    def spawn_services(self, aws_result: dict[str, Any]) -> None:
        sup = self.supervisor
        python = sys.executable
        runtime = {
            "env": self.config.name, "region": self.region, "bucket": self.bucket, **self.urls,
            "audience": self.audience, "scopes": self.scopes, "allowed_origins": self.allowed_origins,
            "backend_key": self.backend_key, "key_group": aws_result["key_group"],
            "bucket_kms_key_arn": aws_result["bucket_key_arn"], "signing_slots": aws_result["slots"],
            "active_slot": self.config.signing.active_slot,
            "edge_access_key": self.edge_keys[0], "edge_secret_key": self.edge_keys[1],
            # For the S3 conformance tests (the upload role's credentials, as the handlers have them).
            "uploader_access_key": self.uploader_keys[0], "uploader_secret_key": self.uploader_keys[1],
            # Every S3 user the local mode made (local/bucket_policy.py), by role.
            "s3_users": {role: {"uid": S3_ROLES[role], "access_key": keys[0], "secret_key": keys[1]}
                         for role, keys in self.s3_keys.items()},
            "prefix": self.config.prefix, "scanning": self.scanning,
            "files_table": aws_result["files_table"], "idempotency_table": aws_result["idempotency_table"],
            "event_bus": aws_result["event_bus"], "queues": aws_result["queues"],
            "clamd": aws_result.get("clamd"),
            # The lifecycle (docs/lifecycle.md): the erasures table, the distribution moto holds, the
            # revocations store (ARN from moto, data in local/keyvaluestore.py), the function host.
            "erasures_table": aws_result["erasures_table"], "cursor_secret": aws_result["cursor_secret"],
            "distribution_id": aws_result["distribution_id"],
            "revocation_store_arn": aws_result["revocation_store_arn"],
            # The front door (docs/front-door.md): the edge's /api/* origin (the local API's root),
            # the WebACL's body limit it applies, and the origin-verify secret (ARN).
            "api_origin": self.urls["api"], "waf_api_max_body_bytes": self.config.waf_api_max_body_bytes,
            "origin_secret": aws_result["origin_secret"],
            "origin_rotation_function_arn": aws_result["origin_rotation_function_arn"],
            "revocations": self.internal_urls["revocations"], "edge_function": self.internal_urls["edge_function"],
            "function_workers": ({"deletions": self.internal_urls["deletions"]} if self.lifecycle["deletions"]
                                 else {}),
        }
        runtime_path = self.data_dir / "runtime.json"
        write_json(runtime_path, runtime)
        lambda_env = self.lambda_environment(aws_result)
        # The verifier reaches radosgw through a shim that adds CopyObject of encrypted objects
        # (radosgw 16 lacks it; local/s3_copy_shim.py): everything else passes through verbatim.
        shim_url = f"http://127.0.0.1:{free_port()}"
        sup.spawn("s3-shim", [python, "-m", "local.s3_copy_shim", "--runtime", str(runtime_path),
                              "--port", shim_url.rsplit(":", 1)[1]], env=self.child_env(), cwd=ROOT)
        verifier_env = {**self.verifier_lambda_environment(aws_result), "AWS_ENDPOINT_URL_S3": shim_url}
        sup.spawn("api", [python, "-m", "local.api", "--runtime", str(runtime_path), "--port", str(self.ports.api)],
                  env=self.child_env(lambda_env), cwd=ROOT)
        sup.spawn("edge", [python, "-m", "local.edge", "--runtime", str(runtime_path),
                           "--port", str(self.ports.edge)], env=self.child_env(), cwd=ROOT)
        self.spawn_lifecycle(aws_result, runtime_path)
        # The verifier's event source mapping, then the S3-notification + GuardDuty stand-in.
        ready_file = self.data_dir / "verifier.ready"
        ready_file.unlink(missing_ok=True)
        sup.spawn("verifier", [python, "-m", "local.queue_poller", "--runtime", str(runtime_path),
                               "--timeout-seconds", str(LOCAL_VERIFIER_TIMEOUT_SECONDS),
                               "--sweep-seconds", str(self.config.verification.sweep_interval_minutes * 60),
                               "--ready-file", str(ready_file)],
                  env=self.child_env(verifier_env), cwd=ROOT)
        self._runtime_path = runtime_path
        self._shim_url = shim_url
        self._ready_file = ready_file
        # The events URL (a thread of this process): the product bus's archive queue, drained.
        feed = EventsFeed(self.aws_client("sqs"), aws_result["queues"]["archive"]["url"])
        self.servers.append(make_events_server(feed, self.ports.events))
        serve_in_thread(self.servers[-1], "events")
        feed.run_in_background(self._feed_stop)
        public_config = {
            "env": self.config.name, "api": self.api_url, "edge": self.urls["edge"],
            "issuer": self.urls["issuer"], "s3": self.urls["s3"], "bucket": self.bucket,
            "users": [user.as_json() for user in DEMO_USERS],
            "rules": [rule.model_dump(mode="json", exclude_none=True) for rule in self.config.rules],
        }
        self.servers.append(make_demo_server(self.ports.demo, public_config, self.urls))
        serve_in_thread(self.servers[-1], "demo")

    def spawn_lifecycle(self, aws: dict[str, Any], runtime_path: Path) -> None:
        """The revocations KeyValueStore stand-in, the edge's function host (Node, running
        edge/revocation.js unchanged), and the lifecycle functions this checkout has: deletions in
        a process of its own, the erasure worker behind its queue with the revocation expiry on
        its schedule (as the sweep beside the verifier)."""
        sup = self.supervisor
        python = sys.executable
        port = self.internal_urls["revocations"].rsplit(":", 1)[1]
        sup.spawn("revocations", [python, "-m", "local.keyvaluestore", "--runtime", str(runtime_path),
                                  "--port", port], env=self.child_env(), cwd=ROOT)
        sup.spawn("edge-function", host_argv(
            port=int(self.internal_urls["edge_function"].rsplit(":", 1)[1]), kvs_url=self.internal_urls["revocations"],
            kvs_arn=aws["revocation_store_arn"], data_dir=self.data_dir), env=self.child_env(), cwd=ROOT)
        # The origin secret's rotation function, in its own process and environment (moto's
        # RotateSecret invokes it through local/moto_server.py).
        sup.spawn("origin-rotation", [python, "-m", "local.function_worker", "--runtime", str(runtime_path),
                                      "--port", self.internal_urls["origin_rotation"].rsplit(":", 1)[1],
                                      "--function", "origin-rotation", "--handler", ORIGIN_ROTATION_HANDLER,
                                      "--timeout-seconds", str(ORIGIN_ROTATION_TIMEOUT_SECONDS)],
                  env=self.child_env(self.origin_rotation_lambda_environment(aws)), cwd=ROOT)
        if self.lifecycle["deletions"]:
            sup.spawn("deletions", [python, "-m", "local.function_worker", "--runtime", str(runtime_path),
                                    "--port", self.internal_urls["deletions"].rsplit(":", 1)[1],
                                    "--function", "deletions", "--handler", DELETIONS_HANDLER,
                                    "--timeout-seconds", "20"],
                      env=self.child_env(self.lifecycle_worker_environment(aws, "deletions")), cwd=ROOT)
        self._erasure_ready = None
        if self.lifecycle["erasure_worker"]:
            ready = self.data_dir / "erasures.ready"
            ready.unlink(missing_ok=True)
            sup.spawn("erasures", [python, "-m", "local.queue_poller", "--runtime", str(runtime_path),
                                   "--function", "erasure-worker", "--handler", ERASURE_WORKER_HANDLER,
                                   "--queue", "erasures", "--batch-size", "1",
                                   "--timeout-seconds", str(LOCAL_ERASURE_TIMEOUT_SECONDS),
                                   "--scheduled", REVOCATION_EXPIRY_HANDLER,
                                   "--schedule-seconds", str(REVOCATION_EXPIRY_SECONDS),
                                   "--schedule-rule", f"{self.config.prefix}-revocation-expiry",
                                   "--ready-file", str(ready)],
                      env=self.child_env(self.lifecycle_worker_environment(aws, "erasure-worker")), cwd=ROOT)
            self._erasure_ready = ready

    def start_scanner_and_wait(self) -> None:
        sup = self.supervisor
        sup.spawn("scanner", [sys.executable, "-m", "local.scanner", "--runtime", str(self._runtime_path),
                              "--port", str(self.ports.scanner), "--scanning", self.scanning],
                  env=self.child_env(self.aws_endpoints()), cwd=ROOT)
        shim_url, ready_file = self._shim_url, self._ready_file
        wait_http(self.urls["api"] + "/", 60, sup)
        wait_http(self.urls["edge"] + "/public/", 60, sup)
        wait_http(self.urls["scanner"] + "/", 60, sup)
        wait_http(shim_url + "/", 60, sup)
        wait_http(self.urls["events"] + "/", 60, sup)
        for name in ("revocations", "edge_function", "origin_rotation"):
            wait_http(self.internal_urls[name] + "/", 60, sup)
        if self.lifecycle["deletions"]:
            wait_http(self.internal_urls["deletions"] + "/", 60, sup)
        deadline = time.monotonic() + 60
        for ready, what in ((ready_file, "the verifier's"), (self._erasure_ready, "the erasure worker's")):
            while ready is not None and not ready.exists():
                sup.check()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{what} event source mapping did not start within 60 s")
                time.sleep(0.05)
        self.mark("all services answering")

    def print_banner(self) -> None:
        u = self.urls
        seconds = self.timings["all services answering"]
        present = [name for name, there in self.lifecycle.items() if there]
        missing = [name for name, there in self.lifecycle.items() if not there]
        lifecycle = (f"functions: {', '.join(present) or 'none'}"
                     + (f"; not in this checkout: {', '.join(missing)}" if missing else ""))
        print(f"""
filegate local mode ({self.config.name}) is up in {seconds:.1f} s; Ctrl-C stops everything.

  demo page   {u['demo']}
  API         {self.api_url}
                the front door (the edge's /api/*), as a frontend calls it: POST /uploads, /downloads,
                /downloads/cookies; GET /files, GET|DELETE /files/{{id}}
  backend API {self.backend_api_url}
                the local API's stage "api": /backend/* with the backend key; user routes
                there need the edge's x-origin-verify (else 403 origin_not_verified)
  edge        {u['edge']}      (CloudFront: /api/* to the local API with the origin header and the
                                      ApiBodySize rule; public/* unsigned; everything else signed and
                                      checked by edge/revocation.js against the revocations store; no cache)
  S3          {u['s3']}      (Ceph radosgw, bucket {self.bucket}; data is in memory, gone on stop)
  AWS         {u['aws']}      (moto: KMS, Secrets Manager, DynamoDB, SQS, EventBridge, CloudFront;
                                      RotateSecret on {self.config.origin_secret_name} runs the real rotation)
  revocations {self.internal_urls['revocations']}     (CloudFront KeyValueStore stand-in; {lifecycle})
  issuer      {u['issuer']}      (JWKS: /.well-known/jwks.json)
  events      {u['events']}      (GET: File Verified / Rejected / Deleted, Subject Erased, oldest first)
  scanner     {u['scanner']}      (S3 notifications + GuardDuty stand-in, ClamAV; scanning: {self.scanning})

  a token:    curl -s -XPOST {u['issuer']}/token -d '{{"sub":"me","groups":["careers"]}}'
              (demo users: curl -s {u['issuer']}/demo-users; or -d '{{"user":"alice"}}')
  endpoints:  {self.data_dir / 'endpoints.json'}   logs: {self.data_dir / 'logs'}/
""", flush=True)
        if u["demo"] not in self.config.frontend_origins:
            print(f"  note: {u['demo']} is not in the {self.config.name} config's frontend_origins; the local bucket "
                  "and API allow it anyway (local only).\n", flush=True)

    def stop(self) -> None:
        self._feed_stop.set()
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.shutdown()
                server.server_close()
        self.supervisor.stop_all(report=self.args.verbose)
        if not self.claimed:
            return
        for name in ("endpoints.json", "runtime.json", "local.pid", "verifier.ready", "erasures.ready"):
            (self.data_dir / name).unlink(missing_ok=True)
        ceph_dir = self.data_dir / "ceph"
        if ceph_dir.exists() and not self.args.keep_data:
            shutil.rmtree(ceph_dir, ignore_errors=True)
        clamav_dir = self.data_dir / "clamav"
        if clamav_dir.exists() and not self.args.keep_data:
            shutil.rmtree(clamav_dir, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=(
        "Run filegate on 127.0.0.1: radosgw (S3), moto (KMS, Secrets Manager), the local API, "
        "the local edge, a dev JWT issuer and a demo page. Runs until Ctrl-C or SIGTERM."))
    parser.add_argument("--env", default="dev", help="environment in cdk.json (default: dev)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".local",
                        help="folder for endpoints.json, logs and the Ceph cluster (default: .local)")
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("FILEGATE_LOCAL_BASE_PORT",
                                                                           DEFAULT_BASE_PORT)),
                        help="first of nine consecutive ports: demo, api, edge, issuer, s3, aws, mon, scanner, "
                             "events "
                             "(default 8080, or FILEGATE_LOCAL_BASE_PORT)")
    for name in PORT_NAMES:
        parser.add_argument(f"--{name}-port", type=int, default=None, help=f"port of the {name} server")
    parser.add_argument("--free-ports", action="store_true", help="pick free ports (tests, parallel runs)")
    parser.add_argument("--s3-memory-mb", type=int, default=1024, help="memstore size of the OSD (default 1024)")
    parser.add_argument("--keep-data", action="store_true", help="keep the Ceph folder after stopping (debugging)")
    parser.add_argument("--exit-after-start", action="store_true",
                        help="stop again as soon as everything answers (measures start-up)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print start-up steps with timings")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop_requested.is_set():
            return
        stop_requested.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    mode = LocalMode(args)
    status = 0
    try:
        mode.start()
        if not args.exit_after_start:
            while True:
                mode.supervisor.check()
                time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping filegate local mode ...", flush=True)
    except ChildFailed as error:
        print(f"\nlocal mode failed: {error}", file=sys.stderr, flush=True)
        status = 1
    except Exception as error:
        print(f"\nlocal mode failed to start: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        for name in ("radosgw", "ceph-osd", "ceph-mon", "moto", "clamd", "api", "edge", "s3-shim", "verifier",
                     "scanner", "revocations", "edge-function", "deletions", "erasures", "origin-rotation"):
            tail = mode.supervisor.tail(name, 8)
            if tail:
                print(f"--- {name} log (last lines) ---\n{tail}", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        mode.stop()
        print("stopped.", flush=True)
    return status
