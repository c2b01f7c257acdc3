"""Minting benchmarks: what the handlers cost over the bare operations they wrap.

Run: ``python benchmarks/bench_minting.py`` (``make bench``). Bounded (well under a minute),
in-process, no network: AWS calls go to moto's in-process mock. Prints a table and writes
``benchmarks/results/minting.json``.

Figures:
1. full-handler download mints/s (secret signer, ECDSA P-256, signature cache off so that every
   mint signs) vs raw ``cryptography`` ECDSA P-256 signs/s;
2. the same handler vs a reference handler built as boto3's documentation shows
   (``CloudFrontSigner`` with an RSA-SHA1 ``rsa_signer`` that loads the PEM on each call), and
   the same reference with the key loaded once;
3. KMS calls per 1,000 mints of 50 distinct files (simulated 10 mints/s, so 100 s, two
   60-second cache windows) with the signature cache vs without;
4. full-handler upload mints/s vs raw ``generate_presigned_post``;
5. cold import (fresh interpreter, init phase included as in Lambda) of each handler module vs
   ``import boto3`` plus one client; median of several runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cold_import import cold_import as timed_cold_import

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
sys.path.insert(0, str(LAMBDAS))
RESULTS = ROOT / "benchmarks" / "results" / "minting.json"

REGION = "ap-southeast-1"
BASE_URL = "https://d111111abcdef8.cloudfront.net"
RULES = [
    {"name": "cv", "key_template": "private/users/{sub}/cv/{file}", "groups": ["careers"],
     "actions": ["upload", "download"], "content_types": ["application/pdf"], "max_bytes": 10485760,
     "url_lifetime_seconds": 300},
]
BASE_ENV = {
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "filegate", "POWERTOOLS_METRICS_NAMESPACE": "filegate",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "FILEGATE_BUCKET": "filegate-bench", "FILEGATE_RULES": json.dumps(RULES), "FILEGATE_DOWNLOAD_BASE_URL": BASE_URL,
    "FILEGATE_ACTIVE_SLOT": "bench", "FILEGATE_FILES_TABLE": "filegate-bench-files",
}
SECONDS_PER_RATE = 1.5
IMPORT_RUNS = 5


def rate(function: Callable[[int], Any], seconds: float = SECONDS_PER_RATE) -> float:
    """Calls per second of ``function(i)`` over about ``seconds`` (after a short warm-up)."""
    for index in range(20):
        function(index)
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(20):
            function(count)
            count += 1
    return count / elapsed


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Handlers log and emit metrics to stdout (as in Lambda); keep them off the table."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def event(path: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "2.0", "routeKey": f"POST {path}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": path, "sourceIp": "198.51.100.7"},
                           "requestId": "bench", "stage": "$default",
                           "authorizer": {"jwt": {"claims": {"sub": "alice", "cognito:groups": "[careers]"}}}},
        "body": json.dumps(body), "isBase64Encoded": False,
    }


def file_key(index: int) -> str:
    return f"private/users/alice/cv/{index:032x}.pdf"


class Context:
    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:bench"
    memory_limit_in_mb = 1024
    aws_request_id = "bench"


def configure(**env: str) -> None:
    os.environ.update(BASE_ENV)
    os.environ.update(env)
    from aws_lambda_powertools.utilities import parameters

    from filegate.handlers import downloads, uploads
    uploads.runtime.cache_clear()
    downloads.runtime.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def _keys() -> tuple[Any, str, Any, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    ecdsa_key = ec.generate_private_key(ec.SECP256R1())
    ecdsa_pem = ecdsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    rsa_key = rsa.generate_private_key(65537, 2048)
    rsa_pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    return ecdsa_key, ecdsa_pem, rsa_key, rsa_pem


def download_vs_raw_sign(ecdsa_key: Any, ecdsa_pem: str, events: list[dict[str, Any]]) -> dict[str, float]:
    """1. Handler with the secret signer (ECDSA, cache off: every mint signs) vs a raw sign. The
    handler also reads the file's record (DynamoDB, moto in process)."""
    import boto3
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from filegate.handlers import downloads

    boto3.client("secretsmanager", region_name=REGION).create_secret(Name="bench/ecdsa", SecretString=ecdsa_pem)
    slots = {"bench": {"public_key_id": "KBENCH", "secret_name": "bench/ecdsa"}}
    configure(FILEGATE_SIGNER="secret", FILEGATE_SIGNATURE_CACHE_SECONDS="0", FILEGATE_SIGNING_SLOTS=json.dumps(slots))
    policy = ('{"Statement":[{"Resource":"' + BASE_URL + "/" + file_key(1) +
              '","Condition":{"DateLessThan":{"AWS:EpochTime":1800000000}}}]}').encode()
    context = Context()
    with quiet_stdout():
        assert downloads.handler(events[0], context)["statusCode"] == 200
        handler_rate = rate(lambda i: downloads.handler(events[i % len(events)], context))
    raw_rate = rate(lambda _i: ecdsa_key.sign(policy, ec.ECDSA(hashes.SHA256())))
    return {"download_handler_secret_ecdsa_per_s": handler_rate, "raw_ecdsa_p256_sign_per_s": raw_rate,
            "download_handler_vs_raw_sign": handler_rate / raw_rate}


