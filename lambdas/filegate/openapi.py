"""The minting API's OpenAPI document, generated from every API resolver.

``python -m filegate.openapi > docs/openapi.json`` (``make openapi``); a unit test checks that
the committed document is current. Needs no environment: the handlers build nothing at import.

Beyond what the resolvers say, the document names the front door (docs/front-door.md): user
routes are served at ``/api`` through CloudFront and its WebACL, the backend routes at the
execute-api base; and every route lists what answers it before or instead of the handler: the
WebACL's JSON refusals (``ErrorResponse``, codes ``request_blocked``, ``request_too_large``,
``rate_limited``) and API Gateway's own bodies (``GatewayMessage``: the authorizers, the throttle,
an unhandled Lambda error).
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler import Response as PowertoolsResponse
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer, SecurityScheme
from aws_lambda_powertools.event_handler.openapi.params import Path

from filegate.domain.front_door import API_STAGE, GATEWAY_MESSAGES, WAF_RESPONSES, waf_response_body
from filegate.domain.listing import CURSOR_PATTERN, MAX_CURSOR_LENGTH
from filegate.domain.quarantine import FILE_ID
from filegate.handlers import deletions, downloads, files, uploads
from filegate.handlers.models import GatewayMessage
from filegate.handlers.routing import PathParameter, Response, Route, Router

TITLE = "filegate minting API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Mints presigned S3 POSTs for uploads and CloudFront signed URLs and cookies for downloads, and tells "
    "a file's owner its verification status. Uploads land in quarantine; a file is downloadable once "
    "verified (`clean`). Files are listed and deleted by their owners; trusted servers also revoke URLs at the "
    "edge and erase every file of a user or an org. "
    "User routes take a JWT access token (scope `filegate/files`) and are served through CloudFront at "
    f"`https://<files domain>/{API_STAGE}` (the same WebACL as the files; a call straight to execute-api is 403 "
    "`origin_not_verified`); `/backend/` routes are for trusted servers, at the execute-api base "
    f"(`https://<api id>.execute-api.<region>.amazonaws.com/{API_STAGE}`), and take AWS SigV4 (IAM) signatures. "
    "Every error the API sends is `{\"error\": {\"code\", \"message\"}}`, the WebACL's refusals included; "
    "API Gateway's own answers (authorizers, throttling, an unhandled error) are `{\"message\"}`."
)
#: Where user routes are served: the files domain, through CloudFront (a relative URL: the domain is the deployment's).
USER_SERVERS = [{"url": f"/{API_STAGE}", "description": "Through CloudFront and its WebACL: https://<files domain>/"
                                                         f"{API_STAGE} (stack output ApiUrl)"}]
#: Where the backend routes are served: execute-api itself (SigV4 cannot pass CloudFront).
BACKEND_SERVERS = [{
    "url": f"https://{{api_id}}.execute-api.{{region}}.amazonaws.com/{API_STAGE}",
    "description": "The HTTP API's own endpoint, IAM-authorised (stack output BackendApiUrl)",
    "variables": {"api_id": {"default": "a1b2c3d4e5", "description": "The HTTP API's id"},
                  "region": {"default": "ap-southeast-1", "description": "The deployment's home region"}},
}]
SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    "jwt": HTTPBearer(bearerFormat="JWT", description="Access token from the configured issuer"),
    "iam": APIKey.model_validate({"in": APIKeyIn.header, "name": "Authorization",
                                  "description": "AWS Signature Version 4 (IAM authorization)"}),
}


def _query_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_RULE = _query_parameter("rule", "Only this rule's files", {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"})
_LIMIT = _query_parameter("limit", "Page size (default 50; above 100 means 100)", {"type": "integer", "minimum": 1})
_CURSOR = _query_parameter("cursor", "The previous page's `next_cursor` (this listing's only)",
                           {"type": "string", "maxLength": MAX_CURSOR_LENGTH, "pattern": CURSOR_PATTERN})
_QUERY_VALUE = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": f"^{files.QUERY_VALUE.pattern}$"}
#: The listings read their query string themselves (``filegate.handlers.common.query``): declared here.
QUERY_PARAMETERS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("/files", "get"): [_RULE, _LIMIT, _CURSOR],
    ("/backend/files", "get"): [
        _query_parameter("owner", "A user's `sub` (exactly one of owner or org)", _QUERY_VALUE),
        _query_parameter("org", "An `org_id` (exactly one of owner or org)", _QUERY_VALUE),
        _RULE, _LIMIT, _CURSOR],
}
#: Path parameters' shapes. The handlers answer 404 for any other value (never 400: a malformed id
#: is as unknown as a missing one), so the resolvers do not validate them; the document says them.
PATH_PATTERNS: dict[str, str] = {"file_id": f"^{FILE_ID.pattern}$", "erasure_id": f"^{deletions.ERASURE_ID.pattern}$"}

_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}
_GATEWAY = {"$ref": "#/components/schemas/GatewayMessage"}


def _waf_example(key: str) -> dict[str, Any]:
    return {"summary": f"The WebACL's refusal ({key})", "value": json.loads(waf_response_body(key))}


def _gateway_example(status: int) -> dict[str, Any]:
    return {"summary": "API Gateway's own answer", "value": {"message": GATEWAY_MESSAGES[status]}}


def _waf_key(status: int) -> str:
    return next(key for key, response in WAF_RESPONSES.items() if response.status == status)


def _response(description: str, *, error: bool, gateway: int | None = None,
              waf: str | None = None) -> dict[str, Any]:
    """A response whose body is ``ErrorResponse``, ``GatewayMessage`` or either, with examples
    of the front door's bodies."""
    schemas = [schema for schema, used in ((_ERROR, error), (_GATEWAY, gateway is not None)) if used]
    media: dict[str, Any] = {"schema": schemas[0] if len(schemas) == 1 else {"oneOf": schemas}}
    examples = {}
    if waf is not None:
        examples["waf"] = _waf_example(waf)
    if gateway is not None:
        examples["gateway"] = _gateway_example(gateway)
    if examples:
        media["examples"] = examples
    return {"description": description, "content": {"application/json": media}}


