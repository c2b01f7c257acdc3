"""The committed OpenAPI document is the one the resolvers generate today."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from filegate.openapi import render

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_document_is_current() -> None:
    # Given the resolvers as they are / When the document is regenerated / Then it equals the committed one
    assert DOCUMENT.read_text() == render(), "docs/openapi.json is stale: run `make openapi`"


def test_document_is_valid_openapi_and_covers_every_route() -> None:
    document = json.loads(render())
    validate(document)
    methods = {path: set(item) for path, item in document["paths"].items()}
    assert methods == {
        "/uploads": {"post"}, "/downloads": {"post"}, "/downloads/cookies": {"post"}, "/backend/uploads": {"post"},
        "/backend/downloads": {"post"}, "/files": {"get"}, "/files/{file_id}": {"get", "delete"},
        # docs/lifecycle.md
        "/backend/files": {"get"}, "/backend/files/{file_id}": {"get", "delete"}, "/backend/revocations": {"post"},
        "/backend/erasures": {"post"}, "/backend/erasures/{erasure_id}": {"get"}}
    for path, item in document["paths"].items():
        for operation in item.values():
            responses = operation["responses"]
            assert "422" not in responses
            assert {"401", "503"} <= set(responses)
            expected = [{"iam": []}] if path.startswith("/backend/") else [{"jwt": []}]
            assert operation["security"] == expected
    assert set(document["paths"]["/uploads"]["post"]["responses"]) >= {"201", "413", "415"}
    assert "file_id" in document["components"]["schemas"]["UploadResponse"]["required"]
    for path in ("/downloads", "/backend/downloads"):
        assert {"404", "409", "403"} <= set(document["paths"][path]["post"]["responses"])


def test_the_file_route_documents_no_403() -> None:
    # A file's existence never leaks: its route answers 404 to anyone but the owner, never 403
    paths = json.loads(render())["paths"]
    responses = paths["/files/{file_id}"]["get"]["responses"]
    assert set(responses) == {"200", "401", "404", "500", "503"}
    assert "403" not in paths["/files"]["get"]["responses"]
    assert {"204", "403", "404", "409"} <= set(paths["/files/{file_id}"]["delete"]["responses"])
    assert "content" not in paths["/files/{file_id}"]["delete"]["responses"]["204"]
    assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/FileResponse"}
