"""Erasures driven step by step through the real worker, and the delete's order under crashes (moto).

The queue's messages are captured as the worker sends them (``sent``) and fed back one at a
time, so a step's delay (``DelaySeconds``) never makes a test wait; a crash is a dependency that
raises once, after which the same message (or request) is delivered again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from conftest import (
    BUCKET,
    FILES_TABLE,
    REGION,
    FakeRevocations,
    Minting,
    body,
    get_item,
    published_events,
)
from conftest import invalidations as made_invalidations
from lifecycle_helpers import backend_post, delete, get, new_id, put_file, user, versions_under

from filegate.adapters.events import ErasureQueue


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], int]]:
    """Every erasure message sent (by the API or the worker), with its delay; still sent to SQS."""
    captured: list[tuple[dict[str, Any], int]] = []
    original = ErasureQueue.send

    def capture(self: ErasureQueue, message: dict[str, Any], *, delay_seconds: int = 0) -> None:
        original(self, message, delay_seconds=delay_seconds)
        captured.append((message, delay_seconds))

    monkeypatch.setattr(ErasureQueue, "send", capture)
    return captured


def drain(life: Minting, sent: list[tuple[dict[str, Any], int]], *, limit: int = 400,
          until: Callable[[dict[str, Any], int], bool] | None = None) -> list[int]:
    """Deliver the captured messages one by one (each step sends the next); their delays."""
    delays: list[int] = []
    for _ in range(limit):
        if not sent:
            return delays
        message, delay = sent[0]
        if until is not None and until(message, delay):
            return delays
        sent.pop(0)
        delays.append(delay)
        assert life.work(message) == {"batchItemFailures": []}
    raise AssertionError("the erasure did not finish")


def erasure(life: Minting, erasure_id: str) -> dict[str, Any]:
    from conftest import BACKEND_ARN
    return body(life.delete(get(f"/backend/erasures/{erasure_id}", iam=BACKEND_ARN)))


def owned_items(sub: str) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=FILES_TABLE)["Items"]
    return [item for item in items if item.get("owner_sub", {}).get("S") == sub]


def many_cvs(sub: str, count: int) -> int:
    """``count`` clean CVs of ``sub``, each with its object; every tenth with an older version and a
    quarantine copy under a delete marker. The number of versions and markers written."""
    table = boto3.resource("dynamodb", region_name=REGION).Table(FILES_TABLE)
    s3 = boto3.client("s3", region_name=REGION)
    versions = 0
    with table.batch_writer() as batch:
        for n in range(count):
            file_id = new_id()
            key = f"private/users/{sub}/cv/{file_id}.pdf"
            batch.put_item(Item={"file_id": file_id, "key": key, "rule": "cv", "owner_sub": sub, "filename": "f.pdf",
                                 "content_type": "application/pdf", "declared_size": 10, "size": 10,
                                 "status": "clean", "created_at": 1_800_000_000 + n, "updated_at": 1_800_000_000 + n,
                                 "listed_at": f"{1_800_000_000 + n:011d}#{file_id}"})
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"v1")
            versions += 1
            if n % 10 == 0:
                s3.put_object(Bucket=BUCKET, Key=key, Body=b"v2")
                s3.put_object(Bucket=BUCKET, Key="incoming/" + key, Body=b"q")
                s3.delete_object(Bucket=BUCKET, Key="incoming/" + key)
                versions += 3
    return versions


def test_erasing_a_subject_with_a_thousand_files_leaves_nothing(life: Minting, revocations: FakeRevocations,
                                                                sent: list[tuple[dict[str, Any], int]]) -> None:
    # Given Alice with 1,000 CVs (extra versions, quarantine copies, delete markers), a certificate,
    # a file she uploaded for her org (outside her prefixes), and Bob's CV
    versions = many_cvs("alice", 1000)
    certificate = put_file("certificate", sub="alice")
    org_file = put_file("business-registration", sub="alice", org_id="acme")
    bob = put_file("cv", sub="bob")
    versions += 2
    published_events()
    # When the backend erases her and the worker runs every step
    started = life.delete(backend_post("/backend/erasures", {"sub": "alice"}))
    erasure_id = body(started)["erasure_id"]
    drain(life, sent)
    # Then no record, no version and no delete marker of hers is left anywhere
    assert owned_items("alice") == []
    for prefix in ("private/users/alice/", "incoming/private/users/alice/", "rejected/private/users/alice/",
                   org_file["key"], "incoming/" + org_file["key"]):
        assert versions_under(prefix) == [], prefix
    # And Bob's file is untouched
    assert get_item(bob["file_id"]) is not None and versions_under(bob["key"])
    # And the counts, the revocations and the invalidation say so
    state = erasure(life, erasure_id)
    assert state["status"] == "done" and state["runs"] == 1 and state["waiting_files"] == 0
    assert (state["deleted_files"], state["deleted_versions"], state["revoked_prefixes"]) == (1002, versions, 2)
    assert {"private/users/alice/cv/", "private/users/alice/certificates/", org_file["key"]} <= set(revocations.entries)
    # (her prefixes, and one wildcard for the rule of the served org file outside them)
    assert ["/private/orgs/*", "/private/users/alice/certificates/*",
            "/private/users/alice/cv/*"] in made_invalidations()
    assert [f"/{org_file['key']}"] not in made_invalidations()
    assert get_item(certificate["file_id"]) is None
    (event,) = [e for e in published_events() if e["detail-type"] == "Subject Erased"]
    assert event["detail"] == {"erasure_id": erasure_id, "run": 1, "subject_kind": "sub", "deleted_files": 1002,
                               "deleted_versions": versions, "revoked_prefixes": 2,
                               "finished_at": state["finished_at"]}
    # When it is asked again / Then a second run finds nothing: same counts
    again = life.delete(backend_post("/backend/erasures", {"sub": "alice"}))
    assert body(again) == {"erasure_id": erasure_id, "status": "running"}
    drain(life, sent)
    second = erasure(life, erasure_id)
    assert second["status"] == "done" and second["runs"] == 2
    assert {k: second[k] for k in ("deleted_files", "deleted_versions", "revoked_prefixes")} == {
        k: state[k] for k in ("deleted_files", "deleted_versions", "revoked_prefixes")}


def test_verifying_records_make_the_erasure_wait(life: Minting, sent: list[tuple[dict[str, Any], int]]) -> None:
    # Given Acme's files, one of them being verified
    done = put_file("business-registration", sub="bob", org_id="acme")
    pending = put_file("business-registration", sub="carol", org_id="acme", status="verifying")
    erasure_id = body(life.delete(backend_post("/backend/erasures", {"org_id": "acme"})))["erasure_id"]
    # When the worker runs until it schedules a delayed step
    drain(life, sent, until=lambda _message, delay: delay > 0)
    # Then it waits 60 s for the verifier, counting the file; the other one is gone already
    assert sent and sent[0][1] == 60 and sent[0][0]["step"] == "records"
    state = erasure(life, erasure_id)
    assert state["status"] == "running" and state["waiting_files"] == 1 and state["deleted_files"] == 1
    assert get_item(done["file_id"]) is None and get_item(pending["file_id"]) is not None
    # When the verifier decides the file and the worker goes on / Then the erasure completes
    boto3.resource("dynamodb", region_name=REGION).Table(FILES_TABLE).update_item(
        Key={"file_id": pending["file_id"]}, UpdateExpression="SET #s = :c",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":c": "clean"})
    drain(life, sent)
    state = erasure(life, erasure_id)
    assert state["status"] == "done" and state["waiting_files"] == 0 and state["deleted_files"] == 2
    assert versions_under("private/orgs/acme/") == [] and owned_items("carol") == []


class Crash(Exception):
    """A dependency failing once (the item or request is retried)."""


def crash_once(target: object, method: str) -> Callable[[], int]:
    """Make ``target.method`` raise on its first call; returns a function that restores it and
    says how often it was called."""
    calls = [0]
    original = getattr(target, method)

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise Crash(method)
        return original(*args, **kwargs)

    setattr(target, method, failing)

    def restore() -> int:
        delattr(target, method)  # the instance attribute goes; the class's method is back
        return calls[0]

    return restore


ERASURE_STEPS = [("revocations", "revoke"), ("records", "subject_page"), ("records", "delete_records"),
                 ("objects", "delete_page_under"), ("invalidations", "invalidate"), ("erasures", "finish"),
                 ("events", "publish"), ("erasures", "clear_announcement")]
#: SQS delivers a failed item again once its visibility timeout (720 s) has passed.
VISIBILITY_SECONDS = 720


def test_an_erasure_step_that_crashes_is_retried_and_converges(
        life: Minting, sent: list[tuple[dict[str, Any], int]], monkeypatch: pytest.MonkeyPatch) -> None:
    from filegate.handlers import erasure_worker

    erasure_worker.runtime()  # built once, as in Lambda
    now = [time.time()]
    monkeypatch.setattr(erasure_worker, "clock", lambda: now[0])
    for index, (port, method) in enumerate(ERASURE_STEPS):
        # Given a subject with files, and a dependency that fails once somewhere in the chain
        sub = f"dana-{index}"
        files = [put_file("cv", sub=sub), put_file("cv", sub=sub),
                 put_file("business-registration", sub=sub, org_id="acme")]
        erasure_id = body(life.delete(backend_post("/backend/erasures", {"sub": sub})))["erasure_id"]
        published_events()
        restore = crash_once(getattr(erasure_worker.runtime().ports, port), method)
        # When the worker runs: the failing item is reported, SQS delivers it again
        failures = 0
        for _ in range(100):
            if not sent:
                break
            message, _delay = sent.pop(0)
            if life.work(message)["batchItemFailures"]:
                failures += 1
                sent.insert(0, (message, 0))
                now[0] += VISIBILITY_SECONDS + 1
        # Then the crash happened once, and the erasure still converged on nothing left
        assert restore() >= 2 and failures == 1, (port, method)
        state = erasure(life, erasure_id)
        assert state["status"] == "done" and state["deleted_files"] == 3, (port, method)
        assert owned_items(sub) == [] and versions_under(f"private/users/{sub}/") == []
        assert all(versions_under(f["key"]) == [] for f in files)
        assert [e for e in published_events() if e["detail-type"] == "Subject Erased"], (port, method)


#: Each delete step that may fail, and whether the tombstone is written before it (the retry then
#: finds a tombstone that still carries the event, publishes it and clears it).
DELETE_STEPS = [("revocations", "revoke", False), ("objects", "delete_key_versions", False),
                ("invalidations", "invalidate", False), ("files", "put_tombstone", False),
                ("events", "publish", True), ("files", "clear_pending_event", True)]


def test_a_delete_that_crashes_at_any_step_converges_on_retry(life: Minting, revocations: FakeRevocations) -> None:
    from filegate.handlers import deletions

    alice = user("alice", "careers")
    life.delete(delete(f"/files/{'0' * 32}", alice))  # build the runtime once
    for port, method, tombstoned in DELETE_STEPS:
        # Given Alice's clean CV and a dependency that fails once
        record = put_file("cv", sub="alice")
        published_events()
        restore = crash_once(getattr(deletions.runtime().lifecycle, port), method)
        # When she deletes it: the first attempt fails (5xx), the retry succeeds
        first = life.delete(delete(f"/files/{record['file_id']}", alice))
        assert first["statusCode"] >= 500, (port, method)
        item = get_item(record["file_id"])
        assert item is not None and ("tombstone" in item) is tombstoned, (port, method)
        if tombstoned:  # the event is kept on the tombstone until it is out
            assert item["pending_event"]["file_id"] == record["file_id"], (port, method)
        assert life.delete(delete(f"/files/{record['file_id']}", alice))["statusCode"] == 204
        assert restore() >= 2
        # Then everything a delete does is done
        item = get_item(record["file_id"])
        assert item is not None and set(item) == {"file_id", "tombstone", "deleted_at", "expires_at"}
        assert versions_under(record["key"]) == [] and record["key"] in revocations.entries
        assert [f"/{record['key']}"] in made_invalidations()
        assert any(e["detail-type"] == "File Deleted" for e in published_events())


def test_a_verifier_that_moves_the_record_mid_delete_makes_it_start_again(
        life: Minting, monkeypatch: pytest.MonkeyPatch) -> None:
    from filegate.handlers import deletions

    # Given an awaiting upload whose record the verifier promotes while the delete runs
    record = put_file("cv", sub="alice", status="awaiting_upload", upload_expires_at=int(time.time()) + 300,
                      with_object=False)
    files = deletions.runtime().lifecycle.files
    original = files.put_tombstone
    moved = [False]

    def verifier_wins_once(before: Any, tomb: Any) -> bool:
        if not moved[0]:
            moved[0] = True
            boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=record["key"], Body=b"promoted")
            boto3.resource("dynamodb", region_name=REGION).Table(FILES_TABLE).update_item(
                Key={"file_id": record["file_id"]}, UpdateExpression="SET #s = :c, updated_at = :u",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":c": "clean", ":u": 1_900_000_000})
        return original(before, tomb)

    monkeypatch.setattr(files, "put_tombstone", verifier_wins_once)
    # When Alice deletes / Then the delete re-reads, removes the promoted copy too, and succeeds
    assert life.delete(delete(f"/files/{record['file_id']}", user("alice", "careers")))["statusCode"] == 204
    assert versions_under(record["key"]) == [] and get_item(record["file_id"])["tombstone"] is True  # type: ignore[index]
    assert [f"/{record['key']}"] in made_invalidations()  # clean on the second pass: invalidated


# --- review findings 4 and 5: the delete against the verifier ---------------------------------------

def test_a_delete_of_an_upload_that_landed_is_409_and_does_nothing(life: Minting, revocations: FakeRevocations) -> None:
    # Given an awaiting upload whose bytes are already in the quarantine (the verifier will act on it)
    record = put_file("cv", sub="alice", status="awaiting_upload", upload_expires_at=int(time.time()) + 300)
    published_events()
    # When Alice deletes it
    response = life.delete(delete(f"/files/{record['file_id']}", user("alice", "careers")))
    # Then 409 not_ready, and nothing at all happened: no revocation, no deletion, no event, same record
    assert response["statusCode"] == 409 and body(response)["error"]["code"] == "not_ready"
    assert record["key"] not in revocations.entries
    assert len(versions_under("incoming/" + record["key"])) == 1
    assert published_events() == [] and made_invalidations() == []
    assert get_item(record["file_id"]) == record


def test_a_delete_that_loses_to_the_verifier_starting_is_409_without_an_event(
        life: Minting, revocations: FakeRevocations, monkeypatch: pytest.MonkeyPatch) -> None:
    from filegate.handlers import deletions

    # Given an awaiting upload (nothing uploaded when the delete reads it) that the verifier moves to
    # verifying between the delete's read and its tombstone
    record = put_file("cv", sub="alice", status="awaiting_upload", upload_expires_at=int(time.time()) + 300,
                      with_object=False)
    published_events()
    files = deletions.runtime().lifecycle.files
    original = files.put_tombstone

    def verifier_starts(before: Any, tomb: Any) -> bool:
        boto3.resource("dynamodb", region_name=REGION).Table(FILES_TABLE).update_item(
            Key={"file_id": record["file_id"]}, UpdateExpression="SET #s = :v, updated_at = :u",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":v": "verifying", ":u": 1_900_000_000})
        return original(before, tomb)

    monkeypatch.setattr(files, "put_tombstone", verifier_starts)
    # When Alice deletes it
    response = life.delete(delete(f"/files/{record['file_id']}", user("alice", "careers")))
    # Then 409 not_ready, no File Deleted for a file that is not deleted, the record is the verifier's
    assert response["statusCode"] == 409 and body(response)["error"]["code"] == "not_ready"
    assert [e for e in published_events() if e["detail-type"] == "File Deleted"] == []
    item = get_item(record["file_id"])
    assert item is not None and item["status"] == "verifying" and "tombstone" not in item
    # And the key stays revoked at the edge until ``until`` (documented)
    assert record["key"] in revocations.entries


def test_a_delete_that_stopped_after_its_tombstone_publishes_on_the_next_delete(
        life: Minting, monkeypatch: pytest.MonkeyPatch) -> None:
    from filegate.adapters.events import EventBus

    # Given a delete that stops (the bus is down) right after writing its tombstone
    record = put_file("cv", sub="alice")
    published_events()

    def bus_down(self: EventBus, detail_type: str, detail: dict[str, Any]) -> None:
        raise Crash("publish")

    with monkeypatch.context() as patched:
        patched.setattr(EventBus, "publish", bus_down)
        assert life.delete(delete(f"/files/{record['file_id']}", user("alice", "careers")))["statusCode"] >= 500
    item = get_item(record["file_id"])
    assert item is not None and item["tombstone"] is True
    assert item["pending_event"] == {"file_id": record["file_id"], "key": record["key"], "rule": "cv",
                                     "deleted_at": item["deleted_at"], "deleted_by": "owner"}
    assert published_events() == []
    # When the DELETE is retried (by anyone: it is a tombstone)
    assert life.delete(delete(f"/files/{record['file_id']}", user("alice", "careers")))["statusCode"] == 204
    # Then the event is published once, with the first attempt's detail, and the tombstone is bare
    (event,) = [e for e in published_events() if e["detail-type"] == "File Deleted"]
    assert event["detail"]["file_id"] == record["file_id"] and event["detail"]["deleted_at"] == item["deleted_at"]
    assert set(get_item(record["file_id"]) or {}) == {"file_id", "tombstone", "deleted_at", "expires_at"}
    # And a further retry publishes nothing more
    assert life.delete(delete(f"/files/{record['file_id']}", user("alice", "careers")))["statusCode"] == 204
    assert published_events() == []


# --- review finding 6: duplicate chains and double announcements ------------------------------------

def subject_erased() -> list[dict[str, Any]]:
    return [e for e in published_events() if e["detail-type"] == "Subject Erased"]


def run_until(life: Minting, sent: list[tuple[dict[str, Any], int]], step: str) -> dict[str, Any]:
    """Deliver messages until the first one of ``step``; that one, not delivered."""
    for _ in range(100):
        message, _delay = sent.pop(0)
        if message["step"] == step:
            return message
        assert life.work(message) == {"batchItemFailures": []}
    raise AssertionError(f"no {step} step")


def test_a_duplicate_finish_delivered_while_the_first_announces_publishes_once(
        life: Minting, sent: list[tuple[dict[str, Any], int]], monkeypatch: pytest.MonkeyPatch) -> None:
    from filegate.adapters.events import EventBus

    # Given an erasure at its finish step, and SQS delivering that message twice: the copy is
    # processed while the first delivery is publishing its event (before it clears its marker)
    put_file("cv", sub="alice")
    erasure_id = body(life.delete(backend_post("/backend/erasures", {"sub": "alice"})))["erasure_id"]
    finish = run_until(life, sent, "finish")
    published_events()
    original = EventBus.publish
    inside = [False]

    def publish(self: EventBus, detail_type: str, detail: dict[str, Any]) -> None:
        original(self, detail_type, detail)
        if detail_type == "Subject Erased" and not inside[0]:
            inside[0] = True
            assert life.work(finish) == {"batchItemFailures": []}  # the duplicate delivery

    monkeypatch.setattr(EventBus, "publish", publish)
    # When the first delivery runs
    assert life.work(finish) == {"batchItemFailures": []}
    # Then one Subject Erased (naming its run), one finished erasure, nothing more sent
    (event,) = subject_erased()
    assert (event["detail"]["erasure_id"], event["detail"]["run"]) == (erasure_id, 1)
    assert erasure(life, erasure_id)["status"] == "done" and sent == []


def test_a_duplicated_step_makes_no_second_chain_and_adds_no_counts(
        life: Minting, sent: list[tuple[dict[str, Any], int]]) -> None:
    # Given Alice's files and an erasure whose records step SQS delivers twice
    for _ in range(3):
        put_file("cv", sub="alice")
    erasure_id = body(life.delete(backend_post("/backend/erasures", {"sub": "alice"})))["erasure_id"]
    records = run_until(life, sent, "records")
    # When both copies are delivered, one after the other
    assert life.work(records) == {"batchItemFailures": []}
    after_first = list(sent)
    assert life.work(records) == {"batchItemFailures": []}
    # Then the copy did nothing and sent nothing (one chain), and the run finishes once with exact counts
    assert sent == after_first and len(sent) == 1
    published_events()
    drain(life, sent)
    state = erasure(life, erasure_id)
    assert state["status"] == "done" and state["deleted_files"] == 3 and state["deleted_versions"] == 3
    assert len(subject_erased()) == 1


def test_a_chain_re_sent_while_the_old_one_still_runs_finishes_once(
        life: Minting, sent: list[tuple[dict[str, Any], int]], monkeypatch: pytest.MonkeyPatch) -> None:
    from filegate.handlers import deletions

    # Given an erasure whose chain looks lost (no progress for longer than the stale limit) but whose
    # objects step is in fact still in the queue
    for _ in range(2):
        put_file("cv", sub="alice")
    erasure_id = body(life.delete(backend_post("/backend/erasures", {"sub": "alice"})))["erasure_id"]
    old = run_until(life, sent, "objects")
    monkeypatch.setattr(deletions, "clock", lambda: time.time() + deletions.STALE_ERASURE_SECONDS + 1)
    # When the backend asks again: the chain is re-sent from its first step, at the current seq
    assert body(life.delete(backend_post("/backend/erasures", {"sub": "alice"})))["status"] == "running"
    (resent, _delay), = sent
    assert resent["step"] == "revoke" and resent["seq"] == old["seq"]
    published_events()
    # And both chains are delivered, interleaved
    sent.insert(0, (old, 0))
    drain(life, sent)
    # Then only one of them went on: one Subject Erased, counts exact (no double adds)
    state = erasure(life, erasure_id)
    assert state["status"] == "done" and state["runs"] == 1
    assert (state["deleted_files"], state["deleted_versions"]) == (2, 2)
    assert len(subject_erased()) == 1


def test_a_finish_that_stopped_before_clearing_its_marker_is_announced_by_the_redelivery(
        life: Minting, sent: list[tuple[dict[str, Any], int]], monkeypatch: pytest.MonkeyPatch) -> None:
    from filegate.handlers import erasure_worker

    # Given a finish whose invocation stopped after its finish write, before the event went out
    put_file("cv", sub="alice")
    erasure_id = body(life.delete(backend_post("/backend/erasures", {"sub": "alice"})))["erasure_id"]
    finish = run_until(life, sent, "finish")
    published_events()
    now = [time.time()]
    monkeypatch.setattr(erasure_worker, "clock", lambda: now[0])
    restore = crash_once(erasure_worker.runtime().ports.events, "publish")
    assert life.work(finish)["batchItemFailures"]
    restore()
    assert erasure(life, erasure_id)["status"] == "done" and subject_erased() == []
    # When a copy arrives at once (the invocation could still be running) / Then it does nothing
    assert life.work(finish) == {"batchItemFailures": []} and subject_erased() == []
    # When SQS delivers the failed message again after its visibility timeout
    now[0] += VISIBILITY_SECONDS + 1
    assert life.work(finish) == {"batchItemFailures": []}
    # Then the event goes out once, and a further copy publishes nothing
    (event,) = subject_erased()
    assert event["detail"]["run"] == 1
    now[0] += VISIBILITY_SECONDS + 1
    assert life.work(finish) == {"batchItemFailures": []} and subject_erased() == []


# --- review finding 8: invalidation limits ------------------------------------------------------------

def test_files_outside_the_prefixes_are_invalidated_by_one_wildcard_per_rule_in_small_steps(
        life: Minting, revocations: FakeRevocations, sent: list[tuple[dict[str, Any], int]],
        logs: list[str]) -> None:
    import json

    # Given Alice with 60 org files she uploaded (outside her prefixes), a marketing image, two CVs
    org_files = [put_file("business-registration", sub="alice", org_id=f"org{n % 3}", created_at=1_800_000_000 + n)
                 for n in range(60)]
    image = put_file("marketing", sub="alice", created_at=1_700_000_000)
    cvs = [put_file("cv", sub="alice"), put_file("cv", sub="alice")]
    before = len(made_invalidations())
    # When she is erased
    erasure_id = body(life.delete(backend_post("/backend/erasures", {"sub": "alice"})))["erasure_id"]
    steps: list[str] = []
    while sent:
        message, _delay = sent.pop(0)
        steps.append(message["step"])
        assert life.work(message) == {"batchItemFailures": []}
    # Then the records went 25 at a time (63 records: three pages)
    assert steps.count("records") == 3
    # And one invalidation only: her prefixes and one wildcard per rule of the files outside them
    made = made_invalidations()[before:]
    assert made == [["/private/orgs/*", "/private/users/alice/certificates/*", "/private/users/alice/cv/*",
                     "/public/marketing/*"]]
    # And every such file's final key is still revoked one by one, and nothing of hers is left
    assert {f["key"] for f in org_files} | {image["key"]} <= set(revocations.entries)
    assert owned_items("alice") == []
    assert all(versions_under(f["key"]) == [] for f in [*org_files, image, *cvs])
    state = erasure(life, erasure_id)
    assert state["status"] == "done" and state["deleted_files"] == 63
    # And the audit record counts the paths
    (audit,) = [json.loads(line)["audit"] for line in logs
                if '"audit"' in line and json.loads(line).get("audit", {}).get("event") == "erasure"]
    assert audit["invalidation_paths"] == 4 and audit["run"] == 1
