"""The file lifecycle through the local mode (docs/lifecycle.md): list, delete, erase, revoke,
audited grants, quotas.

Everything goes through the real handlers behind the local API, the real erasure worker behind
its queue, and the local edge running ``edge/revocation.js`` unchanged against the KeyValueStore
stand-in. Files are made by the real upload flow (mint, browser POST, scan, verify) except for the
erasure's 200, of which 3 go through the real flow and 197 are seeded directly (a record written
to DynamoDB in the table's own layout, ``filegate.adapters.files_table.to_item``, and objects put
into radosgw at the final key, in quarantine and in ``rejected/`` with the S3 users that may write
there), to keep the run within seconds. What is left afterwards is read with the bucket owner's
``ListObjectVersions`` and the backend listing, never with the code under test alone.
"""

from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.conftest import Local
from tests.e2e.helpers import (
    api,
    call,
    download_url,
    events,
    mint_upload,
    post_file,
    scanner_paused,
    upload_file,
    wait_for_status,
)
from tests.unit import samples

pytestmark = pytest.mark.e2e

ERASED_FILES = 200
REAL_ERASED_FILES = 3
ERASURE_TIMEOUT = 60.0


@dataclass
class User:
    sub: str
    token: str
    org_id: str | None = None


def _suffix() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="module")
def rules(local: Local) -> dict[str, dict[str, Any]]:
    """The environment's rules as the demo page gets them (local/demo_server.py's config.json)."""
    config = requests.get(f"{local.demo}/config.json", timeout=10).json()
    return {rule["name"]: rule for rule in config["rules"]}


@pytest.fixture(scope="module")
def url_max_seconds(local: Local) -> int:
    """``urls.max_seconds`` of the environment the local mode runs (cdk.json, read as it reads it):
    a revocation's ``until`` is now + this (docs/lifecycle.md)."""
    from stacks.config import load_environment

    return int(load_environment(local.endpoints["env"]).urls.max_seconds)


def user(local: Local, name: str, groups: list[str], org_id: str | None = None) -> User:
    sub = f"lc-{name}-{_suffix()}"
    claims: dict[str, Any] = {"sub": sub, "groups": groups}
    if org_id:
        claims["org_id"] = org_id
    return User(sub=sub, token=local.token(**claims), org_id=org_id)


def pdf(label: str) -> bytes:
    return samples.pdf(text=f"lifecycle {label} {_suffix()}")


def listing(local: Local, token: str, **params: Any) -> requests.Response:
    return call(local, "GET", "/files", token=token, params=params)


def all_pages(local: Local, token: str, **params: Any) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(50):
        response = listing(local, token, **params, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        files.extend(page["files"])
        cursor = page["next_cursor"]
        if cursor is None:
            return files
    raise AssertionError("the listing did not end")


def newest_first(files: list[dict[str, Any]]) -> bool:
    """In the listings' order: ``listed_at`` = created_at, then file_id, descending (files made in
    the same second come in file_id order, not upload order)."""
    return files == sorted(files, key=lambda item: (item["created_at"], item["file_id"]), reverse=True)


def file_id_of(key: str) -> str:
    return key.rsplit("/", 1)[1].split(".", 1)[0]


def versions_under(local: Local, prefix: str) -> list[str]:
    """Every version and delete marker under ``prefix``, as the bucket's owner lists them."""
    s3 = local.s3_as("admin")
    found: list[str] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=local.bucket, Prefix=prefix):
        found += [f"{item['Key']}@{item['VersionId']}" for item in page.get("Versions", [])]
        found += [f"{item['Key']}@{item['VersionId']} (marker)" for item in page.get("DeleteMarkers", [])]
    return found


def every_form(key: str) -> list[str]:
    return [key, f"incoming/{key}", f"rejected/{key}"]


def api_log(local: Local) -> list[dict[str, Any]]:
    """The local API's log: the in-process Lambdas' JSON lines (audit records among them)."""
    lines = []
    for line in (local.data_dir / "logs" / "api.log").read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def edge_get(url: str) -> requests.Response:
    return requests.get(url, timeout=30)


