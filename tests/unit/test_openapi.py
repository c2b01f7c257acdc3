"""The committed OpenAPI document is the one the resolvers generate today, and it says what the
front door adds (docs/front-door.md, "Responses the contract documents")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from filegate.domain.errors import ErrorCode
from filegate.openapi import render

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
ERROR = {"$ref": "#/components/schemas/ErrorResponse"}
GATEWAY = {"$ref": "#/components/schemas/GatewayMessage"}
EITHER = {"oneOf": [ERROR, GATEWAY]}
REQUEST_MODELS = ("UploadRequest", "BackendUploadRequest", "DownloadRequest", "BackendDownloadRequest",
                  "CookiesRequest", "RevocationRequest", "ErasureRequest", "OnBehalfOf", "Viewer")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    rendered: dict[str, Any] = json.loads(render())
    return rendered


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, item in document["paths"].items()
            for method, operation in item.items() if method != "servers"]


def schema_of(response: dict[str, Any]) -> Any:
    return response["content"]["application/json"]["schema"]


def example_values(response: dict[str, Any]) -> list[Any]:
    return [example["value"] for example in response["content"]["application/json"].get("examples", {}).values()]


def test_committed_document_is_current() -> None:
    # Given the resolvers as they are / When the document is regenerated / Then it equals the committed one
    assert DOCUMENT.read_text() == render(), "docs/openapi.json is stale: run `make openapi`"


def test_document_is_valid_openapi_and_covers_every_route(document: dict[str, Any]) -> None:
    # Given the document / Then it is valid OpenAPI, with every route and its security
    validate(document)
    methods = {path: set(item) - {"servers"} for path, item in document["paths"].items()}
    assert methods == {
        "/uploads": {"post"}, "/downloads": {"post"}, "/downloads/cookies": {"post"}, "/backend/uploads": {"post"},
        "/backend/downloads": {"post"}, "/files": {"get"}, "/files/{file_id}": {"get", "delete"},
        # docs/lifecycle.md
        "/backend/files": {"get"}, "/backend/files/{file_id}": {"get", "delete"}, "/backend/revocations": {"post"},
        "/backend/erasures": {"post"}, "/backend/erasures/{erasure_id}": {"get"}}
    for path, _, operation in operations(document):
        responses = operation["responses"]
        assert "422" not in responses
        assert {"401", "403", "429", "500", "503"} <= set(responses)
        expected = [{"iam": []}] if path.startswith("/backend/") else [{"jwt": []}]
        assert operation["security"] == expected
    assert set(document["paths"]["/uploads"]["post"]["responses"]) >= {"201", "413", "415"}
    assert "file_id" in document["components"]["schemas"]["UploadResponse"]["required"]
    for path in ("/downloads", "/backend/downloads"):
        assert {"404", "409", "403"} <= set(document["paths"][path]["post"]["responses"])


def test_user_routes_are_served_at_api_and_backend_routes_at_execute_api(document: dict[str, Any]) -> None:
    # Given the document / Then user routes take the top-level server, /api (through CloudFront)
    assert [server["url"] for server in document["servers"]] == ["/api"]
    for path, item in document["paths"].items():
        if not path.startswith("/backend/"):
            assert "servers" not in item, path
            continue
        # And every backend path names the execute-api base, with its variables
        [server] = item["servers"]
        assert server["url"] == "https://{api_id}.execute-api.{region}.amazonaws.com/api", path
        assert set(server["variables"]) == {"api_id", "region"}
        assert all(variable["default"] for variable in server["variables"].values())


def test_user_routes_list_the_front_doors_answers(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        if path.startswith("/backend/"):
            continue
        responses = operation["responses"]
        # Then 401: the JWT authorizer's Unauthorized, or the handler's unauthenticated
        assert schema_of(responses["401"]) == EITHER
        assert {"message": "Unauthorized"} in example_values(responses["401"])
        # And 403: origin_not_verified, the WebACL's request_blocked, or API Gateway's Forbidden (scopes)
        assert schema_of(responses["403"]) == EITHER
        assert "`origin_not_verified`" in responses["403"]["description"]
        assert {"message": "Forbidden"} in example_values(responses["403"])
        assert {"error": {"code": "request_blocked", "message": "the request was blocked by the firewall"}} in (
            example_values(responses["403"]))
        # And 413: the WebACL's body limit (uploads: the rule's too)
        assert schema_of(responses["413"]) == EITHER
        assert [value["error"]["code"] for value in example_values(responses["413"])
                if "error" in value] == ["request_too_large"]
        assert {"message": "Request Entity Too Large"} in example_values(responses["413"])
        # And 429: the WebACL's rate_limited, or the stage throttle's Too Many Requests
        assert schema_of(responses["429"]) == EITHER
        assert {"message": "Too Many Requests"} in example_values(responses["429"])
        assert "rate_limited" in json.dumps(example_values(responses["429"]))
        # And 500 and 503: ours, or API Gateway's
        assert schema_of(responses["500"]) == schema_of(responses["503"]) == EITHER, (path, method)
        assert {"message": "Internal Server Error"} in example_values(responses["500"])
        assert {"message": "Service Unavailable"} in example_values(responses["503"])
    assert "`payload_too_large`" in document["paths"]["/uploads"]["post"]["responses"]["413"]["description"]


def test_backend_routes_list_iam_and_the_throttle_but_no_waf(document: dict[str, Any]) -> None:
    for path, _, operation in operations(document):
        if not path.startswith("/backend/"):
            continue
        responses = operation["responses"]
        # Then 403: the handler's, IAM's Forbidden (or the WebACL's, through the files domain); 429: the throttle
    # only; 500/503: either
        assert schema_of(responses["403"]) == EITHER
        assert {"message": "Forbidden"} in example_values(responses["403"])
        assert schema_of(responses["429"]) == GATEWAY
        assert schema_of(responses["500"]) == schema_of(responses["503"]) == EITHER
        # And 413: API Gateway's payload limit (plus the handler's own on the backend upload)
        assert schema_of(responses["413"]) == (EITHER if path == "/backend/uploads" else GATEWAY)
        assert {"message": "Request Entity Too Large"} in example_values(responses["413"])
        # And nothing else of the WebACL, nor the origin check (backends call execute-api)
        text = json.dumps(responses)
        for code in ("request_too_large", "rate_limited", "origin_not_verified"):
            assert code not in text, (path, code)
        # Except the WebACL's refusal of every backend route sent to the files domain
        assert "`request_blocked`" in responses["403"]["description"]
    # And the backend upload keeps the handler's own 413
    assert "`payload_too_large`" in document["paths"]["/backend/uploads"]["post"]["responses"]["413"]["description"]


def test_error_and_gateway_bodies_are_closed_and_codes_are_the_enum(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    # Then GatewayMessage is {"message": string} and nothing else
    gateway = schemas["GatewayMessage"]
    assert gateway["properties"] == {"message": {"title": "Message", "type": "string"}}
    assert gateway["required"] == ["message"] and gateway["additionalProperties"] is False
    # And ErrorResponse is {"error": {"code": ErrorCode, "message"}}, closed at both levels
    assert schemas["ErrorResponse"]["additionalProperties"] is False
    assert schemas["ErrorResponse"]["properties"] == {"error": {"$ref": "#/components/schemas/ErrorBody"}}
    assert schemas["ErrorBody"]["additionalProperties"] is False
    assert schemas["ErrorBody"]["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    # And the enum lists every code, the front door's included
    assert schemas["ErrorCode"]["enum"] == [code.value for code in ErrorCode]
    assert {"origin_not_verified", "request_blocked", "request_too_large", "rate_limited"} <= set(
        schemas["ErrorCode"]["enum"])
    # And every request body stays closed
    for name in REQUEST_MODELS:
        assert schemas[name]["additionalProperties"] is False, name


def test_constrained_strings_carry_their_patterns(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    def string(model: str, field: str) -> dict[str, Any]:
        schema = schemas[model]["properties"][field]
        branches = [schema] if schema.get("type") == "string" else schema["anyOf"]
        [found] = [branch for branch in branches if branch.get("type") == "string"]
        return dict(found)

    # Then every string the handlers constrain has a pattern and a maximum length
    for model, field in (("UploadRequest", "rule"), ("UploadRequest", "content_type"), ("DownloadRequest", "key"),
                         ("DownloadRequest", "ip"), ("CookiesRequest", "prefix"), ("Viewer", "sub"),
                         ("Viewer", "org_id"), ("BackendDownloadRequest", "reason"), ("RevocationRequest", "key"),
                         ("RevocationRequest", "prefix"), ("ErasureRequest", "sub"), ("ErasureRequest", "org_id")):
        schema = string(model, field)
        assert schema["pattern"].startswith("^") and schema["pattern"].endswith("$"), (model, field)
        assert "maxLength" in schema, (model, field)
    assert string("ErasureRequest", "sub")["maxLength"] == 128 and string("DownloadRequest", "key")["maxLength"] == 1024
    # And the query and path parameters too
    parameters = {(path, parameter["name"]): parameter["schema"]
                  for path, _, operation in operations(document) for parameter in operation.get("parameters", [])}
    for path, name in (("/files", "rule"), ("/files", "cursor"), ("/backend/files", "owner"),
                       ("/backend/files", "org"), ("/files/{file_id}", "file_id"),
                       ("/backend/files/{file_id}", "file_id"), ("/backend/erasures/{erasure_id}", "erasure_id")):
        assert "pattern" in parameters[path, name], (path, name)
    assert parameters["/files/{file_id}", "file_id"]["pattern"] == "^[0-9a-f]{32}$"
    assert parameters["/files", "limit"] == {"type": "integer", "minimum": 1}


def test_the_file_route_documents_no_handler_403(document: dict[str, Any]) -> None:
    # A file's existence never leaks: its route answers 404 to anyone but the owner; its only 403s
    # are the front door's (no CloudFront header, the WebACL, a token without the scope)
    paths = document["paths"]
    responses = paths["/files/{file_id}"]["get"]["responses"]
    assert set(responses) == {"200", "401", "403", "404", "413", "429", "500", "503"}
    for route in (responses, paths["/files"]["get"]["responses"]):
        assert route["403"]["description"].startswith("The front door:")
        assert "not_allowed" not in route["403"]["description"] and "rejected" not in route["403"]["description"]
    assert {"204", "403", "404", "409"} <= set(paths["/files/{file_id}"]["delete"]["responses"])
    assert "`not_allowed`" in paths["/files/{file_id}"]["delete"]["responses"]["403"]["description"]
    assert "content" not in paths["/files/{file_id}"]["delete"]["responses"]["204"]
    assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/FileResponse"}
