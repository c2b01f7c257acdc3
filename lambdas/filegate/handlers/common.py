"""What the API handlers share: Powertools objects, identities, errors, audit, metrics.

Request flow: ``serve`` normalises the event (so that no body or header a client can send
reaches Powertools in a shape it would answer with a 5xx), records the request's audit
context, checks the front door (docs/front-door.md: a user route needs CloudFront's
``x-origin-verify`` header, compared with the origin secret's accepted values before the body
is parsed; 403 ``origin_not_verified`` otherwise) and resolves. The stage (``api``) is never
part of a path this module looks at: the channel comes from ``requestContext.routeKey``, the
action and the audited route from the stage-stripped path, as Powertools routes.

Routes raise ``Refusal`` (domain), ``SignerUnavailable``, ``FilesTableUnavailable`` or a
``LifecycleUnavailable`` (adapters); the exception handlers here turn them into
``{"error": {"code", "message"}}`` responses, and write exactly one audit record and one metric
per request, mint or refusal.

The query string reaches no route through Powertools: ``serve`` parses ``rawQueryString``
itself (strictly: UTF-8, no repeated name) and routes read the result with ``query(...)``,
naming the parameters they take; anything else is 400 ``invalid_request`` (``invalid_query``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl

from aws_lambda_powertools import Tracer

from filegate.adapters.files_table import FilesTableUnavailable
from filegate.adapters.origin_secret import OriginSecretUnavailable
from filegate.adapters.signer import SignerUnavailable
from filegate.adapters.unavailable import LifecycleUnavailable
from filegate.domain.errors import HTTP_STATUS, ErrorCode, Reason, Refusal
from filegate.domain.front_door import ORIGIN_VERIFY_HEADER
from filegate.domain.groups import GroupsClaim, groups_from_claim
from filegate.domain.identity import Identity
from filegate.domain.principals import principal_allowed
from filegate.handlers.models import OnBehalfOf
from filegate.handlers.observability import SERVICE, entry_point, error_frames, logger, metrics, request_log
from filegate.handlers.routing import InvalidBody, Response, RouteNotFound, Router, http_response
from filegate.settings import Settings

#: Patches botocore only (not Powertools' default ``patch_all``: nothing else here talks to the network),
#: so that each AWS call is a subsegment of Lambda's own segment.
tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE, patch_modules=["botocore"])

AuditAction = Literal["upload", "download", "cookies", "file", "list", "delete", "revoke", "erasure"]
#: Actions that mint something (a presigned POST, a signed URL or cookies); ``file`` only reads.
MINTING_ACTIONS: frozenset[str] = frozenset({"upload", "download", "cookies"})
#: Actions that change what is stored or served (on any method but GET).
CHANGING_ACTIONS: frozenset[str] = frozenset({"delete", "revoke", "erasure"})
MAX_QUERY_LENGTH = 2048
Channel = Literal["user", "backend"]
JSON_HEADERS = {"Cache-Control": "no-store", "Content-Type": "application/json"}
_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_MAX_AUDIT_TEXT = 256
#: A ``routeKey`` as API Gateway writes it: ``POST /backend/uploads``, ``GET /files/{file_id}``.
_ROUTE_KEY = re.compile(r"^[A-Z]{3,7} (/[^\s]*)$")
BACKEND_PREFIX = "/backend/"


class OriginVerifier(Protocol):
    """What the front door check needs (``filegate.adapters.origin_secret.OriginSecret``)."""

    def accepts(self, presented: str | None) -> bool: ...


@dataclass(slots=True)
class RequestAudit:
    """Who asked for what; filled in as the request is understood, logged once at the end."""

    action: AuditAction | None
    channel: Channel
    route: str
    source_ip: str | None
    request_id: str | None
    #: ``x-forwarded-for`` as received (behind CloudFront ``source_ip`` is the edge's address).
    forwarded_for: str | None = None
    principal: str | None = None
    identity: Identity | None = None
    rule: str | None = None
    key: str | None = None
    expires_at: int | None = None
    ip_range: str | None = None
    starts_at: int | None = None
    method: str = "?"
    #: Lifecycle fields (docs/lifecycle.md), null when not applicable.
    file_id: str | None = None
    owner_sub: str | None = None
    owner_org_id: str | None = None
    viewer_sub: str | None = None
    viewer_org_id: str | None = None
    grant_reason: str | None = None
    erasure_id: str | None = None
    written: bool = field(default=False)


_current: ContextVar[RequestAudit | None] = ContextVar("filegate_request_audit", default=None)
#: The request's query parameters, or the refusal parsing them raised (kept until a route asks).
_query: ContextVar[dict[str, str] | Refusal | None] = ContextVar("filegate_request_query", default=None)


def current_audit() -> RequestAudit:
    audit = _current.get()
    if audit is None:  # only when a route is called outside ``serve`` (a programming error)
        raise RuntimeError("no request in progress")
    return audit


def new_resolver() -> Router:
    """A handler module's router (``filegate.handlers.routing``); ``serve`` shapes its every failure."""
    return Router()