def assert_revoked_at_the_edge(response: requests.Response) -> None:
    assert response.status_code == 403, response.text
    assert "<Code>AccessDenied</Code>" in response.text
    assert response.headers["X-Local-Edge-Reason"] == "function"  # edge/revocation.js refused it
    assert response.headers["Cache-Control"] == "no-store"


def delete_as_owner(local: Local, rules: dict[str, dict[str, Any]], owner: User, rule: str,
                    file_id: str) -> None:
    """The owner's ``DELETE``: 204 where the rule allows delete; else 403 ``not_allowed`` (it knows
    the file) and the backend, which no rule limits, deletes it."""
    response = call(local, "DELETE", f"/files/{file_id}", token=owner.token)
    if "delete" in rules[rule]["actions"]:
        assert response.status_code == 204, response.text
        assert response.content == b""
        return
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "not_allowed"
    response = call(local, "DELETE", f"/backend/files/{file_id}", backend=True)
    assert response.status_code == 204, response.text


# --- listing ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def owners(local: Local) -> dict[str, Any]:
    """Two careers users with files of their own, and two members of one org with its file."""
    a = user(local, "a", ["careers"])
    b = user(local, "b", ["careers"])
    org_id = f"lcorg{_suffix()}"
    o1 = user(local, "o1", ["org"], org_id)
    o2 = user(local, "o2", ["org"], org_id)
    outsider = user(local, "o3", ["org"], f"lcother{_suffix()}")
    a_keys = [upload_file(local, a.token, "cv", pdf(f"a{n}"), samples.PDF) for n in range(3)]
    a_keys += [upload_file(local, a.token, "certificate", samples.png(8, 8, seed=n), samples.PNG) for n in range(2)]
    b_keys = [upload_file(local, b.token, "cv", pdf("b"), samples.PDF)]
    org_keys = [upload_file(local, o1.token, "business-registration", pdf("org"), samples.PDF)]
    return {"a": a, "b": b, "o1": o1, "o2": o2, "outsider": outsider, "a_keys": a_keys, "b_keys": b_keys,
            "org_keys": org_keys}


def test_a_listing_shows_only_the_callers_files_newest_first(local: Local, owners: dict[str, Any]) -> None:
    a, b = owners["a"], owners["b"]
    files = all_pages(local, a.token)
    assert sorted(item["key"] for item in files) == sorted(owners["a_keys"])
    assert newest_first(files)
    assert all(item["status"] == "clean" for item in files)
    assert {"file_id", "key", "rule", "filename", "content_type", "size", "status", "created_at"} <= set(files[0])
    assert "owner" not in files[0]
    assert [item["key"] for item in all_pages(local, b.token)] == owners["b_keys"]
    # Another user's file is 404, as an unknown id is
    other = call(local, "GET", f"/files/{file_id_of(owners['a_keys'][0])}", token=b.token)
    assert other.status_code == 404, other.text
    assert call(local, "GET", f"/files/{'0' * 32}", token=b.token).status_code == 404
    # rule= filters
    assert {item["rule"] for item in all_pages(local, a.token, rule="certificate")} == {"certificate"}


def test_org_members_see_their_orgs_files(local: Local, owners: dict[str, Any]) -> None:
    for member in (owners["o1"], owners["o2"]):
        assert [item["key"] for item in all_pages(local, member.token)] == owners["org_keys"]
    assert all_pages(local, owners["outsider"].token) == []
    record = call(local, "GET", f"/files/{file_id_of(owners['org_keys'][0])}", token=owners["o2"].token)
    assert record.status_code == 200, record.text


