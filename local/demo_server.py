"""Serves the demo page (local/demo/), its ``config.json`` (where the API, edge and issuer are) and,
at ``/build/``, the bundles ``local/demo/build.mjs`` writes to ``.build/demo/`` (the Uppy example's
``uppy.js``; built by ``make local`` and ``make setup-local``, gitignored)."""

from __future__ import annotations

import json
import mimetypes
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.httpserver import LocalRequestHandler

DEMO_DIR = Path(__file__).resolve().parent / "demo"
BUILD_DIR = Path(__file__).resolve().parent.parent / ".build" / "demo"
BUILD_PATH = "/build/"
CONTENT_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json",
                 ".txt": "text/plain"}
MISSING_BUNDLE = (b"not built: run `make setup-local` (or `node local/demo/build.mjs`) to bundle the demo's "
                  b"Uppy example into .build/demo/\n")


def missing_bundles() -> list[str]:
    """The bundles a page of the demo loads that are not built yet."""
    return [name for name in ("uppy.js",) if not (BUILD_DIR / name).is_file()]


def content_security_policy(urls: dict[str, str]) -> str:
    """The demo's CSP: it may call the issuer, the bucket (presigned POSTs) and the edge, which is
    also where the API is (``{edge}/api``, docs/front-door.md): the local API itself is not
    reachable from the page, so a call that bypassed the front door would fail."""
    connect = " ".join(urls[name] for name in ("issuer", "s3", "edge"))
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
            if path.startswith(BUILD_PATH):
                base, name = BUILD_DIR, path[len(BUILD_PATH):]
            else:
                base, name = DEMO_DIR, "index.html" if path == "/" else path.lstrip("/")
            target = (base / name).resolve()
            if base not in target.parents or not target.is_file():
                missing = base == BUILD_DIR and name in missing_bundles()
                self._send(404, MISSING_BUNDLE if missing else b"not found", "text/plain; charset=utf-8")
                return
            content_type = (CONTENT_TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
                            or "application/octet-stream")
            if content_type.startswith("text/") or content_type.endswith("javascript"):
                content_type += "; charset=utf-8"
            self._send(200, target.read_bytes(), content_type)

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)
