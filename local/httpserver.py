"""Small helpers shared by the local mode's HTTP servers."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def serve_until_signalled(server: ThreadingHTTPServer) -> None:
    """Serve until SIGTERM or SIGINT, then close the listening socket."""
    server.daemon_threads = True

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.2)
    server.server_close()


def run_local_server(argv: list[str] | None, *, name: str,
                     make_handler: Callable[[dict[str, Any]], type[BaseHTTPRequestHandler]]) -> int:
    """The ``main`` of a local server started by ``python -m local``: ``--runtime`` (runtime.json)
    and ``--port``, bound to 127.0.0.1 only, served until signalled."""
    parser = argparse.ArgumentParser(description=f"filegate {name} (run by `python -m local`)")
    parser.add_argument("--runtime", type=Path, required=True, help="runtime.json written by the local mode")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(json.loads(args.runtime.read_text())))
    print(f"{name} on http://127.0.0.1:{args.port} (pid {os.getpid()})", flush=True)
    serve_until_signalled(server)
    return 0


class LocalRequestHandler(BaseHTTPRequestHandler):
    """Base of the local servers' handlers: HTTP/1.1 keep-alive without Nagle stalls (headers and
    body go out in two writes), and an access log that never shows a query string, so signed
    URLs never reach a log line."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    access_log = False

    def log_message(self, format: str, *args: Any) -> None:  # http.server's own lines show queries
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.access_log:
            print(f"{self.client_address[0]} {self.command} {self.path.split('?', 1)[0]} {code}", flush=True)
