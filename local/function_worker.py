"""One Lambda function in an execution environment of its own, behind the local API.

``python -m local.function_worker --runtime R --port P --handler filegate.handlers.deletions.handler``

Why a process: a Lambda function has its own environment variables and its own role. The API
functions that share the minting role (uploads, downloads, files) run inside the local API's
process; ``deletions`` has another role (it may list and delete every version, never read: the
radosgw user ``filegate-deleter``, local/bucket_policy.py), so it runs here with exactly the
environment the stack gives it (``stacks.lambda_settings.lifecycle_environment``, pointed at the
local services) and those credentials, and nothing of the API's.

It imports the handler at start (Lambda's init phase: a broken handler fails the local mode's
start), then serves ``POST /invoke`` (an API Gateway event, JSON) → the handler's result, one
invocation at a time with a Lambda context of ``--timeout-seconds``. An exception is answered as
Lambda reports an unhandled error (500 ``{"errorType", "errorMessage"}``); the local API turns it
into API Gateway's 500. Bound to 127.0.0.1; the local API is its only caller.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.httpserver import LocalRequestHandler, serve_until_signalled
from local.lambda_context import LambdaContext

MAX_EVENT_BYTES = 12 * 1024 * 1024


def load_handler(path: str) -> Callable[[dict[str, Any], Any], Any]:
    """``package.module.attribute`` as Lambda's ``Handler`` setting names it."""
    module_name, _, attribute = path.rpartition(".")
    handler: Callable[[dict[str, Any], Any], Any] = getattr(importlib.import_module(module_name), attribute)
    return handler


def make_handler(function: str, handler: Callable[[dict[str, Any], Any], Any],
                 timeout_seconds: float) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()  # one execution environment: one invocation at a time

    class Handler(LocalRequestHandler):
        server_version = f"local-lambda-{function}"

        def _send(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(200, {"function": function, "local_only": True})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != "/invoke" or length > MAX_EVENT_BYTES:
                self._send(404 if self.path != "/invoke" else 413, {"message": "Not Found"})
                return
            event = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                try:
                    result = handler(event, LambdaContext(function, timeout_seconds))
                except Exception as error:  # an unhandled Lambda error
                    print(json.dumps({"level": "ERROR", "message": f"{function} raised",
                                      "errorType": type(error).__name__, "errorMessage": str(error),
                                      "trace": traceback.format_exc(limit=8)}), flush=True)
                    self._send(500, {"errorType": type(error).__name__, "errorMessage": str(error)})
                    return
            self._send(200, result)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one Lambda function of the local API (run by `python -m local`)")
    parser.add_argument("--runtime", type=Path, required=True, help="runtime.json (names the data folder)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--function", required=True, help="short name, e.g. deletions")
    parser.add_argument("--handler", required=True, help="e.g. filegate.handlers.deletions.handler")
    parser.add_argument("--timeout-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    handler = load_handler(args.handler)  # the init phase, before the port answers
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.function, handler, args.timeout_seconds))
    print(f"local Lambda {args.function} ({args.handler}) on http://127.0.0.1:{args.port} (pid {os.getpid()})",
          flush=True)
    serve_until_signalled(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
