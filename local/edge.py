"""The local edge: what CloudFront does for filegate, in front of the local S3.

* ``GET``/``HEAD`` only (the distribution allows nothing else).
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

No cache, no WAF, no TLS, no HTTP/2: see local/README.md. Run by ``python -m local``.
"""

from __future__ import annotations

import re
import string
import sys
import time
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

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
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_SLASHES = re.compile(r"/{2,}")


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


def make_handler(edge: Edge) -> type[BaseHTTPRequestHandler]:
    class Handler(LocalRequestHandler):
        server_version = "CloudFront-local"
        access_log = True

        def _common_headers(self) -> None:
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.send_header("Via", "1.1 local-edge (CloudFront)")

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
            length = int(self.headers.get("Content-Length") or 0)
            if 0 < length <= 10 * 1024 * 1024:
                self.rfile.read(length)
            elif length:
                self.close_connection = True
            self._refuse(403, "MethodNotAllowed",
                         "This distribution is not configured to allow the HTTP request method that was used "
                         "for this request. The distribution supports only cachable requests.", "method")

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _method_not_allowed

        def do_HEAD(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            raw_path, _, raw_query = self.path.partition("?")
            key = origin_key(raw_path)
            if key is None:
                self._refuse(400, "InvalidURI", "Bad request", "bad-path")
                return
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
            self.send_header("Via", "1.1 local-edge (CloudFront)")
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
