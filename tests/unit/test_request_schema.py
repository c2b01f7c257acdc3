"""The request schema in docs/openapi.json against the handlers (docs/front-door.md, "Responses the
contract documents"): integral JSON numbers are integers, and every constrained string's
``pattern``/``minLength``/``maxLength`` says exactly what the handler accepts.

The oracle is the committed document itself: each pattern is read from docs/openapi.json and
compiled here with Python's ``re`` (its trailing ``$`` read as ECMA-262 reads it: the end of the
input, ``\\Z``), independently of the models that produced it. For body fields and the query
parameters whose rule depends on no config, the handler answers 400 exactly when the schema
refuses; for path parameters a refused id is 404 (never 400: a malformed id is as unknown as a
missing one); a cursor the schema accepts may still fail its MAC.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import hypothesis
import pytest
from conftest import BACKEND_ARN, Minting, api_event, body, careers, get_item
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lifecycle_helpers import get, user
from pydantic import BaseModel, ValidationError

from filegate.handlers.models import (
    BackendDownloadRequest,
    CookiesRequest,
    DownloadRequest,
    UploadRequest,
)

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]
#: Each example runs a handler (moto behind it, about 25 ms): 150 per field keeps the layer within its
#: budget where the profile's 1,000 would take some 13 minutes; the candidates lean on the schema's
#: edges (its pattern, mutated by hostile characters, and hand-picked samples), not on volume.
HANDLER_EXAMPLES = min(150, settings.default.max_examples)
REUSES_FIXTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                          max_examples=HANDLER_EXAMPLES)
ALICE_CV = "private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf"
UPLOAD = {"rule": "cv", "content_type": "application/pdf", "size": 5}


def string_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The string branch of a property's schema (``anyOf [string, null]`` for optional fields)."""
    if schema.get("type") == "string":
        return schema
    [branch] = [option for option in schema.get("anyOf", []) if option.get("type") == "string"]
    return dict(branch)


@dataclass(frozen=True)
class Oracle:
    """A string schema from the document: pattern (ECMA-262 semantics), minLength, maxLength."""

    pattern: re.Pattern[str] | None
    min_length: int
    max_length: int | None
    source: str | None

    @classmethod
    def of(cls, schema: dict[str, Any]) -> Oracle:
        text = schema.get("pattern")
        compiled = None
        if text is not None:
            assert text.startswith("^") and text.endswith("$"), text  # every pattern we write is anchored
            compiled = re.compile(text[:-1] + r"\Z")
        return cls(compiled, int(schema.get("minLength", 0)), schema.get("maxLength"), text)

    def accepts(self, value: str) -> bool:
        if len(value) < self.min_length or (self.max_length is not None and len(value) > self.max_length):
            return False
        return self.pattern is None or self.pattern.search(value) is not None


def body_oracle(model: str, field: str) -> Oracle:
    return Oracle.of(string_schema(SCHEMAS[model]["properties"][field]))


def parameter_oracle(path: str, method: str, name: str) -> Oracle:
    [parameter] = [p for p in DOCUMENT["paths"][path][method]["parameters"] if p["name"] == name]
    return Oracle.of(parameter["schema"])


HOSTILE = ["/", "//", ".", "..", "\\", "\x00", "\n", "\t", " ", "\u00e9", "\u202e", "\u200b", "\u2028", "%2e",
           "*", "?", "#", ";", "\x7f", "\x85", "\ufeff", "A", "|", "\U0001f600"]