# --- identities -------------------------------------------------------------------------------

def _mapping(value: object, *path: str) -> dict[str, Any]:
    for name in path:
        if not isinstance(value, dict):
            return {}
        value = value.get(name)
    return value if isinstance(value, dict) else {}


def _verified_sub(claims: dict[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= 256 or _PRINTABLE.search(sub):
        raise Refusal(Reason.NO_IDENTITY, "no verified identity: a valid access token is required")
    return sub


def jwt_identity(event: dict[str, Any], groups_claim: GroupsClaim) -> Identity:
    """The caller's verified claims, from the HTTP API's JWT authorizer; 401 without them.

    Groups come from the one configured claim only (``filegate.domain.groups`` says why the
    format matters); a claim that cannot be read unambiguously refuses the request (403).
    """
    claims = _mapping(event, "requestContext", "authorizer", "jwt", "claims")
    sub = _verified_sub(claims)
    groups = groups_from_claim(claims.get(groups_claim.name), groups_claim.format)
    strings = {name: value for name, value in claims.items()
               if isinstance(name, str) and isinstance(value, str) and name != groups_claim.name}
    return Identity(sub=sub, groups=groups, claims=strings)


def backend_principal(event: dict[str, Any]) -> str:
    """The IAM caller of a ``/backend/`` route (API Gateway verified its SigV4 signature)."""
    iam = _mapping(event, "requestContext", "authorizer", "iam")
    arn = iam.get("userArn") or iam.get("callerId")
    if not isinstance(arn, str) or not arn:
        raise Refusal(Reason.NO_IDENTITY, "backend routes require IAM authorization")
    return arn


def allowed_backend_principal(event: dict[str, Any], allowed_roles: Sequence[str]) -> str:
    """The IAM caller, when its ``userArn`` is a listed role or a session of one; else 403."""
    principal = backend_principal(event)  # 401 without IAM authorization at all
    user_arn = _mapping(event, "requestContext", "authorizer", "iam").get("userArn")
    if not isinstance(user_arn, str) or not principal_allowed(user_arn, allowed_roles):
        raise Refusal(Reason.BACKEND_NOT_ALLOWED, "this IAM principal may not call the backend routes")
    return principal


def backend_identity(event: dict[str, Any], on_behalf_of: OnBehalfOf, allowed_roles: Sequence[str]) -> Identity:
    principal = allowed_backend_principal(event, allowed_roles)
    claims = {"sub": on_behalf_of.sub}
    if on_behalf_of.org_id is not None:
        claims["org_id"] = on_behalf_of.org_id
    return Identity(sub=on_behalf_of.sub, groups=frozenset(on_behalf_of.groups), claims=claims, principal=principal)


def identify(event: dict[str, Any], settings: Settings, on_behalf_of: OnBehalfOf | None = None) -> Identity:
    """The identity the rules are evaluated for, recorded in the request's audit context.

    From the token's claims, groups read from the configured claim (``settings.groups``); with
    ``on_behalf_of`` (the ``/backend/`` routes) the IAM caller must be one of
    ``settings.backend_principals``; none listed means none allowed.
    """
    audit = current_audit()
    if on_behalf_of is not None:
        identity = backend_identity(event, on_behalf_of, settings.backend_principals)
    else:
        identity = jwt_identity(event, settings.groups)
    audit.identity = identity
    return identity


def identify_reader(event: dict[str, Any], settings: Settings) -> Identity:
    """The token's caller (401 without one) on a route about a file: a groups claim that cannot
    be read is 404 ``no such file`` there, not 403, so that no answer says whether a file exists."""
    try:
        return identify(event, settings)
    except Refusal as refusal:
        if refusal.code is ErrorCode.UNAUTHENTICATED:
            raise
        raise Refusal(Reason.NO_SUCH_FILE, "no such file") from refusal


def audited_backend_principal(event: dict[str, Any], allowed_roles: Sequence[str]) -> str:
    """The allowed IAM caller of a ``/backend/`` route (``allowed_backend_principal``), recorded in
    the request's audit."""
    principal = allowed_backend_principal(event, allowed_roles)
    current_audit().principal = principal
    return principal


# --- responses, audit, metrics ----------------------------------------------------------------

def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) <= _MAX_AUDIT_TEXT and text.isascii() and text.isprintable():
        return text  # the common case, as the substitution below would leave it
    cleaned = _PRINTABLE.sub("?", text)
    return cleaned if len(cleaned) <= _MAX_AUDIT_TEXT else cleaned[:_MAX_AUDIT_TEXT] + "..."


def _clean_text(text: str | None) -> str | None:
    """Free text (a grant's reason) kept in any script; only unprintable characters replaced."""
    if text is None:
        return None
    cleaned = "".join(char if char.isprintable() else "?" for char in text)
    return cleaned if len(cleaned) <= _MAX_AUDIT_TEXT else cleaned[:_MAX_AUDIT_TEXT] + "..."


def _event(audit: RequestAudit) -> str:
    if audit.action in MINTING_ACTIONS:
        return "mint"
    if audit.action in CHANGING_ACTIONS and audit.method != "GET":
        return "change"
    return "read"


def audit_record(audit: RequestAudit, status: int, *, reason: Reason | None = None,
                 code: ErrorCode | None = None) -> dict[str, Any]:
    """The request's audit record (fixed field names, text cleaned and bounded)."""
    identity = audit.identity
    kind = _event(audit) if audit.action is not None else "mint"
    return {
        "event": "refusal" if reason else kind,
        "action": audit.action,
        "channel": audit.channel,
        "route": audit.route,
        "status": status,
        "code": code.value if code else None,
        "reason": reason.value if reason else None,
        "rule": audit.rule,
        "key": _clean(audit.key),
        "expires_at": audit.expires_at,
        "ip_range": audit.ip_range,
        "starts_at": audit.starts_at,
        "sub": _clean(identity.sub) if identity else None,
        "org_id": _clean(identity.org_id) if identity else None,
        "groups": sorted(_clean(group) or "" for group in identity.groups)[:50] if identity else None,
        "principal": _clean(identity.principal if identity and identity.principal else audit.principal),
        "source_ip": audit.source_ip,
        "forwarded_for": audit.forwarded_for,
        "request_id": audit.request_id,
        "file_id": audit.file_id,
        "owner_sub": _clean(audit.owner_sub),
        "owner_org_id": _clean(audit.owner_org_id),
        "viewer_sub": _clean(audit.viewer_sub),
        "viewer_org_id": _clean(audit.viewer_org_id),
        "grant_reason": _clean_text(audit.grant_reason),
        "erasure_id": audit.erasure_id,
    }


def write_audit(status: int, *, reason: Reason | None = None, code: ErrorCode | None = None) -> None:
    """One structured record per request under a top-level ``audit`` key, and its metric."""
    audit = _current.get()
    if audit is None or audit.written:
        return
    audit.written = True
    record = audit_record(audit, status, reason=reason, code=code)
    if reason is None:
        kind = _event(audit) if audit.action is not None else "mint"
        metric = {"read": "FileReads", "change": "LifecycleChanges"}.get(kind, "UrlsMinted")
        request_log.audit(logging.INFO, record)
        request_log.count(metric, {"action": audit.action or "unknown", "rule": audit.rule or "unknown"})
    else:
        request_log.audit(logging.WARNING, record)
        request_log.count("Refusals", {"reason": reason.value})


def error_response(code: ErrorCode, message: str, *, reason: Reason) -> Response[Any]:
    status = HTTP_STATUS[code]
    write_audit(status, reason=reason, code=code)
    headers = dict(JSON_HEADERS)
    if code is ErrorCode.TEMPORARILY_UNAVAILABLE:
        headers["Retry-After"] = "1"
    return Response(status_code=status, headers=headers, body={"error": {"code": code.value, "message": message}})


def success(status: int, body: Any, **headers: Any) -> Response[Any]:
    write_audit(status)
    return Response(status_code=status, headers={**JSON_HEADERS, **headers}, body=body)


def no_content() -> Response[Any]:
    """204: done (a ``DELETE``), no body."""
    write_audit(204)
    return Response(status_code=204, headers={"Cache-Control": "no-store"}, body=None)


def query(*allowed: str) -> dict[str, str]:
    """The request's query parameters when every name is one of ``allowed``, each at most once;
    else a 400 ``invalid_request`` (reason ``invalid_query``)."""
    parsed = _query.get() or {}
    if isinstance(parsed, Refusal):
        raise parsed
    unknown = sorted(set(parsed) - set(allowed))
    if unknown:
        raise Refusal(Reason.INVALID_QUERY, f"unknown query parameter {_clean(unknown[0][:40])!r}")
    return dict(parsed)


def _unreadable_query() -> Refusal:
    return Refusal(Reason.INVALID_QUERY, "the query string cannot be read")


def _parsed_query(event: dict[str, Any]) -> dict[str, str] | Refusal:
    """``rawQueryString`` (what the client sent, repeats included) as a name -> value map."""
    raw = event.get("rawQueryString")
    if raw is None or raw == "":
        params = event.get("queryStringParameters") or {}
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            return _unreadable_query()
        return {str(name): value for name, value in params.items()}
    try:
        if not isinstance(raw, str) or len(raw) > MAX_QUERY_LENGTH:
            raise ValueError("unreadable")
        # Empty segments (`?limit=2&`, `a=1&&b=2`) carry nothing, as API Gateway reads them; a
        # segment without `=` is still refused by the strict parse.
        raw = "&".join(part for part in raw.split("&") if part)
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True, encoding="utf-8", errors="strict",
                          max_num_fields=20)
    except (ValueError, UnicodeError):
        return _unreadable_query()
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in found:
            return Refusal(Reason.INVALID_QUERY, f"query parameter {_clean(name[:40])!r} is repeated")
        found[name] = value
    return found