def reference_handlers(rsa_key: Any, rsa_pem: bytes, events: list[dict[str, Any]]) -> dict[str, float]:
    """2. A handler built as boto3's documentation shows: CloudFrontSigner, RSA-SHA1, PEM read per signature."""
    from botocore.signers import CloudFrontSigner
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as pem_file:
        pem_file.write(rsa_pem)

    def rsa_signer_as_documented(message: bytes) -> bytes:
        with open(pem_file.name, "rb") as key_file:
            private_key = serialization.load_pem_private_key(key_file.read(), password=None)
        assert isinstance(private_key, rsa.RSAPrivateKey)
        return private_key.sign(message, padding.PKCS1v15(), hashes.SHA1())

    def rsa_signer_key_once(message: bytes) -> bytes:
        return rsa_key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # type: ignore[no-any-return]

    def reference_handler(signer: CloudFrontSigner) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        def handle(evt: dict[str, Any], _context: Any) -> dict[str, Any]:
            key = json.loads(evt["body"])["key"]
            url = signer.generate_presigned_url(f"{BASE_URL}/{key}",
                                                date_less_than=datetime.now(UTC) + timedelta(seconds=300))
            return {"statusCode": 200, "body": json.dumps({"url": url})}
        return handle

    documented = reference_handler(CloudFrontSigner("KBENCH", rsa_signer_as_documented))
    key_once = reference_handler(CloudFrontSigner("KBENCH", rsa_signer_key_once))
    try:
        return {
            "reference_handler_boto3_docs_per_s": rate(lambda i: documented(events[i % len(events)], None)),
            "reference_handler_key_loaded_once_per_s": rate(lambda i: key_once(events[i % len(events)], None)),
        }
    finally:
        os.unlink(pem_file.name)


