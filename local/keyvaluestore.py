"""A stand-in for the CloudFront KeyValueStore API (``cloudfront-keyvaluestore``) on 127.0.0.1.

The edge's deny list lives in a KeyValueStore (docs/lifecycle.md, "Revocations"): the Lambdas write
it with boto3 (``filegate.adapters.revocations``), the CloudFront Function reads it
(``edge/revocation.js``, run locally by ``local/edge_function.mjs``). This serves the operations
those use, in the service's rest-json shapes (botocore's ``cloudfront-keyvaluestore`` model):
``DescribeKeyValueStore``, ``GetKey``, ``PutKey``, ``DeleteKey``, ``ListKeys`` (paginated, 10 by
default, at most 50) and ``UpdateKeys`` (all or nothing, at most 50 names and 3 MB), with the store's
ETag: every write needs ``If-Match`` = the current ETag and answers a new one; a stale one is 409
``ConflictException``, as in AWS. Names are 1-512 bytes, values at most 1 KB, the store at most 5 MB
(``ServiceQuotaExceededException``). Errors carry ``x-amzn-ErrorType`` and ``{"Message"}``.

How boto3's real client reaches it. botocore's endpoint rules for this service turn any endpoint
into ``{scheme}://{account id of the ARN}.{authority}{path}`` and sign with SigV4A (``awscrt``).
Local mode therefore sets ``AWS_ENDPOINT_URL_CLOUDFRONT_KEYVALUESTORE=http://kvs.filegate.invalid``
(a name that never resolves), ``HTTP_PROXY`` = this server and ``NO_PROXY=127.0.0.1,localhost``:
botocore sends only that one host to the proxy (everything else the Lambdas call is on 127.0.0.1),
as an absolute-form request (``GET http://000000000000.kvs.filegate.invalid/key-value-stores/...``),
which this server answers itself. It refuses to proxy any other host, so nothing leaves the machine
through it. Without the proxy the request fails to resolve: fail closed.

Not emulated: SigV4A is not verified (an ``Authorization`` header is required, nothing more), IAM,
the propagation delay to edge locations (seconds in AWS; immediate here), CloudTrail, the import
from S3, and the store's ``Status`` other than ``READY``. Local-only control (``/local/...``, marked by
``X-Filegate-Local-Only``): ``GET /local/stores``, ``POST /local/faults {"get_key_error": true}`` (every
``GetKey`` answers 500, for the fail-closed path of the function).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.httpserver import LocalRequestHandler, run_local_server

#: The host local mode gives boto3 as the service's endpoint; requests for ``<account>.<it>``
#: arrive here through ``HTTP_PROXY``.
PROXY_HOST = "kvs.filegate.invalid"
MAX_NAME_BYTES = 512
MAX_VALUE_BYTES = 1024
MAX_STORE_BYTES = 5 * 1024 * 1024
MAX_UPDATE_NAMES = 50
MAX_UPDATE_BYTES = 3 * 1024 * 1024
DEFAULT_PAGE = 10
MAX_PAGE = 50
MAX_BODY_BYTES = 4 * 1024 * 1024


class ApiError(Exception):
    """An error the service answers: HTTP status, error type (botocore's code), message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def new_etag() -> str:
    """Shaped like the service's ETags (e.g. ``KV1F83G8C2ARO7P``)."""
    return "KV" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(13))


def _size(name: str, value: str) -> int:
    return len(name.encode()) + len(value.encode())


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not 1 <= len(name.encode()) <= MAX_NAME_BYTES:
        raise ApiError(400, "ValidationException", f"Key must be 1 to {MAX_NAME_BYTES} bytes")
    return name


def _check_value(value: object) -> str:
    if not isinstance(value, str) or len(value.encode()) > MAX_VALUE_BYTES:
        raise ApiError(400, "ValidationException", f"Value must be a string of at most {MAX_VALUE_BYTES} bytes")
    return value


@dataclass
class Store:
    arn: str
    items: dict[str, str] = field(default_factory=dict)
    etag: str = field(default_factory=new_etag)
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)

    @property
    def size(self) -> int:
        return sum(_size(name, value) for name, value in self.items.items())

    def counts(self) -> dict[str, int]:
        return {"ItemCount": len(self.items), "TotalSizeInBytes": self.size}