def _log_error(message: str, *, extra: dict[str, Any]) -> None:
    """An error line through Powertools' logger, with the request's Lambda context keys (as
    ``inject_lambda_context`` added them; given with this line only, so no other request's line, on
    another thread, ever carries them)."""
    request = request_log.current
    logger.error(message, extra={**(request.keys() if request is not None else {}), **extra})


def _on_refusal(error: Refusal) -> Response[Any]:
    return error_response(error.code, error.message, reason=error.reason)


def _on_invalid_request(error: InvalidBody) -> Response[Any]:
    details = error.errors()
    message = "invalid request body"
    if details and details[0].get("type") == "json_invalid":
        message = "the body must be a JSON object"
    elif details:
        first = details[0]
        location = ".".join(_clean(str(part))[:64] for part in first.get("loc", ()) if part != "body")  # type: ignore[index]
        text = str(first.get("msg", "invalid value"))
        message = f"{location}: {text}" if location else text
    return error_response(ErrorCode.INVALID_REQUEST, message[:300], reason=Reason.INVALID_BODY)


def _on_unavailable(error: SignerUnavailable) -> Response[Any]:
    audit = _current.get()
    _log_error("signing dependency failed", extra={"dependency_error": str(error),
                                                    "request_id": audit.request_id if audit else None})
    return error_response(ErrorCode.TEMPORARILY_UNAVAILABLE, "signing is temporarily unavailable; retry shortly",
                          reason=Reason.SIGNER_UNAVAILABLE)


