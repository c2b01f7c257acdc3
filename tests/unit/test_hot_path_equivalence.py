"""The hot path's shortcuts write what the plain code wrote (issue 12: behaviour unchanged).

Each shortcut is checked against an oracle that is the straightforward way of doing the same
thing: ``json.dumps`` of the policy document, ``base64`` and character substitution, the
audit text cleaner's regular expression, the filename cleaner's character loops, Powertools'
resolver for route matching, and ``json`` (as Powertools' formatter and the reply encoder
called it) for the two texts pydantic-core writes.
"""

from __future__ import annotations

import base64
import enum
import json
import re
import types
import typing
import unicodedata
from collections.abc import Callable
from urllib.parse import quote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from hypothesis import given, settings
from hypothesis import strategies as st

from filegate.domain import keys
from filegate.domain.cloudfront import canned_policy, cloudfront_b64encode, resource_url
from filegate.handlers import common, models, request_log
from filegate.handlers.routing import Router, encoded_body

_ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@settings(max_examples=200, deadline=None)
@given(resource=_ANY_TEXT, expires=st.integers(0, 2**40))
def test_the_canned_policy_is_json_dumps_of_the_statement(resource: str, expires: int) -> None:
    # Given any resource and expiry / When the canned policy is built
    built = canned_policy(resource, expires)
    # Then it is byte for byte what json.dumps writes for the statement
    assert built == json.dumps({"Statement": [{"Resource": resource,
                                               "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}]},
                               separators=(",", ":"), ensure_ascii=True)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=600))
def test_cloudfront_base64_is_base64_with_cloudfronts_substitutions(data: bytes) -> None:
    # Given any bytes / When encoded / Then base64 with + = / replaced by - _ ~ (CloudFront's docs)
    expected = base64.b64encode(data).decode().replace("+", "-").replace("=", "_").replace("/", "~")
    assert cloudfront_b64encode(data) == expected


@settings(max_examples=300, deadline=None)
@given(key=st.one_of(_ANY_TEXT, st.text(st.sampled_from("abcXYZ019/._~-%?#& +é"), max_size=60),
                     st.builds(lambda sub, file: f"private/users/{sub}/cv/{file}.pdf",
                               st.text(st.characters(codec="ascii"), max_size=20), st.text(max_size=8))))
def test_a_resource_url_escapes_the_key_as_quote_does(key: str) -> None:
    # Given any key / When its resource URL is built / Then the key is quote()'d, "/" and unreserved kept
    assert resource_url("https://files.example.com", key) == "https://files.example.com/" + quote(key, safe="/-._~")


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(_ANY_TEXT, st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=400)))
def test_the_audit_text_cleaner_keeps_its_rule(text: str) -> None:
    # Given any text / When cleaned for the audit record
    cleaned = common._clean(text)
    # Then unprintable or non-ASCII characters are "?" and it is cut at 256 characters with "..."
    replaced = _UNPRINTABLE.sub("?", text)
    assert cleaned == (replaced if len(replaced) <= 256 else replaced[:256] + "...")


@settings(max_examples=200, deadline=None)
@given(path=st.one_of(st.sampled_from(["/files", "/files/", "/files/abc", "/files/a/b", "/backend/files/x",
                                       "/downloads", "/downloads/cookies", "//files/x", "/files/%41",
                                       "/files/a b", "/files/é", "/erasures/1"]),
                      st.text(st.characters(codec="ascii"), max_size=30).map(lambda text: "/" + text)),
       method=st.sampled_from(["GET", "POST", "DELETE", "get", "PUT"]))
def test_routes_match_as_powertools_matched_them(path: str, method: str) -> None:
    # Given the same routes on the router and on Powertools' resolver
    ours = Router()
    theirs = APIGatewayHttpResolver()
    for route_method, rule in (("GET", "/files"), ("GET", "/files/<file_id>"), ("DELETE", "/files/<file_id>"),
                               ("POST", "/downloads"), ("POST", "/downloads/cookies"),
                               ("GET", "/backend/files/<file_id>"), ("GET", "/erasures/<erasure_id>")):
        def answer(route_method: str = route_method, rule: str = rule, **params: str) -> Response[str]:
            return Response(200, body=json.dumps([route_method, rule, params]))
        ours.route(route_method, rule)(answer)
        theirs.route(rule, route_method)(answer)
    event = {"version": "2.0", "rawPath": path, "requestContext": {"http": {"method": method}, "stage": "$default"},
             "headers": {}, "rawQueryString": "", "isBase64Encoded": False}
    # When each routes the request
    expected = theirs.resolve(event, None)
    try:
        route, arguments = ours.match(method, path)
    except LookupError:
        found = None
    else:
        found = json.loads(route.function(**arguments).body)
    # Then the same route is found with the same path arguments, or none by either
    assert (found if found is not None else 404) == (json.loads(expected["body"]) if expected["statusCode"] == 200
                                                     else 404)


_HEADER_NAMES = st.one_of(st.sampled_from(["content-type", "Content-Type", "x-origin-verify", "X-Origin-Verify",
                                           "x-forwarded-for", "accept", "Accept", "É-x"]),
                          st.text(max_size=12), st.integers())


@settings(max_examples=300, deadline=None)
@given(received=st.dictionaries(_HEADER_NAMES, st.one_of(st.text(max_size=20), st.integers(), st.none()), max_size=8))
def test_headers_are_normalised_as_the_plain_comprehension_does(received: dict[object, object]) -> None:
    # Given any headers (API Gateway's lower-case names, or anything a direct invoke may send)
    # When normalised / Then the text headers by lower-case name, content-type dropped
    expected = {name.lower(): value for name, value in received.items()
                if isinstance(name, str) and isinstance(value, str)}
    expected.pop("content-type", None)
    assert common._normalised_headers(received) == expected


