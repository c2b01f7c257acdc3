"""Review finding 2: records written before ``listed_at`` / ``org_scope`` existed, backfilled (moto).

``python -m filegate.backfill`` (docs/lifecycle.md, "Upgrading") against legacy-shaped items: the
layout docs/verification.md describes, which the previous release wrote for every file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import (
    BACKEND_ARN,
    BUCKET,
    FILES_TABLE,
    REGION,
    Minting,
    body,
    get_item,
    put_record,
)
from lifecycle_helpers import LIFECYCLE_RULES, backend_post, get, new_id, put_file, user, versions_under

from filegate import backfill
from filegate.adapters.events import ErasureQueue


def legacy(rule: str, key: str, **extra: Any) -> dict[str, Any]:
    """A record as the previous release wrote it: no ``listed_at``, no ``org_scope``."""
    item = put_record(key, rule=rule, **extra)
    assert "listed_at" not in item and "org_scope" not in item
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=b"%PDF-1.7 legacy")
    return item


def run(life: Minting, *args: str) -> dict[str, Any]:
    from contextlib import redirect_stdout
    from io import StringIO

    out = StringIO()
    with redirect_stdout(out):
        assert backfill.main(["--table", FILES_TABLE, "--region", REGION, *args], environ=life.env) == 0
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def test_the_backfill_indexes_legacy_records_once_and_an_erasure_then_leaves_nothing(
        life: Minting, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given Alice's legacy CV, a legacy org file she uploaded, a legacy record of Bob's, a record
    # written by the current code, and a tombstone
    cv_id, org_id_, bob_id = new_id(), new_id(), new_id()
    cv = legacy("cv", f"private/users/alice/cv/{cv_id}.pdf", owner_sub="alice")
    org = legacy("business-registration", f"private/orgs/acme/registration/{org_id_}.pdf", owner_sub="alice",
                 owner_org_id="acme", created_at=1_700_000_000)
    bob = legacy("cv", f"private/users/bob/cv/{bob_id}.pdf", owner_sub="bob")
    current = put_file("cv", sub="alice")
    table = boto3.resource("dynamodb", region_name=REGION).Table(FILES_TABLE)
    table.put_item(Item={"file_id": new_id(), "tombstone": True, "deleted_at": 1, "expires_at": 2})
    # When the backfill runs (rules from FILEGATE_RULES, several segments)
    tally = run(life, "--segments", "3")
    # Then each legacy record has its listing attributes, the org file its org scope, nothing else moved
    assert tally["updated"] == 3
    assert get_item(cv_id)["listed_at"] == f"{1_800_000_000:011d}#{cv_id}"  # type: ignore[index]
    assert get_item(org_id_)["org_scope"] == "acme"  # type: ignore[index]
    assert "org_scope" not in get_item(cv_id)  # type: ignore[operator]
    assert get_item(current["file_id"]) == current
    assert {k: v for k, v in (get_item(cv_id) or {}).items() if k != "listed_at"} == cv
    # And the records are listed now, to their owner and to the org
    listed = [f["file_id"] for f in body(life.file(get("/files", user("alice", "careers"))))["files"]]
    assert cv_id in listed
    org_listed = [f["file_id"] for f in body(life.file(get("/files", user("carol", "org", org_id="acme"))))["files"]]
    assert org_id_ in org_listed
    # When it runs again (or resumes after an interruption) / Then nothing is left to do
    assert run(life)["updated"] == 0
    # When Alice is erased / Then nothing of hers is left, legacy records included; Bob's stays
    sent: list[dict[str, Any]] = []
    original = ErasureQueue.send

    def capture(self: ErasureQueue, message: dict[str, Any], *, delay_seconds: int = 0) -> None:
        original(self, message, delay_seconds=delay_seconds)
        sent.append(message)

    monkeypatch.setattr(ErasureQueue, "send", capture)
    erasure_id = body(life.delete(backend_post("/backend/erasures", {"sub": "alice"})))["erasure_id"]
    while sent:
        assert life.work(sent.pop(0)) == {"batchItemFailures": []}
    state = body(life.delete(get(f"/backend/erasures/{erasure_id}", iam=BACKEND_ARN)))
    assert state["status"] == "done" and state["deleted_files"] == 3
    assert get_item(cv_id) is None and get_item(org_id_) is None and get_item(current["file_id"]) is None
    assert versions_under(cv["key"]) == [] and versions_under(org["key"]) == []
    assert get_item(bob_id) is not None and versions_under(bob["key"])


def test_the_backfill_never_overwrites_a_record_that_changed_meanwhile(life: Minting) -> None:
    # Given a legacy record as the scan read it, then changed by the current code (a transition)
    file_id = new_id()
    scanned = boto3.client("dynamodb", region_name=REGION)
    legacy("cv", f"private/users/alice/cv/{file_id}.pdf", owner_sub="alice", status="verifying")
    item = scanned.get_item(TableName=FILES_TABLE, Key={"file_id": {"S": file_id}})["Item"]
    boto3.resource("dynamodb", region_name=REGION).Table(FILES_TABLE).update_item(
        Key={"file_id": file_id}, UpdateExpression="SET #s = :c, updated_at = :u",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":c": "clean", ":u": 1_900_000_000})
    # When the backfill writes what it scanned / Then it leaves the record alone
    assert backfill.backfill_item(scanned, FILES_TABLE, item, frozenset()) == "changed"
    assert "listed_at" not in (get_item(file_id) or {})
    assert (get_item(file_id) or {})["status"] == "clean"


def test_the_rules_come_from_a_file_or_the_environment(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps(LIFECYCLE_RULES))
    from_file = backfill.load_rules(rules_json=str(rules_file), environ={})
    from_env = backfill.load_rules(rules_json=None, environ={"FILEGATE_RULES": json.dumps(LIFECYCLE_RULES)})
    assert [rule.name for rule in from_file] == [rule.name for rule in from_env] == [r["name"] for r in LIFECYCLE_RULES]
    with pytest.raises(SystemExit):
        backfill.load_rules(rules_json=None, environ={})
