"""Every API response the end-to-end tests receive, checked against docs/openapi.json.

``conftest.py`` installs one ``ContractCheck`` for the session: ``requests.Session.send`` is
wrapped so that every response whose URL is under ``{api}`` (the edge's ``/api``) or
``{backend_api}`` (the local API's stage) is validated, and the browser tests hand it their
Playwright responses (``watch_page``). What is checked, by kind of answer:

* ``operation``: the path (stage-relative, ``/files/{file_id}``) and method are in the document:
  openapi-core validates the response against that operation (the status code must be declared,
  or a ``default``; the body must match the schema of that status and content type; declared
  response headers too).
* ``gateway``: no such path or method in the document (a deliberate TRACE, an unknown route):
  API Gateway's own answer, validated against ``components.schemas.GatewayMessage`` with a status
  API Gateway sends (``filegate.domain.front_door.GATEWAY_MESSAGES``).
* ``preflight``: a CORS preflight (``OPTIONS`` with ``Access-Control-Request-Method``), which API
  Gateway answers from its CORS setting and the document does not describe: 204, empty body.
* ``edge``: a refusal CloudFront itself generates (``X-Cache: Error from cloudfront``, XML body),
  such as ``MethodNotAllowed`` for a method outside the behaviour's seven: an XML ``<Error>``.

Nothing is loosened to make a response pass: a failure names the route, status and body.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from filegate.domain.front_door import GATEWAY_MESSAGES

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
#: The server every operation is matched under here: the tests strip the real base first.
CHECK_HOST = "http://openapi.invalid"
#: A synthetic operation whose only response is API Gateway's ``GatewayMessage``.
GATEWAY_PATH = "/__api_gateway_message__"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass
class CheckRequest:
    """openapi-core's Request protocol for one request the tests sent."""

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None


@dataclass
class CheckResponse:
    """openapi-core's Response protocol for one response the tests received."""

    status_code: int
    content_type: str
    headers: Headers
    data: bytes | None


@dataclass
class Checked:
    kind: str
    method: str
    url: str
    status: int
    error: str | None = None