#: What an audit line holds (``audit_record``, the request's context keys): text in any script,
#: lone surrogates included, integers of any size, booleans, null, and lists and objects of them.
_LINE_TEXT = (st.text(max_size=40) | st.text(st.characters(max_codepoint=0x7F), max_size=40)
              | st.lists(st.sampled_from(["a", "\ud800", "\udfff", "é", "\x00", "\x7f", '"']), max_size=6).map("".join))
_LINE_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | _LINE_TEXT,
                            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_LINE_TEXT, inner, max_size=4),
                            max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(line=st.dictionaries(_LINE_TEXT, _LINE_VALUES, max_size=12))
def test_the_audit_line_is_the_text_powertools_formatter_writes(line: dict[str, object]) -> None:
    # Given any audit line's values / When serialized for the log
    written = request_log._serialize(line)
    # Then it is byte for byte what json writes as Powertools' formatter calls it
    assert written == json.dumps(line, separators=(",", ":"), default=str, ensure_ascii=False)


def _replies(base: type[models.BaseModel] = models._Reply) -> list[type[models.BaseModel]]:
    found = []
    for reply in base.__subclasses__():
        found += [reply, *_replies(reply)]
    return found


def _instances(model: type[models.BaseModel]) -> st.SearchStrategy[models.BaseModel]:
    """Instances of ``model`` with every field drawn from its type (nested models likewise)."""
    fields = {name: _values(field.annotation) for name, field in model.model_fields.items()}
    return st.fixed_dictionaries(fields).map(lambda values: model.model_construct(**values))


def _values(annotation: object) -> st.SearchStrategy[object]:
    """Values of a reply field's type: text in any script (control characters and DEL included),
    integers of any size, booleans, null, enumerations, literals, lists, maps and models."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    by_origin: dict[object, Callable[[], st.SearchStrategy[object]]] = {
        typing.Annotated: lambda: _values(arguments[0]),
        typing.Union: lambda: st.one_of([_values(argument) for argument in arguments]),
        types.UnionType: lambda: st.one_of([_values(argument) for argument in arguments]),
        typing.Literal: lambda: st.sampled_from(arguments),
        list: lambda: st.lists(_values(arguments[0]), max_size=3),
        tuple: lambda: st.lists(_values(arguments[0]), max_size=3),
        dict: lambda: st.dictionaries(_values(arguments[0]), _values(arguments[1]), max_size=4),
    }
    if origin in by_origin:
        return by_origin[origin]()
    if isinstance(annotation, type) and issubclass(annotation, models.BaseModel):
        return st.deferred(lambda: _instances(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    return {str: _REPLY_TEXT, int: st.integers(), bool: st.booleans(), type(None): st.none()}[annotation]


_REPLY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30) | st.text(
    st.characters(max_codepoint=0x7F), max_size=30)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), reply=st.sampled_from(sorted(_replies(), key=lambda reply: reply.__name__)))
def test_a_reply_is_the_text_json_wrote_for_its_model_dump(data: st.DataObject, reply: type[models.BaseModel]) -> None:
    # Given any reply a route can return, its fields any values of their types
    instance = data.draw(_instances(reply))
    # When encoded as the response body
    written = encoded_body(instance)
    # Then it is byte for byte the compact json of its JSON-mode dump, as before
    assert written == json.dumps(instance.model_dump(mode="json", by_alias=True), separators=(",", ":"))


def _oracle_clean_name(text: str) -> str:
    """``keys._clean_name`` as it was before its printable-ASCII shortcut."""
    for _ in range(4):
        cleaned = unicodedata.normalize("NFKC", text)
        cleaned = "".join(char for char in cleaned if not unicodedata.category(char).startswith("C"))
        cleaned = re.sub(r'[/\\:*?"<>|]', "_", cleaned)
        cleaned = re.sub(r"\s+", " ", cleaned).strip(" .")
        if cleaned == text:
            break
        text = cleaned
    return text


def _oracle_ascii_fallback(filename: str) -> str:
    """``keys.ascii_fallback`` as it was before ``str.translate``: one character at a time."""
    decomposed = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    text = "".join(char if 0x20 <= ord(char) < 0x7F and char not in '"\\%;' else "_" for char in decomposed)
    stem, _, extension = text.rpartition(".")
    return text if stem.strip("_ .") else f"file.{extension or 'bin'}"


#: Filenames as browsers send them (mostly printable ASCII), and anything else at all.
_FILENAMES = st.one_of(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=150),
                       st.text(st.characters(max_codepoint=0x7F), max_size=150), st.text(max_size=150))


@settings(max_examples=400, deadline=None)
@given(name=_FILENAMES)
def test_the_filename_cleaner_and_its_ascii_fallback_write_what_the_plain_code_wrote(name: str) -> None:
    # Given any filename (surrogates, controls and every script included) / When it is cleaned
    # Then the shortcut paths give what the character-by-character code gave
    assert keys._clean_name(name) == _oracle_clean_name(name)
    assert keys.ascii_fallback(name) == _oracle_ascii_fallback(name)
    cleaned = _oracle_clean_name(name)
    assert keys.ascii_fallback(cleaned) == _oracle_ascii_fallback(cleaned)