def _on_records_unavailable(error: FilesTableUnavailable) -> Response[Any]:
    audit = _current.get()
    _log_error("file records unavailable", extra={"dependency_error": str(error),
                                                   "request_id": audit.request_id if audit else None})
    return error_response(ErrorCode.TEMPORARILY_UNAVAILABLE, "file records are temporarily unavailable; retry shortly",
                          reason=Reason.RECORDS_UNAVAILABLE)


def _on_lifecycle_unavailable(error: LifecycleUnavailable) -> Response[Any]:
    audit = _current.get()
    _log_error("lifecycle dependency failed", extra={"dependency_error": str(error),
                                                      "error_type": type(error).__name__,
                                                      "request_id": audit.request_id if audit else None})
    return error_response(ErrorCode.TEMPORARILY_UNAVAILABLE, "a dependency is temporarily unavailable; retry shortly",
                          reason=Reason.LIFECYCLE_UNAVAILABLE)


def _on_not_found(_error: RouteNotFound) -> Response[Any]:
    return error_response(ErrorCode.NOT_FOUND, "no such route", reason=Reason.ROUTE_NOT_FOUND)


def _on_unexpected(error: Exception) -> Response[Any]:
    """A 500 whose log says where it failed but not what the exception said: its message (and
    a traceback's) may quote a signed URL, a policy or a signature being built."""
    audit = _current.get()
    frames = error_frames(error, last=12)
    _log_error("unexpected error", extra={"error_type": type(error).__name__, "frames": frames,
                                            "request_id": audit.request_id if audit else None})
    status = HTTP_STATUS[ErrorCode.INTERNAL_ERROR]
    write_audit(status, reason=Reason.INTERNAL_ERROR, code=ErrorCode.INTERNAL_ERROR)
    return Response(status_code=status, headers=dict(JSON_HEADERS),
                    body={"error": {"code": ErrorCode.INTERNAL_ERROR.value, "message": "internal error"}})


