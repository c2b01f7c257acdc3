"""Properties over many generated requests (hypothesis; 1,000 examples each under the ``ci`` profile).

The oracles are written here, from the design (DESIGN.md decision 6), not taken from the code
under test: a key is the rule's template filled, by plain string formatting, with the caller's
own claims, ending in a 32-hex-digit server id and the declared type's extension.

- a minted upload key is exactly that, and only callers in the rule's groups get one;
- no identity gets a URL for a key built from another identity's claims;
- a URL is minted only for a key whose file record is ``clean`` (docs/verification.md, "API");
- a signed cookie only ever covers a prefix filled with the caller's own claims;
- hostile filenames are refused or neutralised;
- arbitrary JSON bodies and headers never make a handler raise or answer 5xx.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import boto3
import hypothesis
from conftest import BACKEND_ARN, BASE_URL, FILES_TABLE, REGION, SEED_RULES, Minting, api_event, body, put_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RULES_BY_NAME = {rule["name"]: rule for rule in SEED_RULES}
RULE_NAMES = list(RULES_BY_NAME)
REUSES_FIXTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
#: The stored extension of each content type the seed rules name (the design's table, by hand).
EXTENSION = {"application/pdf": "pdf", "application/msword": "doc",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
             "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
#: Claim values a key may hold (RFC 3986 unreserved plus ``@+:|=``), never ``.`` or ``..``.
USABLE_CLAIM = re.compile(r"[A-Za-z0-9._~@+:|=-]{1,128}")
CLAIMS_IN = re.compile(r"\{(sub|org_id)\}")
#: The last segment of every key the server mints: ``<32 hex>.<extension>``.
SERVER_FILE_NAME = re.compile(r"[0-9a-f]{32}\.[a-z0-9]{1,8}")

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["..", ".", "../x", "a/b", "a\\b", "a\x00b", "\u202eabc", "x\u200by", "\uff0e\uff0e",
                     "*", "?", "%2e%2e", "a b", "", "auth0|1", "alice", "bob", "acme"]),
)
common_claim = st.sampled_from(["alice", "bob", "acme", "evil", "auth0|42", "x@y.org"])
claim_value = st.one_of(common_claim, common_claim, common_claim, hostile_text)  # mostly plausible values
#: Rule group names, as DESIGN.md and the README state them.
DESIGN_GROUP = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
#: Where a generated caller keeps the groups its token was issued with (a non-string claim,
#: which the handlers never read): the truth the oracles compare against.
ISSUED = "test:issued-groups"
#: Names Cognito allows in a group (letters, marks, symbols, numbers, punctuation; no white
#: space): brackets, quotes and commas that could make one name read as another.
COGNITO_NAME_CHARACTERS = st.characters(categories=["L", "M", "S", "N", "P"])
adversarial_group = st.sampled_from(['"careers"', "careers]", "[careers", "careers,ops", "org,careers", "'careers'",
                                     '["careers"]', "careers\"", "{careers}", "Careers", "careers;", "[]"])
cognito_group = st.one_of(st.sampled_from(["careers", "org", "marketing", "admin"]), adversarial_group,
                          st.text(COGNITO_NAME_CHARACTERS, min_size=1, max_size=12))


def api_gateway_renders(names: list[str]) -> str:
    """How the HTTP API JWT authorizer hands an array claim to the integration (AWS's docs)."""
    return "[" + " ".join(names) + "]"


@st.composite
def identities(draw: st.DrawFn) -> dict[str, Any]:
    """Claims as the JWT authorizer passes them (half plausible callers, half anything goes),
    plus the groups the issuer really put in the token under ``ISSUED``."""
    plausible = draw(st.booleans())
    value = common_claim if plausible else claim_value
    claims: dict[str, Any] = {"sub": draw(value)}
    issued = draw(st.lists(cognito_group, max_size=3))
    if plausible:
        issued = ["careers", "org", *issued]
    claims[ISSUED] = tuple(issued)
    claims["cognito:groups"] = api_gateway_renders(issued) if draw(st.booleans()) else list(issued)
    if plausible or draw(st.booleans()):
        claims["org_id"] = draw(value)
    return claims


def groups_of(claims: dict[str, Any]) -> set[str] | None:
    """The groups the design grants: exactly those issued; ``None`` where the claim must be
    refused, because its rendering as "[a b]" holds a name rule groups cannot be (so the string
    may not say what the token said)."""
    issued = claims.get(ISSUED, ())
    if isinstance(claims.get("cognito:groups"), str) and not all(DESIGN_GROUP.fullmatch(n) for n in issued):
        return None
    return set(issued)


def in_a_group_of(claims: dict[str, Any], groups: list[str]) -> bool:
    granted = groups_of(claims)
    return granted is not None and bool(granted & set(groups))


def verified(claims: dict[str, Any]) -> bool:
    """A subject the design accepts as a verified identity: 1-256 printable ASCII characters."""
    sub = claims.get("sub")
    return isinstance(sub, str) and 0 < len(sub) <= 256 and all(0x20 <= ord(char) <= 0x7E for char in sub)


def usable(value: object) -> bool:
    return isinstance(value, str) and USABLE_CLAIM.fullmatch(value) is not None and value not in {".", ".."}


def fill(template: str, claims: dict[str, Any], file: str = "{file}") -> str:
    """The template with claims put in by string formatting (no filegate code involved)."""
    return template.format(sub=claims.get("sub"), org_id=claims.get("org_id"), file=file)


def file_name_pattern(content_types: list[str]) -> re.Pattern[str]:
    extensions = "|".join(sorted({EXTENSION[content_type] for content_type in content_types}))
    return re.compile(rf"^[0-9a-f]{{32}}\.({extensions})$")


def claims_used(template: str, claims: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(claims.get(name) for name in CLAIMS_IN.findall(template))


@REUSES_FIXTURE
@given(claims=identities(), rule=st.one_of(st.sampled_from(RULE_NAMES), st.text(max_size=12)),
       content_type=st.one_of(st.sampled_from(sorted(EXTENSION)), st.sampled_from(sorted(EXTENSION)),
                              st.sampled_from(["APPLICATION/PDF", " image/png", "image/svg+xml"]),
                              st.text(max_size=30)),
       size=st.one_of(st.integers(min_value=1, max_value=12 * 1024 * 1024),
                      st.integers(min_value=-5, max_value=30 * 1024 * 1024)))
def test_minted_upload_keys_are_the_template_filled_with_the_callers_claims(
        minting: Minting, claims: dict[str, Any], rule: str, content_type: str, size: int) -> None:
    # When a caller asks to upload
    response = minting.upload(api_event("/uploads", {"rule": rule, "content_type": content_type, "size": size},
                                        claims=claims))
    assert 200 <= response["statusCode"] < 500
    hypothesis.event(f"status {response['statusCode']}")
    seed = RULES_BY_NAME.get(rule)
    # the document's content_type pattern: ASCII, padded with spaces or tabs at most
    declared = content_type.strip(" \t").lower() if content_type.isascii() else None
    expected_ok = (seed is not None and verified(claims) and "upload" in seed["actions"]
                   and in_a_group_of(claims, seed["groups"])
                   and all(usable(value) for value in claims_used(seed["key_template"], claims))
                   and declared in seed["content_types"] and 1 <= size <= seed["max_bytes"])
    # Then it is minted exactly when the design says so
    assert (response["statusCode"] == 201) is expected_ok, (response["body"], claims)
    if not expected_ok:
        return
    assert seed is not None
    key = body(response)["key"]
    file_name = key.rpartition("/")[2]
    # And the key is the template filled with the caller's own claims, ending in a server-chosen
    # id and the declared type's extension
    assert re.fullmatch(rf"[0-9a-f]{{32}}\.{EXTENSION[declared]}", file_name), key
    assert key == fill(seed["key_template"], claims, file=file_name)


def owner_claims(draw: st.DrawFn, caller: dict[str, Any]) -> dict[str, Any]:
    """Whose claims build a key or prefix: the caller's own half the time, else anyone's."""
    if draw(st.booleans()):
        return {"sub": caller["sub"], "org_id": caller.get("org_id") or draw(claim_value)}
    return {"sub": draw(claim_value), "org_id": draw(claim_value)}


@st.composite
def key_requests(draw: st.DrawFn) -> tuple[dict[str, Any], str, dict[str, Any], str]:
    """A caller, and a key built from some owner's claims (the caller's own or someone else's):
    the caller's claims, the key, the owner's claims and the rule it was built from."""
    caller = draw(identities())
    rule = draw(st.sampled_from(SEED_RULES))
    owner = owner_claims(draw, caller)
    extension = draw(st.sampled_from(["pdf", "png", "jpg", "doc", "html", "svg"]))
    valid = st.from_regex(r"[0-9a-f]{32}", fullmatch=True).map(lambda file_id: f"{file_id}.{extension}")
    file_name = draw(st.one_of(valid, valid, st.just("0123456789ABCDEF0123456789ABCDEF.pdf"), hostile_text))
    return caller, fill(rule["key_template"], owner, file=file_name), owner, rule["name"]


@REUSES_FIXTURE
@given(built=key_requests(), backend=st.booleans())
def test_no_identity_gets_a_url_for_another_identitys_key(minting: Minting,
                                                          built: tuple[dict[str, Any], str, dict[str, Any], str],
                                                          backend: bool) -> None:
    claims, key, owner, rule_name = built
    caller = dict(claims)
    if backend:
        behalf: dict[str, Any] = {"sub": claims["sub"] or "x", "groups": sorted(set(claims[ISSUED]))}
        if claims.get("org_id"):
            behalf["org_id"] = claims["org_id"]
        caller = {"sub": behalf["sub"], "org_id": behalf.get("org_id"), ISSUED: tuple(behalf["groups"])}
        request = api_event("/backend/downloads", {"key": key, "on_behalf_of": behalf}, iam_arn=BACKEND_ARN)
    else:
        request = api_event("/downloads", {"key": key}, claims=claims)
    # Given the file behind the key (when it names one) was verified: only the rules decide here
    if SERVER_FILE_NAME.fullmatch(key.rpartition("/")[2]):
        put_record(key, status="clean")
    # When the caller asks for a URL to a key built from the owner's claims
    response = minting.download(request)
    assert 200 <= response["statusCode"] < 500
    hypothesis.event(f"status {response['statusCode']}")
    template = RULES_BY_NAME[rule_name]["key_template"]
    # Then a key built from claims other than the caller's own is refused
    if claims_used(template, owner) != claims_used(template, caller):
        assert response["statusCode"] != 200, (key, caller)
    if response["statusCode"] != 200:
        return
    url = urlsplit(body(response)["url"])
    assert f"{url.scheme}://{url.netloc}" == BASE_URL and unquote(url.path[1:]) == key
    # And a granted key is some downloadable rule's template filled with the caller's own claims
    file_name = key.rpartition("/")[2]
    assert any("download" in seed["actions"] and in_a_group_of(caller, seed["groups"])
               and file_name_pattern(seed["content_types"]).match(file_name)
               and key == fill(seed["key_template"], caller, file=file_name)
               for seed in SEED_RULES), (key, caller)


#: What a download of one's own key answers, by the state of the file's record (the design's table).
RECORD_ANSWER = {None: 404, "awaiting_upload": 409, "verifying": 409, "rejected": 403, "clean": 200}


@REUSES_FIXTURE
@given(status=st.sampled_from(sorted(RECORD_ANSWER, key=str)), same_key=st.booleans(),
       file_id=st.from_regex(r"[0-9a-f]{32}", fullmatch=True), backend=st.booleans())
def test_a_url_is_minted_only_for_a_clean_record_of_that_exact_key(minting: Minting, status: str | None,
                                                                   same_key: bool, file_id: str,
                                                                   backend: bool) -> None:
    # Given Alice's own CV key, and a record for its file id (for that key, or another key), or none
    key = f"private/users/alice/cv/{file_id}.pdf"
    boto3.client("dynamodb", region_name=REGION).delete_item(TableName=FILES_TABLE, Key={"file_id": {"S": file_id}})
    if status is not None:
        put_record(key if same_key else f"private/users/alice/certificates/{file_id}.png", status=status)
    # When Alice (or a backend for her) asks for a URL
    if backend:
        event = api_event("/backend/downloads", {"key": key, "on_behalf_of": {"sub": "alice", "groups": ["careers"]}},
                          iam_arn=BACKEND_ARN)
    else:
        event = api_event("/downloads", {"key": key}, claims={"sub": "alice", "cognito:groups": "[careers]"})
    response = minting.download(event)
    # Then the answer is the one the record's state calls for; a record for another key counts as none
    expected = RECORD_ANSWER[status if same_key else None]
    assert response["statusCode"] == expected, (status, same_key, response["body"])
    assert ("url" in body(response)) is (expected == 200)


def owned_prefixes(caller: dict[str, Any]) -> set[str]:
    """The shortest prefixes a caller owns outright: each downloadable rule's template cut right
    after its last claim, filled with the caller's claims (``private/users/<sub>/``)."""
    owned = set()
    for seed in SEED_RULES:
        template = seed["key_template"]
        claim_spans = list(CLAIMS_IN.finditer(template))
        if ("download" in seed["actions"] and claim_spans and in_a_group_of(caller, seed["groups"])
                and all(usable(value) for value in claims_used(template, caller))):
            owned.add(fill(template[:claim_spans[-1].end()], caller) + "/")
    return owned


@st.composite
def prefix_requests(draw: st.DrawFn) -> tuple[dict[str, Any], str, dict[str, Any] | None, str | None]:
    """A caller and a cookie prefix: a seed template cut after some segment and filled with an
    owner's claims (with that owner and the cut template), or arbitrary text."""
    caller = draw(identities())
    if draw(st.integers(0, 4)) == 0:
        arbitrary = st.one_of(hostile_text, st.sampled_from(["private/", "private/users/", "public/", "/"]))
        return caller, draw(arbitrary), None, None
    template = draw(st.sampled_from(SEED_RULES))["key_template"]
    directories = template.split("/")[:-1]
    depth = draw(st.integers(1, len(directories)))
    cut = "/".join(directories[:depth])
    owner = owner_claims(draw, caller)
    return caller, fill(cut, owner) + "/", owner, cut


def _cookie_policy(cookies: dict[str, str]) -> dict[str, Any]:
    text = cookies["CloudFront-Policy"].replace("-", "+").replace("_", "=").replace("~", "/")
    policy: dict[str, Any] = json.loads(base64.b64decode(text))
    return policy


@REUSES_FIXTURE
@given(generated=prefix_requests())
def test_cookies_only_ever_cover_the_callers_own_prefix(
        minting: Minting, generated: tuple[dict[str, Any], str, dict[str, Any] | None, str | None]) -> None:
    claims, prefix, owner, cut = generated
    # When a caller asks for signed cookies for a prefix
    response = minting.download(api_event("/downloads/cookies", {"prefix": prefix}, claims=claims))
    assert 200 <= response["statusCode"] < 500
    hypothesis.event(f"status {response['statusCode']}")
    # Then a prefix that touches another identity's claims (or none at all) is refused
    if cut is not None and owner is not None and (
            claims_used(cut, owner) != claims_used(cut, claims) or not CLAIMS_IN.search(cut)):
        assert response["statusCode"] != 200, (prefix, claims)
    if response["statusCode"] != 200:
        return
    # And a granted cookie's resource is the prefix, under one the caller owns through its own claims
    assert any(prefix.startswith(owned) for owned in owned_prefixes(claims)), (prefix, claims)
    policy = _cookie_policy(body(response)["cookies"])
    resource = policy["Statement"][0]["Resource"]
    assert resource == f"{BASE_URL}/{quote(prefix, safe='/-._~')}*"


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
    response = minting.upload(api_event("/uploads", request, claims={"sub": "alice", "cognito:groups": "[careers]"}))
    if response["statusCode"] == 400:
        assert len(filename) > 1024
        return
    assert response["statusCode"] == 201, response["body"]
    result = body(response)
    assert re.fullmatch(r"private/users/alice/cv/[0-9a-f]{32}\.pdf", result["key"])
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
