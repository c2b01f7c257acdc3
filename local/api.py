"""The local API: the real Lambda handlers behind what API Gateway's HTTP API does for them.

It serves the one stage ``api`` (docs/front-door.md): ``/api/uploads`` is stage ``api``, route
``POST /uploads`` (``rawPath`` and ``requestContext.http.path`` keep the stage, ``routeKey`` does
not). For each request: CORS preflights under the stage are answered from the configured frontend
origins (as the deployed API's ``cors_preflight``, credentials allowed); the route must be one the
API has: any other method (TRACE, HEAD, PATCH, custom verbs...) or any path outside the stage is
404 ``{"message":"Not Found"}`` as JSON, as the HTTP API answers, never http.server's 501 page.
User routes need a bearer JWT verified as the JWT authorizer
verifies it (``local.jwt_auth``; 401 ``Unauthorized`` / 403 ``Forbidden``); ``/backend/*``
routes stand in for IAM authorization with a local backend key (``X-Local-Backend-Key``,
generated at start-up, in ``.local/endpoints.json``). The request then becomes an HTTP API
payload v2.0 event with the verified claims, and the handler's result becomes the response.

One lock per function: like one Lambda execution environment, a function serves one request at
a time (Powertools' metrics and the audit context are per invocation). ``uploads``, ``downloads``
and ``files`` share the minting role and run in this process; a function with a role of its own
(``deletions``: it lists and deletes every version and reads nothing) runs in its own process
(``local/function_worker.py``, with the stack's environment for it) and is invoked over loopback.

The routes are the stack's (``stacks.constructs.minting_api.USER_ROUTES`` / ``BACKEND_ROUTES``,
docs/lifecycle.md "Routes"), matched as API Gateway matches them: a route key such as
``DELETE /files/{file_id}``, ``pathParameters`` from the path (percent-decoded), the raw query
string and ``queryStringParameters`` (repeated names joined with commas, as API Gateway does).

Run by ``python -m local`` with the Lambda's environment variables already set.
"""

from __future__ import annotations

import base64
import hmac
import importlib
import json
import re
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from filegate.domain.front_door import API_STAGE, GATEWAY_MESSAGES
from local.httpserver import LocalRequestHandler, run_local_server
from local.jwt_auth import AuthError, JwtAuthorizer, Verified
from local.lambda_context import LambdaContext

#: route key -> function, as the stack adds them (stacks/constructs/minting_api.py; kept free of
#: CDK imports here): JWT-authorised user routes, and IAM-authorised backend routes.
USER_ROUTES: dict[str, str] = {
    "POST /uploads": "uploads",
    "POST /downloads": "downloads",
    "POST /downloads/cookies": "downloads",
    "GET /files": "files",
    "GET /files/{file_id}": "files",
    "DELETE /files/{file_id}": "deletions",
}
BACKEND_ROUTES: dict[str, str] = {
    "POST /backend/uploads": "uploads",
    "POST /backend/downloads": "downloads",
    "GET /backend/files": "files",
    "GET /backend/files/{file_id}": "files",
    "DELETE /backend/files/{file_id}": "deletions",
    "POST /backend/revocations": "deletions",
    "POST /backend/erasures": "deletions",
    "GET /backend/erasures/{erasure_id}": "deletions",
}
#: The functions that run in this process (the minting role's); others are workers of their own.
IN_PROCESS_FUNCTIONS = ("uploads", "downloads", "files")
#: Each function's Lambda timeout (the stack's).
FUNCTION_TIMEOUTS = {"uploads": 10.0, "downloads": 10.0, "files": 10.0, "deletions": 20.0}
BACKEND_KEY_HEADER = "X-Local-Backend-Key"
#: Who the local backend key stands for: a trusted server's IAM role, as a deployment lists in
#: ``backend_principal_arns``; API Gateway reports its sessions as assumed-role ARNs.
BACKEND_ROLE_ARN = "arn:aws:iam::000000000000:role/filegate-local-backend"
BACKEND_SESSION_ARN = "arn:aws:sts::000000000000:assumed-role/filegate-local-backend/local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # HTTP API payload limit
#: The deployed API's CORS preflight (one setting for every route).
CORS_METHODS = ("GET", "POST", "DELETE", "OPTIONS")
CORS_HEADERS = ("authorization", "content-type")
CORS_MAX_AGE = 3600
TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")
#: The stage's path prefix: everything the API serves is under it.
STAGE_PREFIX = f"/{API_STAGE}"


def stage_path(raw_path: str) -> str | None:
    """The path a route is matched on (the stage stripped, as API Gateway routes), or None for a
    path outside the stage."""
    if raw_path == STAGE_PREFIX or not raw_path.startswith(STAGE_PREFIX + "/"):
        return None
    return raw_path[len(STAGE_PREFIX):]


