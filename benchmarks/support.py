"""What the benchmark scripts share: rates, percentiles, quiet stdout, API events, clean file
records, the local mode (start or reuse it, tokens, uploads, stand-in clients), and writing and
printing results.

Plain helpers, importable from any script in ``benchmarks/`` (each puts its own folder first on
``sys.path`` by being run from it). Nothing here imports ``filegate`` at module level: callers
decide when ``lambdas/`` is importable.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
RESULTS_DIR = ROOT / "benchmarks" / "results"
REGION = "ap-southeast-1"
#: The HTTP API's stage (``filegate.domain.front_door.API_STAGE``): ``rawPath`` starts with it.
API_STAGE = "api"

Row = tuple[str, float, str]


def importable(*paths: Path) -> None:
    """Put ``paths`` first on ``sys.path`` (once each), e.g. the repository root and ``lambdas/``."""
    for path in reversed(paths):
        text = str(path)
        if text not in sys.path:
            sys.path.insert(0, text)


# --- measuring ----------------------------------------------------------------------------------

def rate(function: Callable[[int], Any], seconds: float, *, warmup: int = 20, batch: int = 20) -> float:
    """Calls per second of ``function(i)`` over about ``seconds``, after ``warmup`` calls; the
    clock is read once per ``batch`` calls (``batch=1`` for slow calls)."""
    for index in range(warmup):
        function(index)
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(batch):
            function(count)
            count += 1
    return count / elapsed


Measured = tuple[Callable[[], None], Callable[[int], Any]]


def interleaved_rates(functions: Mapping[str, Measured], *, rounds: int = 9, seconds: float = 0.3
                      ) -> dict[str, list[float]]:
    """Each function's calls per second in ``rounds`` rounds of short batches, taken in turn
    (``setup`` runs before each batch): a machine that speeds up or slows down during the run
    moves every function's figures of a round alike, so ratios are taken round by round."""
    rates: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, (setup, function) in functions.items():
            setup()
            rates[name].append(rate(function, seconds))
    return rates


def median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of the rounds' own ratios (``interleaved_rates``)."""
    return statistics.median(top / bottom for top, bottom in zip(numerators, denominators, strict=True))


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank ``fraction`` percentile (0 for no values)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds of ``values`` (seconds), rounded to 0.01 ms."""
    milliseconds = [value * 1000 for value in values]
    return {"p50_ms": round(percentile(milliseconds, 0.50), 2), "p95_ms": round(percentile(milliseconds, 0.95), 2),
            "p99_ms": round(percentile(milliseconds, 0.99), 2), "max_ms": round(max(milliseconds, default=0), 2),
            "mean_ms": round(statistics.fmean(milliseconds), 2) if milliseconds else 0.0}


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


# --- events and records -------------------------------------------------------------------------

def api_event(path: str, body: Any = None, *, method: str = "POST", claims: Mapping[str, Any] | None = None,
              headers: Mapping[str, str] | None = None, stage: str = "$default", request_id: str = "bench",
              source_ip: str = "198.51.100.7") -> dict[str, Any]:
    """An HTTP API (payload 2.0) event as API Gateway hands it to the Lambda: ``routeKey`` set,
    ``rawPath`` with the stage as prefix unless ``$default``, the JWT authorizer's ``claims``."""
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    request_context: dict[str, Any] = {
        "accountId": "123456789012", "apiId": "bench00001", "domainName": "bench00001.execute-api.example.com",
        "domainPrefix": "bench00001",
        "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                 "userAgent": "filegate-bench"},
        "requestId": request_id, "routeKey": f"{method} {path}", "stage": stage,
        "time": "29/Nov/2026:04:00:00 +0000", "timeEpoch": 1795924800000,
    }
    if claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": ["filegate/files"]}}
    return {
        "version": "2.0", "routeKey": f"{method} {path}", "rawPath": raw_path, "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": request_context,
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


def careers_claims(sub: str = "alice") -> dict[str, str]:
    """The JWT claims of a member of ``careers`` (the ``cv`` rule's group), as API Gateway passes
    an array claim to the Lambda."""
    return {"sub": sub, "cognito:groups": "[careers]"}


def cv_key(index: int, sub: str = "alice") -> str:
    """The key of the ``cv`` rule's file ``index`` (its file id: ``index`` as 32 hex digits)."""
    return f"private/users/{sub}/cv/{index:032x}.pdf"


def put_clean_records(dynamodb: Any, table_name: str, count: int, *, sub: str = "alice") -> list[str]:
    """``count`` ``cv`` files of ``sub``, each with a ``clean`` record (downloads mint only for
    verified files): made through the domain and the adapter, as the verifier makes them. Their keys."""
    from filegate.adapters.files_table import FilesTable
    from filegate.domain.records import mark_clean, new_record

    table = FilesTable(dynamodb, table_name)
    keys = []
    for index in range(count):
        record = new_record(file_id=f"{index:032x}", key=cv_key(index, sub), rule="cv", owner_sub=sub,
                            owner_org_id=None, filename="cv.pdf", content_type="application/pdf",
                            declared_size=48213, now=1_800_000_000)
        table.put_new(record)
        table.transition(record, mark_clean(record, now=1_800_000_001, size=48213, detected_type="application/pdf",
                                            sha256="0" * 64, scan_verdict="NO_THREATS_FOUND"))
        keys.append(record.key)
    return keys


# --- results ------------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    """``python`` and ``machine`` fields every results file carries."""
    return {"python": platform.python_version(), "machine": f"{platform.machine()}, {os.cpu_count()} cpu"}


def write_results(path: Path, results: Mapping[str, Any]) -> None:
    """``results`` as sorted, indented JSON (one trailing newline) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def format_value(value: float, unit: str = "") -> str:
    """As the tables print figures: two decimals with a unit or under 100, else whole numbers."""
    return f"{value:,.2f}{unit}" if unit or value < 100 else f"{value:,.0f}"


def print_table(title: str, rows: Iterable[Row]) -> None:
    """``title``, then one ``label  value`` line per row, the labels padded to one width."""
    rows = list(rows)
    width = max((len(label) for label, _, _ in rows), default=0)
    print(title)
    for label, value, unit in rows:
        print(f"{label:<{width}}  {format_value(value, unit):>12}")


def write_report(path: Path, report: Mapping[str, Any]) -> None:
    """A local-mode benchmark's report: indented JSON in the report's own order, also printed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2)
    path.write_text(text + "\n")
    print(text)