def _handler_description(operation: dict[str, Any], status: str) -> str:
    existing = operation["responses"].get(status)
    return f"{existing['description']}. " if existing else ""


def front_door_responses(path: str, operation: dict[str, Any]) -> None:
    """Add what answers the route besides its handler (docs/front-door.md, "Responses the contract
    documents"): the WebACL and API Gateway on user routes, IAM and API Gateway on backend ones."""
    responses = operation["responses"]
    internal = _handler_description(operation, "500") or "Internal error (`internal_error`). "
    unavailable = _handler_description(operation, "503")
    if path.startswith("/backend/"):
        responses["403"] = _response(
            _handler_description(operation, "403") + "IAM refused the signature, or there is none (API Gateway: "
            "`Forbidden`). Sent to the files domain instead of this server, every backend route is refused by the "
            "WebACL (`request_blocked`)", error=True, gateway=403, waf=_waf_key(403))
        responses["413"] = _response(
            _handler_description(operation, "413") + "A body over API Gateway's 10 MB payload limit (API Gateway: "
            "`Request Entity Too Large`)", error="413" in responses, gateway=413)
        responses["429"] = _response("The stage's throttle (API Gateway: `Too Many Requests`); retry later",
                                     error=False, gateway=429)
    else:
        responses["401"] = _response(
            _handler_description(operation, "401") + "No valid access token: API Gateway's JWT authorizer answers "
            "`Unauthorized` before the handler runs", error=True, gateway=401)
        responses["403"] = _response(
            _handler_description(operation, "403") + "The front door: a call that did not come through CloudFront "
            "(`origin_not_verified`); the WebACL's managed rules (`request_blocked`); a token without the route's "
            "scope (API Gateway: `Forbidden`)", error=True, gateway=403, waf=_waf_key(403))
        responses["413"] = _response(
            _handler_description(operation, "413") + "A request body over the WebACL's limit (`request_too_large`); "
            "straight to execute-api, a body over API Gateway's 10 MB payload limit (`Request Entity Too Large`)",
            error=True, gateway=413, waf=_waf_key(413))
        responses["429"] = _response(
            "Too many requests: the WebACL's per-IP rate (`rate_limited`) or the stage's throttle (API Gateway: "
            "`Too Many Requests`); retry later", error=True, gateway=429, waf=_waf_key(429))
    responses["500"] = _response(internal + "Or an unhandled Lambda error (API Gateway: `Internal Server Error`)",
                                 error=True, gateway=500)
    responses["503"] = _response(unavailable + "Or API Gateway itself (`Service Unavailable`); retry",
                                 error=True, gateway=503)


