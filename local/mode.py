"""Starts and stops the whole local mode (``python -m local``); see local/README.md."""

from __future__ import annotations

import argparse
import contextlib
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

from local.api import BACKEND_ROLE_ARN
from local.ceph import LocalCeph, missing_binaries
from local.demo_server import make_demo_server
from local.issuer import DEMO_USERS, DevIssuer, make_server, serve_in_thread
from local.procs import ChildFailed, Supervisor, pid_alive

ROOT = Path(__file__).resolve().parent.parent
#: The scope the deployed routes require when the environment names no issuer
#: (stacks/constructs/identity.py: RESOURCE_SERVER/FILES_SCOPE).
DEFAULT_SCOPE = "filegate/files"
PORT_NAMES = ("demo", "api", "edge", "issuer", "s3", "aws", "mon")
DEFAULT_BASE_PORT = 8080  # demo on 8080: an origin the dev config's frontend_origins allows


@dataclass
class Ports:
    demo: int
    api: int
    edge: int
    issuer: int
    s3: int
    aws: int
    mon: int


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
        self.uploader_keys = ("FGUP" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
        self.edge_keys = ("FGEDGE" + secrets.token_hex(7).upper(), secrets.token_urlsafe(30))
        self.backend_key = secrets.token_urlsafe(24)
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
        return {"bucket_key_arn": bucket_key, "slots": slots, "key_group": key_group,
                "bucket_sse_key": secrets.token_bytes(32)}

    # --- S3 (radosgw): users, bucket, CORS, policy ----------------------------------------

    def s3_client(self, keys: tuple[str, str]) -> Any:
        return boto3.session.Session().client(
            "s3", endpoint_url=self.urls["s3"], region_name=self.region,
            aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

    def setup_bucket(self, ceph: LocalCeph) -> None:
        ceph.create_user("filegate-uploader", *self.uploader_keys)
        ceph.create_user("filegate-edge", *self.edge_keys)
        s3 = self.s3_client(self.uploader_keys)
        s3.create_bucket(Bucket=self.bucket)
        # The deployed bucket's CORS (stacks/constructs/storage.py), for the configured origins.
        s3.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": [{
            "AllowedMethods": ["POST"], "AllowedOrigins": self.allowed_origins,
            "AllowedHeaders": ["content-type"], "ExposeHeaders": ["ETag", "Location"], "MaxAgeSeconds": 3000,
        }]})
        # As far as radosgw's bucket policies go: only the edge (OAC) reads objects; the
        # uploader (the upload role, which owns the bucket here) may not, even with a presigned GET.
        s3.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "EdgeReads", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/filegate-edge"]},
                 "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{self.bucket}/*"},
                {"Sid": "NoOtherReads", "Effect": "Deny",
                 "Principal": {"AWS": ["arn:aws:iam:::user/filegate-uploader"]},
                 "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{self.bucket}/*"},
            ],
        }))

    # --- the Lambda's environment ---------------------------------------------------------

    def lambda_environment(self, aws: dict[str, Any]) -> dict[str, str]:
        """What the stack sets on the functions (``stacks.lambda_settings``), pointed at the local services."""
        from stacks.lambda_settings import minting_environment

        environment = minting_environment(
            self.config, bucket=self.bucket, bucket_kms_key_arn=aws["bucket_key_arn"],
            download_base_url=self.urls["edge"], signing_slots_json=json.dumps(aws["slots"], separators=(",", ":")),
            s3_addressing_style="path",
        )
        # The local backend key stands in for IAM: its caller is this role, trusted like the configured ones.
        principals = [*self.config.backend_principal_arns, BACKEND_ROLE_ARN]
        environment["FILEGATE_BACKEND_PRINCIPALS"] = json.dumps(principals, separators=(",", ":"))
        environment.update({
            "AWS_ENDPOINT_URL_S3": self.urls["s3"],
            "AWS_ENDPOINT_URL_KMS": self.urls["aws"],
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.urls["aws"],
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # The upload role's credentials: radosgw's user (moto takes any keys for KMS).
            "AWS_ACCESS_KEY_ID": self.uploader_keys[0],
            "AWS_SECRET_ACCESS_KEY": self.uploader_keys[1],
            "POWERTOOLS_TRACE_DISABLED": "true",
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

    def start(self) -> None:
        missing = missing_binaries()
        if missing:
            raise SystemExit(f"missing {', '.join(missing)}: run `bash local/install.sh` (or `make local`)")
        self.claim_data_dir()
        sup = self.supervisor
        python = sys.executable

        # 1. moto (KMS, Secrets Manager) and the Ceph monitor start together.
        sup.spawn("moto", [python, "-m", "local.moto_server", "--port", str(self.ports.aws),
                           "--data-dir", str(self.data_dir)], env=self.child_env(), cwd=ROOT)
        ceph = LocalCeph(self.data_dir / "ceph", mon_port=self.ports.mon, rgw_port=self.ports.s3,
                         memory_mb=self.args.s3_memory_mb)
        ceph.prepare()
        sup.spawn("ceph-mon", ceph.mon_argv())
        self.mark("monitor started")

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
        self.mark("KMS keys and secrets created")
        sup.spawn("radosgw", ceph.rgw_argv({aws_result["bucket_key_arn"]: aws_result["bucket_sse_key"]}))
        ceph.wait_rgw(120, alive=sup.check)
        self.mark("radosgw answering")
        self.setup_bucket(ceph)
        self.mark("S3 users, bucket, CORS and policy created")

        # 3. The local API (the real handlers), the local edge and the demo page.
        self.start_api_and_edge(aws_result)

        endpoints = {
            "api": self.urls["api"], "edge": self.urls["edge"], "s3": self.urls["s3"], "aws": self.urls["aws"],
            "issuer": self.urls["issuer"], "bucket": self.bucket, "region": self.region,
            "demo": self.urls["demo"], "backend_key": self.backend_key, "backend_key_header": "X-Local-Backend-Key",
            "env": self.config.name, "pid": os.getpid(), "ports": asdict(self.ports),
            "started_in_seconds": self.timings["API and edge answering"],
        }
        write_json(self.data_dir / "endpoints.json", endpoints)
        self.print_banner()

    def start_api_and_edge(self, aws_result: dict[str, Any]) -> None:
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
        }
        runtime_path = self.data_dir / "runtime.json"
        write_json(runtime_path, runtime)
        lambda_env = self.lambda_environment(aws_result)
        sup.spawn("api", [python, "-m", "local.api", "--runtime", str(runtime_path), "--port", str(self.ports.api)],
                  env=self.child_env(lambda_env), cwd=ROOT)
        sup.spawn("edge", [python, "-m", "local.edge", "--runtime", str(runtime_path),
                           "--port", str(self.ports.edge)], env=self.child_env(), cwd=ROOT)
        public_config = {
            "env": self.config.name, "api": self.urls["api"], "edge": self.urls["edge"],
            "issuer": self.urls["issuer"], "s3": self.urls["s3"], "bucket": self.bucket,
            "users": [user.as_json() for user in DEMO_USERS],
            "rules": [rule.model_dump(mode="json", exclude_none=True) for rule in self.config.rules],
        }
        self.servers.append(make_demo_server(self.ports.demo, public_config, self.urls))
        serve_in_thread(self.servers[-1], "demo")
        wait_http(self.urls["api"] + "/", 60, sup)
        wait_http(self.urls["edge"] + "/public/", 60, sup)
        self.mark("API and edge answering")

    def print_banner(self) -> None:
        u = self.urls
        seconds = self.timings["API and edge answering"]
        print(f"""
filegate local mode ({self.config.name}) is up in {seconds:.1f} s; Ctrl-C stops everything.

  demo page   {u['demo']}
  API         {u['api']}      (POST /uploads, /downloads, /downloads/cookies; /backend/*)
  edge        {u['edge']}      (CloudFront: public/* unsigned, everything else signed)
  S3          {u['s3']}      (Ceph radosgw, bucket {self.bucket}; data is in memory, gone on stop)
  KMS/Secrets {u['aws']}      (moto)
  issuer      {u['issuer']}      (JWKS: /.well-known/jwks.json)

  a token:    curl -s -XPOST {u['issuer']}/token -d '{{"sub":"me","groups":["careers"]}}'
              (demo users: curl -s {u['issuer']}/demo-users; or -d '{{"user":"alice"}}')
  endpoints:  {self.data_dir / 'endpoints.json'}   logs: {self.data_dir / 'logs'}/
""", flush=True)
        if u["demo"] not in self.config.frontend_origins:
            print(f"  note: {u['demo']} is not in the {self.config.name} config's frontend_origins; the local bucket "
                  "and API allow it anyway (local only).\n", flush=True)

    def stop(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.shutdown()
                server.server_close()
        self.supervisor.stop_all(report=self.args.verbose)
        if not self.claimed:
            return
        for name in ("endpoints.json", "runtime.json", "local.pid"):
            (self.data_dir / name).unlink(missing_ok=True)
        ceph_dir = self.data_dir / "ceph"
        if ceph_dir.exists() and not self.args.keep_data:
            shutil.rmtree(ceph_dir, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=(
        "Run filegate on 127.0.0.1: radosgw (S3), moto (KMS, Secrets Manager), the local API, "
        "the local edge, a dev JWT issuer and a demo page. Runs until Ctrl-C or SIGTERM."))
    parser.add_argument("--env", default="dev", help="environment in cdk.json (default: dev)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".local",
                        help="folder for endpoints.json, logs and the Ceph cluster (default: .local)")
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("FILEGATE_LOCAL_BASE_PORT",
                                                                           DEFAULT_BASE_PORT)),
                        help="first of seven consecutive ports: demo, api, edge, issuer, s3, aws, mon "
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
        for name in ("radosgw", "ceph-osd", "ceph-mon", "moto", "api", "edge"):
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
