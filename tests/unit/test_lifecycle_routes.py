"""The lifecycle routes through the real handlers, in moto (docs/lifecycle.md): listing, reading,
deleting, revoking, erasures, grants that name the viewer, quotas. Each success and each 4xx."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import boto3
import pytest
from conftest import (
    BACKEND_ARN,
    ERASURE_QUEUE_URL,
    FILES_TABLE,
    REGION,
    FakeRevocations,
    Minting,
    api_event,
    body,
    erasure_messages,
    filegate_env,
    get_item,
    invalidations,
    published_events,
)
from lifecycle_helpers import backend_post, delete, get, key_for, put_file, user, versions_under

OTHER_ROLE = "arn:aws:iam::123456789012:role/not-listed"
ALICE = user("alice", "careers")
ACME_BOB = user("bob", "org", "careers", org_id="acme")
ACME_CAROL = user("carol", "org", org_id="acme")


def audits(logs: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line)["audit"] for line in logs if '"audit"' in line]


def error(response: dict[str, Any]) -> tuple[int, str]:
    return response["statusCode"], body(response)["error"]["code"]


# --- GET /files ------------------------------------------------------------------------------

def test_listing_merges_own_and_org_files_newest_first_once(life: Minting) -> None:
    # Given Bob's CV, Bob's upload for Acme, Carol's upload for Acme, and files of others
    cv = put_file("cv", sub="bob", org_id="acme", created_at=1_800_000_010)
    bob_org = put_file("business-registration", sub="bob", org_id="acme", created_at=1_800_000_030)
    carol_org = put_file("business-registration", sub="carol", org_id="acme", created_at=1_800_000_020)
    put_file("business-registration", sub="eve", org_id="evil", created_at=1_800_000_040)
    put_file("cv", sub="alice", created_at=1_800_000_050)
    # When Bob lists
    response = life.file(get("/files", ACME_BOB))
    # Then he sees his own and Acme's, newest first, his org upload once; nobody else's
    assert response["statusCode"] == 200, response["body"]
    result = body(response)
    assert [f["file_id"] for f in result["files"]] == [bob_org["file_id"], carol_org["file_id"], cv["file_id"]]
    assert result["next_cursor"] is None and "owner" not in result["files"][0]
    assert set(result["files"][0]) == {"file_id", "key", "rule", "filename", "content_type", "size", "status",
                                       "created_at", "verified_at"}
    # And Carol (org only, not careers) sees Acme's files but not Bob's CV
    carol = body(life.file(get("/files", ACME_CAROL)))
    assert [f["file_id"] for f in carol["files"]] == [bob_org["file_id"], carol_org["file_id"]]


def test_listing_pages_with_a_cursor_and_filters_by_rule(life: Minting) -> None:
    # Given five CVs and two certificates of Alice
    cvs = [put_file("cv", sub="alice", created_at=1_800_000_000 + n) for n in range(5)]
    put_file("certificate", sub="alice", created_at=1_800_000_100)
    put_file("certificate", sub="alice", created_at=1_800_000_101)
    # When she lists CVs two at a time
    seen: list[str] = []
    query = "rule=cv&limit=2"
    for _ in range(5):
        page = body(life.file(get("/files", ALICE, query=query)))
        assert len(page["files"]) <= 2 and all(f["rule"] == "cv" for f in page["files"])
        seen += [f["file_id"] for f in page["files"]]
        if page["next_cursor"] is None:
            break
        query = f"rule=cv&limit=2&cursor={page['next_cursor']}"
    # Then every CV comes once, newest first
    assert seen == [cv["file_id"] for cv in reversed(cvs)]
    # And without the filter she has seven
    assert len(body(life.file(get("/files", ALICE, query="limit=500")))["files"]) == 7
    # And empty segments are nothing, as API Gateway reads them (`?limit=2&`)
    assert len(body(life.file(get("/files", ALICE, query="limit=2&&")))["files"]) == 2


BAD_QUERIES = ["limit=0", "limit=-1", "limit=abc", "limit=1.5", "unknown=1", "rule=cv&rule=cv", "rule=CV",
               "rule=" + "a" * 41, "limit", "%ff=1", "cursor=abc", "cursor=", "a=1&" * 30]


def test_bad_queries_are_400(life: Minting) -> None:
    put_file("cv", sub="alice")
    for query in BAD_QUERIES:
        response = life.file(get("/files", ALICE, query=query))
        assert error(response) == (400, "invalid_request"), query
    # And GET /files/{id} and DELETE take no query at all
    assert error(life.file(get(f"/files/{'a' * 32}", ALICE, query="x=1"))) == (400, "invalid_request")


def test_a_cursor_works_only_for_the_listing_that_issued_it(life: Minting, logs: list[str]) -> None:
    # Given a cursor from Alice's listing of CVs
    for n in range(3):
        put_file("cv", sub="alice", created_at=1_800_000_000 + n)
    cursor = body(life.file(get("/files", ALICE, query="rule=cv&limit=1")))["next_cursor"]
    assert cursor
    # When it is replayed by Mallory, for another rule, or on the backend
    replays = [life.file(get("/files", user("mallory", "careers"), query=f"rule=cv&cursor={cursor}")),
               life.file(get("/files", ALICE, query=f"cursor={cursor}")),
               life.file(get("/backend/files", iam=BACKEND_ARN, query=f"owner=alice&rule=cv&cursor={cursor}"))]
    # Then each is 400 invalid_cursor: never a page
    for response in replays:
        assert error(response) == (400, "invalid_request")
    assert [a["reason"] for a in audits(logs)[-3:]] == ["invalid_cursor"] * 3


def test_expired_awaiting_uploads_are_not_listed_or_read(life: Minting) -> None:
    now = int(time.time())
    gone = put_file("cv", sub="alice", status="awaiting_upload", upload_expires_at=now - 1, with_object=False)
    live = put_file("cv", sub="alice", status="awaiting_upload", upload_expires_at=now + 300, with_object=False)
    listed = [f["file_id"] for f in body(life.file(get("/files", ALICE)))["files"]]
    assert listed == [live["file_id"]] or set(listed) == {live["file_id"]}
    assert error(life.file(get(f"/files/{gone['file_id']}", ALICE))) == (404, "not_found")
    assert life.file(get(f"/files/{live['file_id']}", ALICE))["statusCode"] == 200


def test_listing_needs_a_token_and_writes_one_audit_record(life: Minting, logs: list[str]) -> None:
    assert error(life.file(get("/files", None))) == (401, "unauthenticated")
    life.file(get("/files", ALICE))
    last = audits(logs)[-1]
    assert (last["event"], last["action"], last["status"], last["route"]) == ("read", "list", 200, "GET /files")


def test_a_listing_with_an_unreadable_cursor_secret_is_503(life: Minting) -> None:
    boto3.client("secretsmanager", region_name=REGION).delete_secret(SecretId="filegate-test-cursor",
                                                                     ForceDeleteWithoutRecovery=True)
    assert error(life.file(get("/files", ALICE))) == (503, "temporarily_unavailable")


# --- backend reads -----------------------------------------------------------------------------

def test_backend_lists_an_owner_or_an_org_with_owners(life: Minting) -> None:
    mine = put_file("cv", sub="bob", org_id="acme", created_at=1_800_000_001)
    org = put_file("business-registration", sub="carol", org_id="acme", created_at=1_800_000_002)
    by_owner = body(life.file(get("/backend/files", iam=BACKEND_ARN, query="owner=bob")))
    by_org = body(life.file(get("/backend/files", iam=BACKEND_ARN, query="org=acme")))
    assert [f["file_id"] for f in by_owner["files"]] == [mine["file_id"]]
    assert by_owner["files"][0]["owner"] == {"sub": "bob", "org_id": "acme"}
    assert [f["file_id"] for f in by_org["files"]] == [org["file_id"]]
    assert by_org["files"][0]["owner"] == {"sub": "carol", "org_id": "acme"}


def test_backend_listing_needs_exactly_one_scope(life: Minting) -> None:
    for query in ("", "owner=bob&org=acme", "owner=", "org=a%00b", "owner=bob&x=1", "rule=cv", "owner=bob&owner=x"):
        assert error(life.file(get("/backend/files", iam=BACKEND_ARN, query=query))) == (400, "invalid_request"), query


def test_backend_reads_any_file_with_its_owner(life: Minting) -> None:
    record = put_file("cv", sub="alice")
    response = life.file(get(f"/backend/files/{record['file_id']}", iam=BACKEND_ARN))
    assert response["statusCode"] == 200 and body(response)["owner"] == {"sub": "alice"}
    assert error(life.file(get(f"/backend/files/{'f' * 32}", iam=BACKEND_ARN))) == (404, "not_found")
    assert error(life.file(get(f"/backend/files/{record['file_id']}", iam=OTHER_ROLE))) == (403, "backend_not_allowed")
    assert error(life.file(get("/backend/files", iam=OTHER_ROLE, query="bad"))) == (403, "backend_not_allowed")


# --- DELETE /files/{file_id} ------------------------------------------------------------------

def test_the_owner_deletes_everywhere(life: Minting, revocations: FakeRevocations, logs: list[str]) -> None:
    # Given Alice's clean CV with older versions, a quarantine copy and a delete marker
    record = put_file("cv", sub="alice")
    key = record["key"]
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket="filegate-test-files", Key=key, Body=b"second")
    s3.put_object(Bucket="filegate-test-files", Key="incoming/" + key, Body=b"upload")
    s3.delete_object(Bucket="filegate-test-files", Key="incoming/" + key)
    published_events()
    before = int(time.time())
    # When she deletes it
    response = life.delete(delete(f"/files/{record['file_id']}", ALICE))
    # Then 204 with no body
    assert response["statusCode"] == 204 and not response.get("body")
    # And every version and marker of its three keys is gone, the record is a bare tombstone
    for where in (key, "incoming/" + key, "rejected/" + key):
        assert not [v for v in versions_under(where) if v["Key"] == where]
    item = get_item(record["file_id"])
    assert item is not None and set(item) == {"file_id", "tombstone", "deleted_at", "expires_at"}
    assert int(item["expires_at"]) - int(item["deleted_at"]) == 7 * 24 * 3600
    # And the edge refuses it until every URL issued before now has expired; the cache is dropped
    assert before + 3600 <= revocations.entries[key] <= int(time.time()) + 3600
    assert [f"/{key}"] in invalidations()
    (event,) = [e for e in published_events() if e["detail-type"] == "File Deleted"]
    assert event["detail"] == {"file_id": record["file_id"], "key": key, "rule": "cv",
                               "deleted_at": event["detail"]["deleted_at"], "deleted_by": "owner"}
    # And one audit record names the file and its owner
    last = audits(logs)[-1]
    assert (last["event"], last["action"], last["status"]) == ("change", "delete", 204)
    assert (last["file_id"], last["key"], last["rule"], last["owner_sub"], last["owner_org_id"]) == (
        record["file_id"], key, "cv", "alice", None)
    # And a retry is a 204; reading it is a 404
    assert life.delete(delete(f"/files/{record['file_id']}", ALICE))["statusCode"] == 204
    assert error(life.file(get(f"/files/{record['file_id']}", ALICE))) == (404, "not_found")


def test_who_may_delete(life: Minting) -> None:
    cv = put_file("cv", sub="alice")
    certificate = put_file("certificate", sub="alice")
    org = put_file("business-registration", sub="bob", org_id="acme")
    # Someone else, an unknown id and a malformed id: 404
    assert error(life.delete(delete(f"/files/{cv['file_id']}", user("mallory", "careers")))) == (404, "not_found")
    assert error(life.delete(delete(f"/files/{'e' * 32}", ALICE))) == (404, "not_found")
    assert error(life.delete(delete("/files/..", ALICE))) == (404, "not_found")
    # A rule without delete: 403 not_allowed (she can see it)
    assert error(life.delete(delete(f"/files/{certificate['file_id']}", ALICE))) == (403, "not_allowed")
    # An unreadable groups claim: 404; no token: 401
    assert error(life.delete(delete(f"/files/{cv['file_id']}", {"sub": "alice", "cognito:groups": '["x'}))) == (
        404, "not_found")
    assert error(life.delete(delete(f"/files/{cv['file_id']}", None))) == (401, "unauthenticated")
    # Another member of the org deletes the org's file
    assert life.delete(delete(f"/files/{org['file_id']}", ACME_CAROL))["statusCode"] == 204
    assert life.delete(delete(f"/files/{cv['file_id']}", ALICE))["statusCode"] == 204


def test_a_shared_space_shows_and_deletes_only_ones_own_uploads(life: Minting) -> None:
    # Given Mia's and Max's marketing images (a rule whose template names no claim: a shared space)
    mias = put_file("marketing", sub="mia")
    maxs = put_file("marketing", sub="max")
    max_ = user("max", "marketing")
    # When Max lists, reads and deletes
    listed = [item["file_id"] for item in body(life.file(get("/files", max_)))["files"]]
    # Then he sees only his own: Mia's is 404 to read and to delete, and stays
    assert listed == [maxs["file_id"]]
    assert error(life.file(get(f"/files/{mias['file_id']}", max_))) == (404, "not_found")
    assert error(life.delete(delete(f"/files/{mias['file_id']}", max_))) == (404, "not_found")
    assert get_item(mias["file_id"]) == mias and versions_under(mias["key"])
    assert life.file(get(f"/files/{maxs['file_id']}", max_))["statusCode"] == 200
    assert life.delete(delete(f"/files/{maxs['file_id']}", max_))["statusCode"] == 204
    # And Mia still reads and deletes hers; the backend sees and deletes any
    assert life.file(get(f"/files/{mias['file_id']}", user("mia", "marketing")))["statusCode"] == 200
    assert life.file(get(f"/backend/files/{mias['file_id']}", iam=BACKEND_ARN))["statusCode"] == 200
    assert life.delete(delete(f"/backend/files/{mias['file_id']}", iam=BACKEND_ARN))["statusCode"] == 204


def test_a_file_being_verified_is_not_deleted(life: Minting) -> None:
    record = put_file("cv", sub="alice", status="verifying")
    assert error(life.delete(delete(f"/files/{record['file_id']}", ALICE))) == (409, "not_ready")
    assert error(life.delete(delete(f"/backend/files/{record['file_id']}", iam=BACKEND_ARN))) == (409, "not_ready")
    assert get_item(record["file_id"])["status"] == "verifying"  # type: ignore[index]


def test_only_served_keys_are_invalidated(life: Minting) -> None:
    # (minted, nothing uploaded yet: an upload in the quarantine would make the delete a 409)
    awaiting = put_file("cv", sub="alice", status="awaiting_upload", upload_expires_at=int(time.time()) + 300,
                        with_object=False)
    public = put_file("marketing", sub="mia", status="awaiting_upload", upload_expires_at=int(time.time()) + 300,
                      with_object=False)
    assert life.delete(delete(f"/files/{awaiting['file_id']}", ALICE))["statusCode"] == 204
    assert [f"/{awaiting['key']}"] not in invalidations()
    assert life.delete(delete(f"/files/{public['file_id']}", user("mia", "marketing")))["statusCode"] == 204
    assert [f"/{public['key']}"] in invalidations()
    assert not versions_under("incoming/" + awaiting["key"])


def test_the_backend_deletes_without_a_rule_check(life: Minting) -> None:
    certificate = put_file("certificate", sub="alice")
    published_events()
    assert life.delete(delete(f"/backend/files/{certificate['file_id']}", iam=BACKEND_ARN))["statusCode"] == 204
    (event,) = published_events()
    assert event["detail"]["deleted_by"] == "backend"
    assert error(life.delete(delete(f"/backend/files/{'e' * 32}", iam=BACKEND_ARN))) == (404, "not_found")
    assert error(life.delete(delete(f"/backend/files/{'e' * 32}", iam=OTHER_ROLE))) == (403, "backend_not_allowed")


def test_a_failed_revocation_is_a_503_and_deletes_nothing(life: Minting, revocations: FakeRevocations) -> None:
    from filegate.handlers.lifecycle_wiring import GuardedRevocations

    record = put_file("cv", sub="alice")

    class StoreDown(Exception):
        pass

    revocations.fail = StoreDown("throttled")
    from filegate.handlers import deletions
    object.__setattr__(deletions.runtime().lifecycle, "revocations", GuardedRevocations(revocations, (StoreDown,)))
    assert error(life.delete(delete(f"/files/{record['file_id']}", ALICE))) == (503, "temporarily_unavailable")
    assert get_item(record["file_id"])["status"] == "clean"  # type: ignore[index]
    assert versions_under(record["key"])


# --- POST /backend/revocations ------------------------------------------------------------------

def test_revocations(life: Minting, revocations: FakeRevocations) -> None:
    key = key_for("cv", sub="alice", org_id=None, file_id="a" * 32)
    response = life.delete(backend_post("/backend/revocations", {"key": key}))
    assert response["statusCode"] == 200
    result = body(response)
    assert result["revoked"] == key and result["kind"] == "key" and revocations.entries[key] == result["until"]
    prefix = body(life.delete(backend_post("/backend/revocations", {"prefix": "private/orgs/acme/"})))
    assert prefix["kind"] == "prefix" and "private/orgs/acme/" in revocations.entries
    # (a prefix wider than one owner's or org's space would close every private download)
    for bad in ({}, {"key": key, "prefix": "private/x/"}, {"key": "public/marketing/x.png"}, {"key": "private/../x"},
                {"prefix": "private/orgs"}, {"key": "private/" + "a" * 600}, {"key": 5}, {"prefix": "private/"},
                {"prefix": "private/users/"}):
        assert error(life.delete(backend_post("/backend/revocations", bad))) == (400, "invalid_request"), bad
    # An unlisted principal is refused before its body is looked at
    assert error(life.delete(backend_post("/backend/revocations", {"nonsense": 1}, iam=OTHER_ROLE))) == (
        403, "backend_not_allowed")


# --- POST /backend/erasures, GET /backend/erasures/{id} ----------------------------------------

def test_an_erasure_starts_once_per_subject(life: Minting, logs: list[str]) -> None:
    # When the backend asks to erase Alice
    first = life.delete(backend_post("/backend/erasures", {"sub": "alice"}))
    # Then 202 running with the documented id, and one first step on the queue
    assert first["statusCode"] == 202
    import hashlib
    expected = hashlib.sha256(b"sub\0alice").hexdigest()[:32]
    assert body(first) == {"erasure_id": expected, "status": "running"}
    (message,) = erasure_messages()
    assert message["erasure_id"] == expected and message["step"] == "revoke" and message["run"] == 1
    # And asking again while it runs changes nothing
    assert body(life.delete(backend_post("/backend/erasures", {"sub": "alice"}))) == body(first)
    assert erasure_messages() == []
    # And its state is readable, with the subject and who asked
    state = body(life.delete(get(f"/backend/erasures/{expected}", iam=BACKEND_ARN)))
    assert state["status"] == "running" and state["subject"] == {"sub": "alice"} and state["runs"] == 1
    item = boto3.resource("dynamodb", region_name=REGION).Table("filegate-test-erasures").get_item(
        Key={"erasure_id": expected})["Item"]
    assert item["requested_by"] == BACKEND_ARN
    last = audits(logs)[-1]
    assert (last["action"], last["erasure_id"], last["event"]) == ("erasure", expected, "read")


def test_an_erasure_needs_one_usable_subject(life: Minting) -> None:
    for payload in ({}, {"sub": "alice", "org_id": "acme"}, {"sub": "a/b"}, {"org_id": ".."}, {"sub": "a b"},
                    {"sub": ""}, {"sub": 1}, {"user": "alice"}, {"sub": "x" * 200}):
        assert error(life.delete(backend_post("/backend/erasures", payload))) == (400, "invalid_request"), payload


def test_unknown_erasures_are_404(life: Minting) -> None:
    assert error(life.delete(get(f"/backend/erasures/{'0' * 32}", iam=BACKEND_ARN))) == (404, "not_found")
    assert error(life.delete(get("/backend/erasures/nope", iam=BACKEND_ARN))) == (404, "not_found")
    assert error(life.delete(get(f"/backend/erasures/{'0' * 32}", iam=OTHER_ROLE))) == (403, "backend_not_allowed")


def test_a_failed_send_is_a_503(life: Minting) -> None:
    boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=ERASURE_QUEUE_URL)
    assert error(life.delete(backend_post("/backend/erasures", {"org_id": "acme"}))) == (503, "temporarily_unavailable")


# --- POST /backend/downloads with a viewer ----------------------------------------------------

@pytest.mark.parametrize("second", [0.0, 0.5, 29.9, 59.9])
def test_a_grant_names_owner_viewer_reason_and_principal(life: Minting, logs: list[str],
                                                         monkeypatch: pytest.MonkeyPatch, second: float) -> None:
    from filegate.handlers import downloads

    # Given the handler's clock anywhere in a signature-cache window (60 s: expiries round up to it)
    now = 1_800_000_000 + second
    monkeypatch.setattr(downloads, "clock", lambda: now)
    record = put_file("cv", sub="alice", org_id="jobs")
    payload = {"key": record["key"], "viewer": {"sub": "recruiter-7", "org_id": "acme"},
               "reason": "Application #1234 — shortlisted", "grant_lifetime": 60}
    response = life.download(backend_post("/backend/downloads", payload))
    assert response["statusCode"] == 200, response["body"]
    # Then the grant's lifetime caps the expiry: rounding never carries it past now + 60 (whole seconds)
    assert now < body(response)["expires_at"] <= math.ceil(now + 60)
    last = audits(logs)[-1]
    assert (last["owner_sub"], last["owner_org_id"], last["viewer_sub"], last["viewer_org_id"]) == (
        "alice", "jobs", "recruiter-7", "acme")
    assert last["grant_reason"] == "Application #1234 — shortlisted" and last["principal"] == BACKEND_ARN
    assert last["file_id"] == record["file_id"] and last["event"] == "mint"


def test_grant_refusals(life: Minting) -> None:
    clean = put_file("cv", sub="alice")
    verifying = put_file("cv", sub="alice", status="verifying")
    public = put_file("marketing", sub="mia")
    viewer = {"sub": "recruiter-7"}
    cases = [
        ({"key": clean["key"], "viewer": viewer}, (400, "invalid_request")),  # no reason
        ({"key": clean["key"], "reason": "x"}, (400, "invalid_request")),  # neither grantee
        ({"key": clean["key"], "viewer": viewer, "reason": "x",
          "on_behalf_of": {"sub": "alice", "groups": ["careers"]}}, (400, "invalid_request")),
        ({"key": clean["key"], "viewer": {"sub": "a\u0000b"}, "reason": "x"}, (400, "invalid_request")),
        ({"key": clean["key"], "viewer": viewer, "reason": "x", "grant_lifetime": 0}, (400, "invalid_request")),
        ({"key": clean["key"], "viewer": viewer, "reason": "x", "grant_lifetime": 8 * 86400}, (400, "invalid_request")),
        ({"key": verifying["key"], "viewer": viewer, "reason": "x"}, (409, "not_ready")),
        ({"key": public["key"], "viewer": viewer, "reason": "x"}, (403, "not_allowed")),
        ({"key": key_for("cv", sub="alice", org_id=None, file_id="d" * 32), "viewer": viewer, "reason": "x"},
         (404, "not_found")),
    ]
    for payload, expected in cases:
        assert error(life.download(backend_post("/backend/downloads", payload))) == expected, payload
    # The old shape still works
    ok = life.download(backend_post("/backend/downloads", {"key": clean["key"],
                                                           "on_behalf_of": {"sub": "alice", "groups": ["careers"]}}))
    assert ok["statusCode"] == 200


# --- quotas -------------------------------------------------------------------------------------

def upload(life: Minting, claims: dict[str, Any], rule: str = "cv") -> dict[str, Any]:
    return life.upload(api_event("/uploads", {"rule": rule, "content_type": "application/pdf", "size": 10},
                                 claims=claims))


def count_records() -> int:
    return int(boto3.client("dynamodb", region_name=REGION).scan(TableName=FILES_TABLE, Select="COUNT")["Count"])


def test_quota_counts_clean_verifying_and_live_uploads(life: Minting) -> None:
    now = int(time.time())
    # Given Alice holds, under cv (max 3): one clean, one verifying; plus things that do not count
    put_file("cv", sub="alice")
    put_file("cv", sub="alice", status="verifying")
    put_file("cv", sub="alice", status="rejected", reason="malware")
    put_file("cv", sub="alice", status="awaiting_upload", upload_expires_at=now - 5, with_object=False)
    put_file("certificate", sub="alice")
    # When she mints once more / Then it is the third: allowed, and it records its POST's expiry
    first = upload(life, ALICE)
    assert first["statusCode"] == 201, first["body"]
    item = get_item(body(first)["file_id"])
    assert item is not None and int(item["upload_expires_at"]) == body(first)["expires_at"]
    assert "org_scope" not in item and item["listed_at"].endswith("#" + body(first)["file_id"])
    # And a fourth is 409 quota_exceeded, with no record written
    before = count_records()
    assert error(upload(life, ALICE)) == (409, "quota_exceeded")
    assert count_records() == before
    # And other owners and rules are unaffected
    assert upload(life, user("bob", "careers"))["statusCode"] == 201
    assert upload(life, ALICE, "certificate")["statusCode"] == 201


def test_org_quotas_count_the_org(life: Minting, logs: list[str]) -> None:
    put_file("business-registration", sub="bob", org_id="acme")
    first = upload(life, ACME_CAROL, "business-registration")
    assert first["statusCode"] == 201
    assert get_item(body(first)["file_id"])["org_scope"] == "acme"  # type: ignore[index]
    assert error(upload(life, ACME_BOB, "business-registration")) == (409, "quota_exceeded")
    assert audits(logs)[-1]["reason"] == "quota_exceeded"
    assert upload(life, user("eve", "org", org_id="evil"), "business-registration")["statusCode"] == 201


# --- the revocation expiry and the settings ----------------------------------------------------

def test_the_expiry_removes_only_passed_entries(life: Minting, revocations: FakeRevocations) -> None:
    from conftest import FakeContext

    from filegate.handlers import revocation_expiry

    # Given one entry whose until has passed and one still refusing
    now = int(time.time())
    revocations.entries = {"private/users/a/": now - 1, "private/users/b/": now + 600}
    # When the scheduled run fires / Then only the passed one goes
    assert revocation_expiry.handler({"source": "aws.scheduler"}, FakeContext()) == {"deleted": 1}
    assert revocations.entries == {"private/users/b/": now + 600}


@pytest.mark.parametrize(("change", "message"), [
    ({"FILEGATE_CURSOR_SECRET": None}, r"^FILEGATE_CURSOR_SECRET: Field required"),
    ({"FILEGATE_CURSOR_SECRET": "has space"}, r"^FILEGATE_CURSOR_SECRET: "),
    ({"FILEGATE_EVENT_BUS": None}, r"^FILEGATE_EVENT_BUS: Field required"),
    ({"FILEGATE_REVOCATION_STORE_ARN": "arn:aws:cloudfront::123456789012:distribution/E1"},
     r"^FILEGATE_REVOCATION_STORE_ARN: "),
    ({"FILEGATE_DISTRIBUTION_ID": "e1-lower"}, r"^FILEGATE_DISTRIBUTION_ID: "),
    ({"FILEGATE_ERASURES_TABLE": "x"}, r"^FILEGATE_ERASURES_TABLE: "),
    ({"FILEGATE_ERASURE_QUEUE_URL": "http://sqs.example.com/123456789012/q"}, r"^FILEGATE_ERASURE_QUEUE_URL: "),
    ({"FILEGATE_ERASURE_QUEUE_URL": None}, r"^FILEGATE_ERASURE_QUEUE_URL: Field required"),
])
def test_bad_lifecycle_settings_name_the_variable(change: dict[str, str | None], message: str) -> None:
    from filegate.settings import LifecycleSettings, SettingsError

    env = {name: value for name, value in {**filegate_env(kms_key_id="k"), **change}.items() if value is not None}
    with pytest.raises(SettingsError, match=message):
        LifecycleSettings.from_environ(env)


def test_lifecycle_settings_accept_the_documented_shapes() -> None:
    from filegate.settings import LifecycleSettings

    env = {**filegate_env(kms_key_id="k"), "FILEGATE_ERASURE_QUEUE_URL": "http://127.0.0.1:5000/000000000000/local-q",
           "FILEGATE_CURSOR_SECRET": "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:filegate/cursor-AbCdEf",
           "FILEGATE_EVENT_BUS": "arn:aws:events:ap-southeast-1:123456789012:event-bus/filegate-files"}
    settings = LifecycleSettings.from_environ(env)
    assert settings.erasure_queue_url.startswith("http://127.0.0.1") and settings.url_max_seconds == 3600


def test_a_quota_count_stops_once_it_reaches_the_quota() -> None:
    """Review finding 11: the count reads no page after the one where it reaches the quota."""
    from filegate.adapters.files_table import OWNER_INDEX, FilesTable

    class Pages:
        def __init__(self) -> None:
            self.queries: list[dict[str, Any]] = []

        def query(self, **request: Any) -> dict[str, Any]:
            self.queries.append(request)
            return {"Count": 2, "LastEvaluatedKey": {"file_id": {"S": str(len(self.queries))}}}

    # Given an owner whose partition is many pages, two matching records on each
    client = Pages()
    table = FilesTable(client, "files")  # type: ignore[arg-type]
    # When the quota of 3 is checked / Then two pages are read, and the count says "at the quota"
    assert table.count_for_quota(OWNER_INDEX, "alice", rule="cv", now=1, stop_at=3) == 4
    assert len(client.queries) == 2
    assert client.queries[0]["Select"] == "COUNT" and "#r = :r" in client.queries[0]["FilterExpression"]