def build_event(*, method: str, raw_path: str, raw_query: str, headers: dict[str, str], body: bytes,
                source_ip: str, route_key: str, authorizer: dict[str, Any] | None,
                path_parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API payload format 2.0 event."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    cookies = [part.strip() for part in lowered.pop("cookie", "").split(";") if part.strip()]
    content_type = lowered.get("content-type", "")
    text = None
    if content_type.startswith(TEXT_TYPES) or not body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    now = datetime.now(UTC)
    host = lowered.get("host", "127.0.0.1")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": lowered.get("user-agent", "")},
            "requestId": base64.b32encode(uuid.uuid4().bytes).decode()[:16],
            "routeKey": route_key,
            "stage": API_STAGE,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": text is None,
    }
    if cookies:
        event["cookies"] = cookies
    if raw_query:
        params: dict[str, str] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            params[name] = f"{params[name]},{value}" if name in params else value
        event["queryStringParameters"] = params
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


def _route_pattern(route_key: str) -> tuple[str, re.Pattern[str]]:
    method, _, path = route_key.partition(" ")
    regex = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(path))
    return method, re.compile(f"^{regex}$")


#: (method, path pattern, route key, function, backend?) for every route.
ROUTES: tuple[tuple[str, re.Pattern[str], str, str, bool], ...] = tuple(
    (*_route_pattern(route_key), route_key, function, backend)
    for backend, table in ((False, USER_ROUTES), (True, BACKEND_ROUTES))
    for route_key, function in table.items())


def match_route(method: str, raw_path: str) -> tuple[str, str, bool, dict[str, str]] | None:
    """(route key, function, backend route?, path parameters) of the route a request matches;
    ``raw_path`` is the request's path, stage included (``/api/files/abc``)."""
    path = stage_path(raw_path)
    if path is None:
        return None
    for route_method, pattern, route_key, function, backend in ROUTES:
        match = pattern.match(path)
        if match and method == route_method:
            parameters = {name: unquote(value) for name, value in match.groupdict().items()}
            return route_key, function, backend, parameters
    return None


def is_route_path(raw_path: str) -> bool:
    path = stage_path(raw_path)
    return path is not None and any(pattern.match(path) for _, pattern, _, _, _ in ROUTES)


def jwt_authorizer_context(verified: Verified) -> dict[str, Any]:
    return {"jwt": {"claims": verified.claims, "scopes": verified.scopes or None}}


def iam_authorizer_context() -> dict[str, Any]:
    return {"iam": {"accessKey": "ASIALOCALBACKEND", "accountId": "000000000000",
                    "callerId": "AROALOCALBACKEND:local", "cognitoIdentity": None, "principalOrgId": None,
                    "userArn": BACKEND_SESSION_ARN, "userId": "AROALOCALBACKEND:local"}}


class LocalApi:
    def __init__(self, runtime: dict[str, Any]) -> None:
        self.runtime = runtime
        self.authorizer = JwtAuthorizer(runtime["issuer"], runtime["audience"], runtime["scopes"])
        self.origins = set(runtime["allowed_origins"])
        self.backend_key = runtime["backend_key"]
        self.handlers: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {}
        self.locks: dict[str, threading.Lock] = {}
        for name in IN_PROCESS_FUNCTIONS:
            module = importlib.import_module(f"filegate.handlers.{name}")
            self.handlers[name] = module.handler
            self.locks[name] = threading.Lock()
        #: Functions in processes of their own (local/function_worker.py): name -> URL.
        self.workers: dict[str, str] = dict(runtime.get("function_workers") or {})
        for name in self.workers:
            self.locks[name] = threading.Lock()

    def has(self, function: str) -> bool:
        return function in self.handlers or function in self.workers

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        with self.locks[function]:
            if function in self.handlers:
                return self.handlers[function](event, LambdaContext(function, FUNCTION_TIMEOUTS[function]))
            return self._invoke_worker(function, event)

    def _invoke_worker(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """The function's own process; any failure there is an unhandled Lambda error (raised)."""
        parts = urlsplit(self.workers[function])
        connection = HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                    timeout=FUNCTION_TIMEOUTS.get(function, 10.0) + 5)
        try:
            connection.request("POST", "/invoke", body=json.dumps(event).encode(),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"{function} failed: {data[:300]!r}")
        result = json.loads(data)
        if not isinstance(result, dict):
            raise RuntimeError(f"{function} returned no API Gateway response")
        return result


