"""Source-tree cold-import timing: each run is a fresh interpreter (the virtualenv's, ``lambdas/`` on
``PYTHONPATH``), as a cold start is, but not as Lambda runs one.

For figures that model Lambda (the built, read-only asset; the runtime's variables and libraries;
the first invocation included; ``-X importtime``) use ``lambda_like.lambda_like_cold_starts``
(issue 12). This helper stays for what an asset cannot isolate: a single module's import
(``filegate.domain.content`` alone, ``preload()``, a first inspection), measured the same way
before and after a change.
"""

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
    """Median seconds ``code`` takes in a new interpreter (from ``started``, which code may reset).
    The interpreter's stdout must end with the timing line: ``code`` must not print."""
    timings = []
    for _ in range(runs):
        output = subprocess.run([sys.executable, "-c", _IMPORT_SNIPPET.format(code=code)], capture_output=True,
                                text=True, check=True, env=env, cwd=str(ROOT))
        timings.append(float(output.stdout.strip().splitlines()[-1]))
    return statistics.median(timings)
