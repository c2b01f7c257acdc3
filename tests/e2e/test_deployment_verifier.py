"""The deployment verifier (``python -m verify_deployment``, docs/deployment.md) against the local mode.

It passes against an intact local mode; and with one invariant broken at a time it fails, for
that reason: the check about that invariant FAILs and every other check keeps its verdict. Each
breakage is undone in a ``finally`` (the bucket policy restored exactly, the broken edge
stopped), so later tests see the local mode as it was:

1. a bucket policy that lets anyone read the served prefixes (and the owner too):
   ``s3-presigned-get-refused`` and ``s3-anonymous-get-refused`` FAIL;
2. an edge that checks no signatures: ``edge-unsigned-private-refused`` FAILs;
3. an edge that adds no security headers: ``edge-public-headers`` FAILs;
4. an edge whose WAF does not block ``/api/backend/``: ``waf-blocks`` FAILs;
5. a TLS server that accepts TLS 1.0/1.1: the TLS check FAILs (a TLS 1.2-only one PASSes).

A broken edge is a second ``local.edge`` from the same runtime.json, started with one function or
table patched (``BROKEN_EDGE``), and the verifier is pointed at it with a copy of endpoints.json
whose ``edge`` and ``api`` name it. The verifier runs as the command line does, in a subprocess.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import Local
from tests.e2e.helpers import call
from verify_deployment import checks, targets
from verify_deployment.model import (
    CHECK_NAMES,
    EDGE_PUBLIC_HEADERS,
    EDGE_TLS_BELOW_12_REFUSED,
    EDGE_UNSIGNED_PRIVATE_REFUSED,
    ROUND_TRIP,
    S3_ANONYMOUS_GET_REFUSED,
    S3_PRESIGNED_GET_REFUSED,
    WAF_BLOCKS,
    Status,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^(PASS|FAIL|SKIP) ([a-z0-9.-]+): (.*)$")
SUBJECT = re.compile(r"subject (filegate-verify-[0-9a-f]+)")
#: One verifier run against the local mode takes a few seconds; this bounds a hung one.
RUN_TIMEOUT = 120

#: A second local edge with one thing broken: the patch is applied in its process before it serves.
BROKEN_EDGE = """
import sys
import local.edge as edge
breakage = sys.argv[1]
if breakage == "no-signatures":
    edge.authorize = lambda **_: None  # every signed behaviour passes unsigned requests
elif breakage == "no-security-headers":
    edge.SECURITY_HEADERS = {}  # the response headers policy adds nothing
elif breakage == "no-backend-block":
    edge.BACKEND_PREFIX = "/never-matches/"  # BackendNotThroughCloudFront matches no path
else:
    raise SystemExit(f"unknown breakage {breakage!r}")
sys.exit(edge.main(sys.argv[2:]))
"""


@dataclass
class Run:
    returncode: int
    lines: dict[str, tuple[str, str]]
    stdout: str
    stderr: str

    def status(self, name: str) -> str:
        return self.lines[name][0]

    def detail(self, name: str) -> str:
        return self.lines[name][1]


def run_verifier(endpoints: Path) -> Run:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "lambdas")])}
    process = subprocess.run(  # our own entry point
        [sys.executable, "-m", "verify_deployment", "--target", "local", "--endpoints", str(endpoints)],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    print(process.stdout, end="")  # the verifier's lines, shown with -rP or on failure
    lines: dict[str, tuple[str, str]] = {}
    order: list[str] = []
    for line in process.stdout.splitlines():
        match = LINE.match(line)
        assert match, f"not a check line: {line!r}\n{process.stdout}\n{process.stderr}"
        lines[match[2]] = (match[1], match[3])
        order.append(match[2])
    assert tuple(order) == CHECK_NAMES, f"{order}\n{process.stdout}\n{process.stderr}"
    return Run(process.returncode, lines, process.stdout, process.stderr)


def assert_verdicts(run: Run, *, failing: set[str]) -> None:
    """``failing`` FAIL; the TLS check SKIPs (the dev config has no domain); everything else PASSes;
    exit 1 with a failure, else 0."""
    for name in CHECK_NAMES:
        wanted = "FAIL" if name in failing else "SKIP" if name == EDGE_TLS_BELOW_12_REFUSED else "PASS"
        assert run.status(name) == wanted, f"{name}: {run.status(name)} (want {wanted})\n{run.stdout}\n{run.stderr}"
    assert "no domain" in run.detail(EDGE_TLS_BELOW_12_REFUSED)
    assert run.returncode == (1 if failing else 0), run.stdout + run.stderr


def assert_no_secrets(local: Local, run: Run) -> None:
    """Nothing the verifier printed holds a credential or a signature."""
    printed = run.stdout + run.stderr
    secrets = [local.endpoints["backend_key"], local.endpoints["operator"]["secret_key"],
               *(user["secret_key"] for user in local.s3_users.values())]
    assert not [secret for secret in secrets if secret in printed]
    for marker in ("Signature=", "X-Amz-Signature", "X-Amz-Credential", "Policy=", "Key-Pair-Id="):
        assert marker not in printed, marker


def assert_subject_gone(local: Local, run: Run) -> None:
    """The round trip's test identity is removed: no record and no object version is left."""
    match = SUBJECT.search(run.detail(ROUND_TRIP))
    assert match, run.detail(ROUND_TRIP)
    subject = match[1]
    listed = call(local, "GET", "/backend/files", backend=True, params={"owner": subject})
    assert listed.status_code == 200 and listed.json()["files"] == [], listed.text
    versions = local.s3_as("admin").list_object_versions(Bucket=local.bucket, Prefix=f"private/users/{subject}/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers"), versions


