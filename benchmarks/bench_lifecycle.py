"""File lifecycle figures against the local mode (issue 9): listing, erasure, revocation.

    python benchmarks/bench_lifecycle.py [--list-files 1000] [--erase-files 1000] [--revocations 20]

Starts its own local mode on free ports (or uses a running one: FILEGATE_LOCAL_DATA_DIR=.local).

* ``GET /files``: one owner with ``--list-files`` clean records (written straight into the local
  DynamoDB, as the verifier leaves them). Every page of ``limit=50`` is fetched, cursor after
  cursor, through the local API (JWT verification, the real files handler, the cursor's HMAC); the
  walk is repeated until 200 requests have been timed. p50/p95 per request, and the first page alone.
* Erasure: ``--erase-files`` records for one subject, each with its object at the final key (the
  first half with a second version, to count versions), written by the verifier's S3 user into
  radosgw. Timed from ``POST /backend/erasures`` until ``GET /backend/erasures/{id}`` says ``done``
  (polled every 100 ms): the real erasure worker through the local event source mapping, the
  KeyValueStore stand-in, radosgw deletes. Then checked: no record, no version left. A second run
  must be a no-op with the same counts.
* Revocation: ``--revocations`` clean files; for each, a URL is minted and served (200), then
  ``POST /backend/revocations {"key"}`` is sent and the URL is fetched from the local edge every
  5 ms until it answers 403: the time from sending the revocation to the first refusal (the POST's
  own round trip included; the local store is read at once, where CloudFront takes seconds to
  propagate an entry to its edge locations).

Every response is checked; loops are bounded in count and time; all traffic stays on 127.0.0.1.
Figures go to stdout and benchmarks/results/lifecycle.json; exit 1 on any error.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

import support  # noqa: E402
from support import bench_pdf, summary  # noqa: E402

from filegate.adapters.files_table import FilesTable  # noqa: E402
from filegate.domain.records import mark_clean, new_record  # noqa: E402
from local.launcher import Launched  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "lifecycle.json"
LIST_PAGE = 50
LIST_REQUESTS = 200
POLL_SECONDS = 0.1
REVOCATION_POLL_SECONDS = 0.005
TIMEOUT_SECONDS = 240.0


class Local:
    """Clients for one running local mode."""

    def __init__(self, run: Launched) -> None:
        self.run = run
        self.endpoints = run.endpoints
        self.http = requests.Session()
        self.dynamodb = support.local_aws_client(run.endpoints, "dynamodb")
        self.files = FilesTable(self.dynamodb, run.runtime["files_table"])
        verifier = run.runtime["s3_users"]["verifier"]
        admin = run.runtime["s3_users"]["admin"]
        self.verifier_s3 = self._s3(verifier)
        self.admin_s3 = self._s3(admin)
        self.bucket = run.endpoints["bucket"]

    def _s3(self, user: dict[str, str]) -> Any:
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoints["s3"], region_name=self.endpoints["region"],
            aws_access_key_id=user["access_key"], aws_secret_access_key=user["secret_key"],
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

    def token(self, **claims: Any) -> str:
        return support.token(self.endpoints, self.http, **claims)

    def backend(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        return self.http.request(method, f"{self.endpoints['backend_api']}{path}", json=body, timeout=30,
                                 headers={self.endpoints["backend_key_header"]: self.endpoints["backend_key"]})

    def seed(self, sub: str, count: int, *, objects: bool, created_from: int) -> list[tuple[str, str]]:
        """``count`` clean cv records of ``sub`` (and their objects): [(file_id, key)]."""
        seeded = []
        for index in range(count):
            file_id = secrets.token_hex(16)
            key = f"private/users/{sub}/cv/{file_id}.pdf"
            now = created_from + index
            record = new_record(file_id=file_id, key=key, rule="cv", owner_sub=sub, owner_org_id=None,
                                filename=f"cv {index}.pdf", content_type="application/pdf", declared_size=600,
                                now=now, upload_expires_at=now + 300)
            version_id = None
            if objects:
                content = bench_pdf(index)
                version_id = self.verifier_s3.put_object(Bucket=self.bucket, Key=key, Body=content,
                                                         ContentType="application/pdf").get("VersionId")
                if index % 2 == 0:  # a second version: an erasure must remove every one
                    version_id = self.verifier_s3.put_object(Bucket=self.bucket, Key=key, Body=content,
                                                             ContentType="application/pdf").get("VersionId")
            self.files.put_new(mark_clean(record, now=now, size=600, detected_type="application/pdf",
                                          sha256="0" * 64, scan_verdict="NO_THREATS_FOUND",
                                          served_version_id=version_id))
            seeded.append((file_id, key))
        return seeded

    def versions_under(self, prefix: str) -> int:
        found = 0
        for page in self.admin_s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
            found += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
        return found


def listing(local: Local, *, files: int) -> dict[str, Any]:
    sub = f"bench-list-{secrets.token_hex(4)}"
    local.seed(sub, files, objects=False, created_from=1_700_000_000)
    token = local.token(sub=sub, groups=["careers"])
    headers = {"Authorization": f"Bearer {token}"}
    timings: list[float] = []
    first_pages: list[float] = []
    walks = 0
    seen_total = 0
    while len(timings) < LIST_REQUESTS:
        cursor: str | None = None
        seen = 0
        while True:
            params = {"limit": str(LIST_PAGE), **({"cursor": cursor} if cursor else {})}
            started = time.monotonic()
            response = local.http.get(f"{local.endpoints['api']}/files", params=params, headers=headers, timeout=30)
            elapsed = time.monotonic() - started
            if response.status_code != 200:
                raise RuntimeError(f"GET /files {response.status_code}: {response.text[:200]}")
            body = response.json()
            timings.append(elapsed)
            if cursor is None:
                first_pages.append(elapsed)
            seen += len(body["files"])
            cursor = body.get("next_cursor")
            if not cursor:
                break
        walks += 1
        seen_total = seen
        if seen != files:
            raise RuntimeError(f"a full walk listed {seen} files, not {files}")
    # The same first page as one raw Query on moto's index: what the local DynamoDB alone costs.
    raw: list[float] = []
    for _ in range(30):
        started = time.monotonic()
        local.dynamodb.query(TableName=local.run.runtime["files_table"], IndexName="owner",
                             KeyConditionExpression="owner_sub = :o AND listed_at < :b",
                             ExpressionAttributeValues={":o": {"S": sub}, ":b": {"S": "~"}},
                             ScanIndexForward=False, Limit=LIST_PAGE + 1)
        raw.append(time.monotonic() - started)
    return {"what": f"GET /files?limit={LIST_PAGE} through the local API, one owner with {files} clean files",
            "files": files, "page_size": LIST_PAGE, "requests": len(timings), "full_walks": walks,
            "files_per_walk": seen_total, "request": summary(timings), "first_page": summary(first_pages),
            "raw_moto_index_query": summary(raw)}


def wait_done(local: Local, erasure_id: str, *, runs: int) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        response = local.backend("GET", f"/backend/erasures/{erasure_id}")
        if response.status_code != 200:
            raise RuntimeError(f"GET erasure {response.status_code}: {response.text[:200]}")
        body: dict[str, Any] = response.json()
        if body["status"] == "done" and body["runs"] == runs:
            return body
        if time.monotonic() > deadline:
            raise RuntimeError(f"erasure still {body} after {TIMEOUT_SECONDS:.0f} s")
        time.sleep(POLL_SECONDS)


def erasure(local: Local, *, files: int) -> dict[str, Any]:
    sub = f"bench-erase-{secrets.token_hex(4)}"
    seeding_started = time.monotonic()
    seeded = local.seed(sub, files, objects=True, created_from=int(time.time()) - files)
    seeding = time.monotonic() - seeding_started
    versions_before = local.versions_under(f"private/users/{sub}/")
    started = time.monotonic()
    response = local.backend("POST", "/backend/erasures", {"sub": sub})
    if response.status_code != 202:
        raise RuntimeError(f"POST erasure {response.status_code}: {response.text[:200]}")
    erasure_id = response.json()["erasure_id"]
    done = wait_done(local, erasure_id, runs=1)
    elapsed = time.monotonic() - started
    left_versions = local.versions_under(f"private/users/{sub}/")
    # The table read directly: no item at all (record, tombstone or half-written) for any file.
    left_records = sum(1 for file_id, _ in seeded if "Item" in local.dynamodb.get_item(
        TableName=local.run.runtime["files_table"], Key={"file_id": {"S": file_id}}, ConsistentRead=True))
    again = local.backend("POST", "/backend/erasures", {"sub": sub})
    if again.status_code != 202 or again.json()["erasure_id"] != erasure_id:
        raise RuntimeError(f"second POST {again.status_code}: {again.text[:200]}")
    second = wait_done(local, erasure_id, runs=2)
    counts = ("deleted_files", "deleted_versions")
    if left_versions or left_records or any(second[name] != done[name] for name in counts):
        raise RuntimeError(f"erasure left {left_versions} versions, {left_records} records; "
                           f"first {done}, second {second}")
    if done["deleted_files"] != files or done["deleted_versions"] < versions_before:
        raise RuntimeError(f"erasure counted {done}, expected {files} files and {versions_before} versions")
    return {"what": "POST /backend/erasures -> GET says done (local API, erasure worker, radosgw, KVS stand-in)",
            "files": files, "versions_before": versions_before, "seconds": round(elapsed, 2),
            "files_per_second": round(files / elapsed, 1) if elapsed else 0.0,
            "seeding_seconds": round(seeding, 2), "result": done,
            "second_run_same_counts": True}


def revocation(local: Local, *, files: int) -> dict[str, Any]:
    sub = f"bench-revoke-{secrets.token_hex(4)}"
    seeded = local.seed(sub, files, objects=True, created_from=int(time.time()) - files)
    token = local.token(sub=sub, groups=["careers"])
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    for _, key in seeded:
        minted = local.http.post(f"{local.endpoints['api']}/downloads", json={"key": key}, headers=headers,
                                 timeout=30)
        if minted.status_code != 200:
            raise RuntimeError(f"mint {minted.status_code}: {minted.text[:200]}")
        url = minted.json()["url"]
        served = local.http.get(url, timeout=30)
        if served.status_code != 200:
            raise RuntimeError(f"download before revocation {served.status_code}: {served.text[:200]}")
        started = time.monotonic()
        revoked = local.backend("POST", "/backend/revocations", {"key": key})
        if revoked.status_code != 200:
            raise RuntimeError(f"revocation {revoked.status_code}: {revoked.text[:200]}")
        deadline = started + 30
        while True:
            status = local.http.get(url, timeout=30).status_code
            if status == 403:
                latencies.append(time.monotonic() - started)
                break
            if status != 200 or time.monotonic() > deadline:
                raise RuntimeError(f"after the revocation the edge answered {status}")
            time.sleep(REVOCATION_POLL_SECONDS)
    return {"what": "POST /backend/revocations sent -> first 403 from the local edge for a URL it served before",
            "files": files, "poll_interval_ms": REVOCATION_POLL_SECONDS * 1000, "latency": summary(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list-files", type=int, default=1000)
    parser.add_argument("--erase-files", type=int, default=1000)
    parser.add_argument("--revocations", type=int, default=20)
    args = parser.parse_args()

    with support.local_mode() as run:
        print(f"local mode ready in {run.startup_seconds:.1f} s", flush=True)
        local = Local(run)
        report: dict[str, Any] = {
            "benchmark": "local mode: file lifecycle (GET /files, erasure, revocation)",
            "machine": support.local_machine(),
        }
        report["list"] = listing(local, files=args.list_files)
        print(f"listing: {report['list']['request']}", flush=True)
        report["erasure"] = erasure(local, files=args.erase_files)
        print(f"erasure: {report['erasure']['files_per_second']} files/s", flush=True)
        report["revocation"] = revocation(local, files=args.revocations)
        print(f"revocation: {report['revocation']['latency']}", flush=True)
    report["leftover_processes"] = getattr(run, "leftovers", [])
    support.write_report(RESULTS, report)
    return 1 if report["leftover_processes"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
