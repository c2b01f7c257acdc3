"""Bounded load run against the local mode: mint download URLs through the local API and fetch
them through the local edge, with two concurrent clients.

    python benchmarks/bench_local.py [--iterations 2000] [--clients 2] [--max-seconds 240]

Starts its own local mode on free ports (or uses a running one: FILEGATE_LOCAL_DATA_DIR=.local),
uploads a few files as a demo user, then each iteration is one ``POST /downloads`` (JWT
verification, the real download handler, a KMS signature through the signature cache) and one
``GET`` of the signed URL (the edge's signature check, SigV4 fetch from radosgw, decryption).
Every response is checked (status and bytes). Loops are bounded in count and time; all traffic
stays on 127.0.0.1. Figures go to stdout and benchmarks/results/local.json; exit 1 on any error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from local.launcher import Launched, launched, load  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "local.json"
FILES = 16
FILE_BYTES = 64 * 1024


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def summary(values: list[float]) -> dict[str, float]:
    milliseconds = [value * 1000 for value in values]
    return {"p50_ms": round(percentile(milliseconds, 0.50), 2), "p95_ms": round(percentile(milliseconds, 0.95), 2),
            "p99_ms": round(percentile(milliseconds, 0.99), 2), "max_ms": round(max(milliseconds, default=0), 2),
            "mean_ms": round(statistics.fmean(milliseconds), 2) if milliseconds else 0.0}


def prepare(run: Launched) -> tuple[str, list[tuple[str, bytes]]]:
    endpoints = run.endpoints
    token = requests.post(f"{endpoints['issuer']}/token", json={"user": "alice"}, timeout=10).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    files = []
    for index in range(FILES):
        content = b"%PDF-1.7\n" + bytes([index]) * FILE_BYTES
        minted = requests.post(f"{endpoints['api']}/uploads", headers=headers, timeout=30, json={
            "rule": "cv", "content_type": "application/pdf", "size": len(content), "filename": f"bench-{index}.pdf"})
        minted.raise_for_status()
        body = minted.json()
        posted = requests.post(body["url"], data=body["fields"], timeout=30,
                               files={"file": ("f.pdf", content, "application/pdf")})
        if posted.status_code != 201:
            raise RuntimeError(f"upload failed: {posted.status_code} {posted.text[:200]}")
        files.append((body["key"], content))
    return token, files


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
    args = parser.parse_args()

    existing = os.environ.get("FILEGATE_LOCAL_DATA_DIR")
    with tempfile.TemporaryDirectory(prefix="filegate-bench-") as tmp:
        context = nullcontext(load(Path(existing))) if existing else launched(Path(tmp) / "local")
        with context as run:
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
            startup = run.startup_seconds
        stop_seconds = getattr(run, "stop_seconds", None)
        leftovers = getattr(run, "leftovers", [])

    completed = len(results["iteration"])
    report = {
        "benchmark": "local mode: POST /downloads (local API) + GET signed URL (local edge)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "clients": args.clients,
        "iterations_requested": args.iterations,
        "iterations_completed": completed,
        "errors": len(results["errors"]),
        "error_samples": results["errors"][:5],
        "hit_time_cap": completed + len(results["errors"]) < args.iterations,
        "seconds": round(elapsed, 2),
        "iterations_per_second": round(completed / elapsed, 1) if elapsed else 0.0,
        "requests_per_second": round(2 * completed / elapsed, 1) if elapsed else 0.0,
        "file_bytes": FILE_BYTES + 9,
        "mint": summary(results["mint"]),
        "download": summary(results["download"]),
        "iteration": summary(results["iteration"]),
        "local_mode_startup_seconds": startup,
        "local_mode_stop_seconds": stop_seconds,
        "leftover_processes": leftovers,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    ok = report["errors"] == 0 and not report["hit_time_cap"] and not leftovers
    print(f"\n{completed} mints + downloads, {report['errors']} errors, {report['iterations_per_second']}/s "
          f"with {args.clients} clients; mint p50 {report['mint']['p50_ms']} ms, download p50 "
          f"{report['download']['p50_ms']} ms -> {RESULTS.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
