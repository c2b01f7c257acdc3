"""The local stand-in for S3's EventBridge notifications and GuardDuty Malware Protection for S3.

A process of the local mode (``python -m local.scanner``), with the scanner's own S3 user
(``filegate-scanner``: it may list versions, read and tag ``incoming/*``, nothing else). It polls
``ListObjectVersions`` under ``incoming/`` (every 100 ms; radosgw's bucket notifications would
need a topic and a push endpoint, polling needs nothing and cannot miss a version it has not
seen). For each new version, as AWS would:

1. **S3's notification**: an ``Object Created`` event (source ``aws.s3``) on the default
   EventBridge bus, right away: the local rule sends it to the verification queue.
2. **GuardDuty's scan**: the version is streamed (``GetObject`` with its ``VersionId``) to clamd's
   ``INSTREAM``; the verdict is written as the tag ``GuardDutyMalwareScanStatus`` on that version;
   then a ``GuardDuty Malware Protection Object Scan Result`` event (source ``aws.guardduty``) goes
   to the default bus, and its local rule sends it to the verification queue.

Verdicts fail closed: clamd unreachable, cut off or answering nonsense -> ``FAILED``; clamd could
not scan it whole (stream over its limit, a limit or encrypted-part heuristic) -> ``UNSUPPORTED``;
the object unreadable -> ``ACCESS_DENIED``. Only clamd's ``OK`` is ``NO_THREATS_FOUND``.

With ``scanning: none`` in the environment config only step 1 runs (no clamd, no tag).

A local-only control on 127.0.0.1 (``endpoints.json`` ``"scanner"``) lets tests make races
deterministic: ``POST /pause`` holds scans (step 2; notifications still go out), ``POST /resume``,
``POST /faults {"clamd_down": true}`` points the scanner at a socket nobody listens on, and
``GET /`` reports counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local.clamd import ClamdClient, ClamdError
from local.httpserver import LocalRequestHandler, serve_until_signalled

TAG_KEY = "GuardDutyMalwareScanStatus"
SCAN_RESULT_DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"
OBJECT_CREATED_DETAIL_TYPE = "Object Created"
#: scanResultStatus -> scanStatus, as GuardDuty pairs them.
SCAN_STATUS = {"NO_THREATS_FOUND": "COMPLETED", "THREATS_FOUND": "COMPLETED", "UNSUPPORTED": "SKIPPED",
               "ACCESS_DENIED": "SKIPPED", "FAILED": "FAILED"}
ACCOUNT = "000000000000"
READ_CHUNK = 256 * 1024
UNREACHABLE_CLAMD = "unix:/nonexistent/filegate-local/clamd-is-down.sock"


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_created_detail(*, bucket: str, key: str, size: int, etag: str, version_id: str,
                          requester: str) -> dict[str, Any]:
    """``detail`` of S3's ``Object Created`` EventBridge event (S3 User Guide, EventBridge event
    message structure), for an object a presigned POST wrote."""
    return {
        "version": "0",
        "bucket": {"name": bucket},
        "object": {"key": key, "size": size, "etag": etag, "version-id": version_id,
                   "sequencer": f"{time.time_ns():020X}"},
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": requester,
        "source-ip-address": "127.0.0.1",
        "reason": "PostObject",
    }


def scan_result_detail(*, bucket: str, key: str, etag: str, version_id: str, result: str,
                       threats: list[str] | None) -> dict[str, Any]:
    """``detail`` of GuardDuty's ``GuardDuty Malware Protection Object Scan Result`` event (GuardDuty
    User Guide, "Monitoring S3 object scans with Amazon EventBridge"): same field names."""
    return {
        "schemaVersion": "1.0",
        "scanStatus": SCAN_STATUS[result],
        "resourceType": "S3_OBJECT",
        "s3ObjectDetails": {"bucketName": bucket, "objectKey": key, "eTag": etag, "versionId": version_id,
                            "s3Throttled": False},
        "scanResultDetails": {"scanResultStatus": result,
                              "threats": [{"name": name} for name in threats] if threats else None},
    }


class Scanner:
    def __init__(self, runtime: dict[str, Any], *, poll_interval: float, scanning: str) -> None:
        self.runtime = runtime
        self.bucket = runtime["bucket"]
        self.region = runtime["region"]
        self.prefix = "incoming/"
        self.poll_interval = poll_interval
        self.scanning = scanning
        users = runtime["s3_users"]
        config = Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=16,
                        retries={"mode": "standard", "max_attempts": 3})
        self.s3 = boto3.session.Session().client(
            "s3", endpoint_url=runtime["s3"], region_name=self.region, config=config,
            aws_access_key_id=users["scanner"]["access_key"], aws_secret_access_key=users["scanner"]["secret_key"])
        self.events = boto3.session.Session().client(
            "events", endpoint_url=runtime["aws"], region_name=self.region,
            aws_access_key_id="scanner", aws_secret_access_key="scanner")  # noqa: S106 - moto takes any key
        self.clamd_address = runtime.get("clamd") or UNREACHABLE_CLAMD
        self.plan_arn = (f"arn:aws:guardduty:{self.region}:{ACCOUNT}:malware-protection-plan/"
                         f"local{uuid.uuid4().hex[:16]}")
        self.seen: set[tuple[str, str]] = set()
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="scan")
        self.running = threading.Event()  # set: scans may run (cleared by POST /pause)
        self.running.set()
        self.clamd_down = False
        self.stop = threading.Event()
        self.counts = {"notified": 0, "scanned": 0, "pending": 0, "errors": 0}
        self.verdicts: dict[str, int] = {}
        self._lock = threading.Lock()

    # --- EventBridge ---------------------------------------------------------------------------

    def put_event(self, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        response = self.events.put_events(Entries=[{
            "Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "Resources": resources,
            "EventBusName": "default", "Time": datetime.now(UTC)}])
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents failed: {response['Entries']}")

    # --- polling ------------------------------------------------------------------------------

    def versions(self) -> Iterator[Any]:
        paginator = self.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            yield from page.get("Versions", [])

    def poll_once(self) -> int:
        current: set[tuple[str, str]] = set()
        new = 0
        for version in self.versions():
            ident = (version["Key"], str(version.get("VersionId") or "null"))
            current.add(ident)
            if ident in self.seen:
                continue
            self.seen.add(ident)
            new += 1
            self.on_new_version(version)
        # Forget versions that are gone (the verifier deletes each one it decides): ids never repeat.
        self.seen &= current
        return new

    def on_new_version(self, version: dict[str, Any]) -> None:
        key, version_id = version["Key"], str(version.get("VersionId") or "null")
        etag = str(version.get("ETag", "")).strip('"')
        detail = object_created_detail(bucket=self.bucket, key=key, size=int(version.get("Size", 0)), etag=etag,
                                       version_id=version_id, requester=ACCOUNT)
        try:
            self.put_event("aws.s3", OBJECT_CREATED_DETAIL_TYPE, detail, [f"arn:aws:s3:::{self.bucket}"])
            with self._lock:
                self.counts["notified"] += 1
        except (BotoCoreError, ClientError, RuntimeError) as error:
            self.log("error", "object created event not sent", key=key, error=str(error))
            with self._lock:
                self.counts["errors"] += 1
        if self.scanning == "guardduty":
            with self._lock:
                self.counts["pending"] += 1
            self.pool.submit(self.scan_and_report, key, version_id, etag)

    # --- scanning -----------------------------------------------------------------------------

    def verdict(self, key: str, version_id: str) -> tuple[str, list[str] | None]:
        """GuardDuty's scanResultStatus for one version, and the threat names."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            return ("ACCESS_DENIED" if code in {"AccessDenied", "403"} else "FAILED"), None
        except BotoCoreError:
            return "FAILED", None
        body = response["Body"]
        address = UNREACHABLE_CLAMD if self.clamd_down else self.clamd_address
        try:
            verdict = ClamdClient(address, timeout=60).instream(iter(lambda: body.read(READ_CHUNK), b""))
        except (ClamdError, BotoCoreError, OSError) as error:
            self.log("warning", "no verdict from clamd", key=key, error=str(error))
            return "FAILED", None
        finally:
            body.close()
        if verdict.outcome == "clean":
            return "NO_THREATS_FOUND", None
        if verdict.outcome == "infected":
            return "THREATS_FOUND", [verdict.signature or "unknown"]
        return "UNSUPPORTED", None

    def scan_and_report(self, key: str, version_id: str, etag: str) -> None:
        try:
            while not self.running.wait(0.2):  # paused (local control): hold the scan, not the notification
                if self.stop.is_set():
                    return
            started = time.monotonic()
            result, threats = self.verdict(key, version_id)
            try:
                self.s3.put_object_tagging(Bucket=self.bucket, Key=key, VersionId=version_id,
                                           Tagging={"TagSet": [{"Key": TAG_KEY, "Value": result}]})
            except (BotoCoreError, ClientError) as error:
                # GuardDuty reports a post-scan tag failure separately and still publishes the result.
                self.log("warning", "tagging failed", key=key, error=str(error))
            detail = scan_result_detail(bucket=self.bucket, key=key, etag=etag, version_id=version_id,
                                        result=result, threats=threats)
            self.put_event("aws.guardduty", SCAN_RESULT_DETAIL_TYPE, detail, [self.plan_arn])
            with self._lock:
                self.counts["scanned"] += 1
                self.verdicts[result] = self.verdicts.get(result, 0) + 1
            self.log("info", "scanned", key=key, result=result, threats=threats,
                     ms=round((time.monotonic() - started) * 1000, 1))
        except Exception as error:  # never kill the worker: the sweep decides files left unscanned
            self.log("error", "scan failed", key=key, error=f"{type(error).__name__}: {error}")
            with self._lock:
                self.counts["errors"] += 1
        finally:
            with self._lock:
                self.counts["pending"] -= 1

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                new = self.poll_once()
            except (BotoCoreError, ClientError) as error:
                self.log("error", "listing incoming/ failed", error=str(error))
                new = 0
            if not new:
                self.stop.wait(self.poll_interval)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"local_only": True, "scanning": self.scanning, "paused": not self.running.is_set(),
                    "clamd_down": self.clamd_down, **self.counts, "verdicts": dict(self.verdicts)}

    @staticmethod
    def log(level: str, message: str, **fields: Any) -> None:
        print(json.dumps({"level": level, "message": message, **fields}), flush=True)