#: Which answer each failure gets: the first of an exception's classes (its MRO) listed here.
_ERROR_ANSWERS: dict[type[BaseException], Callable[[Any], Response[Any]]] = {
    Refusal: _on_refusal,
    InvalidBody: _on_invalid_request,
    SignerUnavailable: _on_unavailable,
    FilesTableUnavailable: _on_records_unavailable,
    LifecycleUnavailable: _on_lifecycle_unavailable,
    RouteNotFound: _on_not_found,
    Exception: _on_unexpected,
}


# --- the entry point ----------------------------------------------------------------------------

#: A body that is not JSON (or not readable as UTF-8 text): 400 once a route with a body is matched.
_UNREADABLE = object()


def _parsed_body(event: dict[str, Any]) -> Any:
    """The body as parsed JSON (None when absent), or ``_UNREADABLE``.

    Bad base64, non-UTF-8 bytes, integers past Python's digit limit and absurd nesting are all
    ``_UNREADABLE``: a 400 ``the body must be a JSON object``, never an exception (a 5xx).
    """
    body = event.get("body")
    if body is None or body == "":
        return None
    if not isinstance(body, str):
        return _UNREADABLE
    try:
        if event.get("isBase64Encoded") is True:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        return json.loads(body)
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        return _UNREADABLE


def route_path(event: dict[str, Any]) -> str | None:
    """The path of the event's ``requestContext.routeKey`` (``/backend/uploads``,
    ``/files/{file_id}``), or None when it is missing or not of that shape."""
    return _route_key_path(_mapping(event, "requestContext"))


def _route_key_path(request_context: dict[str, Any]) -> str | None:
    route_key = request_context.get("routeKey")
    matched = _ROUTE_KEY.match(route_key) if isinstance(route_key, str) else None
    return matched.group(1) if matched else None


def channel_of(event: dict[str, Any]) -> Channel:
    """``backend`` only for a route key under ``/backend/``; anything else, no route key
    included, is a user route (so that an odd event is checked at the front door: fail closed)."""
    return _channel(route_path(event), stage_stripped_path(event))


def _channel(routed: str | None, path: str) -> Channel:
    # The router routes on the path: both must say backend (API Gateway's events always agree).
    backend = routed is not None and routed.startswith(BACKEND_PREFIX)
    return "backend" if backend and path.startswith(BACKEND_PREFIX) else "user"


def stage_stripped_path(event: dict[str, Any]) -> str:
    """The request's path without the stage (``/api/files/x`` -> ``/files/x``), as Powertools routes."""
    request_context = _mapping(event, "requestContext")
    return _stage_stripped(event, request_context, _mapping(request_context, "http"))


def _stage_stripped(event: dict[str, Any], request_context: dict[str, Any], http: dict[str, Any]) -> str:
    raw_path = event.get("rawPath")
    path = raw_path if isinstance(raw_path, str) else http.get("path")
    path = path if isinstance(path, str) and path else "/"
    stage = request_context.get("stage")
    if isinstance(stage, str) and stage and stage != "$default":
        prefix = "/" + stage
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix):] or "/"
    return path