def test_pages_follow_cursors_and_a_tampered_cursor_is_refused(local: Local, owners: dict[str, Any]) -> None:
    a, b = owners["a"], owners["b"]
    # Given pages of two
    pages: list[list[str]] = []
    cursors: list[str] = []
    cursor: str | None = None
    while True:
        response = listing(local, a.token, limit=2, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["key"] for item in body["files"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        cursors.append(cursor)
    # Then they cover the listing exactly once, in order
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [key for page in pages for key in page] == [item["key"] for item in all_pages(local, a.token)]
    # And a cursor that was altered, or is used by another caller or for another listing, is 400
    tampered = cursors[0][:-2] + ("A" if cursors[0][-2] != "A" else "B") + cursors[0][-1]
    for token, params in ((a.token, {"cursor": tampered}), (b.token, {"cursor": cursors[0]}),
                          (a.token, {"cursor": cursors[0], "rule": "cv"}), (a.token, {"cursor": "v1.e30.AAAA"})):
        response = listing(local, token, limit=2, **params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["error"]["code"] == "invalid_request"
    for params in ({"limit": 0}, {"limit": "x"}, {"surprise": 1}):
        assert listing(local, a.token, **params).status_code == 400, params


def test_the_backend_lists_by_owner_or_org_with_the_owner(local: Local, owners: dict[str, Any]) -> None:
    a = owners["a"]
    response = call(local, "GET", "/backend/files", backend=True, params={"owner": a.sub})
    assert response.status_code == 200, response.text
    files = response.json()["files"]
    assert [item["key"] for item in files] == [item["key"] for item in all_pages(local, a.token)]
    assert newest_first(files)
    assert files[0]["owner"] == {"sub": a.sub}
    org = call(local, "GET", "/backend/files", backend=True, params={"org": owners["o1"].org_id}).json()["files"]
    assert [item["key"] for item in org] == owners["org_keys"]
    assert org[0]["owner"] == {"sub": owners["o1"].sub, "org_id": owners["o1"].org_id}
    one = call(local, "GET", f"/backend/files/{file_id_of(owners['b_keys'][0])}", backend=True)
    assert one.status_code == 200 and one.json()["owner"]["sub"] == owners["b"].sub
    assert call(local, "GET", "/backend/files", backend=True).status_code == 400  # neither owner nor org
    # Without the backend's credentials: refused before any function runs
    assert call(local, "GET", "/backend/files", params={"owner": a.sub}).status_code == 403


# --- deleting -----------------------------------------------------------------------------------


def test_a_deleted_file_is_gone_everywhere(local: Local, rules: dict[str, dict[str, Any]]) -> None:
    owner = user(local, "del", ["careers"])
    key = upload_file(local, owner.token, "cv", pdf("deleted"), samples.PDF)
    file_id = file_id_of(key)
    kept = upload_file(local, owner.token, "cv", pdf("kept"), samples.PDF)
    issued = download_url(local, owner.token, key)
    assert edge_get(issued).status_code == 200
    # When the owner deletes it
    delete_as_owner(local, rules, owner, "cv", file_id)
    # Then its record is gone, and so is any way to a download
    assert call(local, "GET", f"/files/{file_id}", token=owner.token).status_code == 404
    assert call(local, "GET", f"/backend/files/{file_id}", backend=True).status_code == 404
    minted = api(local, "/downloads", {"key": key}, token=owner.token)
    assert minted.status_code == 404, minted.text
    # A URL issued before the delete is refused at the edge by the revocation function
    assert_revoked_at_the_edge(edge_get(issued))
    # radosgw keeps no version and no delete marker of the key, in any of its three forms
    for form in every_form(key):
        assert [v for v in versions_under(local, form) if v.split("@")[0] == form] == []
    # The owner's other file is untouched
    assert edge_get(download_url(local, owner.token, kept)).status_code == 200
    assert [item["key"] for item in all_pages(local, owner.token)] == [kept]
    # And deleting again is an idempotent 204
    again = call(local, "DELETE", f"/files/{file_id}", token=owner.token)
    assert again.status_code == 204, again.text
    assert call(local, "DELETE", f"/backend/files/{file_id}", backend=True).status_code == 204
    # An id that never existed is 404
    assert call(local, "DELETE", f"/backend/files/{'f' * 32}", backend=True).status_code == 404
    # The product bus announced it once
    deleted = [e for e in events(local, "File Deleted") if e["detail"].get("file_id") == file_id]
    assert len(deleted) == 1, deleted
    assert deleted[0]["detail"]["key"] == key and deleted[0]["detail"]["rule"] == "cv"
    assert "url" not in json.dumps(deleted[0]["detail"]).lower()


def test_a_file_being_verified_cannot_be_deleted(local: Local) -> None:
    owner = user(local, "busy", ["careers"])
    with scanner_paused(local):
        upload = mint_upload(local, owner.token, "cv", samples.PDF, len(data := pdf("busy")))
        assert post_file(upload, data).status_code == 201
        wait_for_status(local, owner.token, upload.file_id, ("verifying",))
        response = call(local, "DELETE", f"/backend/files/{upload.file_id}", backend=True)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "not_ready"
    wait_for_status(local, owner.token, upload.file_id, ("clean",))
    assert call(local, "DELETE", f"/backend/files/{upload.file_id}", backend=True).status_code == 204


def test_someone_elses_file_is_404_to_delete(local: Local, owners: dict[str, Any]) -> None:
    response = call(local, "DELETE", f"/files/{file_id_of(owners['a_keys'][0])}", token=owners["b"].token)
    assert response.status_code == 404, response.text
    assert call(local, "GET", f"/files/{file_id_of(owners['a_keys'][0])}", token=owners["a"].token).status_code == 200


def test_deleting_a_rejected_file_removes_its_rejected_copy(local: Local) -> None:
    owner = user(local, "rejdel", ["careers"])
    # Given a file the verifier rejects (HTML declared as a PDF), through the real flow
    upload = mint_upload(local, owner.token, "cv", samples.PDF, len(samples.HTML_PAYLOAD), filename="cv.pdf")
    assert post_file(upload, samples.HTML_PAYLOAD).status_code == 201
    record = wait_for_status(local, owner.token, upload.file_id, ("clean", "rejected"))
    assert record["status"] == "rejected" and record["reason"] == "type_mismatch", record
    # and its rejected copy kept in the bucket
    kept = [v for v in versions_under(local, f"rejected/{upload.key}") if v.split("@")[0] == f"rejected/{upload.key}"]
    assert kept, "the verifier keeps a rejected copy"
    # When the owner deletes it
    response = call(local, "DELETE", f"/files/{upload.file_id}", token=owner.token)
    assert response.status_code == 204, response.text
    assert response.content == b""
    # Then no version or delete marker is left in any of the key's three forms
    for form in every_form(upload.key):
        assert [v for v in versions_under(local, form) if v.split("@")[0] == form] == [], form
    # And the record is gone
    assert call(local, "GET", f"/files/{upload.file_id}", token=owner.token).status_code == 404
    assert call(local, "GET", f"/backend/files/{upload.file_id}", backend=True).status_code == 404
    # And the product bus announced it once, as the owner's
    deleted = [e for e in events(local, "File Deleted") if e["detail"].get("file_id") == upload.file_id]
    assert len(deleted) == 1, deleted
    assert deleted[0]["detail"]["key"] == upload.key and deleted[0]["detail"]["deleted_by"] == "owner"


# --- revocations --------------------------------------------------------------------------------


def assert_until_per_contract(until: int, before: int, after: int, max_seconds: int) -> None:
    """``until`` = now + ``urls.max_seconds`` (docs/lifecycle.md), now being some moment of the
    request: every URL issued before it has expired by then, and the name reopens no later."""
    assert before + max_seconds - 1 <= until <= after + max_seconds + 2, (until, before, after, max_seconds)


def test_a_revoked_prefix_is_refused_at_the_edge_while_others_still_work(local: Local, owners: dict[str, Any],
                                                                         url_max_seconds: int) -> None:
    victim = user(local, "rev", ["careers"])
    key = upload_file(local, victim.token, "cv", pdf("revoked"), samples.PDF)
    # Given a user whose sub has the victim's sub as a string prefix ("<sub>x"), with a file
    lookalike = User(sub=f"{victim.sub}x", token=local.token(sub=f"{victim.sub}x", groups=["careers"]))
    lookalike_key = upload_file(local, lookalike.token, "cv", pdf("lookalike"), samples.PDF)
    assert lookalike_key.startswith(f"private/users/{victim.sub}")
    # When the backend revokes the victim's space
    prefix = f"private/users/{victim.sub}/"
    before = int(time.time())
    response = api(local, "/backend/revocations", {"prefix": prefix}, backend=True)
    after = int(time.time()) + 1
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["revoked"] == prefix and body["kind"] == "prefix"
    assert_until_per_contract(body["until"], before, after, url_max_seconds)
    # Then a URL minted after the revocation is refused too (a URL carries no issue time)
    assert_revoked_at_the_edge(edge_get(download_url(local, victim.token, key)))
    # While another user's file, and a sibling prefix, are served
    assert edge_get(download_url(local, owners["a"].token, owners["a_keys"][0])).status_code == 200
    assert edge_get(download_url(local, lookalike.token, lookalike_key)).status_code == 200  # "<sub>x/" is not "<sub>/"
    sibling = user(local, "rev", ["careers"])  # "lc-rev-<other>": not under the revoked prefix
    sibling_key = upload_file(local, sibling.token, "cv", pdf("sibling"), samples.PDF)
    assert edge_get(download_url(local, sibling.token, sibling_key)).status_code == 200
    # A single key can be revoked too, with the same until
    before = int(time.time())
    single = api(local, "/backend/revocations", {"key": sibling_key}, backend=True)
    after = int(time.time()) + 1
    assert single.status_code == 200 and single.json()["kind"] == "key", single.text
    assert single.json()["revoked"] == sibling_key
    assert_until_per_contract(single.json()["until"], before, after, url_max_seconds)
    assert_revoked_at_the_edge(edge_get(download_url(local, sibling.token, sibling_key)))
    assert api(local, "/backend/revocations", {"prefix": "private/users"}, backend=True).status_code == 400


# --- grants that name the viewer ----------------------------------------------------------------


def test_a_grant_for_a_named_viewer_is_audited_with_the_viewer(local: Local, owners: dict[str, Any]) -> None:
    key = owners["b_keys"][0]
    viewer = f"viewer-{_suffix()}"
    response = api(local, "/backend/downloads", {"key": key, "viewer": {"sub": viewer, "org_id": "acme"},
                                                 "reason": "shortlist review"}, backend=True)
    assert response.status_code == 200, response.text
    assert edge_get(response.json()["url"]).status_code == 200
    audits = [line["audit"] for line in api_log(local)
              if isinstance(line.get("audit"), dict) and line["audit"].get("viewer_sub") == viewer]
    assert len(audits) == 1, audits
    audit = audits[0]
    assert audit["viewer_org_id"] == "acme" and audit["grant_reason"] == "shortlist review"
    assert audit["owner_sub"] == owners["b"].sub and audit["file_id"] == file_id_of(key)
    assert audit["principal"].endswith("filegate-local-backend") or "filegate-local-backend" in str(audit["principal"])
    assert "url" not in audit and "Signature" not in json.dumps(audit)
    # Without a reason there is no grant
    refused = api(local, "/backend/downloads", {"key": key, "viewer": {"sub": viewer}}, backend=True)
    assert refused.status_code == 400, refused.text


# --- quotas -------------------------------------------------------------------------------------


def test_minting_beyond_the_quota_is_refused(local: Local, rules: dict[str, dict[str, Any]]) -> None:
    limited = [rule for rule in rules.values() if rule.get("max_files_per_owner")
               and "{sub}" in rule["key_template"] and "{org_id}" not in rule["key_template"]]
    # The dev config limits certificates per owner (cdk.json); a config without any quota would
    # leave this contract untested, so that is a failure, not a skip.
    assert limited, "no per-user rule of the dev config sets max_files_per_owner"
    rule = min(limited, key=lambda r: r["max_files_per_owner"])
    quota = int(rule["max_files_per_owner"])
    quota_user = user(local, "quota", list(rule["groups"]))
    content_type = rule["content_types"][0]
    # Given the owner at its quota: clean records seeded for all but two, and two awaiting uploads
    # minted for real (they count until their POST expires)
    seed_records(local, quota_user, rule, max(0, quota - 2))
    for _ in range(min(quota, 2)):
        mint_upload(local, quota_user.token, rule["name"], content_type, 100)
    # Then one more is refused, and nothing is minted
    response = api(local, "/uploads", {"rule": rule["name"], "content_type": content_type, "size": 100,
                                       "filename": "one too many"}, token=quota_user.token)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "quota_exceeded"
    listed = call(local, "GET", "/backend/files", backend=True, params={"owner": quota_user.sub, "limit": 100})
    assert len(listed.json()["files"]) == min(quota, 100)
    # Another owner is not limited by it
    other = user(local, "quota", list(rule["groups"]))
    assert api(local, "/uploads", {"rule": rule["name"], "content_type": content_type, "size": 100,
                                   "filename": "mine"}, token=other.token).status_code == 201


# --- erasure ------------------------------------------------------------------------------------


def _dynamodb(local: Local) -> Any:
    return boto3.session.Session().client("dynamodb", endpoint_url=local.endpoints["aws"], region_name=local.region,
                                          aws_access_key_id="test", aws_secret_access_key="test")


def seed_records(local: Local, owner: User, rule: dict[str, Any], count: int) -> list[Any]:
    """``count`` clean records of ``owner`` in ``rule`` (a per-user template, or one keyed by
    ``{org_id}``: then in the owner's org, with ``org_scope`` as a mint sets it), written straight
    into the files table in its own layout (``to_item``), their events marked published."""
    from filegate.adapters.files_table import to_item
    from filegate.domain.records import FileRecord, Status

    now = int(time.time())
    content_type = rule["content_types"][0]
    records = []
    for n in range(count):
        file_id = secrets.token_hex(16)
        key = rule["key_template"].replace("{sub}", owner.sub).replace("{file}", f"{file_id}.pdf")
        org_scope = None
        if "{org_id}" in rule["key_template"]:
            assert owner.org_id, "an {org_id} rule needs an owner with an org"
            key = key.replace("{org_id}", owner.org_id)
            org_scope = owner.org_id
        records.append(FileRecord(
            file_id=file_id, key=key, rule=rule["name"], owner_sub=owner.sub, filename=f"seed-{n}.pdf",
            content_type=content_type, declared_size=10, size=10, status=Status.CLEAN, created_at=now - count + n,
            updated_at=now, verified_at=now, notified_at=now, detected_type=content_type,
            scan_verdict="NO_THREATS_FOUND", owner_org_id=owner.org_id, org_scope=org_scope))
    dynamodb = _dynamodb(local)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda record: dynamodb.put_item(TableName=local.runtime["files_table"],
                                                       Item=to_item(record)), records))
    return records


@dataclass
class Seeded:
    subject: User
    keys: list[str]
    versions: int


CV_RULE = {"name": "cv", "key_template": "private/users/{sub}/cv/{file}", "content_types": [samples.PDF]}


def _seed(local: Local, subject: User, count: int, rule: dict[str, Any] | None = None) -> tuple[list[str], int]:
    """``count`` clean cv files (or files of ``rule``) of ``subject`` written straight into the table
    and the bucket: the record (``seed_records``) and two versions of the final key; for every tenth also a
    delete marker, a rejected copy and a quarantine copy. Quarantine copies are announced to the
    real verifier (which ignores or clears them), so they are left out of the count returned: the
    versions only the erasure can remove."""
    records = seed_records(local, subject, rule or CV_RULE, count)
    keys = [record.key for record in records]
    verifier, uploader = local.s3_as("verifier"), local.uploader_s3

    def write(index: int) -> int:
        key = keys[index]
        made = 0
        for body in (b"first", b"second"):
            verifier.put_object(Bucket=local.bucket, Key=key, Body=body)
            made += 1
        if index % 10 == 0:
            verifier.delete_object(Bucket=local.bucket, Key=key)  # a delete marker on top
            verifier.put_object(Bucket=local.bucket, Key=f"rejected/{key}", Body=b"rejected")
            uploader.put_object(Bucket=local.bucket, Key=f"incoming/{key}", Body=b"quarantined")
            made += 2
        return made

    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = sum(pool.map(write, range(count)))
    return keys, versions


@pytest.fixture(scope="module")
def erasure_subject(local: Local) -> Seeded:
    subject = user(local, "erase", ["careers"])
    real = [upload_file(local, subject.token, "cv", pdf(f"erase{n}"), samples.PDF)
            for n in range(REAL_ERASED_FILES)]
    seeded, versions = _seed(local, subject, ERASED_FILES - REAL_ERASED_FILES)
    return Seeded(subject=subject, keys=real + seeded, versions=versions)


def wait_for_erasure(local: Local, erasure_id: str, runs: int) -> dict[str, Any]:
    deadline = time.monotonic() + ERASURE_TIMEOUT
    while True:
        response = call(local, "GET", f"/backend/erasures/{erasure_id}", backend=True)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] == "done" and body["runs"] == runs:
            return dict(body)
        if time.monotonic() > deadline:
            raise AssertionError(f"erasure {erasure_id} not done after {ERASURE_TIMEOUT:.0f} s: {body}")
        time.sleep(0.2)


