"""What the front door costs per call: ``GET {api}/files/{id}`` through the local edge vs the same
call straight to the local API with the origin header set, interleaved.

    python benchmarks/bench_front_door.py [--iterations 300] [--warmup 20] [--max-seconds 120]

Starts its own local mode on free ports (or uses a running one: FILEGATE_LOCAL_DATA_DIR=.local),
uploads one small PDF as a demo user and waits until it is clean, reads the origin-verify secret's
current value from (moto's) Secrets Manager, then makes ``--iterations`` pairs of calls, each pair
one through the edge (``{api}`` = the edge's ``/api``: the ``/api/*`` behaviour, its origin-header
lookup, ``ApiBodySize``, the response headers policy, a keep-alive origin connection) and one to
``{backend_api}`` with ``x-origin-verify`` set (the JWT check and the real files handler, as the
edge's own request does), alternating which goes first. Every answer must be 200 with the file's
record. The per-pair difference is the latency the edge adds. Bounded in count (at most 1,000
pairs) and time; all traffic stays on 127.0.0.1. Figures go to stdout and
benchmarks/results/front_door.json; exit 1 on any error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

import support  # noqa: E402
from support import bench_pdf, summary, upload, wait_clean  # noqa: E402

from filegate.domain.front_door import ORIGIN_VERIFY_HEADER  # noqa: E402
from local.launcher import Launched  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "front_door.json"
MAX_ITERATIONS = 1000


def origin_secret(run: Launched) -> str:
    """The value the distribution's api origin carries (what the edge sends): AWSCURRENT."""
    client = support.local_aws_client(run.endpoints, "secretsmanager")
    return str(client.get_secret_value(SecretId=run.runtime["origin_secret"])["SecretString"])


def timed_get(session: requests.Session, url: str, headers: dict[str, str], file_id: str) -> float:
    started = time.perf_counter()
    response = session.get(url, headers=headers, timeout=30)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json().get("file_id") != file_id:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:160]}")
    return elapsed


def run_pairs(run: Launched, *, iterations: int, warmup: int, max_seconds: float) -> dict[str, Any]:
    endpoints = run.endpoints
    token = support.token(endpoints, user="alice")
    setup = requests.Session()
    body, _ = upload(endpoints, setup, token, bench_pdf(7), "front-door.pdf")
    file_id = body["file_id"]
    wait_clean(endpoints, setup, token, file_id)
    bearer = {"Authorization": f"Bearer {token}"}
    through_edge = (requests.Session(), f"{endpoints['api']}/files/{file_id}", bearer)
    direct = (requests.Session(), f"{endpoints['backend_api']}/files/{file_id}",
              {**bearer, ORIGIN_VERIFY_HEADER: origin_secret(run)})
    for _ in range(warmup):  # connections open, the handler's caches (JWKS, secret, record) warm
        timed_get(*through_edge, file_id)
        timed_get(*direct, file_id)
    edge_times: list[float] = []
    direct_times: list[float] = []
    added: list[float] = []
    errors: list[str] = []
    started = time.monotonic()
    for index in range(iterations):
        if time.monotonic() - started > max_seconds:
            break
        try:
            # Alternate the order so that neither path always runs on a just-warmed handler.
            if index % 2 == 0:
                edge_seconds = timed_get(*through_edge, file_id)
                direct_seconds = timed_get(*direct, file_id)
            else:
                direct_seconds = timed_get(*direct, file_id)
                edge_seconds = timed_get(*through_edge, file_id)
        except Exception as error:  # counted and reported, never hidden
            errors.append(f"{type(error).__name__}: {error}")
            continue
        edge_times.append(edge_seconds)
        direct_times.append(direct_seconds)
        added.append(edge_seconds - direct_seconds)
    return {"pairs_completed": len(added), "errors": len(errors), "error_samples": errors[:5],
            "hit_time_cap": len(added) + len(errors) < iterations, "seconds": round(time.monotonic() - started, 2),
            "through_edge": summary(edge_times), "direct_with_header": summary(direct_times),
            "added_by_edge": summary(added)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=300, help=f"pairs of calls (at most {MAX_ITERATIONS})")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="hard cap on the measured phase")
    args = parser.parse_args()
    iterations = max(1, min(args.iterations, MAX_ITERATIONS))

    with support.local_mode() as run:
        print(f"local mode ready in {run.startup_seconds:.1f} s; {iterations} pairs of GET /files/{{id}} ...",
              flush=True)
        measured = run_pairs(run, iterations=iterations, warmup=args.warmup, max_seconds=args.max_seconds)
    leftovers = getattr(run, "leftovers", [])

    report = {
        "benchmark": "front door: GET {api}/files/{id} through the local edge vs straight to the local API "
                     "with x-origin-verify, interleaved pairs",
        "machine": support.local_machine(),
        "iterations_requested": iterations, "warmup_pairs": args.warmup,
        **measured,
        "local_mode_startup_seconds": run.startup_seconds,
        "leftover_processes": leftovers,
    }
    support.write_report(RESULTS, report)
    ok = report["errors"] == 0 and not report["hit_time_cap"] and not leftovers
    edge, direct, added = report["through_edge"], report["direct_with_header"], report["added_by_edge"]
    print(f"\n{report['pairs_completed']} pairs, {report['errors']} errors: through the edge p50 {edge['p50_ms']} ms "
          f"p95 {edge['p95_ms']} ms; direct p50 {direct['p50_ms']} ms p95 {direct['p95_ms']} ms; added per call "
          f"p50 {added['p50_ms']} ms p95 {added['p95_ms']} ms -> {support.relative(RESULTS)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
