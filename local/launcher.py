"""Start a whole local mode as a child process and stop it again (tests, benchmarks, scripts).

    with launched(tmp_dir) as run:
        requests.post(run.endpoints["issuer"] + "/token", json={"user": "alice"})

``launched`` runs ``python -m local --free-ports --data-dir DIR``, waits for ``endpoints.json``,
and on exit sends SIGTERM, waits, and checks that no process naming ``DIR`` is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class LaunchError(RuntimeError):
    pass


@dataclass
class Launched:
    data_dir: Path
    endpoints: dict[str, Any]
    runtime: dict[str, Any]
    startup_seconds: float
    stop_seconds: float | None = None
    leftovers: list[int] = field(default_factory=list)


def processes_naming(marker: str) -> list[int]:
    """Pids of processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def load(data_dir: Path) -> Launched:
    """A local mode somebody else started (e.g. ``make local``), read from its data folder."""
    return Launched(data_dir=data_dir, endpoints=json.loads((data_dir / "endpoints.json").read_text()),
                    runtime=json.loads((data_dir / "runtime.json").read_text()), startup_seconds=0.0)


@contextmanager
def launched(data_dir: Path, *, env: str = "dev", timeout: float = 180.0,
             extra_args: tuple[str, ...] = ()) -> Iterator[Launched]:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}.out"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "lambdas")])}
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own entry point
            [sys.executable, "-m", "local", "--env", env, "--free-ports", "--data-dir", str(data_dir), *extra_args],
            cwd=ROOT, env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        run: Launched | None = None
        try:
            endpoints = data_dir / "endpoints.json"
            while not endpoints.exists():
                if process.poll() is not None:
                    raise LaunchError(f"local mode exited with {process.returncode} before it was ready:\n"
                                      + log_path.read_text(errors="replace")[-4000:])
                if time.monotonic() - started > timeout:
                    raise LaunchError(f"local mode was not ready within {timeout:.0f} s; see {log_path}")
                time.sleep(0.05)
            run = load(data_dir)
            run.startup_seconds = round(time.monotonic() - started, 2)
            yield run
        finally:
            stopping = time.monotonic()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            deadline = time.monotonic() + 10
            leftovers = processes_naming(str(data_dir))
            while leftovers and time.monotonic() < deadline:
                time.sleep(0.2)
                leftovers = processes_naming(str(data_dir))
            for pid in leftovers:  # nothing may outlive the run, even when a check below fails
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if run is not None:
                run.stop_seconds = round(time.monotonic() - stopping, 2)
                run.leftovers = leftovers
