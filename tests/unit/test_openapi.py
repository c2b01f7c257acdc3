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
    assert set(document["paths"]) == {"/uploads", "/downloads", "/downloads/cookies", "/backend/uploads",
                                      "/backend/downloads"}
    for path, item in document["paths"].items():
        responses = item["post"]["responses"]
        assert "422" not in responses
        assert {"400", "401", "403", "503"} <= set(responses)
        expected = [{"iam": []}] if path.startswith("/backend/") else [{"jwt": []}]
        assert item["post"]["security"] == expected
    assert set(document["paths"]["/uploads"]["post"]["responses"]) >= {"201", "413", "415"}
