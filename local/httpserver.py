"""Small helpers shared by the local mode's HTTP servers."""

from __future__ import annotations

import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
