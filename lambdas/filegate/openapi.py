"""The minting API's OpenAPI document, generated from every API resolver.

``python -m filegate.openapi > docs/openapi.json`` (``make openapi``); a unit test checks that
the committed document is current. Needs no environment: the handlers build nothing at import.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer, SecurityScheme

from filegate.handlers import deletions, downloads, files, uploads

TITLE = "filegate minting API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Mints presigned S3 POSTs for uploads and CloudFront signed URLs and cookies for downloads, and tells "
    "a file's owner its verification status. Uploads land in quarantine; a file is downloadable once "
    "verified (`clean`). Files are listed and deleted by their owners; trusted servers also revoke URLs at the "
    "edge and erase every file of a user or an org. "
    "User routes take a JWT access token (scope `filegate/files`); `/backend/` routes are for trusted "
    "servers and take AWS SigV4 (IAM) signatures. Every error is `{\"error\": {\"code\", \"message\"}}`."
)
SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    "jwt": HTTPBearer(bearerFormat="JWT", description="Access token from the configured issuer"),
    "iam": APIKey.model_validate({"in": APIKeyIn.header, "name": "Authorization",
                                  "description": "AWS Signature Version 4 (IAM authorization)"}),
}


def _query_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_RULE = _query_parameter("rule", "Only this rule's files", {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"})
_LIMIT = _query_parameter("limit", "Page size (default 50; above 100 means 100)", {"type": "integer", "minimum": 1})
_CURSOR = _query_parameter("cursor", "The previous page's `next_cursor` (this listing's only)", {"type": "string"})
#: The listings read their query string themselves (``filegate.handlers.common.query``): declared here.
QUERY_PARAMETERS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("/files", "get"): [_RULE, _LIMIT, _CURSOR],
    ("/backend/files", "get"): [
        _query_parameter("owner", "A user's `sub` (exactly one of owner or org)", {"type": "string"}),
        _query_parameter("org", "An `org_id` (exactly one of owner or org)", {"type": "string"}),
        _RULE, _LIMIT, _CURSOR],
}


def document() -> dict[str, Any]:
    merged: dict[str, Any] | None = None
    for app in (uploads.app, downloads.app, files.app, deletions.app):
        schema = json.loads(app.get_openapi_json_schema(
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
            if (path_name, method) in QUERY_PARAMETERS:
                operation["parameters"] = [*operation.get("parameters", []), *QUERY_PARAMETERS[path_name, method]]
            if "204" in operation["responses"]:
                operation["responses"]["204"].pop("content", None)
            operation["responses"].pop("422", None)
            operation["responses"]["500"] = {
                "description": "Internal error (`internal_error`): a bug, never caused by the request",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
            }
            operation["responses"] = dict(sorted(operation["responses"].items()))
    text = json.dumps(merged["paths"])
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        if f"#/components/schemas/{name}" not in text:
            merged["components"]["schemas"].pop(name, None)
    merged["paths"] = {path: dict(sorted(item.items())) for path, item in sorted(merged["paths"].items())}
    merged["components"]["schemas"] = dict(sorted(merged["components"]["schemas"].items()))
    return merged


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
