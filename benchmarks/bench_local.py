"""Bounded load run against the local mode: mint download URLs through the local API and fetch
them through the local edge, with two concurrent clients; then the verification latency.

    python benchmarks/bench_local.py [--iterations 2000] [--clients 2] [--max-seconds 240]
                                     [--verify-files 60] [--verify-max-seconds 180]

Starts its own local mode on free ports (or uses a running one: FILEGATE_LOCAL_DATA_DIR=.local),
uploads a few files as a demo user, then each iteration is one ``POST /downloads`` (JWT
verification, the real download handler, a KMS signature through the signature cache) and one
``GET`` of the signed URL (the edge's signature check, SigV4 fetch from radosgw, decryption).
Every response is checked (status and bytes). Loops are bounded in count and time; all traffic
stays on 127.0.0.1. Figures go to stdout and benchmarks/results/local.json; exit 1 on any error.

Verification latency (issue 8): ``--verify-files`` small PDFs (a few KB, as the content checks'
samples), one at a time, each timed from the moment its POST to the bucket has completed (201
received) until ``GET /files/{id}`` first answers ``clean`` (polled every 20 ms): the local
GuardDuty stand-in's listing (100 ms poll) and ClamAV scan, S3's and GuardDuty's events through
moto's EventBridge and SQS, the real verifier (checks, promotion, record, event) and the event
source mapping. p50/p95 go to the same results file, under ``verification``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

import support  # noqa: E402
from support import bench_pdf, summary, upload  # noqa: E402  (bench_pdf, summary, upload: also imported from here)

from local.launcher import Launched  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "local.json"
FILES = 16
FILE_BYTES = 64 * 1024
VERIFY_POLL_SECONDS = 0.02
VERIFY_TIMEOUT_SECONDS = 30.0
__all__ = ["bench_pdf", "summary", "upload", "wait_clean"]


def wait_clean(endpoints: dict[str, Any], session: requests.Session, token: str, file_id: str) -> float:
    """Poll GET /files/{id} until clean; the moment it first answered clean."""
    return support.wait_clean(endpoints, session, token, file_id, poll_seconds=VERIFY_POLL_SECONDS,
                              timeout_seconds=VERIFY_TIMEOUT_SECONDS)


def prepare(run: Launched) -> tuple[str, list[tuple[str, bytes]]]:
    endpoints = run.endpoints
    token = support.token(endpoints, user="alice")
    session = requests.Session()
    files = []
    for index in range(FILES):
        content = bench_pdf(index, pad=FILE_BYTES)
        body, _ = upload(endpoints, session, token, content, f"bench-{index}.pdf")
        wait_clean(endpoints, session, token, body["file_id"])  # downloads need a verified file
        files.append((body["key"], content))
    return token, files


def verification_latency(run: Launched, *, files: int, max_seconds: float) -> dict[str, Any]:
    """POST completed -> clean, one file at a time (no queueing behind other files)."""
    endpoints = run.endpoints
    token = support.token(endpoints, user="carol")
    session = requests.Session()
    latencies: list[float] = []
    errors: list[str] = []
    sizes: list[int] = []
    started = time.monotonic()
    for index in range(files):
        if time.monotonic() - started > max_seconds:
            break
        content = bench_pdf(1000 + index)
        sizes.append(len(content))
        try:
            body, posted_at = upload(endpoints, session, token, content, f"latency-{index}.pdf")
            latencies.append(wait_clean(endpoints, session, token, body["file_id"]) - posted_at)
        except Exception as error:  # counted and reported, never hidden
            errors.append(f"{type(error).__name__}: {error}")
    return {
        "what": "POST to the bucket completed (201) -> GET /files/{id} first answers clean; one file at a time",
        "files_requested": files, "files_completed": len(latencies), "errors": len(errors),
        "error_samples": errors[:5], "hit_time_cap": len(latencies) + len(errors) < files,
        "file_bytes": {"min": min(sizes, default=0), "max": max(sizes, default=0)},
        "poll_interval_ms": VERIFY_POLL_SECONDS * 1000, "scanner_poll_interval_ms": 100,
        "scanning": endpoints.get("scanning"), "latency": summary(latencies),
        "seconds": round(time.monotonic() - started, 2),
    }


def client(run: Launched, *, token: str, files: list[tuple[str, bytes]], counter: dict[str, int],
           lock: threading.Lock, deadline: float, results: dict[str, Any]) -> None:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    api = run.endpoints["api"]
    while time.monotonic() < deadline:
        with lock:
            if counter["next"] >= counter["total"]:
                return
            index = counter["next"]
            counter["next"] += 1
        key, content = files[index % len(files)]
        started = time.monotonic()
        try:
            minted = session.post(f"{api}/downloads", json={"key": key}, headers=headers, timeout=30)
            minted_at = time.monotonic()
            if minted.status_code != 200:
                raise RuntimeError(f"mint {minted.status_code}: {minted.text[:120]}")
            served = session.get(minted.json()["url"], timeout=30)
            done = time.monotonic()
            if served.status_code != 200 or served.content != content:
                raise RuntimeError(f"download {served.status_code}: {served.text[:120]}")
        except Exception as error:  # counted and reported, never hidden
            with lock:
                results["errors"].append(f"{type(error).__name__}: {error}")
            continue
        with lock:
            results["mint"].append(minted_at - started)
            results["download"].append(done - minted_at)
            results["iteration"].append(done - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=240.0, help="hard cap on the load phase")
    parser.add_argument("--verify-files", type=int, default=60, help="files for the verification latency (>= 50)")
    parser.add_argument("--verify-max-seconds", type=float, default=180.0, help="hard cap on that phase")
    args = parser.parse_args()

    with support.local_mode() as run:
        print(f"local mode ready in {run.startup_seconds:.1f} s; uploading {FILES} files ...", flush=True)
        token, files = prepare(run)
        results: dict[str, Any] = {"mint": [], "download": [], "iteration": [], "errors": []}
        counter = {"next": 0, "total": args.iterations}
        lock = threading.Lock()
        started = time.monotonic()
        deadline = started + args.max_seconds
        threads = [threading.Thread(target=client, args=(run,), kwargs={
            "token": token, "files": files, "counter": counter, "lock": lock, "deadline": deadline,
            "results": results})
                   for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        print(f"{len(results['iteration'])} mints + downloads done; verification latency over "
              f"{args.verify_files} files ...", flush=True)
        verification = verification_latency(run, files=args.verify_files, max_seconds=args.verify_max_seconds)
        startup = run.startup_seconds
    stop_seconds = getattr(run, "stop_seconds", None)
    leftovers = getattr(run, "leftovers", [])

    completed = len(results["iteration"])
    report = {
        "benchmark": "local mode: POST /downloads (local API) + GET signed URL (local edge)",
        "machine": support.local_machine(),
        "clients": args.clients,
        "iterations_requested": args.iterations,
        "iterations_completed": completed,
        "errors": len(results["errors"]),
        "error_samples": results["errors"][:5],
        "hit_time_cap": completed + len(results["errors"]) < args.iterations,
        "seconds": round(elapsed, 2),
        "iterations_per_second": round(completed / elapsed, 1) if elapsed else 0.0,
        "requests_per_second": round(2 * completed / elapsed, 1) if elapsed else 0.0,
        "file_bytes": len(files[0][1]) if files else 0,
        "mint": summary(results["mint"]),
        "download": summary(results["download"]),
        "iteration": summary(results["iteration"]),
        "verification": verification,
        "local_mode_startup_seconds": startup,
        "local_mode_stop_seconds": stop_seconds,
        "leftover_processes": leftovers,
    }
    support.write_report(RESULTS, report)
    ok = (report["errors"] == 0 and not report["hit_time_cap"] and not leftovers
          and verification["errors"] == 0 and not verification["hit_time_cap"])
    print(f"\n{completed} mints + downloads, {report['errors']} errors, {report['iterations_per_second']}/s "
          f"with {args.clients} clients; mint p50 {report['mint']['p50_ms']} ms, download p50 "
          f"{report['download']['p50_ms']} ms; POST -> clean over {verification['files_completed']} files: p50 "
          f"{verification['latency']['p50_ms']} ms, p95 {verification['latency']['p95_ms']} ms "
          f"-> {support.relative(RESULTS)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