def endpoints_file(local: Local) -> Path:
    return local.data_dir / "endpoints.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def broken_edge(local: Local, tmp_path: Path, breakage: str) -> Iterator[Path]:
    """A second local edge (same runtime.json, copied) with ``breakage`` applied, and an
    endpoints.json naming it as the edge and the front door; stopped on exit."""
    runtime = tmp_path / f"runtime-{breakage}.json"
    shutil.copyfile(local.data_dir / "runtime.json", runtime)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "lambdas")]),
                   "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / f"edge-{breakage}.log").open("wb")
    process = subprocess.Popen(  # our own entry point
        [sys.executable, "-c", BROKEN_EDGE, breakage, "--runtime", str(runtime), "--port", str(port)],
        cwd=ROOT, env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / f"edge-{breakage}.log").read_text()
            try:
                requests.get(f"{url}/public/", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the broken edge did not answer within 60 s"
                time.sleep(0.1)
        endpoints = tmp_path / f"endpoints-{breakage}.json"
        endpoints.write_text(json.dumps({**local.endpoints, "edge": url, "api": f"{url}/api"}))
        yield endpoints
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


@contextmanager
def anyone_reads(local: Local) -> Iterator[None]:
    """The bucket policy with its owner-read Deny dropped and ``Principal: *`` allowed to read the
    served prefixes; the policy before it is put back exactly."""
    s3 = local.s3_as("admin")
    saved = s3.get_bucket_policy(Bucket=local.bucket)["Policy"]
    policy = json.loads(saved)
    bucket_arn = f"arn:aws:s3:::{local.bucket}"
    policy["Statement"] = [statement for statement in policy["Statement"]
                           if statement.get("Sid") != "NoObjectReadsByAdminUploaderOrDeleter"]
    policy["Statement"].append({"Sid": "AnyoneReads", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": [f"{bucket_arn}/private/*", f"{bucket_arn}/public/*"]})
    s3.put_bucket_policy(Bucket=local.bucket, Policy=json.dumps(policy))
    try:
        yield
    finally:
        s3.put_bucket_policy(Bucket=local.bucket, Policy=saved)
        assert json.loads(s3.get_bucket_policy(Bucket=local.bucket)["Policy"]) == json.loads(saved)


# --- TLS servers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed ECDSA certificate for 127.0.0.1 (made here; no key in the repo)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "filegate-verify-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def tls_server(certificate: tuple[Path, Path], minimum: ssl.TLSVersion,
               maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED) -> Iterator[int]:
    """A TLS server on 127.0.0.1 that completes handshakes within [minimum, maximum]; its port."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = minimum
        context.maximum_version = maximum
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.load_cert_chain(*certificate)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # accept() wakes up to see ``stop``
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(5)
            try:
                with context.wrap_socket(connection, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def client_offers_legacy_tls() -> bool:
    return all(checks.cannot_offer(version, wire) is None for _, version, wire in checks.LEGACY_VERSIONS)


# --- the verifier against the intact local mode -----------------------------------------------


def test_endpoints_name_the_bucket_owner_as_the_operator(local: Local) -> None:
    admin = local.s3_users["admin"]
    assert local.endpoints["operator"] == {"access_key": admin["access_key"], "secret_key": admin["secret_key"]}


def test_the_verifier_passes_against_the_local_mode(local: Local) -> None:
    run = run_verifier(endpoints_file(local))
    assert_verdicts(run, failing=set())
    assert_no_secrets(local, run)
    assert_subject_gone(local, run)
    assert "bytes equal" in run.detail(ROUND_TRIP) and "erased" in run.detail(ROUND_TRIP)
    assert "7 checks" in run.stderr


# --- one invariant broken at a time -----------------------------------------------------------


def test_a_bucket_anyone_may_read_fails_the_s3_checks(local: Local) -> None:
    with anyone_reads(local):
        run = run_verifier(endpoints_file(local))
    assert_verdicts(run, failing={S3_PRESIGNED_GET_REFUSED, S3_ANONYMOUS_GET_REFUSED})
    for name in (S3_PRESIGNED_GET_REFUSED, S3_ANONYMOUS_GET_REFUSED):
        assert "HTTP 200" in run.detail(name) and "served the object" in run.detail(name), run.detail(name)
    assert_no_secrets(local, run)
    assert_subject_gone(local, run)


def test_an_edge_that_checks_no_signatures_fails_the_unsigned_check(local: Local, tmp_path: Path) -> None:
    with broken_edge(local, tmp_path, "no-signatures") as endpoints:
        run = run_verifier(endpoints)
    assert_verdicts(run, failing={EDGE_UNSIGNED_PRIVATE_REFUSED})
    assert "HTTP 200" in run.detail(EDGE_UNSIGNED_PRIVATE_REFUSED), run.detail(EDGE_UNSIGNED_PRIVATE_REFUSED)
    assert_subject_gone(local, run)


def test_an_edge_without_security_headers_fails_the_headers_check(local: Local, tmp_path: Path) -> None:
    with broken_edge(local, tmp_path, "no-security-headers") as endpoints:
        run = run_verifier(endpoints)
    assert_verdicts(run, failing={EDGE_PUBLIC_HEADERS})
    detail = run.detail(EDGE_PUBLIC_HEADERS)
    assert "Strict-Transport-Security missing" in detail and "X-Content-Type-Options missing" in detail, detail
    assert_subject_gone(local, run)


def test_a_waf_that_does_not_block_the_backend_fails_the_waf_check(local: Local, tmp_path: Path) -> None:
    with broken_edge(local, tmp_path, "no-backend-block") as endpoints:
        run = run_verifier(endpoints)
    assert_verdicts(run, failing={WAF_BLOCKS})
    detail = run.detail(WAF_BLOCKS)
    assert "want 403 request_blocked" in detail and "413 request_too_large" in detail, detail
    assert_subject_gone(local, run)


def test_the_local_mode_is_intact_again(local: Local) -> None:
    """After every breakage was undone, the verifier passes again."""
    assert_verdicts(run_verifier(endpoints_file(local)), failing=set())


# --- TLS below 1.2 ----------------------------------------------------------------------------


def test_a_server_accepting_tls_1_0_or_1_1_fails_the_tls_check(certificate: tuple[Path, Path]) -> None:
    with tls_server(certificate, ssl.TLSVersion.TLSv1) as port:
        result = checks.tls_below_12_refused("127.0.0.1", port)
    if not client_offers_legacy_tls():  # this OpenSSL cannot even offer them: a SKIP, never a PASS
        assert result.status is Status.SKIP and "cannot offer" in result.detail, result.line()
        return
    assert result.status is Status.FAIL and "accepted a TLS 1.0 handshake" in result.detail, result.line()
    with tls_server(certificate, ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1) as port:
        result = checks.tls_below_12_refused("127.0.0.1", port)
    assert result.status is Status.FAIL and "accepted a TLS 1.1 handshake" in result.detail, result.line()


def test_a_server_with_tls_1_2_at_least_passes_the_tls_check(certificate: tuple[Path, Path]) -> None:
    with tls_server(certificate, ssl.TLSVersion.TLSv1_2) as port:
        result = checks.tls_below_12_refused("127.0.0.1", port)
    if not client_offers_legacy_tls():
        assert result.status is Status.SKIP, result.line()
        return
    assert result.status is Status.PASS, result.line()
    assert "TLS 1.0 refused" in result.detail and "TLS 1.1 refused" in result.detail, result.line()


def test_the_tls_check_refuses_to_pass_a_host_that_speaks_no_tls(local: Local) -> None:
    """The local edge speaks plain HTTP: every handshake fails, which proves nothing, so FAIL."""
    port = int(local.endpoints["ports"]["edge"])
    result = checks.tls_below_12_refused("127.0.0.1", port, timeout=5)
    assert result.status is Status.FAIL and "TLS 1.2+ handshake failed too" in result.detail, result.line()


def test_the_target_hands_the_tls_check_its_host_and_port(local: Local, certificate: tuple[Path, Path]) -> None:
    target = targets.target_from_local(endpoints_file(local))
    assert checks.edge_tls_below_12_refused(target).status is Status.SKIP  # no domain in the dev config
    with tls_server(certificate, ssl.TLSVersion.TLSv1) as port:
        result = checks.edge_tls_below_12_refused(replace(target, tls_host="127.0.0.1", tls_port=port))
    assert result.status is (Status.FAIL if client_offers_legacy_tls() else Status.SKIP), result.line()