def kms_calls(events: list[dict[str, Any]]) -> dict[str, int]:
    """3. KMS calls per 1,000 mints of 50 files at a simulated 10 mints/s (100 s: two cache windows)."""
    import boto3

    from filegate.handlers import downloads

    kms_key = boto3.client("kms", region_name=REGION).create_key(
        KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    slots = json.dumps({"bench": {"public_key_id": "KBENCH", "kms_key_id": kms_key}})
    start = 1_800_000_000.0 + 5  # a window boundary + 5 s
    tick = {"now": start}
    context = Context()
    results: dict[str, int] = {}
    downloads.clock = lambda: tick["now"]
    try:
        for label, cache_seconds in (("with_cache", "60"), ("without_cache", "0")):
            configure(FILEGATE_SIGNER="kms", FILEGATE_SIGNING_SLOTS=slots,
                      FILEGATE_SIGNATURE_CACHE_SECONDS=cache_seconds)
            with quiet_stdout():
                for index in range(1000):
                    tick["now"] = start + index * 0.1
                    assert downloads.handler(events[index % 50], context)["statusCode"] == 200
            signer: Any = downloads.runtime().signer
            results[f"kms_calls_per_1000_mints_50_files_{label}"] = getattr(signer, "_signer", signer).calls
    finally:
        downloads.clock = time.time
    return results


def upload_vs_raw_post() -> dict[str, float]:
    """4. Upload handler vs a bare generate_presigned_post. The handler also writes the file's
    record (DynamoDB, moto in process); the bare POST calls nothing."""
    import boto3
    from botocore.config import Config

    from filegate.handlers import uploads

    configure(FILEGATE_SIGNER="kms", FILEGATE_SIGNING_SLOTS=json.dumps(
        {"bench": {"public_key_id": "KBENCH", "kms_key_id": "unused"}}))
    upload_event = event("/uploads", {"rule": "cv", "content_type": "application/pdf", "size": 48213,
                                      "filename": "My CV.pdf"})
    context = Context()
    with quiet_stdout():
        assert uploads.handler(upload_event, context)["statusCode"] == 201
        upload_rate = rate(lambda _i: uploads.handler(upload_event, context))
    s3 = boto3.session.Session().client("s3", region_name=REGION, config=Config(
        signature_version="s3v4", s3={"addressing_style": "virtual"}))
    raw_rate = rate(lambda i: s3.generate_presigned_post(
        "filegate-bench", file_key(i), Fields={"Content-Type": "application/pdf"},
        Conditions=[{"Content-Type": "application/pdf"}, ["content-length-range", 1, 10485760]], ExpiresIn=300))
    return {"upload_handler_per_s": upload_rate, "raw_generate_presigned_post_per_s": raw_rate,
            "upload_handler_vs_raw_presigned_post": upload_rate / raw_rate}


def clean_records(count: int) -> None:
    """The files the download benchmarks ask for, each with a ``clean`` record (downloads mint
    only for verified files): made through the domain and the adapter, as the verifier makes them."""
    import boto3

    from filegate.adapters.files_table import FilesTable, create_tables
    from filegate.domain.records import mark_clean, new_record

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_tables(dynamodb, files_table=BASE_ENV["FILEGATE_FILES_TABLE"], idempotency_table="filegate-bench-idem")
    table = FilesTable(dynamodb, BASE_ENV["FILEGATE_FILES_TABLE"])
    for index in range(count):
        record = new_record(file_id=f"{index:032x}", key=file_key(index), rule="cv", owner_sub="alice",
                            owner_org_id=None, filename="cv.pdf", content_type="application/pdf",
                            declared_size=48213, now=1_800_000_000)
        table.put_new(record)
        table.transition(record, mark_clean(record, now=1_800_000_001, size=48213, detected_type="application/pdf",
                                            sha256="0" * 64, scan_verdict="NO_THREATS_FOUND"))


def throughput() -> dict[str, Any]:
    from moto import mock_aws

    ecdsa_key, ecdsa_pem, rsa_key, rsa_pem = _keys()
    events = [event("/downloads", {"key": file_key(index)}) for index in range(1000)]
    results: dict[str, Any] = {}
    with mock_aws():
        os.environ.update(BASE_ENV)
        clean_records(len(events))
        results.update(download_vs_raw_sign(ecdsa_key, ecdsa_pem, events))
        results.update(reference_handlers(rsa_key, rsa_pem, events))
        results.update(kms_calls(events))
        results.update(upload_vs_raw_post())
    handler_rate = results["download_handler_secret_ecdsa_per_s"]
    results["download_handler_vs_reference"] = handler_rate / results["reference_handler_boto3_docs_per_s"]
    key_once = results["reference_handler_key_loaded_once_per_s"]
    results["download_handler_vs_reference_key_once"] = handler_rate / key_once
    return results


def cold_import(code: str, env: dict[str, str]) -> float:
    return timed_cold_import(code, env, runs=IMPORT_RUNS)


def cold_imports() -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FILEGATE_", "AWS_ENDPOINT"))}
    env.update(BASE_ENV)
    env["PYTHONPATH"] = str(LAMBDAS)
    # As in Lambda: the module builds its clients and signer while it is imported (the init phase).
    env["AWS_LAMBDA_FUNCTION_NAME"] = "bench"
    kms = {**env, "FILEGATE_SIGNER": "kms",
           "FILEGATE_SIGNING_SLOTS": json.dumps({"bench": {"public_key_id": "KBENCH", "kms_key_id": "alias/x"}})}
    secret = {**env, "FILEGATE_SIGNER": "secret",
              "FILEGATE_SIGNING_SLOTS": json.dumps({"bench": {"public_key_id": "KBENCH", "secret_name": "x"}})}
    results = {
        "import_boto3_plus_one_client_s": cold_import(
            "import boto3; boto3.client('s3', region_name='ap-southeast-1')", env),
        "import_uploads_handler_s": cold_import("import filegate.handlers.uploads", kms),
        "import_downloads_handler_kms_s": cold_import("import filegate.handlers.downloads", kms),
        "import_downloads_handler_secret_s": cold_import("import filegate.handlers.downloads", secret),
    }
    baseline = results["import_boto3_plus_one_client_s"]
    for name in ("uploads_handler", "downloads_handler_kms", "downloads_handler_secret"):
        results[f"import_{name}_vs_boto3"] = results[f"import_{name}_s"] / baseline
    return results


def main() -> None:
    started = time.perf_counter()
    results = {**throughput(), **cold_imports()}
    results["total_seconds"] = time.perf_counter() - started
    results["python"] = platform.python_version()
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cpu"
    rows = [
        ("download handler, secret signer ECDSA (mints/s)", results["download_handler_secret_ecdsa_per_s"], ""),
        ("raw cryptography ECDSA P-256 sign (signs/s)", results["raw_ecdsa_p256_sign_per_s"], ""),
        ("  ratio handler / raw sign", results["download_handler_vs_raw_sign"], "x"),
        ("reference handler, boto3 docs CloudFrontSigner RSA-SHA1 (mints/s)",
         results["reference_handler_boto3_docs_per_s"], ""),
        ("  ratio handler / reference", results["download_handler_vs_reference"], "x"),
        ("reference handler, RSA key loaded once (mints/s)", results["reference_handler_key_loaded_once_per_s"], ""),
        ("  ratio handler / reference with key loaded once", results["download_handler_vs_reference_key_once"], "x"),
        ("KMS calls per 1,000 mints of 50 files, signature cache on",
         results["kms_calls_per_1000_mints_50_files_with_cache"], ""),
        ("KMS calls per 1,000 mints of 50 files, signature cache off",
         results["kms_calls_per_1000_mints_50_files_without_cache"], ""),
        ("upload handler (mints/s)", results["upload_handler_per_s"], ""),
        ("raw generate_presigned_post (posts/s)", results["raw_generate_presigned_post_per_s"], ""),
        ("  ratio handler / raw presigned POST", results["upload_handler_vs_raw_presigned_post"], "x"),
        ("cold import: boto3 + one client (ms)", results["import_boto3_plus_one_client_s"] * 1000, ""),
        ("cold import: uploads handler (ms)", results["import_uploads_handler_s"] * 1000, ""),
        ("  ratio / boto3 + one client", results["import_uploads_handler_vs_boto3"], "x"),
        ("cold import: downloads handler, kms signer (ms)", results["import_downloads_handler_kms_s"] * 1000, ""),
        ("  ratio / boto3 + one client", results["import_downloads_handler_kms_vs_boto3"], "x"),
        ("cold import: downloads handler, secret signer (ms)",
         results["import_downloads_handler_secret_s"] * 1000, ""),
        ("  ratio / boto3 + one client", results["import_downloads_handler_secret_vs_boto3"], "x"),
    ]
    width = max(len(label) for label, _, _ in rows)
    print(f"filegate minting benchmarks (Python {results['python']}, {results['machine']})")
    for label, value, unit in rows:
        text = f"{value:,.2f}{unit}" if unit or value < 100 else f"{value:,.0f}"
        print(f"{label:<{width}}  {text:>12}")
    print(f"total {results['total_seconds']:.1f} s; written to {RESULTS.relative_to(ROOT)}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