def make_handler(scanner: Scanner) -> type[BaseHTTPRequestHandler]:
    class Handler(LocalRequestHandler):
        server_version = "local-scanner"

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Filegate-Local-Only", "true")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/":
                self._reply(404, {"message": "Not Found"})
                return
            self._reply(200, scanner.status())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if 0 < length <= 4096 else b""
            path = self.path.split("?", 1)[0]
            if path == "/pause":
                scanner.running.clear()
            elif path == "/resume":
                scanner.running.set()
            elif path == "/faults":
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._reply(400, {"message": "body must be JSON"})
                    return
                scanner.clamd_down = bool(body.get("clamd_down", False))
            else:
                self._reply(404, {"message": "Not Found"})
                return
            scanner.log("info", "control", path=path)
            self._reply(200, scanner.status())

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="local S3 notifications + GuardDuty stand-in (run by `python -m local`)")
    parser.add_argument("--runtime", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True, help="the local-only control port")
    parser.add_argument("--poll-interval", type=float, default=0.1)
    parser.add_argument("--scanning", choices=("guardduty", "none"), default="guardduty")
    args = parser.parse_args(argv)
    runtime = json.loads(args.runtime.read_text())
    scanner = Scanner(runtime, poll_interval=args.poll_interval, scanning=args.scanning)
    worker = threading.Thread(target=scanner.run, name="poll", daemon=True)
    worker.start()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(scanner))
    print(f"local scanner on http://127.0.0.1:{args.port} (pid {os.getpid()}; clamd {scanner.clamd_address}; "
          f"scanning {args.scanning})", flush=True)
    try:
        serve_until_signalled(server)
    finally:
        scanner.stop.set()
        scanner.running.set()
        scanner.pool.shutdown(wait=False, cancel_futures=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
