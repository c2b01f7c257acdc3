"""Cold-import timing shared by the benchmarks: each run is a fresh interpreter, as a cold start is."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_IMPORT_SNIPPET = """
import time
started = time.perf_counter()
{code}
print(time.perf_counter() - started)
"""


def cold_import(code: str, env: dict[str, str], *, runs: int) -> float:
    """Median seconds ``code`` takes in a new interpreter (from ``started``, which code may reset)."""
    timings = []
    for _ in range(runs):
        output = subprocess.run([sys.executable, "-c", _IMPORT_SNIPPET.format(code=code)], capture_output=True,
                                text=True, check=True, env=env, cwd=str(ROOT))
        timings.append(float(output.stdout.strip().splitlines()[-1]))
    return statistics.median(timings)
