"""The local edge: what CloudFront does for filegate, in front of the local S3.

* ``api/*`` (docs/front-door.md, "The ``/api/*`` behaviour"): the seven methods CloudFront allows
  (GET, HEAD, OPTIONS, PUT, PATCH, POST, DELETE) are forwarded to the local API, uncached, with
  the viewer's headers and query string (``AllViewerExceptHostHeader``: Host is the origin's) plus
  the origin custom header ``x-origin-verify``, which replaces any viewer's header of that name.
  Its value is the distribution's own: read from the local (moto) CloudFront distribution's
  config, origin id ``api``, at most 2 s old, so that rotation's ``setSecret`` (an
  ``UpdateDistribution``) reaches the edge as it reaches CloudFront's edges. Before forwarding,
  the WebACL's ``ApiBodySize`` rule: a body over ``waf_api_max_body_bytes`` is blocked with 413
  and exactly the WebACL's JSON body (``filegate.domain.front_door.WAF_RESPONSES``). The API's
  answer is passed on with the response headers policy applied (below), plus the local-only
  ``X-Local-Origin-Verify`` (a SHA-256 prefix of the value sent, never the value). The managed rule
  groups and the rate rules are not emulated (local/README.md).
* Every other behaviour: ``GET``/``HEAD`` only (403 ``MethodNotAllowed`` otherwise, as for any
  method outside CloudFront's seven anywhere).
* ``public/*`` is served unsigned; every other path needs a valid signed URL or signed cookies
  from a key in the key group (``local.cloudfront_verify``), else a 403 with CloudFront's XML
  body. A local-only ``X-Local-Edge-Reason`` header says which check failed.
* The signed behaviours have the viewer-request function ``edge/revocation.js`` associated (the
  edge's deny list, docs/lifecycle.md): once the signature passes, the function runs, unchanged,
  in the local CloudFront Functions host (``local/edge_function.mjs``, reading the local
  KeyValueStore), and its answer is honoured: a generated response (403 ``AccessDenied`` for a
  revoked name) is sent as the function shaped it; a returned request goes on, with its ``uri``.
  A function that cannot run is CloudFront's 503 ``FunctionExecutionError``, never a pass.
  ``public/*`` has no function, as in the stack. Order: the signature first, then the function
  (CloudFront's documentation, as far as we found, states no order; the signed-URL check belongs to
  the behaviour CloudFront matches first). Both must pass and both refuse with 403, so the order
  only decides which body a refused viewer sees. The behaviour is
  chosen as CloudFront chooses it: on the path normalised per RFC 3986 (``behaviour_path``),
  while the origin gets the raw path and decodes it once. Only unreserved characters are
  decoded for matching, never ``%2F``: ``/public%2Fmarketing/x.png`` is not ``public/*`` and
  needs a signature (S3 would decode it to a public key); ``/pub%6Cic/marketing/x.png`` is.
* Objects are fetched from the bucket with the edge's own credentials, as Origin Access
  Control signs CloudFront's requests; the query string never reaches the origin (the cache
  policy forwards none). A missing object is S3's 403 (OAC may not list the bucket).
* The distribution's security headers (``stacks.edge_headers``) are added to every response, and
  the origin headers its response headers policy removes (``REMOVED_ORIGIN_HEADERS``: object
  metadata, SSE details, version ids...) are removed; no ``x-amz-meta-*`` header passes at all.

No cache, no WAF beyond ``ApiBodySize``, no TLS, no HTTP/2: see local/README.md. Run by ``python -m local``.
"""

from __future__ import annotations

import hashlib
import re
import string
import sys
import threading
import time
import uuid
from http.client import HTTPConnection, HTTPException, HTTPResponse
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from filegate.domain.front_door import API_STAGE, ORIGIN_VERIFY_HEADER, WAF_RESPONSES, waf_response_body
from local.cloudfront_verify import Denied, authorize, load_key_group, split_query
from local.edge_function import FunctionFailed, FunctionHost, FunctionResponse, viewer_request_event
from local.httpserver import LocalRequestHandler, run_local_server
from stacks.edge_headers import REMOVED_ORIGIN_HEADERS, SECURITY_HEADERS

