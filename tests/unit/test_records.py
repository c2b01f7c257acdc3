"""The file record's one-way state machine, and the table adapter's conditional writes in moto.

The oracle is the design's order (DESIGN.md decision 10), written here: ``awaiting_upload`` (0)
→ ``verifying`` (1) → ``clean`` | ``rejected`` (2, final). A status only ever moves to a higher
rank, nothing leaves a final status, and a write that arrives late changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

import boto3
import pytest
from conftest import FILES_TABLE, REGION, get_item
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filegate.adapters.files_table import FilesTable, FilesTableUnavailable, from_item, to_item
from filegate.domain.records import (
    FileRecord,
    RejectReason,
    Status,
    TransitionRefused,
    mark_clean,
    mark_rejected,
    new_record,
    start_verifying,
)

RANK = {"awaiting_upload": 0, "verifying": 1, "clean": 2, "rejected": 2}
FINAL = {"clean", "rejected"}
REUSES_FIXTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

reasons = st.sampled_from(list(RejectReason))
#: One step a worker may try: (target status, reason when rejecting).
steps = st.one_of(st.just(("verifying", None)), st.just(("clean", None)), st.tuples(st.just("rejected"), reasons))


def fresh(now: int = 1_800_000_000, **changes: Any) -> FileRecord:
    record = new_record(file_id=secrets.token_hex(16), key="", rule="cv", owner_sub="alice", owner_org_id=None,
                        filename="cv.pdf", content_type="application/pdf", declared_size=10, now=now)
    return replace(record, key=f"private/users/alice/cv/{record.file_id}.pdf", **changes)


def apply(record: FileRecord, step: tuple[str, RejectReason | None], now: int) -> FileRecord:
    target, reason = step
    if target == "verifying":
        return start_verifying(record, now=now)
    if target == "clean":
        return mark_clean(record, now=now, size=10, detected_type="application/pdf", sha256="0" * 64,
                          scan_verdict="NO_THREATS_FOUND")
    assert reason is not None
    return mark_rejected(record, now=now, reason=reason)


@given(plan=st.lists(steps, max_size=8))
def test_no_sequence_of_transitions_moves_backwards(plan: list[tuple[str, RejectReason | None]]) -> None:
    # Given a new record / When any sequence of transitions is tried on it
    record = fresh()
    for now, step in enumerate(plan, start=1_800_000_001):
        before = record
        try:
            record = apply(record, step, now)
        except TransitionRefused:
            # Then a refused step is one the design forbids: never forward from where it stands
            assert before.status.value in FINAL or RANK[step[0]] <= RANK[before.status.value]
            continue
        # Then an accepted step moves strictly forward, and never out of a final status
        assert before.status.value not in FINAL and RANK[record.status.value] > RANK[before.status.value]
        assert record.updated_at == now and record.created_at == before.created_at
    # And a decided record keeps no TTL and carries its decision time
    if record.status.value in FINAL:
        assert record.expires_at is None and record.verified_at is not None


@pytest.fixture
def table(aws: None) -> FilesTable:
    return FilesTable(boto3.client("dynamodb", region_name=REGION), FILES_TABLE)


@REUSES_FIXTURE
@given(plan=st.lists(st.tuples(steps, st.integers(0, 5)), min_size=1, max_size=10))
def test_conditional_writes_never_move_a_stored_record_backwards(table: FilesTable,
                                                                 plan: list[tuple[Any, int]]) -> None:
    # Given a stored record, and workers each holding a snapshot that may be stale
    record = fresh()
    table.put_new(record)
    snapshots = [record]
    decided: tuple[str, Any] | None = None
    for now, (step, staleness) in enumerate(plan, start=1_800_000_001):
        before = snapshots[max(0, len(snapshots) - 1 - staleness)]
        try:
            after = apply(before, step, now)
        except TransitionRefused:
            continue
        stored_before = table.get(record.file_id)
        assert stored_before is not None
        # When a worker writes its transition
        written = table.transition(before, after)
        stored = table.get(record.file_id)
        assert stored is not None
        # Then it is written exactly when the *stored* status allows it, and the rank never drops
        allowed = stored_before.status.value not in FINAL and RANK[step[0]] > RANK[stored_before.status.value]
        assert written is allowed, (stored_before.status, step)
        assert RANK[stored.status.value] >= RANK[stored_before.status.value]
        assert stored == (after if written else stored_before)
        # And the first decision stands for good
        if stored.status.value in FINAL:
            decision = (stored.status.value, stored.reason)
            assert decided in (None, decision)
            decided = decision
        snapshots.append(stored)


def test_a_redelivered_transition_is_a_no_op(table: FilesTable) -> None:
    # Given a record moved to verifying
    record = fresh()
    table.put_new(record)
    verifying = start_verifying(record, now=1_800_000_010)
    assert table.transition(record, verifying)
    # When the same transition is written again (the event redelivered, a second later)
    again = start_verifying(record, now=1_800_000_011)
    # Then nothing is written, and it is not an error
    assert table.transition(record, again) is False
    assert table.get(record.file_id) == verifying


def test_put_new_never_overwrites(table: FilesTable) -> None:
    record = fresh()
    table.put_new(record)
    assert table.transition(record, start_verifying(record, now=1_800_000_010))
    with pytest.raises(FilesTableUnavailable):
        table.put_new(record)
    stored = table.get(record.file_id)
    assert stored is not None and stored.status is Status.VERIFYING


def test_a_transition_needs_a_stored_record(table: FilesTable) -> None:
    record = fresh()
    assert table.transition(record, start_verifying(record, now=1_800_000_010)) is False
    assert table.get(record.file_id) is None


def test_the_index_holds_only_unfinished_work(table: FilesTable) -> None:
    # Given records at every stage
    awaiting, verifying, decided, announced = fresh(), fresh(), fresh(), fresh()
    for record in (awaiting, verifying, decided, announced):
        table.put_new(record)
    moved = start_verifying(verifying, now=1_800_000_050)
    assert table.transition(verifying, moved)
    clean = mark_clean(decided, now=1_800_000_060, size=10, detected_type="application/pdf", sha256="0" * 64,
                       scan_verdict=None)
    assert table.transition(decided, clean)
    done = mark_rejected(announced, now=1_800_000_070, reason=RejectReason.MALWARE)
    assert table.transition(announced, done)
    assert table.mark_notified(done, now=1_800_000_071)
    # Then the sweep's index holds the verifying record and the decided, unannounced one, nothing else
    assert list(table.pending(Status.VERIFYING, updated_before=1_800_000_051)) == [verifying.file_id]
    assert list(table.pending(Status.VERIFYING, updated_before=1_800_000_050)) == []  # not older than asked
    assert list(table.pending(Status.CLEAN, updated_before=1_900_000_000)) == [decided.file_id]
    assert list(table.pending(Status.REJECTED, updated_before=1_900_000_000)) == []
    assert list(table.pending(Status.AWAITING_UPLOAD, updated_before=1_900_000_000)) == []
    assert table.oldest_pending(Status.VERIFYING) == 1_800_000_050
    # And the attribute that puts them there is the status while the work is unfinished
    assert get_item(verifying.file_id)["pending_status"] == "verifying"  # type: ignore[index]
    assert "pending_status" not in get_item(announced.file_id)  # type: ignore[operator]
    assert "pending_status" not in get_item(awaiting.file_id)  # type: ignore[operator]


def test_mark_notified_happens_once_and_only_when_decided(table: FilesTable) -> None:
    record = fresh()
    table.put_new(record)
    with pytest.raises(ValueError, match="decided"):
        table.mark_notified(record, now=1_800_000_001)
    clean = mark_clean(record, now=1_800_000_002, size=10, detected_type="application/pdf", sha256="0" * 64,
                       scan_verdict="NO_THREATS_FOUND")
    assert table.transition(record, clean)
    assert table.mark_notified(clean, now=1_800_000_003) is True
    assert table.mark_notified(clean, now=1_800_000_004) is False
    stored = table.get(record.file_id)
    assert stored is not None and stored.notified_at == 1_800_000_003 and not stored.has_pending_work


def test_a_clean_record_keeps_the_version_it_serves_private(table: FilesTable) -> None:
    # Given a record promoted clean, with the final-key version the promotion wrote
    record = fresh()
    table.put_new(record)
    clean = mark_clean(record, now=1_800_000_002, size=10, detected_type="application/pdf", sha256="0" * 64,
                       scan_verdict="NO_THREATS_FOUND", served_version_id="v-served")
    assert table.transition(record, clean)
    # Then the table keeps it (as a string attribute), but no public view shows it
    stored = table.get(record.file_id)
    assert stored is not None and stored.served_version_id == "v-served"
    assert get_item(record.file_id)["served_version_id"] == "v-served"  # type: ignore[index]
    assert "served_version_id" not in stored.public()
    assert stored.public() == replace(stored, served_version_id=None).public()
    # And an item written before the field existed reads back without it
    legacy = to_item(replace(clean, served_version_id=None))
    assert "served_version_id" not in legacy and from_item(legacy).served_version_id is None


def test_a_missing_table_is_unavailable_not_absent(table: FilesTable) -> None:
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=FILES_TABLE)
    with pytest.raises(FilesTableUnavailable):
        table.get("0" * 32)


records = st.builds(
    lambda status, reason, size, verdict, org: replace(
        fresh(owner_org_id=org), status=status, reason=reason if status is Status.REJECTED else None, size=size,
        scan_verdict=verdict, verified_at=1_800_000_009 if status in {Status.CLEAN, Status.REJECTED} else None),
    st.sampled_from(list(Status)), reasons, st.one_of(st.none(), st.integers(0, 2**40)),
    st.one_of(st.none(), st.sampled_from(["NO_THREATS_FOUND", "THREATS_FOUND"])),
    st.one_of(st.none(), st.text(min_size=1, max_size=10)))


@given(record=records)
def test_items_round_trip(record: FileRecord) -> None:
    # Given any record / Then its item reads back as the same record, with no empty attribute
    item = to_item(record)
    assert from_item(item) == record
    assert all(value not in ({"NULL": True}, {"S": ""}) for value in item.values())
