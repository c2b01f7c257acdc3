"""Minting benchmarks: what the handlers cost over the bare operations they wrap, and cold starts.

Run: ``python benchmarks/bench_minting.py`` (``make bench``; ``--skip-cold-starts`` for the
in-process part alone). Bounded (a few minutes: the cold starts build assets and start fresh
interpreters), no network: the in-process figures call moto's in-process mock, the cold starts
a moto server on 127.0.0.1. Prints a table and writes ``benchmarks/results/minting.json``.

Figures (field names kept from earlier runs; new ones beside them):
1. full-handler download mints/s (secret signer, ECDSA P-256, signature cache off so that every
   mint signs, the file's record read from moto) vs raw ``cryptography`` ECDSA P-256 signs/s;
2. the same handler vs a reference handler built as boto3's documentation shows
   (``CloudFrontSigner`` with an RSA-SHA1 ``rsa_signer`` that loads the PEM on each call), and
   the same reference with the key loaded once; and the handler with its record preloaded
   (``hot_path.py`` says why) vs that reference, both in the same interleaved rounds (the median
   of the rounds' ratios, ``support.interleaved_rates``): the goal is at least 1.5x;
3. KMS calls per 1,000 mints of 50 distinct files (simulated 10 mints/s, so 100 s, two
   60-second cache windows) with the signature cache vs without;
4. full-handler upload mints/s vs raw ``generate_presigned_post`` (record write to moto), and
   with the record write set aside, in interleaved rounds with the raw POST: the goal is at least 0.4x;
5. the hot path of a download mint, piece by piece (``hot_path.py``);
6. cold starts, Lambda-like (``lambda_like.py``): each handler's asset, read-only, the runtime's
   variables, init and first invocation, vs ``import boto3`` plus one client in the same
   environment (goal: at most 1.5x); each asset's zipped size (goal: at most 10 MiB); the
   ``-X importtime`` top 10 of each. ``import_*`` fields hold these Lambda-like cold starts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import support

support.importable(support.ROOT, support.LAMBDAS)

import hot_path  # noqa: E402
import lambda_like  # noqa: E402

RESULTS = support.RESULTS_DIR / "minting.json"
REGION = support.REGION
BASE_URL = "https://d111111abcdef8.cloudfront.net"
ORIGIN_SECRET = "bench/origin-verify"
ORIGIN_VALUE = "bench-origin-verify-value-0123456789abcdef"
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
    "FILEGATE_ORIGIN_SECRET": ORIGIN_SECRET,
}
SECONDS_PER_RATE = 1.5


def rate(function: Callable[[int], Any], seconds: float = SECONDS_PER_RATE) -> float:
    return support.rate(function, seconds)


#: The headers a browser's request reaches the Lambda with through CloudFront and the HTTP API
#: (the token is a Cognito access token's length; its claims come from the authorizer).
VIEWER_HEADERS = {
    "accept": "application/json", "accept-encoding": "gzip, deflate, br", "accept-language": "en-GB,en;q=0.9",
    "authorization": "Bearer " + "e" * 1050, "content-length": "80", "host": "files.careers.example.com",
    "origin": "https://careers.example.com", "referer": "https://careers.example.com/profile",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "via": "2.0 0123456789abcdef0123456789abcdef.cloudfront.net (CloudFront)",
    "x-amz-cf-id": "Abcdefghij0123456789abcdefghij0123456789ABCDEFGHIJ01==",
    "x-amzn-trace-id": "Root=1-6a4b0c00-0123456789abcdef01234567", "x-forwarded-for": "198.51.100.7, 130.176.0.1",
    "x-forwarded-port": "443", "x-forwarded-proto": "https", "cloudfront-viewer-country": "SG",
}


def event(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A user route's event as CloudFront and API Gateway deliver it: a browser's headers, the
    origin-verify header, stage ``api``."""
    return support.api_event(path, body, claims=support.careers_claims(), stage=support.API_STAGE,
                             headers={**VIEWER_HEADERS, "x-origin-verify": ORIGIN_VALUE})


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


def download_vs_raw_sign(ecdsa_key: Any, ecdsa_pem: str, events: list[dict[str, Any]],
                         reference: Callable[[int], Any]) -> dict[str, Any]:
    """1. Handler with the secret signer (ECDSA, cache off: every mint signs) vs a raw sign; the
    handler reads the file's record from moto. 5. Its hot path, records preloaded."""
    import boto3
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from filegate.handlers import downloads

    boto3.client("secretsmanager", region_name=REGION).create_secret(Name="bench/ecdsa", SecretString=ecdsa_pem)
    slots = {"bench": {"public_key_id": "KBENCH", "secret_name": "bench/ecdsa"}}
    configure(FILEGATE_SIGNER="secret", FILEGATE_SIGNATURE_CACHE_SECONDS="0", FILEGATE_SIGNING_SLOTS=json.dumps(slots))
    policy = ('{"Statement":[{"Resource":"' + BASE_URL + "/" + support.cv_key(1) +
              '","Condition":{"DateLessThan":{"AWS:EpochTime":1800000000}}}]}').encode()
    context = Context()
    with support.quiet_stdout():
        assert downloads.handler(events[0], context)["statusCode"] == 200
        handler_rate = rate(lambda i: downloads.handler(events[i % len(events)], context))
    raw_rate = rate(lambda _i: ecdsa_key.sign(policy, ec.ECDSA(hashes.SHA256())))
    pieces = hot_path.download_pieces(events, context, reference)
    return {"download_handler_secret_ecdsa_per_s": handler_rate, "raw_ecdsa_p256_sign_per_s": raw_rate,
            "download_handler_vs_raw_sign": handler_rate / raw_rate,
            "download_handler_records_preloaded_per_s": 1e6 / pieces["handler"],
            "reference_handler_key_loaded_once_interleaved_per_s": pieces["reference_rate"],
            "download_handler_records_preloaded_vs_reference_key_once": pieces["handler_vs_reference"],
            **hot_path.hot_path_fields(pieces)}