class KeyValueStores:
    """The stores and their ETags; one lock, so every write is atomic as the service's are."""

    def __init__(self, arns: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._stores: dict[str, Store] = {}
        self.get_key_error = False
        #: The scheme of the last request's Authorization header (``AWS4-ECDSA-P256-SHA256``: SigV4A).
        self.last_auth_scheme = ""
        for arn in arns or []:
            self.create(arn)

    def create(self, arn: str) -> Store:
        with self._lock:
            return self._stores.setdefault(arn, Store(arn))

    def arns(self) -> list[str]:
        with self._lock:
            return sorted(self._stores)

    def _store(self, arn: str) -> Store:
        store = self._stores.get(arn)
        if store is None:
            raise ApiError(404, "ResourceNotFoundException", "Resource not found")
        return store

    def _write(self, store: Store, if_match: str | None, changes: dict[str, str | None]) -> dict[str, Any]:
        """Apply ``changes`` (name -> value, or None to delete) if ``if_match`` is the current ETag."""
        if not if_match:
            raise ApiError(400, "ValidationException", "If-Match is required")
        if if_match != store.etag:
            raise ApiError(409, "ConflictException", "Pre-Condition failed: the ETag does not match")
        after = dict(store.items)
        for name, value in changes.items():
            if value is None:
                after.pop(name, None)
            else:
                after[name] = value
        if sum(_size(name, value) for name, value in after.items()) > MAX_STORE_BYTES:
            raise ApiError(402, "ServiceQuotaExceededException", "The key value store would exceed 5 MB")
        store.items = after
        store.etag = new_etag()
        store.modified = time.time()
        return {**store.counts(), "ETag": store.etag}

    # --- operations ---------------------------------------------------------------------

    def describe(self, arn: str) -> dict[str, Any]:
        with self._lock:
            store = self._store(arn)
            return {**store.counts(), "KvsARN": arn, "Created": store.created, "LastModified": store.modified,
                    "Status": "READY", "ETag": store.etag}

    def get_key(self, arn: str, name: str) -> dict[str, Any]:
        with self._lock:
            if self.get_key_error:
                raise ApiError(500, "InternalServerException", "Internal server error (local fault)")
            store = self._store(arn)
            if name not in store.items:
                raise ApiError(404, "ResourceNotFoundException", "Key not found")
            return {"Key": name, "Value": store.items[name], **store.counts()}

    def put_key(self, arn: str, name: str, value: object, if_match: str | None) -> dict[str, Any]:
        changes: dict[str, str | None] = {_check_name(name): _check_value(value)}
        with self._lock:
            return self._write(self._store(arn), if_match, changes)

    def delete_key(self, arn: str, name: str, if_match: str | None) -> dict[str, Any]:
        with self._lock:
            store = self._store(arn)
            if name not in store.items:
                raise ApiError(404, "ResourceNotFoundException", "Key not found")
            return self._write(store, if_match, {name: None})

    def list_keys(self, arn: str, *, max_results: str | None, next_token: str | None) -> dict[str, Any]:
        try:
            limit = DEFAULT_PAGE if max_results is None else int(max_results)
        except ValueError as error:
            raise ApiError(400, "ValidationException", "MaxResults must be an integer") from error
        if not 1 <= limit <= MAX_PAGE:
            raise ApiError(400, "ValidationException", f"MaxResults must be 1 to {MAX_PAGE}")
        after = ""
        if next_token:
            try:
                after = base64.urlsafe_b64decode(next_token.encode()).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError) as error:
                raise ApiError(400, "ValidationException", "Invalid NextToken") from error
        with self._lock:
            store = self._store(arn)
            names = sorted(name for name in store.items if name > after)
            page = names[:limit]
            result: dict[str, Any] = {"Items": [{"Key": name, "Value": store.items[name]} for name in page]}
        if len(names) > limit:
            result["NextToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
        return result

    def update_keys(self, arn: str, body: dict[str, Any], if_match: str | None) -> dict[str, Any]:
        puts = body.get("Puts") or []
        deletes = body.get("Deletes") or []
        if not isinstance(puts, list) or not isinstance(deletes, list):
            raise ApiError(400, "ValidationException", "Puts and Deletes must be lists")
        if len(puts) + len(deletes) > MAX_UPDATE_NAMES:
            raise ApiError(400, "ValidationException", f"At most {MAX_UPDATE_NAMES} keys per UpdateKeys")
        if len(json.dumps(body).encode()) > MAX_UPDATE_BYTES:
            raise ApiError(400, "ValidationException", "The request payload exceeds 3 MB")
        changes: dict[str, str | None] = {}
        for item in puts:
            name = _check_name(item.get("Key") if isinstance(item, dict) else None)
            if name in changes:
                raise ApiError(400, "ValidationException", f"Key {name!r} appears more than once")
            changes[name] = _check_value(item.get("Value"))
        for item in deletes:
            name = _check_name(item.get("Key") if isinstance(item, dict) else None)
            if name in changes:
                raise ApiError(400, "ValidationException", f"Key {name!r} appears more than once")
            changes[name] = None
        with self._lock:
            return self._write(self._store(arn), if_match, changes)


def _segments(path: str) -> list[str]:
    """The path's segments, each percent-decoded once (an ARN's or a name's ``/`` arrives as ``%2F``)."""
    return [unquote(part) for part in path.split("/")[1:]]


def make_handler(stores: KeyValueStores, *, proxy_host: str = PROXY_HOST) -> type[BaseHTTPRequestHandler]:
    class Handler(LocalRequestHandler):
        server_version = "local-keyvaluestore"
        access_log = True

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, error: ApiError) -> None:
            self._send(error.status, {"__type": error.code, "Message": error.message},
                       {"x-amzn-ErrorType": error.code})

        def _target(self) -> tuple[str, str] | None:
            """(path, query) of the request, origin-form or (as a proxy) absolute-form for the
            service's host; None when it names any other host (never forwarded anywhere)."""
            target = self.path
            if target.startswith(("http://", "https://")):
                parts = urlsplit(target)
                host = (parts.hostname or "").lower()
                if not host.endswith("." + proxy_host):
                    return None
                return parts.path or "/", parts.query
            path, _, query = target.partition("?")
            return path, query

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                raise ApiError(400, "ValidationException", "The request payload is too large")
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return {}
            try:
                parsed = json.loads(raw)
            except ValueError as error:
                raise ApiError(400, "ValidationException", "The body is not JSON") from error
            if not isinstance(parsed, dict):
                raise ApiError(400, "ValidationException", "The body must be a JSON object")
            return parsed

        def _local(self, path: str) -> None:
            marker = {"X-Filegate-Local-Only": "true"}
            if self.command == "GET" and path in {"/", "/local/stores"}:
                self._send(200, {"local_only": True, "stores": {arn: stores.describe(arn) for arn in stores.arns()},
                                 "faults": {"get_key_error": stores.get_key_error}}, marker)
            elif self.command == "POST" and path == "/local/faults":
                body = self._body()
                stores.get_key_error = bool(body.get("get_key_error"))
                self._send(200, {"local_only": True, "faults": {"get_key_error": stores.get_key_error}}, marker)
            else:
                self._send(404, {"message": "Not Found"}, marker)

        def _handle(self) -> None:
            target = self._target()
            if target is None:
                self._send(403, {"message": "this proxy serves the local KeyValueStore only"})
                return
            path, query = target
            segments = _segments(path)
            try:
                if not segments or segments[0] != "key-value-stores":
                    self._local(path)
                    return
                authorization = self.headers.get("Authorization") or ""
                if not authorization:  # SigV4A is not verified, only required
                    raise ApiError(403, "AccessDeniedException", "Missing Authentication Token")
                stores.last_auth_scheme = authorization.split(" ", 1)[0]
                self._operation(segments[1:], dict(parse_qsl(query, keep_blank_values=True)))
            except ApiError as error:
                self._error(error)

        def _operation(self, parts: list[str], params: dict[str, str]) -> None:
            method = self.command
            if_match = self.headers.get("If-Match")
            result: dict[str, Any]
            if len(parts) == 1 and method == "GET":
                result = stores.describe(parts[0])
            elif len(parts) == 2 and parts[1] == "keys" and method == "GET":
                result = stores.list_keys(parts[0], max_results=params.get("MaxResults"),
                                          next_token=params.get("NextToken"))
            elif len(parts) == 2 and parts[1] == "keys" and method == "POST":
                result = stores.update_keys(parts[0], self._body(), if_match)
            elif len(parts) == 3 and parts[1] == "keys" and method == "GET":
                result = stores.get_key(parts[0], parts[2])
            elif len(parts) == 3 and parts[1] == "keys" and method == "PUT":
                result = stores.put_key(parts[0], parts[2], self._body().get("Value"), if_match)
            elif len(parts) == 3 and parts[1] == "keys" and method == "DELETE":
                result = stores.delete_key(parts[0], parts[2], if_match)
            else:
                raise ApiError(404, "UnknownOperationException", "Unknown operation")
            headers = {"ETag": result.pop("ETag")} if "ETag" in result else {}
            self._send(200, result, headers)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def do_CONNECT(self) -> None:  # HTTPS through the proxy: never (the endpoint is http)
            self._send(405, {"message": "CONNECT is not supported"})
            self.close_connection = True

    return Handler


def serve_in_thread(stores: KeyValueStores, port: int = 0) -> ThreadingHTTPServer:
    """Start a stand-in on 127.0.0.1 (a free port by default) in a daemon thread; for tests."""
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(stores))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="keyvaluestore",
                     daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    def handler_for(runtime: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
        return make_handler(KeyValueStores([runtime["revocation_store_arn"]]))

    return run_local_server(argv, name="local KeyValueStore", make_handler=handler_for)


if __name__ == "__main__":
    sys.exit(main())