#: The distribution's unsigned behaviour (stacks/constructs/delivery.py: PUBLIC_PATH_PATTERN).
PUBLIC_PREFIX = "public/"
PASSED_ORIGIN_HEADERS = (
    "Content-Type", "Content-Length", "Content-Range", "Content-Disposition", "Content-Encoding",
    "Content-Language", "Cache-Control", "Expires", "ETag", "Last-Modified", "Accept-Ranges",
)
_REMOVED = frozenset(name.lower() for name in REMOVED_ORIGIN_HEADERS)
CHUNK = 256 * 1024
#: The API behaviour (docs/front-door.md): path pattern ``api/*``, CloudFront's seven methods.
API_PREFIX = f"/{API_STAGE}/"
API_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"})
#: The distribution's origin for the API, carrying the origin-verify custom header.
API_ORIGIN_ID = "api"
#: How long the edge keeps the distribution's origin header before reading the config again.
ORIGIN_HEADER_MAX_AGE_SECONDS = 2.0
#: The origin's response timeout (CloudFront's default OriginReadTimeout: 30 s).
API_ORIGIN_TIMEOUT_SECONDS = 35.0
#: Hop-by-hop headers (RFC 9110 section 7.6.1): never forwarded either way.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "proxy-authenticate", "proxy-authorization"})
_SECURITY = frozenset(name.lower() for name in SECURITY_HEADERS)
#: The WebACL's answer to ``ApiBodySize`` (its CustomResponseBodies key).
API_BODY_TOO_LARGE = "api-body-too-large"
#: The WebACL's first rule (``BackendNotThroughCloudFront``): /backend/* only on execute-api.
BACKEND_PREFIX = f"{API_PREFIX}backend/"
API_BLOCKED = "api-blocked"
#: A refused body this size or smaller is read and dropped (keeping the connection); larger: closed.
DRAIN_LIMIT = 10 * 1024 * 1024
VIA = "1.1 local-edge (CloudFront)"
#: Local-only response header of the api/* behaviour: which origin-header value the edge sent (a
#: SHA-256 prefix, never the value), so that tests can see rotation reach the edge.
ORIGIN_FINGERPRINT_HEADER = "X-Local-Origin-Verify"


