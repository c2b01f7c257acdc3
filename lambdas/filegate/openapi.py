"""The minting API's OpenAPI document, generated from every API resolver.

``python -m filegate.openapi > docs/openapi.json`` (``make openapi``); a unit test checks that
the committed document is current. Needs no environment: the handlers build nothing at import.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer, SecurityScheme

from filegate.handlers import downloads, files, uploads

TITLE = "filegate minting API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Mints presigned S3 POSTs for uploads and CloudFront signed URLs and cookies for downloads, and tells "
    "a file's owner its verification status. Uploads land in quarantine; a file is downloadable once "
    "verified (`clean`). "
    "User routes take a JWT access token (scope `filegate/files`); `/backend/` routes are for trusted "
    "servers and take AWS SigV4 (IAM) signatures. Every error is `{\"error\": {\"code\", \"message\"}}`."
)
SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    "jwt": HTTPBearer(bearerFormat="JWT", description="Access token from the configured issuer"),
    "iam": APIKey.model_validate({"in": APIKeyIn.header, "name": "Authorization",
                                  "description": "AWS Signature Version 4 (IAM authorization)"}),
}


def document() -> dict[str, Any]:
    merged: dict[str, Any] | None = None
    for app in (uploads.app, downloads.app, files.app):
        schema = json.loads(app.get_openapi_json_schema(
            title=TITLE, version=VERSION, description=DESCRIPTION, security_schemes=SECURITY_SCHEMES))
        if merged is None:
            merged = schema
            continue
        merged["paths"].update(schema["paths"])
        for name, definition in schema.get("components", {}).get("schemas", {}).items():
            existing = merged["components"]["schemas"].setdefault(name, definition)
            if existing != definition:
                raise ValueError(f"schema {name!r} differs between the handlers")
    assert merged is not None
    # Powertools documents its default 422 and 500 validation answers; filegate answers 400 and 500
    # with ErrorResponse.
    for path in merged["paths"].values():
        for operation in path.values():
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
    merged["paths"] = dict(sorted(merged["paths"].items()))
    merged["components"]["schemas"] = dict(sorted(merged["components"]["schemas"].items()))
    return merged


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
