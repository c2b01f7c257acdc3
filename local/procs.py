"""Child processes of the local mode: started with a log file each, stopped together.

Every child is started from the main thread under ``setpriv --pdeathsig TERM``, so that it is
terminated by the kernel even if the local mode itself is killed with SIGKILL: nothing is left
running. ``stop_all`` stops the children one by one in reverse start order: SIGTERM, then SIGKILL for
whatever has not exited after the grace period.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class ChildFailed(RuntimeError):
    """A child process exited while it was needed; the message names it and its log."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]


def _pdeathsig_prefix() -> list[str]:
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class Supervisor:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        self._prefix = _pdeathsig_prefix()

    def spawn(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("ab")
        process = subprocess.Popen(  # noqa: S603 - argv built by the local mode, never from input
            [*self._prefix, *argv], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
        )
        self.children.append(Child(name, process, log_path, log))
        return process

    def check(self) -> None:
        """Raise ``ChildFailed`` when a child has exited."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise ChildFailed(f"{child.name} exited with status {code}; see {child.log_path}")

    def tail(self, name: str, lines: int = 15) -> str:
        for child in self.children:
            if child.name == name:
                text = child.log_path.read_text(errors="replace").splitlines()
                return "\n".join(text[-lines:])
        return ""

    def stop_all(self, grace_seconds: float = 8.0, *, report: bool = False) -> None:
        """Stop children one by one, last started first (radosgw must leave before its OSD and
        monitor), each with SIGTERM and, after the grace period, SIGKILL."""
        started = time.monotonic()
        for child in reversed(self.children):
            if child.process.poll() is None:
                try:
                    child.process.send_signal(signal.SIGTERM)
                    child.process.wait(timeout=grace_seconds)
                except ProcessLookupError:
                    pass
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait(timeout=5)
            child.log.close()
            if report:
                print(f"  [{time.monotonic() - started:5.2f} s] {child.name} stopped", flush=True)
        self.children.clear()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