def _path_parameters(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path" and parameter.get("name") in PATH_PATTERNS:
            parameter["schema"]["pattern"] = PATH_PATTERNS[parameter["name"]]


def _finish_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    """Query and path parameters the resolvers do not know, and every response the route can give."""
    if (path, method) in QUERY_PARAMETERS:
        operation["parameters"] = [*operation.get("parameters", []), *QUERY_PARAMETERS[path, method]]
    if "204" in operation["responses"]:
        operation["responses"]["204"].pop("content", None)
    operation["responses"].pop("422", None)
    operation["responses"]["500"] = {
        "description": "Internal error (`internal_error`): a bug, never caused by the request",
        "content": {"application/json": {"schema": _ERROR}},
    }
    front_door_responses(path, operation)
    _path_parameters(operation)
    operation["responses"] = dict(sorted(operation["responses"].items()))


def _powertools_annotation(annotation: Any) -> Any:
    """A route's annotation as Powertools reads it: ``PathParameter`` -> ``Path``, our
    ``Response[X]`` -> Powertools' ``Response[X]``."""
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        converted = [Path(description=extra.description) if isinstance(extra, PathParameter) else extra
                     for extra in extras]
        return Annotated[(base, *converted)]
    if typing.get_origin(annotation) is Response:
        return PowertoolsResponse[typing.get_args(annotation)]  # type: ignore[misc]
    return annotation


def _declared(route: Route) -> Any:
    """A function with ``route``'s name, docstring and signature in Powertools' terms (never called)."""
    hints = typing.get_type_hints(route.function, include_extras=True)
    signature = inspect.signature(route.function)

    def declared(**_: Any) -> Any:
        raise RuntimeError("only documents a route")

    functools.update_wrapper(declared, route.function)
    del declared.__wrapped__  # type: ignore[attr-defined]
    declared.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[parameter.replace(annotation=_powertools_annotation(hints[parameter.name]))
                    for parameter in signature.parameters.values()],
        return_annotation=_powertools_annotation(hints.get("return", inspect.Signature.empty)))
    return declared


def powertools_resolver(router: Router) -> APIGatewayHttpResolver:
    """``router``'s routes on Powertools' resolver, which writes their OpenAPI operations."""
    resolver = APIGatewayHttpResolver(enable_validation=True)
    for route in router.routes:
        resolver.route(route.path, route.method, **route.openapi)(_declared(route))
    return resolver


def document() -> dict[str, Any]:
    merged: dict[str, Any] | None = None
    for router in (uploads.app, downloads.app, files.app, deletions.app):
        schema = json.loads(powertools_resolver(router).get_openapi_json_schema(
            title=TITLE, version=VERSION, description=DESCRIPTION, security_schemes=SECURITY_SCHEMES))
        if merged is None:
            merged = schema
            continue
        for path, item in schema["paths"].items():
            operations = merged["paths"].setdefault(path, {})
            if set(operations) & set(item):
                raise ValueError(f"{path}: an operation is defined by two handlers")
            operations.update(item)
        for name, definition in schema.get("components", {}).get("schemas", {}).items():
            existing = merged["components"]["schemas"].setdefault(name, definition)
            if existing != definition:
                raise ValueError(f"schema {name!r} differs between the handlers")
    assert merged is not None
    # Powertools documents its default 422 and 500 validation answers; filegate answers 400 and 500
    # with ErrorResponse.
    for path_name, path in merged["paths"].items():
        for method, operation in path.items():
            _finish_operation(path_name, method, operation)
        if path_name.startswith("/backend/"):
            path["servers"] = BACKEND_SERVERS
    text = json.dumps(merged["paths"])
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        if f"#/components/schemas/{name}" not in text:
            merged["components"]["schemas"].pop(name, None)
    merged["paths"] = {path: dict(sorted(item.items())) for path, item in sorted(merged["paths"].items())}
    merged["servers"] = USER_SERVERS
    merged["components"]["schemas"]["GatewayMessage"] = GatewayMessage.model_json_schema()
    merged["components"]["schemas"] = dict(sorted(merged["components"]["schemas"].items()))
    return merged


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
