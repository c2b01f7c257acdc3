"""The sweep through its real entry point, in moto: stuck records are rejected (fail closed) or finished."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
import samples
from conftest import (
    BUCKET,
    REGION,
    FakeContext,
    Verifying,
    get_item,
    published_events,
    put_record,
    scan_result,
)

CV_ID = "0123456789abcdef0123456789abcdef"
CV = f"private/users/alice/cv/{CV_ID}.pdf"
TIMEOUT = 600  # conftest.verifier_env's FILEGATE_VERIFYING_TIMEOUT_SECONDS


def other_cv(index: int) -> str:
    return f"private/users/alice/cv/{index:04d}456789abcdef0123456789abcdef.pdf"


def run_sweep(monkeypatch: pytest.MonkeyPatch, now: float) -> dict[str, Any]:
    from filegate.handlers import sweep
    monkeypatch.setattr(sweep, "clock", lambda: now)
    result: dict[str, Any] = sweep.handler({"source": "aws.scheduler", "detail-type": "Scheduled Event"},
                                           FakeContext())
    return result


def status(key: str) -> tuple[str, str | None]:
    item = get_item(key.rpartition("/")[2].partition(".")[0])
    assert item is not None
    return item["status"], item.get("reason")


@pytest.fixture
def checker(verifying: Any) -> Verifying:
    configured: Verifying = verifying(scanning="guardduty")
    return configured


def test_a_record_stuck_verifying_is_rejected_as_scan_failed(checker: Verifying,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a quarantined upload whose verdict never came, verifying since long before the timeout
    now = time.time()
    data = samples.pdf()
    checker.quarantine(CV, data)
    put_record(CV, status="verifying", size=len(data), created_at=int(now) - 2 * TIMEOUT)
    # When the sweep runs
    report = run_sweep(monkeypatch, now)
    # Then the file is rejected (scan_failed): kept under rejected/, gone from the quarantine, announced
    assert report["expired"] == 1 and report["failed"] == 0
    assert status(CV) == ("rejected", "scan_failed")
    assert checker.read("rejected/" + CV) == data
    assert checker.versions("incoming/" + CV) == [] and checker.versions(CV) == []
    (event,) = published_events()
    assert event["detail-type"] == "File Rejected" and event["detail"]["reason"] == "scan_failed"
    # And a verdict arriving afterwards promotes nothing
    listing = boto3.client("s3", region_name=REGION).list_object_versions(Bucket=BUCKET, Prefix="rejected/" + CV)
    version = listing["Versions"][0]
    checker.deliver(scan_result("incoming/" + CV, version_id=version["VersionId"], etag=version["ETag"].strip('"')))
    assert status(CV) == ("rejected", "scan_failed") and checker.versions(CV) == []
    assert published_events() == []


def test_recent_records_and_fresh_uploads_are_left_alone(checker: Verifying, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a record verifying for less than the timeout, and an upload just posted (awaiting)
    now = time.time()
    put_record(CV, status="verifying", size=10, created_at=int(now) - TIMEOUT // 2)
    checker.quarantine(other_cv(1), samples.pdf())
    put_record(other_cv(1), status="awaiting_upload", size=len(samples.pdf()), created_at=int(now) - 2 * TIMEOUT)
    # When the sweep runs / Then neither is touched
    report = run_sweep(monkeypatch, now)
    assert report["expired"] == 0 and report["finished"] == 0
    assert status(CV) == ("verifying", None) and status(other_cv(1)) == ("awaiting_upload", None)
    assert len(checker.versions("incoming/" + other_cv(1))) == 1 and published_events() == []


def test_an_upload_whose_events_were_lost_is_rejected(checker: Verifying, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an upload in quarantine for longer than the timeout, its record still awaiting it
    # (neither Object Created nor a verdict ever arrived), and a minted upload never made
    data = samples.pdf()
    checker.quarantine(CV, data)
    later = time.time() + 2 * TIMEOUT
    put_record(CV, status="awaiting_upload", size=len(data), created_at=int(later) - 3 * TIMEOUT)
    put_record(other_cv(2), status="awaiting_upload", size=10, created_at=int(later) - 3 * TIMEOUT)
    # When the sweep runs then / Then the first is rejected, the unused one left to its TTL
    report = run_sweep(monkeypatch, later)
    assert report["expired"] == 1
    assert status(CV) == ("rejected", "scan_failed") and checker.read("rejected/" + CV) == data
    assert status(other_cv(2)) == ("awaiting_upload", None)


def test_a_decided_record_left_unannounced_is_finished(checker: Verifying, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a record decided clean long ago whose verifier stopped before the event (quarantine left
    # behind), and another decided and announced
    now = time.time()
    checker.quarantine(CV, samples.pdf())
    put_record(CV, status="clean", created_at=int(now) - 2 * TIMEOUT, pending_status="clean")
    put_record(other_cv(3), status="clean", created_at=int(now) - 2 * TIMEOUT, notified_at=int(now) - TIMEOUT)
    # When the sweep runs
    report = run_sweep(monkeypatch, now)
    # Then the first is finished exactly as the verifier would have, and only once
    assert report["finished"] == 1
    (event,) = published_events()
    assert event["detail-type"] == "File Verified" and event["detail"]["file_id"] == CV_ID
    item = get_item(CV_ID)
    assert item is not None and "notified_at" in item and "pending_status" not in item
    assert checker.versions("incoming/" + CV) == []
    assert run_sweep(monkeypatch, now)["finished"] == 0 and published_events() == []


def test_a_copy_left_by_a_crashed_promotion_is_removed(checker: Verifying, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a verifier that copied to the final key and then stopped for good (record still verifying)
    now = time.time()
    data = samples.pdf()
    checker.quarantine(CV, data)
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=CV, Body=data)
    put_record(CV, status="verifying", size=len(data), created_at=int(now) - 2 * TIMEOUT)
    # When the sweep runs / Then the file is rejected and nothing is left at its final key
    run_sweep(monkeypatch, now)
    assert status(CV) == ("rejected", "scan_failed") and checker.versions(CV) == []


def test_one_failing_record_does_not_stop_the_others(checker: Verifying, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two stuck records, one of which cannot be read this time
    now = time.time()
    for index in (4, 5):
        put_record(other_cv(index), status="verifying", size=10, created_at=int(now) - 2 * TIMEOUT)
    from filegate.handlers import sweep
    files = sweep.runtime().wiring.files
    real_get = files.get

    def flaky(file_id: str) -> Any:
        if file_id.startswith("0004"):
            raise RuntimeError("throttled")
        return real_get(file_id)

    monkeypatch.setattr(files, "get", flaky)
    # When the sweep runs / Then the other is rejected, and the run fails so that an alarm sees it
    with pytest.raises(sweep.SweepIncomplete):
        run_sweep(monkeypatch, now)
    assert status(other_cv(5)) == ("rejected", "scan_failed")
    assert status(other_cv(4)) == ("verifying", None)


def test_the_oldest_verifying_age_is_reported(checker: Verifying, monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    put_record(CV, status="verifying", size=10, created_at=int(now) - 100, pending_status="verifying")
    report = run_sweep(monkeypatch, now)
    assert 99 <= report["oldest_verifying_age"] <= 101
    assert status(CV) == ("verifying", None)