def relative(path: Path) -> str:
    """``path`` relative to the repository root when it is inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# --- the local mode -------------------------------------------------------------------------------

@contextlib.contextmanager
def local_mode(prefix: str = "filegate-bench-") -> Iterator[Any]:
    """A running local mode (``local.launcher``): the one ``FILEGATE_LOCAL_DATA_DIR`` names, or
    one started on free ports in a temporary folder and stopped on exit."""
    importable(ROOT, LAMBDAS)
    from local.launcher import launched, load

    existing = os.environ.get("FILEGATE_LOCAL_DATA_DIR")
    if existing:
        yield load(Path(existing))
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix=prefix) as scratch, launched(Path(scratch) / "local") as run:
        yield run


def local_machine() -> dict[str, Any]:
    """The ``machine`` field of the local-mode reports."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()}


def token(endpoints: Mapping[str, Any], session: Any = None, **claims: Any) -> str:
    """An access token from the local issuer for ``claims`` (``user="alice"``...)."""
    import requests

    response = (session or requests).post(f"{endpoints['issuer']}/token", json=claims, timeout=10)
    response.raise_for_status()
    return str(response.json()["access_token"])


def local_aws_client(endpoints: Mapping[str, Any], service: str) -> Any:
    """A boto3 client for the local mode's AWS stand-in (moto server)."""
    import boto3

    return boto3.session.Session().client(  # type: ignore[call-overload]
        service, endpoint_url=endpoints["aws"], region_name=endpoints["region"],
        aws_access_key_id="bench", aws_secret_access_key="bench")


def bench_pdf(index: int, pad: int = 0) -> bytes:
    """A small valid one-page PDF (the verifier checks the bytes), distinct per index."""
    importable(ROOT)
    from tests.unit.samples import pdf

    return pdf(text=f"filegate benchmark file {index}", pad_to=pad)


def upload(endpoints: Mapping[str, Any], session: Any, bearer: str, content: bytes,
           name: str) -> tuple[dict[str, Any], float]:
    """Mint and POST one ``cv`` file through the local API; its mint answer and the moment the
    POST to the bucket completed (201)."""
    headers = {"Authorization": f"Bearer {bearer}"}
    minted = session.post(f"{endpoints['api']}/uploads", headers=headers, timeout=30, json={
        "rule": "cv", "content_type": "application/pdf", "size": len(content), "filename": name})
    minted.raise_for_status()
    body: dict[str, Any] = minted.json()
    posted = session.post(body["url"], data=body["fields"], timeout=30,
                          files={"file": (name, content, "application/pdf")})
    posted_at = time.monotonic()
    if posted.status_code != 201:
        raise RuntimeError(f"upload failed: {posted.status_code} {posted.text[:200]}")
    return body, posted_at


def wait_clean(endpoints: Mapping[str, Any], session: Any, bearer: str, file_id: str, *,
               poll_seconds: float = 0.02, timeout_seconds: float = 30.0) -> float:
    """Poll ``GET /files/{id}`` until the file is clean; the moment it first answered clean."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        response = session.get(f"{endpoints['api']}/files/{file_id}", headers={"Authorization": f"Bearer {bearer}"},
                               timeout=30)
        seen = time.monotonic()
        response.raise_for_status()
        status = response.json()["status"]
        if status == "clean":
            return seen
        if status == "rejected":
            raise RuntimeError(f"benchmark file {file_id} was rejected: {response.json()}")
        if seen > deadline:
            raise RuntimeError(f"benchmark file {file_id} still {status} after {timeout_seconds:.0f} s")
        time.sleep(poll_seconds)