def _route(event: dict[str, Any], request_context: dict[str, Any] | None = None,
           http: dict[str, Any] | None = None) -> tuple[str, AuditAction | None, Channel]:
    """The audited route (``METHOD path``), the action and the channel of an event."""
    request_context = _mapping(event, "requestContext") if request_context is None else request_context
    http = _mapping(request_context, "http") if http is None else http
    method = http.get("method") if isinstance(http.get("method"), str) else "?"
    path = _stage_stripped(event, request_context, http)
    routed = _route_key_path(request_context)
    channel = _channel(routed, path)
    action: AuditAction | None = None
    trimmed = (routed or path).rstrip("/")
    parts = trimmed.split("/")
    if trimmed.endswith("/downloads/cookies"):
        action = "cookies"
    elif trimmed.endswith("/downloads"):
        action = "download"
    elif trimmed.endswith("/uploads"):
        action = "upload"
    elif trimmed.endswith("/revocations"):
        action = "revoke"
    elif trimmed.endswith("/erasures") or parts[-2:-1] == ["erasures"]:
        action = "erasure"
    elif parts[-1:] == ["files"]:
        action = "list"
    elif parts[-2:-1] == ["files"]:
        action = "delete" if method == "DELETE" else "file"
    return f"{method} {_clean(path)}", action, channel


def _forwarded_for(headers: dict[str, str]) -> str | None:
    """``x-forwarded-for`` as received (unprintable characters replaced), at most 256 characters."""
    value = headers.get("x-forwarded-for")
    if value is None:
        return None
    if value.isascii() and value.isprintable():
        return value[:_MAX_AUDIT_TEXT]
    return _PRINTABLE.sub("?", value)[:_MAX_AUDIT_TEXT]


def _origin_refusal(presented: str | None, origin: Callable[[], OriginVerifier]) -> Response[Any] | None:
    """The answer for a user route whose ``x-origin-verify`` is not an accepted value (403), or
    whose check cannot be made (503); None when it passes. The value itself goes nowhere."""
    try:
        accepted = origin().accepts(presented)
    except OriginSecretUnavailable as error:
        _log_error("origin secret unavailable", extra={"dependency_error": str(error)})
        return error_response(ErrorCode.TEMPORARILY_UNAVAILABLE, "the API is temporarily unavailable; retry shortly",
                              reason=Reason.ORIGIN_CHECK_UNAVAILABLE)
    except Exception as error:  # settings or client construction failed: no way to check, so refuse
        return _on_unexpected(error)
    if accepted:
        return None
    return error_response(ErrorCode.ORIGIN_NOT_VERIFIED, "this route is served only through the API's front door",
                          reason=Reason.ORIGIN_NOT_VERIFIED)


def _backend_refusal(event: dict[str, Any], backend_principals: Callable[[], Sequence[str]]) -> Refusal | None:
    """The 403 for a ``/backend/`` caller that is not listed, decided before the body is read."""
    try:
        allowed = backend_principals()
    except Exception:
        return None
    try:
        allowed_backend_principal(event, allowed)
    except Refusal as refusal:
        return refusal if refusal.reason is Reason.BACKEND_NOT_ALLOWED else None  # 401s: the route's
    return None


def _answer_for(error: Exception) -> Response[Any]:
    for kind in type(error).__mro__:
        answer = _ERROR_ANSWERS.get(kind)
        if answer is not None:
            return answer(error)
    return _on_unexpected(error)  # pragma: no cover - Exception is listed


def _resolve(app: Router, event: dict[str, Any], raw_event: dict[str, Any], http: dict[str, Any]) -> dict[str, Any]:
    """Route, validate, call: the route's answer, or the one its failure gets."""
    given = http.get("method")
    method = given if isinstance(given, str) else ""
    try:
        route, arguments = app.match(method, _routed_path(event))
        body = _parsed_body(raw_event) if route.body is not None else None
        if body is _UNREADABLE:
            raise InvalidBody([{"type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error"}])
        return http_response(app.call(route, arguments, event, body))
    except Exception as error:  # a reply that cannot be serialized included: a shaped 500, never a raw one
        return http_response(_answer_for(error))


def _routed_path(event: dict[str, Any]) -> str:
    """The path routes match, as Powertools took it: ``rawPath`` less ``/<stage>`` (unless ``$default``)."""
    raw_path = event.get("rawPath")
    path = raw_path if isinstance(raw_path, str) else "/"
    stage = _mapping(event, "requestContext").get("stage")
    if isinstance(stage, str) and stage != "$default":
        return path[len("/" + stage):]
    return path


