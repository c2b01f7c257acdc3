"""The hot path's shortcuts write what the plain code wrote (issue 12: behaviour unchanged).

Each shortcut is checked against an oracle that is the straightforward way of doing the same
thing: ``json.dumps`` of the policy document, ``base64`` and character substitution, the
audit text cleaner's regular expression, Powertools' resolver for route matching.
"""

from __future__ import annotations

import base64
import json
import re

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from hypothesis import given, settings
from hypothesis import strategies as st

from filegate.domain.cloudfront import canned_policy, cloudfront_b64encode
from filegate.handlers import common
from filegate.handlers.routing import Router

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