def make_handler(api: LocalApi) -> type[BaseHTTPRequestHandler]:
    class Handler(LocalRequestHandler):
        server_version = "local-api"
        access_log = True

        def __getattr__(self, name: str) -> Any:
            # http.server answers a method without a ``do_<METHOD>`` with its own 501 HTML page;
            # API Gateway has one answer for every method: the route table's (404 when none).
            if name.startswith("do_"):
                return self._route
            raise AttributeError(name)

        def _cors(self) -> None:
            origin = self.headers.get("Origin")
            if origin and origin in api.origins:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Vary", "Origin")

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                   cookies: list[str] | None = None) -> None:
            self.send_response(status)
            headers = {"Content-Type": "application/json", **(headers or {})}
            for name, value in headers.items():
                if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(name, value)
            for cookie in cookies or []:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("apigw-requestid", uuid.uuid4().hex[:16])
            self._cors()
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _message(self, status: int, message: str | None = None, **headers: str) -> None:
            """API Gateway's own answer: ``{"message": ...}`` (GATEWAY_MESSAGES by default)."""
            text = message if message is not None else GATEWAY_MESSAGES[status]
            self._reply(status, json.dumps({"message": text}, separators=(",", ":")).encode(), headers)

        def _read_body(self) -> bytes | None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._message(413, "Request Entity Too Large")
                return None
            return self.rfile.read(length) if length else b""

        def do_OPTIONS(self) -> None:
            origin = self.headers.get("Origin")
            method = (self.headers.get("Access-Control-Request-Method") or "").upper()
            if not method or stage_path(self.path.partition("?")[0]) is None:
                self._route()  # not a preflight, or outside the stage: the route table answers (404)
                return
            asked = self.headers.get("Access-Control-Request-Headers") or ""
            requested = [h.strip().lower() for h in asked.split(",") if h.strip()]
            # One CORS setting for every route, as the deployed API's cors_preflight.
            methods = CORS_METHODS
            self.send_response(204)
            if origin and origin in api.origins and method in methods and all(h in CORS_HEADERS for h in requested):
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Methods", ",".join(methods))
                self.send_header("Access-Control-Allow-Headers", ",".join(CORS_HEADERS))
                self.send_header("Access-Control-Max-Age", str(CORS_MAX_AGE))
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Vary", "Origin")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _authorize(self, backend: bool, headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]] | None:
            """The authorizer context (and the headers the function sees), or None once refused:
            the backend key stands in for IAM on ``/backend/*``, the JWT authorizer elsewhere."""
            if backend:
                presented = self.headers.get(BACKEND_KEY_HEADER) or ""
                if not hmac.compare_digest(presented.encode(), api.backend_key.encode()):
                    self._message(403, "Forbidden")
                    return None
                kept = {k: v for k, v in headers.items() if k.lower() != BACKEND_KEY_HEADER.lower()}
                return iam_authorizer_context(), kept
            try:
                verified = api.authorizer.verify(self.headers.get("Authorization"))
            except AuthError as error:
                status_message = "Unauthorized" if error.status == 401 else "Forbidden"
                self._message(error.status, status_message, **{
                    "www-authenticate": f'Bearer error="invalid_token" error_description="{error.description}"'})
                return None
            return jwt_authorizer_context(verified), headers

        def _route(self) -> None:
            raw_path, _, raw_query = self.path.partition("?")
            body = self._read_body()
            if body is None:
                return
            headers = dict(self.headers.items())
            matched = match_route(self.command, raw_path)
            if matched is None:
                self._message(404, "Not Found")
                return
            route_key, function, backend, path_parameters = matched
            authorized = self._authorize(backend, headers)
            if authorized is None:
                return
            authorizer, headers = authorized
            event = build_event(method=self.command, raw_path=raw_path, raw_query=raw_query, headers=headers,
                                body=body, source_ip=self.client_address[0], route_key=route_key,
                                authorizer=authorizer, path_parameters=path_parameters or None)
            if not api.has(function):  # a function this checkout does not have yet
                self._message(404, "Not Found")
                return
            try:
                result = api.invoke(function, event)
            except Exception as error:  # an unhandled Lambda error: API Gateway answers 500
                print(f"handler {function} raised {type(error).__name__}: {error}", file=sys.stderr, flush=True)
                self._message(500, "Internal Server Error")
                return
            text = str(result.get("body") or "")
            data = base64.b64decode(text) if result.get("isBase64Encoded") else text.encode()
            self._reply(int(result.get("statusCode", 200)), data, dict(result.get("headers") or {}),
                        list(result.get("cookies") or []))

    return Handler


def main(argv: list[str] | None = None) -> int:
    return run_local_server(argv, name="local API", make_handler=lambda runtime: make_handler(LocalApi(runtime)))


if __name__ == "__main__":
    sys.exit(main())