def _normalised_headers(received: object) -> dict[str, str]:
    """Text headers by lower-case name, ``content-type`` dropped (``serve`` sets its own).

    API Gateway's payload 2.0 names every header in lower case already, and then the copy is made
    without a Python loop (names checked in one pass; a header whose value is not text is dropped).
    """
    if not isinstance(received, dict):
        return {}
    try:
        names = "\n".join(received)
    except TypeError:  # a name that is not text
        names = None
    if names is not None and names == names.lower() and all(map(str.__instancecheck__, received.values())):
        headers = dict(received)
    else:
        headers = {name.lower(): value for name, value in received.items()
                   if isinstance(name, str) and isinstance(value, str)}
    headers.pop("content-type", None)
    return headers


def serve(app: Router, event: Any, context: Any, *,
          backend_principals: Callable[[], Sequence[str]] | None = None,
          origin: Callable[[], OriginVerifier] | None = None) -> dict[str, Any]:
    """Normalise the event, set up the audit context, check the front door, resolve.

    ``backend_principals`` gives the IAM roles allowed on ``/backend/`` routes: an unlisted
    caller is refused here, before its body is even validated (the routes check again).
    ``origin`` gives the origin secret's verifier: every user route's ``x-origin-verify`` must
    be one of its values (None only where no user route is served).
    """
    if not isinstance(event, dict):
        event = {}
    headers = _normalised_headers(event.get("headers"))
    # Read once, then dropped: no route, log line or trace ever sees the value.
    presented = headers.pop(ORIGIN_VERIFY_HEADER, None)
    headers["content-type"] = "application/json"  # the API speaks JSON whatever the client declared
    raw_event = event
    # The body and the query are parsed only once the front door is checked (below): a caller that
    # bypasses CloudFront's body limit must not make a function parse megabytes to hear 403.
    event = {**event, "headers": headers, "body": None, "isBase64Encoded": False,
             "queryStringParameters": None, "rawQueryString": "", "cookies": None}
    if not isinstance(event.get("requestContext"), dict):
        event["requestContext"] = {}
    request_context: dict[str, Any] = event["requestContext"]
    http = _mapping(request_context, "http")
    route, action, channel = _route(event, request_context, http)
    method = http.get("method")
    source_ip = http.get("sourceIp")
    request_id = request_context.get("requestId")
    audit = RequestAudit(action=action, channel=channel, route=route,
                         source_ip=source_ip if isinstance(source_ip, str) else None,
                         request_id=request_id if isinstance(request_id, str) else None,
                         forwarded_for=_forwarded_for(headers),
                         method=method if isinstance(method, str) else "?")
    try:  # best effort, so that refusals before the route runs still say who asked
        if channel == "backend":
            audit.principal = backend_principal(event)
        else:  # the subject only: groups are read (and may be refused) by the route
            audit.identity = Identity(sub=_verified_sub(_mapping(request_context, "authorizer", "jwt", "claims")))
    except Refusal:
        pass
    token = _current.set(audit)
    query_token = _query.set(None)
    try:
        if channel == "user":
            if origin is None:  # a resolver wired without the check serves no user route
                return http_response(_on_unexpected(RuntimeError("no origin verifier for a user route")))
            refused = _origin_refusal(presented, origin)
            if refused is not None:
                return http_response(refused)
        refusal = _backend_refusal(event, backend_principals) if channel == "backend" and backend_principals else None
        if refusal is not None:
            return http_response(error_response(refusal.code, refusal.message, reason=refusal.reason))
        _query.set(_parsed_query(raw_event))
        return _resolve(app, event, raw_event, http)
    finally:
        _query.reset(query_token)
        _current.reset(token)


LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def lambda_entry_point(app: Router, *, backend_principals: Callable[[], Sequence[str]],
                       origin: Callable[[], OriginVerifier]) -> LambdaHandler:
    """The Lambda handler for one router: the request's log context, then ``serve``.

    Responses hold presigned policies or signed URLs, and the event holds the origin header and
    the token: neither is ever logged or traced. The request's two lines (audit and metric) are
    ``request_log``'s; the cold start metric and any error line are Powertools'. X-Ray: Lambda's
    own segment, and a subsegment for every AWS call (``tracer`` patches botocore).
    """

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        correlation_id = _mapping(event, "requestContext").get("requestId") if isinstance(event, dict) else None
        request = request_log.begin(context, correlation_id if isinstance(correlation_id, str) else None)
        if request.cold_start:
            metrics.provider.add_cold_start_metric(context)
        try:
            return serve(app, event, context, backend_principals=backend_principals, origin=origin)
        finally:
            request_log.end()

    return entry_point(handle)