@dataclass
class ContractCheck:
    document: dict[str, Any]
    bases: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    used: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        spec = copy.deepcopy(self.document)
        # The real bases differ (the edge's /api, the local API's stage, the execute-api URL the
        # backend paths name): the tests match operations on the stage-relative path instead.
        spec["servers"] = [{"url": CHECK_HOST}]
        for item in spec.get("paths", {}).values():
            item.pop("servers", None)
            for method in HTTP_METHODS:
                if isinstance(item.get(method), dict):
                    item[method].pop("servers", None)
        schemas = spec.get("components", {}).get("schemas", {})
        if "GatewayMessage" not in schemas:
            raise RuntimeError(f"{DOCUMENT}: components.schemas.GatewayMessage is missing (docs/front-door.md)")
        spec["paths"][GATEWAY_PATH] = {"get": {"responses": {"default": {
            "description": "API Gateway's own answer",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayMessage"}}}}}}}
        self.openapi = OpenAPI.from_dict(spec)
        self.templates: list[tuple[re.Pattern[str], str, set[str]]] = []
        for path, item in self.document.get("paths", {}).items():
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
            self.templates.append((re.compile(f"^{regex}$"), path, {m for m in HTTP_METHODS if m in item}))

    @classmethod
    def load(cls, path: Path = DOCUMENT) -> ContractCheck:
        return cls(json.loads(path.read_text()))

    def register(self, *bases: str) -> None:
        self.bases = [base.rstrip("/") for base in bases]

    def base_of(self, url: str) -> str | None:
        for base in self.bases:
            if url.startswith(base + "/") or url.startswith(base + "?"):
                return base
        return None

    # --- one response ---------------------------------------------------------------------------

    def check(self, *, method: str, url: str, request_headers: Mapping[str, str], request_body: bytes | None,
              status: int, headers: Mapping[str, str] | list[tuple[str, str]], body: bytes) -> Checked | None:
        """Validate one exchange under a registered base (None: not an API URL). A failure is
        recorded (the session fails) and returned."""
        base = self.base_of(url)
        if base is None:
            return None
        response_headers = Headers(list(headers.items()) if isinstance(headers, Mapping) else headers)
        lowered_request = {name.lower(): value for name, value in request_headers.items()}
        parts = urlsplit(url)
        path = parts.path[len(urlsplit(base).path):] or "/"
        kind, error = "operation", None
        try:
            if method.upper() == "OPTIONS" and "access-control-request-method" in lowered_request:
                kind, error = "preflight", _preflight_error(status, body)
            elif ("error from cloudfront" in (response_headers.get("X-Cache") or "").lower()
                  and "xml" in (response_headers.get("Content-Type") or "")):
                kind, error = "edge", _edge_error(status, body)
            else:
                template = self._operation(method, path)
                if template is None:
                    kind = "gateway"
                    error = self._gateway_error(method, status, response_headers, body)
                else:
                    error = self._operation_error(method, path, query=parts.query, request_headers=lowered_request,
                                                  request_body=request_body, status=status,
                                                  headers=response_headers, body=body)
        except Exception as unexpected:  # the checker itself failing must fail loudly too
            error = f"{type(unexpected).__name__}: {unexpected}"
        result = Checked(kind=kind, method=method.upper(), url=url, status=status, error=error)
        with self._lock:
            self.counts[kind] += 1
            if error is not None:
                self.failures.append(f"{method.upper()} {path} (under {base}) -> {status}: {error}\n"
                                     f"    body: {body[:400]!r}")
        return result

    def _operation(self, method: str, path: str) -> str | None:
        for regex, template, methods in self.templates:
            if regex.match(path) and method.lower() in methods:
                return template
        return None

    def _operation_error(self, method: str, path: str, *, query: str, request_headers: dict[str, str],
                         request_body: bytes | None, status: int, headers: Headers, body: bytes) -> str | None:
        request = CheckRequest(
            host_url=CHECK_HOST, path=path, method=method.lower(),
            parameters=RequestParameters(query=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)),
                                         header=Headers(list(request_headers.items())), cookie=ImmutableMultiDict()),
            content_type=(request_headers.get("content-type") or "").lower(), body=request_body)
        response = CheckResponse(status_code=status, content_type=(headers.get("Content-Type") or "").lower(),
                                 headers=headers, data=body if method.upper() != "HEAD" else None)
        try:
            self.openapi.validate_response(request, response)
        except Exception as error:
            return _describe(error)
        return None

    def _gateway_error(self, method: str, status: int, headers: Headers, body: bytes) -> str | None:
        if status not in GATEWAY_MESSAGES:
            return f"no such operation in the document, and {status} is no status API Gateway answers with"
        if method.upper() == "HEAD":  # no body to check; API Gateway's answer is still JSON
            content_type = headers.get("Content-Type") or ""
            return None if content_type.startswith("application/json") else f"HEAD answered {content_type!r}"
        request = CheckRequest(host_url=CHECK_HOST, path=GATEWAY_PATH, method="get",
                               parameters=RequestParameters(), content_type="", body=None)
        response = CheckResponse(status_code=status, content_type=(headers.get("Content-Type") or "").lower(),
                                 headers=headers, data=body)
        try:
            self.openapi.validate_response(request, response)
        except Exception as error:
            return "not a GatewayMessage: " + _describe(error)
        return None

    # --- the session's verdict ----------------------------------------------------------------

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.counts.items())) or "none"
        return (f"OpenAPI contract ({DOCUMENT.name}): {self.total} API responses validated ({kinds}); "
                f"{len(self.failures)} failed")


def _describe(error: Exception) -> str:
    """openapi-core's error, reduced to what is wrong: the schema errors nested in its causes, or
    the innermost message."""
    messages: list[str] = []
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 10:
        chain.append(current)
        for nested in getattr(current, "schema_errors", None) or []:
            path = "/".join(str(part) for part in getattr(nested, "absolute_path", []) or [])
            messages.append(f"{path or '(body)'}: {getattr(nested, 'message', nested)}")
        current = current.__cause__ or current.__context__
    if messages:
        return f"{type(error).__name__}: " + "; ".join(dict.fromkeys(messages))
    return f"{type(chain[-1]).__name__}: {chain[-1]}"


def _preflight_error(status: int, body: bytes) -> str | None:
    if status != 204 or body:
        return f"a CORS preflight answered {status} with {len(body)} body bytes (API Gateway: 204, empty)"
    return None


def _edge_error(status: int, body: bytes) -> str | None:
    if status not in {400, 403, 405, 502, 503} or not re.search(rb"<Error><Code>[A-Za-z]+</Code>", body):
        return f"an edge-generated refusal that is not CloudFront's XML error ({status})"
    return None
