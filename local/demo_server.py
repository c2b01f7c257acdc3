"""Serves the demo page (local/demo/) and its ``config.json`` (where the API, edge and issuer are)."""

from __future__ import annotations

import json
import mimetypes
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.httpserver import LocalRequestHandler

DEMO_DIR = Path(__file__).resolve().parent / "demo"


def content_security_policy(urls: dict[str, str]) -> str:
    connect = " ".join(urls[name] for name in ("api", "issuer", "s3", "edge"))
    return (f"default-src 'self'; connect-src 'self' {connect}; img-src 'self' data: {urls['edge']}; "
            f"style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            f"form-action 'self' {urls['edge']}")


def make_demo_server(port: int, public_config: dict[str, Any], urls: dict[str, str]) -> ThreadingHTTPServer:
    config_body = json.dumps(public_config, indent=2).encode()
    csp = content_security_policy(urls)

    class Handler(LocalRequestHandler):
        server_version = "filegate-demo"

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", csp)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/config.json":
                self._send(200, config_body, "application/json")
                return
            name = "index.html" if path == "/" else path.lstrip("/")
            target = (DEMO_DIR / name).resolve()
            if DEMO_DIR not in target.parents or not target.is_file():
                self._send(404, b"not found", "text/plain")
                return
            content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            if content_type.startswith("text/") or content_type.endswith("javascript"):
                content_type += "; charset=utf-8"
            self._send(200, target.read_bytes(), content_type)

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)