def _reference_handler(signer: Any) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A handler as boto3's documentation builds one: the key from the body, a CloudFrontSigner URL."""
    def handle(evt: dict[str, Any], _context: Any) -> dict[str, Any]:
        key = json.loads(evt["body"])["key"]
        url = signer.generate_presigned_url(f"{BASE_URL}/{key}",
                                            date_less_than=datetime.now(UTC) + timedelta(seconds=300))
        return {"statusCode": 200, "body": json.dumps({"url": url})}
    return handle


def reference_key_once(rsa_key: Any) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The documented reference handler with its RSA key loaded once (the download goal's peer)."""
    from botocore.signers import CloudFrontSigner
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def rsa_signer_key_once(message: bytes) -> bytes:
        return rsa_key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # type: ignore[no-any-return]

    return _reference_handler(CloudFrontSigner("KBENCH", rsa_signer_key_once))


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

    documented = _reference_handler(CloudFrontSigner("KBENCH", rsa_signer_as_documented))
    key_once = reference_key_once(rsa_key)
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
            with support.quiet_stdout():
                for index in range(1000):
                    tick["now"] = start + index * 0.1
                    assert downloads.handler(events[index % 50], context)["statusCode"] == 200
            signer: Any = downloads.runtime().signer
            results[f"kms_calls_per_1000_mints_50_files_{label}"] = getattr(signer, "_signer", signer).calls
    finally:
        downloads.clock = time.time
    return results


def upload_vs_raw_post() -> dict[str, float]:
    """4. Upload handler vs a bare generate_presigned_post: with its record write to moto, and set aside."""
    import boto3
    from botocore.config import Config

    from filegate.handlers import uploads

    configure(FILEGATE_SIGNER="kms", FILEGATE_SIGNING_SLOTS=json.dumps(
        {"bench": {"public_key_id": "KBENCH", "kms_key_id": "unused"}}))
    upload_event = event("/uploads", {"rule": "cv", "content_type": "application/pdf", "size": 48213,
                                      "filename": "My CV.pdf"})
    context = Context()
    with support.quiet_stdout():
        assert uploads.handler(upload_event, context)["statusCode"] == 201
        upload_rate = rate(lambda _i: uploads.handler(upload_event, context))
    s3 = boto3.session.Session().client("s3", region_name=REGION, config=Config(
        signature_version="s3v4", s3={"addressing_style": "virtual"}))

    def raw_post(index: int) -> Any:
        return s3.generate_presigned_post(
            "filegate-bench", support.cv_key(index), Fields={"Content-Type": "application/pdf"},
            Conditions=[{"Content-Type": "application/pdf"}, ["content-length-range", 1, 10485760]], ExpiresIn=300)

    raw_rate = rate(raw_post)
    preloaded = hot_path.upload_handler_preloaded(upload_event, context, raw_post)
    return {"upload_handler_per_s": upload_rate, "raw_generate_presigned_post_per_s": raw_rate,
            "upload_handler_vs_raw_presigned_post": upload_rate / raw_rate,
            "upload_handler_records_preloaded_per_s": preloaded["rate"],
            "raw_generate_presigned_post_interleaved_per_s": preloaded["raw"],
            "upload_handler_records_preloaded_vs_raw_presigned_post": preloaded["ratio"]}


def throughput() -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    ecdsa_key, ecdsa_pem, rsa_key, rsa_pem = _keys()
    events = [event("/downloads", {"key": support.cv_key(index)}) for index in range(1000)]
    results: dict[str, Any] = {}
    with mock_aws():
        os.environ.update(BASE_ENV)
        from filegate.adapters.files_table import create_tables

        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_tables(dynamodb, files_table=BASE_ENV["FILEGATE_FILES_TABLE"], idempotency_table="filegate-bench-idem")
        support.put_clean_records(dynamodb, BASE_ENV["FILEGATE_FILES_TABLE"], len(events))
        boto3.client("secretsmanager", region_name=REGION).create_secret(Name=ORIGIN_SECRET,
                                                                         SecretString=ORIGIN_VALUE)
        key_once = reference_key_once(rsa_key)
        results.update(download_vs_raw_sign(ecdsa_key, ecdsa_pem, events,
                                             lambda i: key_once(events[i % len(events)], None)))
        results.update(reference_handlers(rsa_key, rsa_pem, events))
        results.update(kms_calls(events))
        results.update(upload_vs_raw_post())
        file_id = f"{0:032x}"
        item = hot_path.stored_item(BASE_ENV["FILEGATE_FILES_TABLE"], file_id)
    results["record_read_botocore_us"] = hot_path.botocore_record_read_us(BASE_ENV["FILEGATE_FILES_TABLE"],
                                                                          file_id, item)
    handler_rate = results["download_handler_secret_ecdsa_per_s"]
    results["download_handler_vs_reference"] = handler_rate / results["reference_handler_boto3_docs_per_s"]
    key_once = results["reference_handler_key_loaded_once_per_s"]
    results["download_handler_vs_reference_key_once"] = handler_rate / key_once
    return results


#: The Lambda-like cold start of each function, under the field names earlier runs used.
_LEGACY_COLD_FIELDS = {"uploads": "import_uploads_handler", "downloads_kms": "import_downloads_handler_kms",
                       "downloads_secret": "import_downloads_handler_secret"}


def cold_starts(runs: int) -> dict[str, Any]:
    results = lambda_like.lambda_like_cold_starts(lambda_like.minting_functions(), runs=runs,
                                                  progress=lambda line: print(line, file=sys.stderr))
    results["import_boto3_plus_one_client_s"] = results["lambda_like_baseline_boto3_plus_one_client_s"]
    for name, legacy in _LEGACY_COLD_FIELDS.items():
        results[f"{legacy}_s"] = results[f"lambda_like_{name}_cold_start_s"]
        results[f"{legacy}_vs_boto3"] = results[f"lambda_like_{name}_cold_start_vs_baseline"]
    return results


def rows(results: dict[str, Any]) -> list[support.Row]:
    table: list[support.Row] = [
        ("download handler, secret signer ECDSA, record from moto (mints/s)",
         results["download_handler_secret_ecdsa_per_s"], ""),
        ("download handler, record preloaded (mints/s)", results["download_handler_records_preloaded_per_s"], ""),
        ("raw cryptography ECDSA P-256 sign (signs/s)", results["raw_ecdsa_p256_sign_per_s"], ""),
        ("  ratio handler / raw sign", results["download_handler_vs_raw_sign"], "x"),
        ("reference handler, boto3 docs CloudFrontSigner RSA-SHA1 (mints/s)",
         results["reference_handler_boto3_docs_per_s"], ""),
        ("  ratio handler / reference", results["download_handler_vs_reference"], "x"),
        ("reference handler, RSA key loaded once (mints/s)", results["reference_handler_key_loaded_once_per_s"], ""),
        ("  ratio handler / reference with key loaded once", results["download_handler_vs_reference_key_once"], "x"),
        ("  ratio handler, record preloaded / reference with key loaded once (goal >= 1.5)",
         results["download_handler_records_preloaded_vs_reference_key_once"], "x"),
        ("KMS calls per 1,000 mints of 50 files, signature cache on",
         results["kms_calls_per_1000_mints_50_files_with_cache"], ""),
        ("KMS calls per 1,000 mints of 50 files, signature cache off",
         results["kms_calls_per_1000_mints_50_files_without_cache"], ""),
        ("upload handler, record to moto (mints/s)", results["upload_handler_per_s"], ""),
        ("upload handler, record write set aside (mints/s)", results["upload_handler_records_preloaded_per_s"], ""),
        ("raw generate_presigned_post (posts/s)", results["raw_generate_presigned_post_per_s"], ""),
        ("  ratio handler / raw presigned POST", results["upload_handler_vs_raw_presigned_post"], "x"),
        ("  ratio handler, write set aside / raw presigned POST (goal >= 0.4)",
         results["upload_handler_records_preloaded_vs_raw_presigned_post"], "x"),
        *hot_path.rows(results),
    ]
    if "lambda_like_baseline_boto3_plus_one_client_s" in results:
        table += lambda_like.table_rows(results, list(_LEGACY_COLD_FIELDS))
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=lambda_like.DEFAULT_RUNS, help="fresh children per cold start")
    parser.add_argument("--skip-cold-starts", action="store_true", help="the in-process figures only")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    results = throughput()
    if not options.skip_cold_starts:
        results.update(cold_starts(options.runs))
    results["total_seconds"] = time.perf_counter() - started
    results.update(support.machine())
    support.print_table(f"filegate minting benchmarks (Python {results['python']}, {results['machine']})",
                        rows(results))
    if not options.skip_cold_starts:
        for line in lambda_like.importtime_lines(results, list(_LEGACY_COLD_FIELDS)):
            print(line)
    print(f"total {results['total_seconds']:.1f} s; written to {support.relative(options.json)}")
    support.write_results(options.json, results)


if __name__ == "__main__":
    main()
