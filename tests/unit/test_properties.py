"""Properties over many generated requests (hypothesis; 1,000 examples each under the ``ci`` profile).

- no minted key falls outside the caller's rules;
- no identity gets a URL for another identity's key;
- hostile filenames are refused or neutralised;
- arbitrary JSON bodies and headers never make a handler raise or answer 5xx.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any
from urllib.parse import unquote, urlsplit

from conftest import BACKEND_ARN, BASE_URL, SEED_RULES, Minting, api_event, body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filegate.domain.identity import Identity
from filegate.domain.keys import key_in_rule
from filegate.domain.rules import CONTENT_TYPE_EXTENSIONS, parse_rules

RULES = parse_rules(SEED_RULES)
RULE_NAMES = [rule["name"] for rule in SEED_RULES]
REUSES_FIXTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["..", ".", "../x", "a/b", "a\\b", "a\x00b", "\u202eabc", "x\u200by", "\uff0e\uff0e",
                     "*", "?", "%2e%2e", "a b", "", "auth0|1", "alice", "bob", "acme"]),
)
claim_value = st.one_of(st.sampled_from(["alice", "bob", "acme", "evil", "auth0|42", "x@y.org"]), hostile_text)
groups = st.lists(st.sampled_from(["careers", "org", "marketing", "admin", "Careers"]), max_size=3)


@st.composite
def identities(draw: st.DrawFn) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": draw(claim_value)}
    claims["cognito:groups"] = draw(st.one_of(groups.map(lambda g: "[" + " ".join(g) + "]"), groups))
    if draw(st.booleans()):
        claims["org_id"] = draw(claim_value)
    return claims


def _identity(claims: dict[str, Any]) -> Identity:
    from filegate.handlers.common import parse_groups
    strings = {name: value for name, value in claims.items() if isinstance(value, str)}
    return Identity(sub=claims["sub"], groups=parse_groups(claims["cognito:groups"]), claims=strings)


@REUSES_FIXTURE
@given(claims=identities(), rule=st.one_of(st.sampled_from(RULE_NAMES), st.text(max_size=12)),
       content_type=st.one_of(st.sampled_from(sorted(CONTENT_TYPE_EXTENSIONS)), st.text(max_size=30)),
       size=st.integers(min_value=-5, max_value=30 * 1024 * 1024))
def test_minted_upload_keys_lie_inside_the_callers_rule(minting: Minting, claims: dict[str, Any], rule: str,
                                                        content_type: str, size: int) -> None:
    response = minting.upload(api_event("/uploads", {"rule": rule, "content_type": content_type, "size": size},
                                        claims=claims))
    assert 200 <= response["statusCode"] < 500
    if response["statusCode"] != 201:
        return
    identity = _identity(claims)
    chosen = next(candidate for candidate in RULES if candidate.name == rule)
    key = body(response)["key"]
    assert chosen.allows("upload") and chosen.admits(identity.groups)
    assert key_in_rule(chosen, identity, key)
    assert content_type.strip().lower() in chosen.content_types and 1 <= size <= chosen.max_bytes


@st.composite
def keys(draw: st.DrawFn) -> str:
    rule = draw(st.sampled_from(SEED_RULES))
    key: str = rule["key_template"]
    for name in ("sub", "org_id"):
        key = key.replace("{" + name + "}", draw(claim_value))
    file_name = draw(st.one_of(st.just("0123456789abcdef0123456789abcdef.pdf"),
                               st.just("0123456789abcdef0123456789abcdef.png"), hostile_text))
    return key.replace("{file}", file_name)


@REUSES_FIXTURE
@given(claims=identities(), key=keys(), backend=st.booleans())
def test_no_identity_gets_a_url_for_another_identitys_key(minting: Minting, claims: dict[str, Any], key: str,
                                                          backend: bool) -> None:
    identity = _identity(claims)
    if backend:
        behalf: dict[str, Any] = {"sub": claims["sub"] or "x", "groups": sorted(identity.groups)}
        if claims.get("org_id"):
            behalf["org_id"] = claims["org_id"]
        vouched = {"sub": behalf["sub"], **({"org_id": behalf["org_id"]} if "org_id" in behalf else {})}
        identity = Identity(sub=behalf["sub"], groups=identity.groups, claims=vouched)
        event = api_event("/backend/downloads", {"key": key, "on_behalf_of": behalf}, iam_arn=BACKEND_ARN)
    else:
        event = api_event("/downloads", {"key": key}, claims=claims)
    response = minting.download(event)
    assert 200 <= response["statusCode"] < 500
    if response["statusCode"] != 200:
        return
    url = urlsplit(body(response)["url"])
    assert f"{url.scheme}://{url.netloc}" == BASE_URL and unquote(url.path[1:]) == key
    # The key is in the caller's own space of a rule the caller may download from
    assert any(rule.allows("download") and rule.admits(identity.groups) and key_in_rule(rule, identity, key)
               for rule in RULES)


_BAD_CHARACTERS = {"/", "\\", "\x00"}


@REUSES_FIXTURE
@given(filename=st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from(["/", "\\", ".", "\x00", "\u202e", "\u200f", "\u2066", "\n", "\r", "a",
                                      "\uff0f", "\uff0e", "\u2024", "\ufe52", "\u0301", "\ufb01", "%", '"', ";"]),
            max_size=60),
    st.builds(lambda n, s: s * n, st.integers(1, 12_000), st.sampled_from(["a", "../", "\u00e9", "\U0001f600"])),
))
def test_hostile_filenames_are_refused_or_neutralised(minting: Minting, filename: str) -> None:
    request = {"rule": "cv", "content_type": "application/pdf", "size": 10, "filename": filename}
    response = minting.upload(api_event("/uploads", request, claims={"sub": "alice", "groups": ["careers"]}))
    if response["statusCode"] == 400:
        assert len(filename) > 1024
        return
    assert response["statusCode"] == 201, response["body"]
    result = body(response)
    assert key_in_rule(RULES[0], Identity(sub="alice", groups=frozenset({"careers"})), result["key"])
    fields = result["fields"]
    disposition = fields["Content-Disposition"]
    metadata = fields["x-amz-meta-original-filename"]
    for value in (disposition, metadata):
        assert value.isascii() and all(0x20 <= ord(char) < 0x7F for char in value)
    display = unquote(disposition.split("filename*=UTF-8''", 1)[1])
    assert display == unquote(metadata)
    assert display.endswith(".pdf") and len(display) <= 120
    assert not _BAD_CHARACTERS & set(display)
    assert not any(unicodedata.category(char).startswith("C") for char in display)
    assert not display.startswith(".") and ".." not in display.split("/")
    assert unicodedata.normalize("NFKC", display) == display


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@st.composite
def request_bodies(draw: st.DrawFn) -> Any:
    """Arbitrary JSON, or a near-valid body with one field replaced by arbitrary JSON."""
    base = draw(st.sampled_from([
        {"rule": "cv", "content_type": "application/pdf", "size": 10, "filename": "a.pdf"},
        {"key": "private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf", "ip": "1.2.3.4", "starts_at": 1},
        {"prefix": "private/users/alice/"},
    ]))
    if draw(st.booleans()):
        return draw(json_values)
    field = draw(st.sampled_from([*base, "on_behalf_of", "extra"]))
    return {**base, field: draw(json_values)}


@REUSES_FIXTURE
@given(
    payload=request_bodies(),
    raw=st.one_of(st.none(), st.text(max_size=50), st.binary(max_size=30).map(lambda b: b.decode("latin-1"))),
    path=st.sampled_from(["/uploads", "/backend/uploads", "/downloads", "/downloads/cookies", "/backend/downloads",
                          "/", "/uploads/../downloads", "/nope"]),
    headers=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=5),
    claims=st.one_of(st.none(), identities(), st.dictionaries(st.text(max_size=8), json_values, max_size=4)),
    iam=st.booleans(),
    encoded=st.booleans(),
)
def test_arbitrary_requests_never_make_a_handler_fail(*, minting: Minting, payload: Any, raw: str | None, path: str,
                                                      headers: dict[str, str], claims: Any, iam: bool,
                                                      encoded: bool) -> None:
    raw_body = raw if raw is not None and not encoded else None
    event = api_event(path, payload, claims=claims, iam_arn=BACKEND_ARN if iam else None, headers=headers,
                      raw_body=raw_body, base64_body=encoded and raw is None)
    for handle in (minting.upload, minting.download):
        response = handle(event)
        assert 200 <= response["statusCode"] < 500, response["body"]
        parsed = json.loads(response["body"])
        if response["statusCode"] >= 400:
            assert set(parsed) == {"error"} and set(parsed["error"]) == {"code", "message"}
