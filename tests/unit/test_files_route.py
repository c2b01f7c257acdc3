"""GET /files/{file_id} through the real handler, in moto: the owner sees the record, nobody else
learns that it exists (docs/verification.md, "API")."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from conftest import FILES_TABLE, REGION, Minting, api_event, body, careers, put_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FILE_ID = "0123456789abcdef0123456789abcdef"
ALICE_CV = f"private/users/alice/cv/{FILE_ID}.pdf"
ORG_FILE_ID = "fedcba9876543210fedcba9876543210"
ACME_REGISTRATION = f"private/orgs/acme/registration/{ORG_FILE_ID}.pdf"
PUBLIC_FIELDS = {"file_id", "key", "rule", "filename", "content_type", "size", "status", "created_at"}


def get(minting: Minting, file_id: str, claims: dict[str, Any] | None) -> dict[str, Any]:
    return minting.file(api_event(f"/files/{file_id}", claims=claims, method="GET"))


def assert_not_found(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 404, response["body"]
    assert body(response) == {"error": {"code": "not_found", "message": "no such file"}}


def test_the_owner_sees_the_public_fields(minting: Minting) -> None:
    # Given Alice's verified CV
    put_record(ALICE_CV, status="clean", size=48213, created_at=1_800_000_000, owner_org_id="acme",
               sha256="ab" * 32, detected_type="application/pdf", scan_verdict="NO_THREATS_FOUND")
    # When Alice asks for it
    response = get(minting, FILE_ID, careers("alice"))
    # Then she gets exactly the public fields: no owner ids, no hash, no verdict, no URL
    assert response["statusCode"] == 200, response["body"]
    assert response["headers"]["Cache-Control"] == "no-store"
    assert body(response) == {"file_id": FILE_ID, "key": ALICE_CV, "rule": "cv", "filename": "file.pdf",
                              "content_type": "application/pdf", "size": 48213, "status": "clean",
                              "created_at": 1_800_000_000, "verified_at": 1_800_000_005}


@pytest.mark.parametrize(("status", "extra", "fields"), [
    ("awaiting_upload", {}, PUBLIC_FIELDS),
    ("verifying", {}, PUBLIC_FIELDS),
    ("rejected", {"reason": "type_mismatch", "verified_at": 1_800_000_009}, PUBLIC_FIELDS | {"reason", "verified_at"}),
])
def test_the_owner_sees_the_status_while_it_changes(minting: Minting, status: str, extra: dict[str, Any],
                                                    fields: set[str]) -> None:
    put_record(ALICE_CV, status=status, **extra)
    result = body(get(minting, FILE_ID, careers("alice")))
    assert result["status"] == status and set(result) == fields
    assert result.get("reason") == extra.get("reason")


def test_org_files_belong_to_the_org(minting: Minting) -> None:
    # Given Acme's business registration (uploaded by Bob)
    put_record(ACME_REGISTRATION, rule="business-registration", owner_sub="bob", owner_org_id="acme")
    # When another member of Acme asks / Then it is theirs too (the key's rule is filled with their claims)
    member = get(minting, ORG_FILE_ID, {"sub": "carol", "cognito:groups": "[org]", "org_id": "acme"})
    assert member["statusCode"] == 200 and body(member)["key"] == ACME_REGISTRATION
    # And a member of another org gets the same 404 as for an unknown id
    assert_not_found(get(minting, ORG_FILE_ID, {"sub": "eve", "cognito:groups": "[org]", "org_id": "evil"}))


@pytest.mark.parametrize("claims", [
    careers("mallory"),
    {"sub": "mallory", "cognito:groups": "[org]", "org_id": "alice"},
    {"sub": "alice-2", "cognito:groups": "[careers]"},
    # A groups claim that cannot be read is a 403 elsewhere; never here
    {"sub": "mallory", "cognito:groups": '["careers"'},
])
def test_anyone_else_gets_404_never_403(minting: Minting, claims: dict[str, Any]) -> None:
    put_record(ALICE_CV, status="clean")
    assert_not_found(get(minting, FILE_ID, claims))


def test_unknown_and_malformed_ids_are_the_same_404(minting: Minting) -> None:
    # Given no record for this id / Then 404, just as for someone else's file
    assert_not_found(get(minting, "ffffffffffffffffffffffffffffffff", careers("alice")))
    # And ids that are not 32 lowercase hex characters are never looked up
    put_record(ALICE_CV, status="clean")
    for malformed in (FILE_ID.upper(), FILE_ID[:-1], FILE_ID + "0", "..", "%2e%2e", FILE_ID + ".pdf", "x" * 300):
        assert_not_found(get(minting, malformed, careers("alice")))
    # And paths that are not one id at all are no route
    for path in (f"/files/{FILE_ID}/x", "/files/"):
        response = minting.file(api_event(path, claims=careers("alice"), method="GET"))
        assert response["statusCode"] == 404 and body(response)["error"]["code"] == "not_found"


def test_no_token_is_401(minting: Minting) -> None:
    put_record(ALICE_CV, status="clean")
    response = get(minting, FILE_ID, None)
    assert response["statusCode"] == 401 and body(response)["error"]["code"] == "unauthenticated"


def test_only_get_here_and_the_backend_twin_needs_a_listed_principal(minting: Minting) -> None:
    put_record(ALICE_CV, status="clean")
    post = minting.file(api_event(f"/files/{FILE_ID}", {}, claims=careers("alice"), method="POST"))
    stranger = minting.file(api_event(f"/backend/files/{FILE_ID}", iam_arn="arn:aws:iam::123456789012:role/other",
                                      method="GET"))
    assert post["statusCode"] == 404
    assert stranger["statusCode"] == 403 and "key" not in body(stranger)


def test_an_unreadable_table_is_a_retryable_503(minting: Minting) -> None:
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=FILES_TABLE)
    response = get(minting, FILE_ID, careers("alice"))
    assert response["statusCode"] == 503 and body(response)["error"]["code"] == "temporarily_unavailable"


def test_each_read_writes_one_audit_record(minting: Minting, logs: list[str]) -> None:
    import json
    put_record(ALICE_CV, status="clean")
    get(minting, FILE_ID, careers("alice"))
    get(minting, FILE_ID, careers("mallory"))
    audits = [json.loads(line)["audit"] for line in logs if '"audit"' in line]
    assert [(audit["event"], audit["action"], audit["status"]) for audit in audits] == [
        ("read", "file", 200), ("refusal", "file", 404)]
    assert audits[0]["key"] == ALICE_CV and audits[1]["key"] is None  # a stranger's probe logs no key


#: The groups each generated claim grants, as the design states them (None: refused outright).
GRANTED: dict[str, set[str] | None] = {"[careers]": {"careers"}, "[org]": {"org"}, "[careers org]": {"careers", "org"},
                                       "[]": set(), '["careers"]': None, "x y": None}
_ids = st.one_of(st.just(FILE_ID), st.just(ORG_FILE_ID), st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
                 st.text(max_size=40), st.sampled_from(["", "..", "%2e%2e", FILE_ID.upper(), FILE_ID + ".pdf",
                                                        "../" + FILE_ID, FILE_ID + "/x"]))
_claims = st.one_of(st.none(), st.fixed_dictionaries({
    "sub": st.one_of(st.sampled_from(["alice", "bob", "carol", "mallory"]), st.text(max_size=12)),
    "cognito:groups": st.sampled_from(["[careers]", "[org]", "[careers org]", "[]", '["careers"]', "x y"]),
}, optional={"org_id": st.sampled_from(["acme", "evil", "", "../acme"])}))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(file_id=_ids, claims=_claims)
def test_review_only_the_owner_ever_learns_a_file_exists(minting: Minting, file_id: str,
                                                         claims: dict[str, Any] | None) -> None:
    # Given Alice's CV and Acme's registration
    put_record(ALICE_CV, status="clean")
    put_record(ACME_REGISTRATION, rule="business-registration", owner_sub="bob", owner_org_id="acme")
    # When anyone asks for any id (path text included)
    response = minting.file(api_event(f"/files/{file_id}", claims=claims, method="GET"))
    # Then nothing a client sends is a 5xx, and a 200 goes only to an owner, by the design's rule:
    # Alice for her CV (a careers member), a member of org acme for Acme's registration
    assert 200 <= response["statusCode"] < 500, response["body"]
    if response["statusCode"] == 200:
        caller = claims or {}
        groups = GRANTED.get(caller.get("cognito:groups", "[]")) or set()
        owner = ((file_id == FILE_ID and caller.get("sub") == "alice" and "careers" in groups)
                 or (file_id == ORG_FILE_ID and caller.get("org_id") == "acme" and "org" in groups))
        assert owner and body(response)["file_id"] == file_id, (file_id, claims)