def origin_fingerprint(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_SLASHES = re.compile(r"/{2,}")
#: What a Content-Length and a chunk size may be (RFC 9112): digits, and hex digits (bounded).
CONTENT_LENGTH = re.compile(r"^[0-9]{1,12}\Z")
CHUNK_SIZE = re.compile(rb"^[0-9A-Fa-f]{1,8}\Z")


def behaviour_path(raw_path: str) -> str:
    """The path CloudFront compares with path patterns: "CloudFront normalizes URI paths
    consistent with RFC 3986 and then matches the path with the correct cache behavior. Once
    the cache behavior is matched, CloudFront sends the raw URI path to the origin" (Developer
    Guide, cache behavior settings, path pattern). RFC 3986 section 6.2.2: escapes of unreserved
    characters are decoded, other escapes (``%2F`` included) keep their meaning and get upper-case
    hex. Repeated slashes collapse (CloudFront's own step, not RFC 3986's). Dot segments never
    get here: the edge refuses them (400)."""
    def escape(match: re.Match[str]) -> str:
        character = chr(int(match.group(1), 16))
        return character if character in _UNRESERVED else f"%{match.group(1).upper()}"
    return _SLASHES.sub("/", _ESCAPE.sub(escape, raw_path))


def viewer_headers(origin: dict[str, str]) -> list[tuple[str, str]]:
    """The origin's headers a viewer gets: the standard ones above, and any other ``x-amz-*``
    header S3 sends (CloudFront passes them on) unless the response headers policy removes it.
    Exactly the distribution's list is removed, no more: a metadata name missing from it would
    reach viewers in AWS, so it must reach them here too, where the e2e tests look for it."""
    by_name = {name.lower(): value for name, value in origin.items()}
    passed = [(name, by_name[name.lower()]) for name in PASSED_ORIGIN_HEADERS if name.lower() in by_name]
    for name, value in by_name.items():
        if name.startswith("x-amz-") and name not in _REMOVED:
            passed.append((name, value))
    return passed


def xml_error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>").encode()


def origin_key(raw_path: str) -> str | None:
    """What S3 makes of the raw path (one percent-decoding), or None for a path the edge refuses
    (not absolute, empty, dot segments, NUL)."""
    if not raw_path.startswith("/") or raw_path.startswith("//"):
        return None
    key = unquote(raw_path[1:])
    if not key or any(part in {".", ".."} for part in key.split("/")) or "\x00" in key:
        return None
    return key


class OriginHeaderUnavailable(RuntimeError):
    """The distribution's config could not be read, or its ``api`` origin has no verify header."""


class OriginHeader:
    """The ``x-origin-verify`` value the distribution's ``api`` origin carries, read from the
    (moto) CloudFront API's ``GetDistributionConfig`` and kept at most ``max_age`` seconds."""

    def __init__(self, cloudfront: Any, distribution_id: str, *, max_age: float = ORIGIN_HEADER_MAX_AGE_SECONDS,
                 clock: Any = time.monotonic) -> None:
        self.cloudfront = cloudfront
        self.distribution_id = distribution_id
        self.max_age = max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._value: str | None = None
        self._read_at = float("-inf")

    def value(self) -> str:
        with self._lock:
            if self._value is None or self.clock() - self._read_at >= self.max_age:
                self._value = self._read()
                self._read_at = self.clock()
            return self._value

    def _read(self) -> str:
        try:
            config = self.cloudfront.get_distribution_config(Id=self.distribution_id)["DistributionConfig"]
        except Exception as error:  # no stale value: an edge without its config refuses to guess
            raise OriginHeaderUnavailable(f"GetDistributionConfig failed: {type(error).__name__}") from error
        for origin in config["Origins"]["Items"]:
            if origin["Id"] != API_ORIGIN_ID:
                continue
            for header in (origin.get("CustomHeaders") or {}).get("Items") or []:
                if header["HeaderName"].lower() == ORIGIN_VERIFY_HEADER:
                    return str(header["HeaderValue"])
        raise OriginHeaderUnavailable(f"origin {API_ORIGIN_ID!r} carries no {ORIGIN_VERIFY_HEADER} header")


class ApiOrigin:
    """Keep-alive connections to the local API, one per serving thread (as CloudFront keeps
    persistent origin connections)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.host_header = f"{self.host}:{self.port}"
        self._local = threading.local()

    def _connection(self, fresh: bool) -> tuple[HTTPConnection, bool]:
        connection: HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and not fresh:
            return connection, True
        if connection is not None:
            connection.close()
        connection = HTTPConnection(self.host, self.port, timeout=API_ORIGIN_TIMEOUT_SECONDS)
        self._local.connection = connection
        return connection, False

    def request(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> HTTPResponse:
        """Send one request; a kept-alive connection the origin closed meanwhile is retried once
        on a new one (nothing reached the origin then)."""
        connection, reused = self._connection(fresh=False)
        for attempt in (1, 2):
            try:
                connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    connection.putheader(name, value)
                connection.endheaders(body or None)
                return connection.getresponse()
            except (ConnectionError, HTTPException, OSError):
                connection.close()
                if attempt == 2 or not reused:
                    raise
                connection, reused = self._connection(fresh=True)
        raise AssertionError("unreachable")

    def discard(self) -> None:
        connection: HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


class Edge:
    def __init__(self, runtime: dict[str, Any]) -> None:
        self.bucket = runtime["bucket"]
        self.key_group = load_key_group(runtime["key_group"])
        #: The viewer-request function of the signed behaviours (None: not associated locally).
        function_url = runtime.get("edge_function")
        self.function = FunctionHost(function_url) if function_url else None
        self.distribution_id = str(runtime.get("distribution_id") or "ELOCALEDGE")
        self.s3 = boto3.session.Session().client(
            "s3", endpoint_url=runtime["s3"], region_name=runtime["region"],
            aws_access_key_id=runtime["edge_access_key"], aws_secret_access_key=runtime["edge_secret_key"],
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          max_pool_connections=32, retries={"mode": "standard", "max_attempts": 2}),
        )
        #: The API behaviour: its origin, the distribution's origin header, the WebACL's body limit.
        self.api_origin = ApiOrigin(str(runtime["api_origin"]))
        cloudfront = boto3.session.Session().client(
            "cloudfront", endpoint_url=runtime["aws"], region_name=runtime["region"],
            aws_access_key_id=runtime["edge_access_key"], aws_secret_access_key=runtime["edge_secret_key"],
            config=Config(retries={"mode": "standard", "max_attempts": 2}))
        self.origin_header = OriginHeader(cloudfront, self.distribution_id)
        self.api_max_body_bytes = int(runtime["waf_api_max_body_bytes"])


def make_handler(edge: Edge) -> type[BaseHTTPRequestHandler]:
    class Handler(LocalRequestHandler):
        server_version = "CloudFront-local"
        access_log = True

        def _common_headers(self) -> None:
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.send_header("Via", VIA)

        def _refuse(self, status: int, code: str, message: str, reason: str) -> None:
            body = xml_error(code, message)
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Local-Edge-Reason", reason)
            self.send_header("X-Cache", "Error from cloudfront")
            self._common_headers()
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _method_not_allowed(self) -> None:
            self._drain_body()
            self._refuse(403, "MethodNotAllowed",
                         "This distribution is not configured to allow the HTTP request method that was used "
                         "for this request. The distribution supports only cachable requests.", "method")

        def __getattr__(self, name: str) -> Any:
            # Every method reaches one dispatcher (http.server would answer a method it has no
            # ``do_<METHOD>`` for with its own 501 page): the behaviour decides.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

        def _dispatch(self) -> None:
            raw_path, _, raw_query = self.path.partition("?")
            api = behaviour_path(raw_path).startswith(API_PREFIX)
            if self.command not in (API_METHODS if api else {"GET", "HEAD"}):
                self._method_not_allowed()
                return
            key = origin_key(raw_path)
            if key is None:
                self._drain_and_refuse_path()
            elif api:
                self._api()
            else:
                self._serve(raw_path, raw_query, key)

        def _drain_and_refuse_path(self) -> None:
            self._drain_body()
            self._refuse(400, "InvalidURI", "Bad request", "bad-path")

        # --- the api/* behaviour ----------------------------------------------------------------

        def _api(self) -> None:
            if behaviour_path(unquote(self.path.partition("?")[0])).startswith(BACKEND_PREFIX):
                # BackendNotThroughCloudFront, before anything else (the WebACL decodes the path)
                self._drain_body()
                self._waf_block(API_BLOCKED)
                return
            body = self._api_body()
            if body is None:  # ApiBodySize blocked it (answered)
                return
            try:
                verify = edge.origin_header.value()
            except OriginHeaderUnavailable as error:
                print(f"api behaviour: {error}", file=sys.stderr, flush=True)
                self._refuse(502, "OriginError", "Bad gateway", "origin-header")
                return
            headers: list[tuple[str, str]] = [("Host", edge.api_origin.host_header)]
            forwarded_for = self.client_address[0]
            # Headers the viewer's Connection header names are hop-by-hop too (RFC 9110, 7.6.1)
            named = {token.strip().lower() for token in (self.headers.get("Connection") or "").split(",")}
            for name, value in self.headers.items():
                lowered = name.lower()
                # (Expect: 100-continue is the edge's to answer, as CloudFront does, not the origin's)
                if lowered in HOP_BY_HOP or lowered in named or lowered in {
                        "host", "content-length", "expect", ORIGIN_VERIFY_HEADER}:
                    continue
                if lowered == "x-forwarded-for":
                    forwarded_for = f"{value}, {forwarded_for}"
                    continue
                headers.append((name, value))
            headers += [("X-Forwarded-For", forwarded_for), ("Via", VIA),
                        ("X-Amz-Cf-Id", uuid.uuid4().hex), (ORIGIN_VERIFY_HEADER, verify)]
            if body or self.command not in {"GET", "HEAD", "DELETE", "OPTIONS"}:
                headers.append(("Content-Length", str(len(body))))
            try:
                response = edge.api_origin.request(self.command, self.path, headers, body)
            except (ConnectionError, HTTPException, OSError) as error:
                print(f"api behaviour: origin failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
                self._refuse(502, "OriginError", "Bad gateway", "origin-unreachable")
                return
            self._api_response(response, verify)

        def _drain_body(self) -> None:
            """Read a small declared body (so the connection stays usable), else close after answering."""
            length = self.headers.get("Content-Length")
            if length is not None and CONTENT_LENGTH.match(length) and int(length) <= DRAIN_LIMIT:
                self.rfile.read(int(length))
            elif length is not None or self.headers.get("Transfer-Encoding"):
                self.close_connection = True

        def _bad_request(self, reason: str) -> None:
            """A request the edge cannot read (framing): 400, and the connection is not reused."""
            self.close_connection = True
            self._refuse(400, "InvalidRequest", "Bad request", reason)

        def _api_body(self) -> bytes | None:
            """The viewer's body (Content-Length or chunked), or None once answered: ``ApiBodySize``
            refused it (the WebACL inspects the body before CloudFront forwards anything), the
            framing is unreadable (400), or a GET/HEAD carries one (CloudFront answers 403)."""
            limit = edge.api_max_body_bytes
            encoding = self.headers.get("Transfer-Encoding")
            length_header = self.headers.get("Content-Length")
            if encoding is not None:
                if encoding.strip().lower() != "chunked":
                    self._bad_request("transfer-encoding")
                    return None
                body, outcome = self._read_chunked(limit)
            elif length_header is not None:
                if not CONTENT_LENGTH.match(length_header):
                    self._bad_request("content-length")
                    return None
                length = int(length_header)
                if length > limit:
                    self._drain_body()
                    body, outcome = b"", "too-large"
                else:
                    body = self.rfile.read(length) if length else b""
                    outcome = "ok" if len(body) == length else "malformed"
            else:
                body, outcome = b"", "ok"
            if outcome == "malformed":
                self._bad_request("body-framing")
                return None
            if outcome == "too-large":
                self.close_connection = True
                self._waf_block(API_BODY_TOO_LARGE)
                return None
            if body and self.command in {"GET", "HEAD"}:
                # "If a viewer GET request includes a body, CloudFront returns an HTTP status code 403
                # (Forbidden) to the viewer" (Developer Guide, custom origins).
                self._refuse(403, "Forbidden", "A GET request with a body is not allowed", "get-with-body")
                return None
            return body

        def _read_chunked(self, limit: int) -> tuple[bytes, str]:
            """A chunked body, up to ``limit`` bytes: (body, "ok"), or (partial, "too-large") past it,
            or (partial, "malformed") for a size line that is not hex digits or a body cut short."""
            body = bytearray()
            while True:
                size_line = self.rfile.readline(1024)
                size_text = size_line.split(b";", 1)[0].strip()
                if not CHUNK_SIZE.match(size_text):
                    return bytes(body), "malformed"
                size = int(size_text, 16)
                if size == 0:
                    while (trailer := self.rfile.readline(1024)) not in {b"\r\n", b"\n"}:
                        if not trailer:
                            return bytes(body), "malformed"  # the stream ended before the last CRLF
                    return bytes(body), "ok"
                if len(body) + size > limit:
                    return bytes(body), "too-large"
                chunk = self.rfile.read(size)
                if len(chunk) != size or self.rfile.readline(1024) not in {b"\r\n", b"\n"}:
                    return bytes(body), "malformed"
                body += chunk

        def _waf_block(self, key: str) -> None:
            """A WebACL block with a custom response: its status and JSON body, exactly."""
            body = waf_response_body(key).encode()
            self.send_response(WAF_RESPONSES[key].status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Cache", "Error from cloudfront")
            self.send_header("X-Local-Edge-Reason", "waf")
            self._common_headers()
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _api_response(self, response: HTTPResponse, verify: str) -> None:
            """The API's answer, with the response headers policy applied: its security headers
            (overriding the origin's), the removed origin headers gone; no cache."""
            length = response.getheader("Content-Length")
            data: bytes | None = None
            if length is None and self.command != "HEAD":
                data = response.read()  # not length-delimited: buffered, then sent with a length
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                lowered = name.lower()
                if lowered in HOP_BY_HOP or lowered in _REMOVED or lowered in _SECURITY:
                    continue
                if lowered in {"content-length", "server", "date", "via", "x-cache"}:
                    continue
                self.send_header(name, value)
            if data is not None:
                self.send_header("Content-Length", str(len(data)))
            elif length is not None:
                self.send_header("Content-Length", length)
            self.send_header("X-Cache", "Miss from cloudfront")
            self.send_header(ORIGIN_FINGERPRINT_HEADER, origin_fingerprint(verify))
            self._common_headers()
            self.end_headers()
            complete = False
            try:
                if self.command != "HEAD":
                    if data is not None:
                        self.wfile.write(data)
                    else:
                        while chunk := response.read(CHUNK):
                            self.wfile.write(chunk)
                complete = True
            finally:
                if response.will_close or not complete:  # a half-read answer spoils the connection
                    edge.api_origin.discard()
                response.close()

        # --- the file behaviours ----------------------------------------------------------------

        def _serve(self, raw_path: str, raw_query: str, key: str) -> None:
            # The behaviour comes from the normalised path, as CloudFront matches ``public/*``;
            # the key is what S3 makes of the raw path (one percent-decoding).
            if not behaviour_path(raw_path).startswith("/" + PUBLIC_PREFIX):
                try:
                    query, signing = split_query(raw_query)
                    host = self.headers.get("Host", "")
                    url = f"http://{host}{raw_path}" + (f"?{query}" if query else "")
                    authorize(url=url, signing=signing, cookies=self._cookies(),
                              key_group=edge.key_group, now=time.time(), source_ip=self.client_address[0])
                except Denied as denied:
                    self._refuse(403, denied.code, denied.message, denied.reason)
                    return
                if edge.function is not None:
                    function_key = self._viewer_request_function(raw_path, raw_query)
                    if function_key is None:
                        return
                    key = function_key
            self._from_origin(key)

        def _viewer_request_function(self, raw_path: str, raw_query: str) -> str | None:
            """Run the behaviour's function; the key to fetch, or None once a response was sent."""
            assert edge.function is not None
            event = viewer_request_event(
                method=self.command, raw_path=raw_path, raw_query=raw_query, headers=list(self.headers.items()),
                cookies=self._cookies(), viewer_ip=self.client_address[0], distribution_id=edge.distribution_id,
                domain_name=self.headers.get("Host", "127.0.0.1"))
            try:
                result = edge.function.run(event)
            except FunctionFailed as error:
                print(f"viewer-request function failed: {error}", file=sys.stderr, flush=True)
                self._refuse(503, "FunctionExecutionError", "The CloudFront function associated with the CloudFront "
                             "distribution is invalid or could not run.", "function-failed")
                return None
            if result.response is not None:
                self._function_response(result.response)
                return None
            assert result.request is not None
            key = origin_key(str(result.request["uri"]))
            if key is None:
                self._refuse(400, "InvalidURI", "Bad request", "bad-path")
            return key

        def _function_response(self, response: FunctionResponse) -> None:
            """A response the function generated, as the function shaped it, plus the security
            headers; ``X-Local-Edge-Reason: function`` (local only) says who refused."""
            self.send_response(response.status)
            sent = {name.lower() for name, _ in response.headers}
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("X-Cache", "FunctionGeneratedResponse from cloudfront")
            self.send_header("X-Local-Edge-Reason", "function")
            for name, value in SECURITY_HEADERS.items():
                if name.lower() not in sent:
                    self.send_header(name, value)
            self.send_header("Via", VIA)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def _cookies(self) -> dict[str, str]:
            cookie = SimpleCookie()
            try:
                cookie.load(self.headers.get("Cookie", ""))
            except CookieError:
                return {}
            return {name: morsel.value for name, morsel in cookie.items()}

        def _origin_error(self, error: ClientError) -> None:
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 502)
            code = str(error.response.get("Error", {}).get("Code") or "")
            if status in {403, 404} or code in {"NoSuchKey", "NotFound", "AccessDenied"}:
                # The bucket policy grants CloudFront s3:GetObject only (no s3:ListBucket), so
                # S3 answers a missing key with 403, not 404; radosgw does the same.
                self._refuse(403, "AccessDenied", "Access Denied", "origin-denied")
            elif status == 416:
                self._refuse(416, "InvalidRange", "The requested range is not satisfiable", "origin-range")
            else:
                self._refuse(502, "OriginError", "Bad gateway", f"origin-{status}")

        def _from_origin(self, key: str) -> None:
            arguments: dict[str, Any] = {"Bucket": edge.bucket, "Key": key}
            if self.headers.get("Range"):
                arguments["Range"] = self.headers["Range"]
            response: Any
            try:
                if self.command == "HEAD":
                    response = edge.s3.head_object(**arguments)
                else:
                    response = edge.s3.get_object(**arguments)
            except ClientError as error:
                self._origin_error(error)
                return
            headers = response["ResponseMetadata"]["HTTPHeaders"]
            self.send_response(int(response["ResponseMetadata"]["HTTPStatusCode"]))
            for name, value in viewer_headers(headers):
                self.send_header(name, value)
            self.send_header("X-Cache", "Miss from cloudfront")
            self._common_headers()
            self.end_headers()
            if self.command == "HEAD":
                return
            body = response["Body"]
            try:
                while chunk := body.read(CHUNK):
                    self.wfile.write(chunk)
            finally:
                body.close()

    return Handler


def main(argv: list[str] | None = None) -> int:
    return run_local_server(argv, name="local edge", make_handler=lambda runtime: make_handler(Edge(runtime)))


if __name__ == "__main__":
    sys.exit(main())
