"""The local API: the real Lambda handlers behind what API Gateway's HTTP API does for them.

For each request: CORS preflights are answered from the configured frontend origins (as the
deployed API's ``cors_preflight``); the route must be one the API has (else 404
``{"message":"Not Found"}``); user routes need a bearer JWT verified as the JWT authorizer
verifies it (``local.jwt_auth``; 401 ``Unauthorized`` / 403 ``Forbidden``); ``/backend/*``
routes stand in for IAM authorization with a local backend key (``X-Local-Backend-Key``,
generated at start-up, in ``.local/endpoints.json``). The request then becomes an HTTP API
payload v2.0 event with the verified claims, and the handler's result becomes the response.

One lock per function: like one Lambda execution environment, a function serves one request at
a time (Powertools' metrics and the audit context are per invocation).

``GET /files/{file_id}`` is routed as API Gateway routes a path parameter (route key
``GET /files/{file_id}``, ``pathParameters``) to ``filegate.handlers.files.handler``, JWT-authorised.

Local-only addition, clearly outside the API contract: ``GET /local/files[?prefix=]`` lists
the files under the caller's own prefixes and the public prefixes, so the demo page can show
"your files" (the deployed API has no list route).

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
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.httpserver import LocalRequestHandler, run_local_server
from local.jwt_auth import AuthError, JwtAuthorizer, Verified

USER_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/uploads"): "uploads",
    ("POST", "/downloads"): "downloads",
    ("POST", "/downloads/cookies"): "downloads",
}
BACKEND_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/backend/uploads"): "uploads",
    ("POST", "/backend/downloads"): "downloads",
}
#: Routes with a path parameter: (method, path pattern, route key, function).
PARAMETER_ROUTES: tuple[tuple[str, re.Pattern[str], str, str], ...] = (
    ("GET", re.compile(r"^/files/(?P<file_id>[^/]+)$"), "GET /files/{file_id}", "files"),
)
LOCAL_FILES_ROUTE = ("GET", "/local/files")
BACKEND_KEY_HEADER = "X-Local-Backend-Key"
#: Who the local backend key stands for: a trusted server's IAM role, as a deployment lists in
#: ``backend_principal_arns``; API Gateway reports its sessions as assumed-role ARNs.
BACKEND_ROLE_ARN = "arn:aws:iam::000000000000:role/filegate-local-backend"
BACKEND_SESSION_ARN = "arn:aws:sts::000000000000:assumed-role/filegate-local-backend/local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # HTTP API payload limit
CORS_METHODS = ("POST", "OPTIONS")
LOCAL_CORS_METHODS = ("GET", "OPTIONS")
CORS_HEADERS = ("authorization", "content-type")
CORS_MAX_AGE = 3600
TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")


class LambdaContext:
    """What the Lambda runtime passes as ``context`` (the fields Powertools reads)."""

    memory_limit_in_mb = 512
    function_version = "$LATEST"

    def __init__(self, function: str) -> None:
        self.function_name = f"filegate-local-{function}"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + 10

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


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
            "stage": "$default",
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


def match_parameter_route(method: str, raw_path: str) -> tuple[str, str, dict[str, str]] | None:
    """(route key, function, path parameters) of the parameterised route ``raw_path`` matches."""
    for route_method, pattern, route_key, function in PARAMETER_ROUTES:
        match = pattern.match(raw_path)
        if match and method == route_method:
            return route_key, function, {name: unquote(value) for name, value in match.groupdict().items()}
    return None


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
        for name in ("uploads", "downloads", "files"):
            module = importlib.import_module(f"filegate.handlers.{name}")
            self.handlers[name] = module.handler
            self.locks[name] = threading.Lock()
        self._s3: Any = None
        from filegate.settings import Settings

        settings = Settings.from_environ()  # read once, as the handlers do
        self.rules = settings.rules
        self.groups_claim = settings.groups

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        with self.locks[function]:
            return self.handlers[function](event, LambdaContext(function))

    # --- local-only listing --------------------------------------------------------------

    def s3(self) -> Any:
        if self._s3 is None:
            import boto3
            from botocore.config import Config

            self._s3 = boto3.session.Session().client(
                "s3", endpoint_url=self.runtime["s3"], region_name=self.runtime["region"],
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        return self._s3

    def list_files(self, event: dict[str, Any], prefix: str | None) -> tuple[int, dict[str, Any]]:
        from filegate.domain.errors import Refusal
        from filegate.domain.keys import key_prefix
        from filegate.handlers.common import jwt_identity
        try:
            identity = jwt_identity(event, self.groups_claim)
        except Refusal as refusal:
            return refusal.status, {"error": {"code": refusal.code.value, "message": refusal.message}}
        own: dict[str, str] = {}
        public: dict[str, str] = {}
        for rule in self.rules:
            if rule.is_public and not rule.claim_names:
                public[key_prefix(rule, identity)] = rule.name
            elif rule.admits(identity.groups) and rule.allows("download"):
                try:
                    own[key_prefix(rule, identity)] = rule.name
                except Refusal:
                    continue
        allowed = {**own, **public}
        if prefix is not None:
            matches = {p: rule for p, rule in allowed.items() if prefix.startswith(p)}
            if not matches:
                return 403, {"error": {"code": "not_allowed", "message": "that prefix is not yours to list"}}
            targets = {prefix: next(iter(matches.values()))}
        else:
            targets = allowed
        files: list[dict[str, Any]] = []
        for target, rule_name in targets.items():
            response = self.s3().list_objects_v2(Bucket=self.runtime["bucket"], Prefix=target, MaxKeys=200)
            files.extend({"key": item["Key"], "size": item["Size"], "rule": rule_name,
                          "public": target in public or rule_name in public.values(),
                          "last_modified": item["LastModified"].isoformat()}
                         for item in response.get("Contents", []))
        files.sort(key=lambda item: item["last_modified"], reverse=True)
        return 200, {"local_only": True, "files": files}


def make_handler(api: LocalApi) -> type[BaseHTTPRequestHandler]:
    class Handler(LocalRequestHandler):
        server_version = "local-api"
        access_log = True

        def _cors(self) -> None:
            origin = self.headers.get("Origin")
            if origin and origin in api.origins:
                self.send_header("Access-Control-Allow-Origin", origin)
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

        def _message(self, status: int, message: str, **headers: str) -> None:
            self._reply(status, json.dumps({"message": message}).encode(), headers)

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
            asked = self.headers.get("Access-Control-Request-Headers") or ""
            requested = [h.strip().lower() for h in asked.split(",") if h.strip()]
            # The local-only listing route is read with GET; the API's own routes take POST only.
            path = self.path.split("?", 1)[0]
            reads = path == LOCAL_FILES_ROUTE[1] or match_parameter_route("GET", path) is not None
            methods = LOCAL_CORS_METHODS if reads else CORS_METHODS
            self.send_response(204)
            if origin and origin in api.origins and method in methods and all(h in CORS_HEADERS for h in requested):
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Methods", ",".join(methods))
                self.send_header("Access-Control-Allow-Headers", ",".join(CORS_HEADERS))
                self.send_header("Access-Control-Max-Age", str(CORS_MAX_AGE))
                self.send_header("Vary", "Origin")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self._route()

        def do_POST(self) -> None:
            self._route()

        def do_PUT(self) -> None:
            self._route()

        def do_DELETE(self) -> None:
            self._route()

        def _route(self) -> None:
            raw_path, _, raw_query = self.path.partition("?")
            key = (self.command, raw_path)
            body = self._read_body()
            if body is None:
                return
            route_key = f"{self.command} {raw_path}"
            headers = dict(self.headers.items())
            path_parameters = None
            parameterised = match_parameter_route(self.command, raw_path)
            if parameterised is not None:
                route_key, function, path_parameters = parameterised
            if key == LOCAL_FILES_ROUTE or key in USER_ROUTES or parameterised is not None:
                try:
                    verified = api.authorizer.verify(self.headers.get("Authorization"))
                except AuthError as error:
                    status_message = "Unauthorized" if error.status == 401 else "Forbidden"
                    self._message(error.status, status_message, **{
                        "www-authenticate": f'Bearer error="invalid_token" error_description="{error.description}"'})
                    return
                event = build_event(method=self.command, raw_path=raw_path, raw_query=raw_query, headers=headers,
                                    body=body, source_ip=self.client_address[0], route_key=route_key,
                                    authorizer=jwt_authorizer_context(verified), path_parameters=path_parameters)
                if key == LOCAL_FILES_ROUTE:
                    prefix = dict(parse_qsl(raw_query)).get("prefix") or None
                    status, payload = api.list_files(event, prefix)
                    self._reply(status, json.dumps(payload).encode(), {"X-Filegate-Local-Only": "true"})
                    return
                if parameterised is None:
                    function = USER_ROUTES[key]
            elif key in BACKEND_ROUTES:
                presented = self.headers.get(BACKEND_KEY_HEADER) or ""
                if not hmac.compare_digest(presented.encode(), api.backend_key.encode()):
                    self._message(403, "Forbidden")
                    return
                headers = {k: v for k, v in headers.items() if k.lower() != BACKEND_KEY_HEADER.lower()}
                event = build_event(method=self.command, raw_path=raw_path, raw_query=raw_query, headers=headers,
                                    body=body, source_ip=self.client_address[0], route_key=route_key,
                                    authorizer=iam_authorizer_context())
                function = BACKEND_ROUTES[key]
            else:
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
