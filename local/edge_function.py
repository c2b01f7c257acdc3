"""The Python side of the local CloudFront Functions runtime (``local/edge_function.mjs``).

The local edge builds the viewer-request event CloudFront builds (``viewer_request_event``: the
documented event structure, version 1.0), hands it to the Node host that runs ``edge/revocation.js``
unchanged (``FunctionHost.run``), and honours what comes back: a request goes on to the origin, a
response is sent as the function shaped it (``FunctionResponse``). A host that cannot be reached or
a function that throws is CloudFront's 503 ``FunctionExecutionError``: never a pass.
"""

from __future__ import annotations

import base64
import json
import shutil
import threading
import uuid
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_FILE = ROOT / "edge" / "revocation.js"
HOST_SCRIPT = ROOT / "local" / "edge_function.mjs"
#: The Node the project pins (package.json), else one on PATH.
PINNED_NODE = ROOT / "node_modules" / ".bin" / "node"


class FunctionFailed(Exception):
    """The function could not run (host down, the function threw, a malformed result)."""


def node_binary() -> str:
    if PINNED_NODE.exists():
        return str(PINNED_NODE)
    found = shutil.which("node")
    if found is None:
        raise FunctionFailed("node is not installed: run `npm ci` (package.json pins Node 22)")
    return found


def host_argv(*, port: int, kvs_url: str, kvs_arn: str, function: Path = FUNCTION_FILE,
              data_dir: Path | None = None) -> list[str]:
    """The Node host's command line; ``data_dir`` only marks the process as the local mode's."""
    marker = ["--data-dir", str(data_dir)] if data_dir is not None else []
    return [node_binary(), str(HOST_SCRIPT), "--port", str(port), "--function", str(function),
            "--kvs-url", kvs_url, "--kvs-arn", kvs_arn, *marker]


def _multi(values: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": values[0]}
    if len(values) > 1:
        entry["multiValue"] = [{"value": value} for value in values]
    return entry


def viewer_request_event(*, method: str, raw_path: str, raw_query: str, headers: list[tuple[str, str]],
                         cookies: dict[str, str], viewer_ip: str, distribution_id: str,
                         domain_name: str) -> dict[str, Any]:
    """CloudFront Functions' event for a viewer request: header names lower-case, cookies apart
    from the headers, the query string as parameters (values as the viewer sent them), the URI as
    the viewer sent it (still percent-encoded)."""
    header_values: dict[str, list[str]] = {}
    for name, value in headers:
        if name.lower() != "cookie":
            header_values.setdefault(name.lower(), []).append(value)
    query_values: dict[str, list[str]] = {}
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        if name:
            query_values.setdefault(name, []).append(value)
    return {
        "version": "1.0",
        "context": {"distributionDomainName": domain_name, "distributionId": distribution_id,
                    "eventType": "viewer-request", "requestId": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()},
        "viewer": {"ip": viewer_ip},
        "request": {
            "method": method, "uri": raw_path,
            "querystring": {name: _multi(values) for name, values in query_values.items()},
            "headers": {name: _multi(values) for name, values in header_values.items()},
            "cookies": {name: {"value": value} for name, value in cookies.items()},
        },
    }


@dataclass(frozen=True)
class FunctionResponse:
    """A response the function generated: sent to the viewer as is (no origin, no cache)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> FunctionResponse:
        status = result.get("statusCode")
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise FunctionFailed("the function's response has no valid statusCode")
        headers: list[tuple[str, str]] = []
        for name, entry in (result.get("headers") or {}).items():
            values = (entry.get("multiValue") or [entry]) if isinstance(entry, dict) else []
            headers.extend((str(name), str(value.get("value", ""))) for value in values)
        body = result.get("body")
        data = b""
        if isinstance(body, str):
            data = body.encode()
        elif isinstance(body, dict):
            text = str(body.get("data", ""))
            data = base64.b64decode(text) if body.get("encoding") == "base64" else text.encode()
        return cls(status=status, headers=headers, body=data)


@dataclass(frozen=True)
class FunctionResult:
    """What the function returned: either the (possibly changed) request, or a response."""

    request: dict[str, Any] | None
    response: FunctionResponse | None


class FunctionHost:
    """A client of the Node host: one keep-alive connection per thread."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._timeout = timeout
        self._local = threading.local()

    def _connection(self) -> HTTPConnection:
        connection: HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
        return connection

    def _post(self, body: bytes) -> tuple[int, bytes]:
        for attempt in range(2):  # a kept-alive connection the host closed: once more, afresh
            connection = self._connection()
            try:
                connection.request("POST", "/run", body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                return response.status, response.read()
            except (OSError, HTTPException) as error:
                connection.close()
                self._local.connection = None
                if attempt or isinstance(error, TimeoutError):  # a run over time is not retried
                    raise FunctionFailed(f"the function host did not answer: {type(error).__name__}") from error
        raise AssertionError("unreachable")

    def run(self, event: dict[str, Any]) -> FunctionResult:
        status, data = self._post(json.dumps(event).encode())
        try:
            result = json.loads(data)
        except ValueError as error:
            raise FunctionFailed("the function host answered no JSON") from error
        if status != 200:
            raise FunctionFailed(f"the function failed: {result.get('error') if isinstance(result, dict) else result}")
        if not isinstance(result, dict):
            raise FunctionFailed("the function returned neither a request nor a response")
        if "statusCode" in result:
            return FunctionResult(request=None, response=FunctionResponse.from_result(result))
        if not isinstance(result.get("uri"), str) or not str(result["uri"]).startswith("/"):
            raise FunctionFailed("the function returned a request without a valid uri")
        return FunctionResult(request=result, response=None)