def candidates(oracle: Oracle, *, samples: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Strings near the schema's edge: what its pattern generates, the same with a hostile
    character put in, arbitrary text, over-long values and hand-picked ones. No lone surrogates:
    they are not Unicode text (pydantic refuses them before any pattern)."""
    assert oracle.source is not None
    shaped = st.from_regex(oracle.source[1:-1], fullmatch=True)

    @st.composite
    def mutated(draw: st.DrawFn) -> str:
        value = draw(shaped)
        position = draw(st.integers(0, len(value)))
        return value[:position] + draw(st.sampled_from(HOSTILE)) + value[position + draw(st.integers(0, 1)):]

    longest = oracle.max_length or 1024
    return st.one_of(shaped, shaped, mutated(), mutated(), st.text(max_size=40), st.sampled_from(samples),
                     st.sampled_from(samples).map(lambda value: value * (longest // max(len(value), 1) + 1)),
                     st.just("a" * longest), st.just("a" * (longest + 1))).filter(
        lambda value: not any(0xD800 <= ord(char) <= 0xDFFF for char in value))


# --- body fields: 400 exactly when the schema refuses ----------------------------------------------

@dataclass(frozen=True)
class BodyField:
    model: str
    field: str
    path: str
    handler: str
    samples: tuple[str, ...]

    def event(self, value: str) -> dict[str, Any]:
        iam = BACKEND_ARN if self.path.startswith("/backend/") else None
        claims = None if iam else careers("alice")
        payload: dict[str, Any]
        if self.model == "UploadRequest":
            payload = {**UPLOAD, self.field: value}
        elif self.model == "DownloadRequest":
            payload = {"key": ALICE_CV, self.field: value}
        elif self.model == "CookiesRequest":
            payload = {"prefix": value}
        elif self.model == "Viewer":
            payload = {"key": ALICE_CV, "viewer": {"sub": "bob", self.field: value}, "reason": "hiring"}
        elif self.model == "BackendDownloadRequest":
            payload = {"key": ALICE_CV, "viewer": {"sub": "bob"}, self.field: value}
        else:  # RevocationRequest, ErasureRequest: the one field alone
            payload = {self.field: value}
        return api_event(self.path, payload, claims=claims, iam_arn=iam)


#: Free text the audit record carries: the pattern, and ``str.isprintable`` (in the field's description).
AUDITED_TEXT_FIELDS = ("org_id", "sub", "reason")

BODY_FIELDS = [
    BodyField("UploadRequest", "rule", "/uploads", "upload", ("cv", "marketing", "CV", "cv_1", "")),
    BodyField("UploadRequest", "content_type", "/uploads", "upload",
              ("application/pdf", " Application/PDF\t", "application/pdf; charset=utf-8", "image/svg+xml",
               "\napplication/pdf", "application/pdf\n", "application/\u212apdf", "application")),
    BodyField("DownloadRequest", "key", "/downloads", "download",
              (ALICE_CV, "private/users/alice/../bob/cv/x.pdf", "/private/x", "private//x", "private/x/", "...")),
    BodyField("DownloadRequest", "ip", "/downloads", "download",
              ("203.0.113.9", "203.0.113.0/24", "0.0.0.0/0", "2001:db8::/32", "203.0.113.9/33", "01.2.3.4",
               "1.2.3.4/255.255.255.0", " 1.2.3.4", "256.1.1.1")),
    BodyField("CookiesRequest", "prefix", "/downloads/cookies", "download",
              ("private/users/alice/", "private/users/alice", "/", "./", "private//")),
    BodyField("Viewer", "org_id", "/backend/downloads", "download", ("acme", "a\u202eb", "a\u00a0b", "x\ny")),
    BodyField("BackendDownloadRequest", "reason", "/backend/downloads", "download",
              ("hiring: reviewed CV", "\u00e9t\u00e9", "a\x00", "a\u2029b", "\ufeffx")),
    BodyField("RevocationRequest", "key", "/backend/revocations", "delete",
              (ALICE_CV, "public/marketing/a.png", "private/x", "private/", "private/a/../b")),
    BodyField("RevocationRequest", "prefix", "/backend/revocations", "delete",
              ("private/users/alice/", "private/users/", "private/", "private/a/b/c/", "public/a/b/")),
    BodyField("ErasureRequest", "sub", "/backend/erasures", "delete", ("alice", "auth0|42", ".", "..", "a/b", "")),
    BodyField("ErasureRequest", "org_id", "/backend/erasures", "delete", ("acme", "x" * 128, "x" * 129, "a b")),
]


@pytest.mark.parametrize("spec", BODY_FIELDS, ids=[f"{spec.model}.{spec.field}" for spec in BODY_FIELDS])
@REUSES_FIXTURE
@given(data=st.data())
def test_a_body_string_is_400_exactly_when_the_document_refuses_it(life: Minting, spec: BodyField,
                                                                    data: st.DataObject) -> None:
    # Given a request whose one field is a string near the document's constraint
    oracle = body_oracle(spec.model, spec.field)
    value = data.draw(candidates(oracle, samples=spec.samples), label=spec.field)
    refused = not oracle.accepts(value)
    hypothesis.event("refused by the document" if refused else "accepted by the document")
    # (Audited free text must also be printable, as its schema description says: no pattern lists
    # every invisible or unassigned character)
    if spec.field in AUDITED_TEXT_FIELDS and spec.model in ("Viewer", "BackendDownloadRequest"):
        assert "isprintable" in json.dumps(SCHEMAS[spec.model]["properties"][spec.field])
        refused = refused or not value.isprintable()
    # When the handler answers it
    response = getattr(life, spec.handler)(spec.event(value))
    # Then it is 400 invalid_request exactly when the document's schema refuses the value
    assert (response["statusCode"] == 400) is refused, (value, response["statusCode"], response["body"])
    if refused:
        assert body(response)["error"]["code"] == "invalid_request"


# --- query and path parameters -------------------------------------------------------------------

@pytest.mark.parametrize(("path", "name", "samples"), [
    ("/backend/files", "owner", ("alice", "", "a\x7fb", "\u00e9", "x" * 257)),
    ("/backend/files", "org", ("acme", "a b", "a\tb")),
    ("/files", "rule", ("cv", "CV", "c v", "x" * 41)),
])
@REUSES_FIXTURE
@given(data=st.data())
def test_a_query_value_is_400_exactly_when_the_document_refuses_it(life: Minting, path: str, name: str,
                                                                    samples: tuple[str, ...],
                                                                    data: st.DataObject) -> None:
    # Given a listing with the one parameter near the document's constraint
    oracle = parameter_oracle(path, "get", name)
    value = data.draw(candidates(oracle, samples=samples), label=name)
    query = urlencode({name: value})
    event = (get(path, iam=BACKEND_ARN, query=query) if path.startswith("/backend/")
             else get(path, user("alice", "careers"), query=query))
    # When it is listed / Then 400 exactly when the schema refuses the value
    response = life.file(event)
    assert (response["statusCode"] == 400) is (not oracle.accepts(value)), (value, response["body"])


@REUSES_FIXTURE
@given(value=st.one_of(st.text(max_size=600), st.from_regex(r"v1\.[A-Za-z0-9_-]{1,40}\.[A-Za-z0-9_-]{22}",
                                                            fullmatch=True)))
def test_a_cursor_the_document_refuses_is_400(life: Minting, value: str) -> None:
    # Given a cursor outside the documented shape (or in it, with no valid MAC)
    oracle = parameter_oracle("/files", "get", "cursor")
    response = life.file(get("/files", user("alice", "careers"), query=urlencode({"cursor": value})))
    # Then it is refused: the shape is necessary, the MAC is what makes one valid
    assert response["statusCode"] == 400, response["body"]
    hypothesis.event("accepted shape" if oracle.accepts(value) else "refused shape")


@pytest.mark.parametrize(("method", "template", "name", "handler"), [
    ("get", "/files/{file_id}", "file_id", "file"),
    ("delete", "/files/{file_id}", "file_id", "delete"),
    ("get", "/backend/files/{file_id}", "file_id", "file"),
    ("get", "/backend/erasures/{erasure_id}", "erasure_id", "delete"),
])
@REUSES_FIXTURE
@given(data=st.data())
def test_a_path_id_the_document_refuses_is_404_never_400(*, life: Minting, method: str, template: str, name: str,
                                                         handler: str, data: st.DataObject) -> None:
    # Given an id near the documented shape (one path segment)
    oracle = parameter_oracle(template, method, name)
    value = data.draw(candidates(oracle, samples=("0" * 32, "A" * 32, "0" * 31, "g" * 32)).filter(
        lambda text: text and "/" not in text and text not in {".", ".."}), label=name)
    path = template.replace("{" + name + "}", value)
    iam = BACKEND_ARN if template.startswith("/backend/") else None
    event = api_event(path, claims=None if iam else user("alice", "careers"), iam_arn=iam, method=method.upper())
    # When it is asked for / Then a refused id is 404 not_found, like an unknown one
    response = getattr(life, handler)(event)
    if not oracle.accepts(value):
        assert response["statusCode"] == 404, (value, response["body"])
    assert response["statusCode"] != 400, (value, response["body"])


# --- integral numbers -------------------------------------------------------------------------------

#: Every integer field of the request models, with a body it goes in, and its documented range.
INTEGER_FIELDS: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (UploadRequest, UPLOAD, "size"),
    (UploadRequest, UPLOAD, "expires_in"),
    (DownloadRequest, {"key": ALICE_CV}, "expires_in"),
    (DownloadRequest, {"key": ALICE_CV}, "starts_at"),
    (BackendDownloadRequest, {"key": ALICE_CV, "viewer": {"sub": "bob"}, "reason": "r"}, "grant_lifetime"),
    (CookiesRequest, {"prefix": "private/users/alice/"}, "expires_in"),
]


def _outcome(model: type[BaseModel], payload: dict[str, Any]) -> Any:
    """The model, or the refusal's error types: what the handler's validation turns into 201/200 or 400."""
    try:
        return model.model_validate(json.loads(json.dumps(payload)))
    except ValidationError as error:
        return sorted(detail["type"] for detail in error.errors())


def test_every_integer_field_of_the_document_is_covered() -> None:
    # Given the document's request schemas / Then each integer property is in INTEGER_FIELDS, and is "integer"
    documented = set()
    for model in ("UploadRequest", "BackendUploadRequest", "DownloadRequest", "BackendDownloadRequest",
                  "CookiesRequest", "RevocationRequest", "ErasureRequest", "OnBehalfOf", "Viewer"):
        for field, schema in SCHEMAS[model]["properties"].items():
            types = {schema.get("type"), *(option.get("type") for option in schema.get("anyOf", []))}
            if types & {"integer", "number"}:
                assert "number" not in types, (model, field)
                documented.add((model, field))
    covered = {(model.__name__, field) for model, _, field in INTEGER_FIELDS}
    inherited = {(f"Backend{model}", field) for model, field in covered
                 if model in {"UploadRequest", "DownloadRequest"}}
    assert documented == covered | inherited


@pytest.mark.parametrize(("model", "payload", "field"), INTEGER_FIELDS,
                         ids=[f"{model.__name__}.{field}" for model, _, field in INTEGER_FIELDS])
@given(number=st.one_of(st.integers(-10, 2**41), st.integers(-(2**70), 2**70)))
def test_an_integral_json_number_is_that_integer(model: type[BaseModel], payload: dict[str, Any], field: str,
                                                 number: int) -> None:
    # Given an integer, and the same as a JSON float where a float holds it exactly
    hypothesis.assume(float(number) == number)
    # Then both give the same outcome: the same model, or the same refusal
    assert _outcome(model, {**payload, field: float(number)}) == _outcome(model, {**payload, field: number})


@pytest.mark.parametrize(("model", "payload", "field"), INTEGER_FIELDS,
                         ids=[f"{model.__name__}.{field}" for model, _, field in INTEGER_FIELDS])
@given(value=st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()),
    st.sampled_from([math.nan, math.inf, -math.inf, 48213.5, 0.5, 1e-300]),
    st.booleans(), st.text(max_size=10), st.sampled_from(["48213", "48213.0", "1e3"])))
def test_anything_but_an_integral_number_is_refused(model: type[BaseModel], payload: dict[str, Any], field: str,
                                                    value: Any) -> None:
    # Given a non-integral number, a boolean or a string / Then validation refuses it
    with pytest.raises(ValidationError):
        model.model_validate({**payload, field: value})


@pytest.mark.parametrize(("text", "status"), [
    ('{"rule": "cv", "content_type": "application/pdf", "size": 48213.0}', 201),
    ('{"rule": "cv", "content_type": "application/pdf", "size": 4.8213e4}', 201),
    ('{"rule": "cv", "content_type": "application/pdf", "size": 48213, "expires_in": 60.0}', 201),
    ('{"rule": "cv", "content_type": "application/pdf", "size": 48213.5}', 400),
    ('{"rule": "cv", "content_type": "application/pdf", "size": true}', 400),
    ('{"rule": "cv", "content_type": "application/pdf", "size": "48213"}', 400),
    ('{"rule": "cv", "content_type": "application/pdf", "size": NaN}', 400),
    ('{"rule": "cv", "content_type": "application/pdf", "size": Infinity}', 400),
    ('{"rule": "cv", "content_type": "application/pdf", "size": 1e400}', 400),
    ('{"rule": "cv", "content_type": "application/pdf", "size": 1e30}', 413),
])
def test_the_upload_handler_reads_integral_numbers_as_integers(minting: Minting, text: str, status: int) -> None:
    # Given a body as a client's JSON library may write it / When it is sent
    response = minting.upload(api_event("/uploads", raw_body=text, claims=careers("alice")))
    # Then an integral number is the integer (the record holds 48213), anything else a 400
    assert response["statusCode"] == status, response["body"]
    if status == 201:
        item = get_item(body(response)["file_id"])
        assert item is not None and item["declared_size"] == 48213
    elif status == 400:
        assert body(response)["error"]["code"] == "invalid_request"


@REUSES_FIXTURE
@given(size=st.integers(1, 11 * 1024 * 1024), fractional=st.floats(0.001, 0.999))
def test_integral_and_exact_sizes_mint_alike_and_fractions_are_400(minting: Minting, size: int,
                                                                   fractional: float) -> None:
    # Given one size written as an integer, as an integral float, and with a fraction
    answers = [minting.upload(api_event("/uploads", raw_body=json.dumps({**UPLOAD, "size": value}),
                                        claims=careers("alice")))
               for value in (size, float(size), size + fractional)]
    exact, integral, fraction = answers
    # Then the first two answer alike (a mint under the same limit, or the same refusal)
    assert exact["statusCode"] == integral["statusCode"] in {201, 413}
    if exact["statusCode"] == 201:
        assert body(exact)["max_bytes"] == body(integral)["max_bytes"]
    else:
        assert body(exact) == body(integral)
    # And a size with a fraction is a 400 whatever its magnitude
    assert fraction["statusCode"] == 400 and body(fraction)["error"]["code"] == "invalid_request"