def test_an_erasure_removes_every_object_version_and_record_of_a_subject(local: Local,
                                                                         erasure_subject: Seeded) -> None:
    subject = erasure_subject.subject
    assert len(all_pages(local, subject.token, limit=100)) == ERASED_FILES
    # When the backend erases the subject
    started = api(local, "/backend/erasures", {"sub": subject.sub}, backend=True)
    assert started.status_code == 202, started.text
    erasure_id = started.json()["erasure_id"]
    assert len(erasure_id) == 32
    # (asking again while it runs changes nothing)
    again = api(local, "/backend/erasures", {"sub": subject.sub}, backend=True)
    assert again.status_code == 202 and again.json()["erasure_id"] == erasure_id
    done = wait_for_erasure(local, erasure_id, runs=1)
    # Then every record and every object version of the subject is gone
    assert done["subject"] == {"sub": subject.sub}
    assert done["deleted_files"] == ERASED_FILES, done
    assert done["deleted_versions"] >= erasure_subject.versions, done
    assert done["waiting_files"] == 0 and done["revoked_prefixes"] >= 1 and done["finished_at"]
    prefix = f"private/users/{subject.sub}/"
    for form in every_form(prefix):
        assert versions_under(local, form) == [], form
    assert all_pages(local, subject.token) == []
    backend = call(local, "GET", "/backend/files", backend=True, params={"owner": subject.sub})
    assert backend.status_code == 200 and backend.json()["files"] == []
    for key in erasure_subject.keys[:REAL_ERASED_FILES]:
        assert call(local, "GET", f"/backend/files/{file_id_of(key)}", backend=True).status_code == 404
    # (and the table itself, read directly: no item at all, tombstone or half-written, for any of them)
    table, dynamodb = local.runtime["files_table"], _dynamodb(local)
    left = [key for key in erasure_subject.keys
            if "Item" in dynamodb.get_item(TableName=table, Key={"file_id": {"S": file_id_of(key)}},
                                           ConsistentRead=True)]
    assert left == [], f"{len(left)} items left in the files table"
    # The product bus has one Subject Erased, without the subject's id
    erased = [e for e in events(local, "Subject Erased") if e["detail"].get("erasure_id") == erasure_id]
    assert len(erased) == 1, erased
    assert erased[0]["detail"]["subject_kind"] == "sub" and subject.sub not in json.dumps(erased[0])
    assert erased[0]["detail"]["deleted_files"] == ERASED_FILES

    # When it is run again with nothing come back: a no-op with the same counts
    rerun = api(local, "/backend/erasures", {"sub": subject.sub}, backend=True)
    assert rerun.status_code == 202 and rerun.json()["erasure_id"] == erasure_id, rerun.text
    second = wait_for_erasure(local, erasure_id, runs=2)
    for count in ("deleted_files", "deleted_versions", "revoked_prefixes"):
        assert second[count] == done[count], (count, second, done)
    assert api(local, "/backend/erasures", {"sub": "bad sub\u0000"}, backend=True).status_code == 400
    assert call(local, "GET", f"/backend/erasures/{'0' * 32}", backend=True).status_code == 404


def test_an_org_erasure_removes_the_orgs_files_and_only_those(local: Local,
                                                              rules: dict[str, dict[str, Any]]) -> None:
    rule = rules["business-registration"]
    org_a, org_b = f"lceraseorga{_suffix()}", f"lceraseorgb{_suffix()}"
    a1 = user(local, "orga1", ["org", "careers"], org_a)  # also has a CV of their own
    a2 = user(local, "orga2", ["org"], org_a)
    b1 = user(local, "orgb1", ["org"], org_b)
    # Given each org's files: one through the real flow, the rest seeded (by two members for A)
    a_real = upload_file(local, a1.token, rule["name"], pdf("orga"), samples.PDF)
    b_real = upload_file(local, b1.token, rule["name"], pdf("orgb"), samples.PDF)
    a_seeded, a_versions = _seed(local, a2, 3, rule)
    a1_seeded, a1_versions = _seed(local, a1, 1, rule)
    b_seeded, _ = _seed(local, b1, 2, rule)
    a_keys, b_keys = [a_real, *a_seeded, *a1_seeded], [b_real, *b_seeded]
    # And a member's CV: a per-user file, which an org erasure must not touch
    cv = upload_file(local, a1.token, "cv", pdf("member cv"), samples.PDF)
    assert sorted(item["key"] for item in all_pages(local, a2.token)) == sorted(a_keys)
    issued = download_url(local, a1.token, a_real)
    assert edge_get(issued).status_code == 200
    # When the backend erases org A
    started = api(local, "/backend/erasures", {"org_id": org_a}, backend=True)
    assert started.status_code == 202, started.text
    erasure_id = started.json()["erasure_id"]
    done = wait_for_erasure(local, erasure_id, runs=1)
    # Then the counts are A's files
    assert done["subject"] == {"org_id": org_a}
    assert done["deleted_files"] == len(a_keys), done
    assert done["deleted_versions"] >= a_versions + a1_versions + 1, done  # + the real file's final key
    org_rules = [r for r in rules.values() if "{org_id}" in r["key_template"]]
    assert done["revoked_prefixes"] == len(org_rules) and done["waiting_files"] == 0, done
    # And no record of A's is left in the table, read directly
    table, dynamodb = local.runtime["files_table"], _dynamodb(local)

    def in_table(key: str) -> bool:
        return "Item" in dynamodb.get_item(TableName=table, Key={"file_id": {"S": file_id_of(key)}},
                                           ConsistentRead=True)

    assert [key for key in a_keys if in_table(key)] == []
    # Nor any version under the org's space, in its three forms
    for form in every_form(f"private/orgs/{org_a}/"):
        assert versions_under(local, form) == [], form
    assert call(local, "GET", "/backend/files", backend=True, params={"org": org_a}).json()["files"] == []
    # And a URL issued before the erasure is refused at the edge
    assert_revoked_at_the_edge(edge_get(issued))
    # While org B's files are untouched: listed, in the table, in the bucket, downloadable
    assert sorted(item["key"] for item in all_pages(local, b1.token)) == sorted(b_keys)
    assert all(in_table(key) for key in b_keys)
    for key in b_keys:
        assert [v for v in versions_under(local, key) if v.split("@")[0] == key], key
    assert edge_get(download_url(local, b1.token, b_real)).status_code == 200
    # And so is the member's CV: listed (now alone), downloadable
    assert [item["key"] for item in all_pages(local, a1.token)] == [cv]
    assert edge_get(download_url(local, a1.token, cv)).status_code == 200
    # The product bus has one Subject Erased for it, of kind org_id, without the org's id
    erased = [e for e in events(local, "Subject Erased") if e["detail"].get("erasure_id") == erasure_id]
    assert len(erased) == 1, erased
    assert erased[0]["detail"]["subject_kind"] == "org_id" and org_a not in json.dumps(erased[0])
    assert erased[0]["detail"]["deleted_files"] == len(a_keys)
