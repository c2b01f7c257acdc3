"""The verifier through its real entry point, in moto: SQS batches of real S3 / GuardDuty event shapes.

What moto cannot show: it ignores ``CopySourceIfMatch`` and applies no bucket policy, so the
pinning of each copy is asserted on the request the adapter sends (``copies``), and the
quarantine Deny is the stack's and the local mode's to prove.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import pytest
import samples
from conftest import (
    BACKEND_ARN,
    BUCKET,
    IDEMPOTENCY_TABLE,
    REGION,
    Minting,
    Verifying,
    api_event,
    body,
    careers,
    get_item,
    object_created,
    published_events,
    put_record,
    scan_result,
)

CV_ID = "0123456789abcdef0123456789abcdef"
CV = f"private/users/alice/cv/{CV_ID}.pdf"
QUARANTINED_CV = "incoming/" + CV
CERTIFICATE = "private/users/alice/certificates/1111456789abcdef0123456789abcdef.jpg"
DOCX = "private/users/alice/cv/2222456789abcdef0123456789abcdef.docx"
NOW = 1_800_000_100


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> int:
    from filegate.handlers import verifier
    monkeypatch.setattr(verifier, "clock", lambda: float(NOW))
    return NOW


def await_upload(key: str, data: bytes, content_type: str = "application/pdf", **extra: Any) -> None:
    """The mint's record for ``key``: awaiting an upload of ``len(data)`` bytes."""
    put_record(key, status="awaiting_upload", size=len(data), content_type=content_type, **extra)


def everything_stored() -> list[tuple[str, str]]:
    """Every (key, version id) in the bucket, delete markers included."""
    listing = boto3.client("s3", region_name=REGION).list_object_versions(Bucket=BUCKET)
    return sorted((item["Key"], item["VersionId"])
                  for item in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])])


def record(key: str) -> dict[str, Any]:
    item = get_item(key.rpartition("/")[2].partition(".")[0])
    assert item is not None
    return item


class TestClean:
    def test_a_clean_pdf_is_promoted(self, verifying: Any) -> None:
        # Given Alice's minted CV upload, posted to the quarantine
        checker: Verifying = verifying(scanning="guardduty")
        copies = checker.requests("CopyObject", "PutObject")
        data = samples.pdf()
        await_upload(CV, data)
        # When S3's Object Created and GuardDuty's clean verdict are delivered
        version_id, etag = checker.upload(CV, data)
        # Then the final key holds exactly the uploaded bytes, served with server-set headers
        assert checker.read(CV) == data
        head = boto3.client("s3", region_name=REGION).head_object(Bucket=BUCKET, Key=CV)
        assert head["ContentType"] == "application/pdf"
        assert head["ContentDisposition"] == "attachment; filename=\"file.pdf\"; filename*=UTF-8''file.pdf"
        assert head["Metadata"] == {"original-filename": "file.pdf", "uploader": "alice", "rule": "cv"}
        # And the copy was pinned to the scanned version and ETag, metadata replaced
        (copy,) = copies
        assert copy["CopySource"] == {"Bucket": BUCKET, "Key": QUARANTINED_CV, "VersionId": version_id}
        assert copy["CopySourceIfMatch"] == f'"{etag}"' and copy["MetadataDirective"] == "REPLACE"
        # And the quarantine holds nothing (no version, no delete marker)
        assert checker.versions(QUARANTINED_CV) == []
        # And the record is clean, with what the verifier learned, and out of the sweep's index
        item = record(CV)
        assert item["status"] == "clean" and item["verified_at"] == NOW and item["notified_at"] == NOW
        assert item["sha256"] == hashlib.sha256(data).hexdigest() and item["size"] == len(data)
        assert item["detected_type"] == "application/pdf" and item["scan_verdict"] == "NO_THREATS_FOUND"
        assert "pending_status" not in item and "expires_at" not in item and "reason" not in item
        # And exactly one File Verified event carries the public fields
        (event,) = published_events()
        assert event["source"] == "filegate" and event["detail-type"] == "File Verified"
        assert event["detail"] == {"file_id": CV_ID, "key": CV, "rule": "cv", "filename": "file.pdf",
                                   "content_type": "application/pdf", "size": len(data), "status": "clean",
                                   "created_at": 1_800_000_000, "verified_at": NOW}

    def test_object_created_alone_only_starts_verifying(self, verifying: Any, minting: Minting) -> None:
        # Given GuardDuty scanning, and Alice's upload in quarantine
        checker: Verifying = verifying(scanning="guardduty")
        data = samples.pdf()
        await_upload(CV, data)
        version_id, etag = checker.quarantine(CV, data)
        # When only Object Created is delivered
        response = checker.deliver(object_created(QUARANTINED_CV, version_id=version_id, etag=etag, size=len(data)))
        # Then the record is verifying (and in the sweep's index), nothing is promoted or published
        assert response == {"batchItemFailures": []}
        item = record(CV)
        assert item["status"] == "verifying" and item["pending_status"] == "verifying"
        assert checker.versions(CV) == [] and len(checker.versions(QUARANTINED_CV)) == 1
        assert published_events() == []
        # And a download is refused for now
        refused = minting.download(api_event("/downloads", {"key": CV}, claims=careers("alice")))
        assert refused["statusCode"] == 409 and body(refused)["error"]["code"] == "not_ready"

    def test_the_scan_result_may_arrive_first(self, verifying: Any) -> None:
        # Given the verdict delivered before Object Created
        checker: Verifying = verifying(scanning="guardduty")
        data = samples.pdf()
        await_upload(CV, data)
        version_id, etag = checker.quarantine(CV, data)
        assert checker.deliver(scan_result(QUARANTINED_CV, version_id=version_id, etag=etag)) == {
            "batchItemFailures": []}
        # When Object Created arrives late / Then it changes nothing more
        assert checker.deliver(object_created(QUARANTINED_CV, version_id=version_id, etag=etag, size=len(data))) == {
            "batchItemFailures": []}
        assert record(CV)["status"] == "clean" and checker.read(CV) == data
        assert [event["detail-type"] for event in published_events()] == ["File Verified"]

    def test_without_scanning_object_created_drives_the_checks(self, verifying: Any) -> None:
        # Given scanning: none / When Object Created alone is delivered
        checker: Verifying = verifying(scanning="none")
        data = samples.ooxml()
        await_upload(DOCX, data, samples.DOCX)
        checker.upload(DOCX, data, samples.DOCX)
        # Then the file is promoted on the content checks alone, with no verdict recorded
        item = record(DOCX)
        assert item["status"] == "clean" and "scan_verdict" not in item
        assert checker.read(DOCX) == data

    def test_images_are_served_re_encoded(self, verifying: Any) -> None:
        # Given a JPEG carrying EXIF GPS
        checker: Verifying = verifying(scanning="guardduty")
        copies = checker.requests("CopyObject", "PutObject")
        data = samples.jpeg(64, 48, exif=samples.exif_with_gps())
        await_upload(CERTIFICATE, data, samples.JPEG, rule="certificate")
        # When it is verified clean
        checker.upload(CERTIFICATE, data, samples.JPEG)
        # Then the final key holds the re-encoded bytes (put, never a copy of the upload), and the record
        # hashes what is served
        served = checker.read(CERTIFICATE)
        assert served != data and served.startswith(b"\xff\xd8") and b"GPS" not in served
        assert [sent["operation"] for sent in copies] == ["PutObject"]
        assert copies[0]["ContentType"] == "image/jpeg" and copies[0]["Key"] == CERTIFICATE
        item = record(CERTIFICATE)
        assert item["sha256"] == hashlib.sha256(served).hexdigest() and item["size"] == len(served)

    def test_a_kms_bucket_key_encrypts_every_write(self, verifying: Any) -> None:
        key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
        checker: Verifying = verifying(scanning="guardduty", FILEGATE_BUCKET_KMS_KEY_ARN=key_arn)
        sent = checker.requests("CopyObject")
        data = samples.pdf()
        await_upload(CV, data)
        checker.upload(CV, data)
        assert [(p["ServerSideEncryption"], p["SSEKMSKeyId"], p["BucketKeyEnabled"]) for p in sent] == [
            ("aws:kms", key_arn, True)]


REJECTIONS = [
    # (what, bytes, declared type, verdict, reason)
    ("html declared as pdf", samples.HTML_PAYLOAD, samples.PDF, "NO_THREATS_FOUND", "type_mismatch"),
    ("pdf with /OpenAction JavaScript", samples.pdf_with_open_action_js(), samples.PDF, "NO_THREATS_FOUND",
     "active_content"),
    ("docx with a macro part", samples.docx_with_vba_project(), samples.DOCX, "NO_THREATS_FOUND", "active_content"),
    ("zip bomb posing as docx", samples.zip_bomb(), samples.DOCX, "NO_THREATS_FOUND", "active_content"),
    ("pdf carrying EICAR", samples.pdf(text=samples.EICAR.decode()), samples.PDF, "THREATS_FOUND", "malware"),
    ("a type GuardDuty cannot scan", samples.pdf(), samples.PDF, "UNSUPPORTED", "unsupported"),
    ("a failed scan", samples.pdf(), samples.PDF, "FAILED", "scan_failed"),
    ("access denied to the scanner", samples.pdf(), samples.PDF, "ACCESS_DENIED", "scan_failed"),
    ("no verdict at all", samples.pdf(), samples.PDF, None, "scan_failed"),
]


class TestRejected:
    @pytest.mark.parametrize(("data", "declared", "verdict", "reason"),
                             [case[1:] for case in REJECTIONS], ids=[case[0] for case in REJECTIONS])
    def test_each_reason(self, *, verifying: Any, minting: Minting, data: bytes, declared: str, verdict: str | None,
                         reason: str) -> None:
        # Given an upload declared as `declared`
        checker: Verifying = verifying(scanning="guardduty")
        key = CV if declared == samples.PDF else DOCX
        await_upload(key, data, declared)
        # When its events are delivered with `verdict`
        checker.upload(key, data, declared, scan=verdict)
        # Then nothing is at the final key, the upload is kept under rejected/, the quarantine is empty
        assert checker.versions(key) == []
        assert checker.read("rejected/" + key) == data
        assert checker.versions("incoming/" + key) == []
        # And the record says why, and one File Rejected event says so too
        item = record(key)
        assert (item["status"], item["reason"]) == ("rejected", reason)
        (event,) = published_events()
        assert event["detail-type"] == "File Rejected" and event["detail"]["reason"] == reason
        assert event["detail"]["status"] == "rejected" and "url" not in json.dumps(event["detail"]).lower()
        # And a download is refused with the reason
        refused = minting.download(api_event("/downloads", {"key": key}, claims=careers("alice")))
        assert refused["statusCode"] == 403 and body(refused)["error"]["code"] == "rejected"

    @pytest.mark.parametrize(("declared_size", "actual"), [(20, 10), (10, 5 * 1024 * 1024)],
                             ids=["shorter than declared", "larger than declared"])
    def test_a_size_other_than_declared(self, verifying: Any, declared_size: int, actual: int) -> None:
        # Given a record declaring `declared_size` bytes and an upload of `actual`
        checker: Verifying = verifying(scanning="guardduty")
        data = samples.pdf() + b"%" * max(0, actual - len(samples.pdf()))
        data = data[:actual]
        put_record(CV, status="awaiting_upload", size=declared_size)
        from filegate.handlers import verifier
        inspected: list[int] = []
        checks = verifier.runtime().verifier
        real_inspect = checks.inspect

        def spy(data: bytes, **kwargs: Any) -> Any:
            inspected.append(len(data))
            return real_inspect(data, **kwargs)

        checks.inspect = spy
        # When it is verified
        checker.upload(CV, data)
        # Then it is rejected as size_mismatch; a larger object was never read into memory
        assert (record(CV)["status"], record(CV)["reason"]) == ("rejected", "size_mismatch")
        assert record(CV)["size"] == actual
        assert inspected == ([] if actual > declared_size else [actual])
        assert checker.versions(CV) == []


class TestRedelivery:
    def test_the_same_event_twice_changes_nothing(self, verifying: Any) -> None:
        # Given a file verified clean
        checker: Verifying = verifying(scanning="guardduty")
        data = samples.pdf()
        await_upload(CV, data)
        version_id, etag = checker.upload(CV, data)
        before = record(CV)
        assert len(published_events()) == 1
        # When both events are delivered again, in one batch and then again alone
        again = [object_created(QUARANTINED_CV, version_id=version_id, etag=etag, size=len(data)),
                 scan_result(QUARANTINED_CV, version_id=version_id, etag=etag)]
        assert checker.deliver(*again) == {"batchItemFailures": []}
        assert checker.deliver(again[1]) == {"batchItemFailures": []}
        # Then the record, the final object and the quarantine are as they were, and no event is sent
        assert record(CV) == before
        assert checker.read(CV) == data and len(checker.versions(CV)) == 1
        assert published_events() == []

    def test_redelivery_after_the_idempotency_record_expired_changes_nothing(self, verifying: Any) -> None:
        # Given a file rejected, and the idempotency records gone (expired)
        checker: Verifying = verifying(scanning="guardduty")
        data = samples.HTML_PAYLOAD
        await_upload(CV, data)
        version_id, etag = checker.upload(CV, data)
        before = record(CV)
        assert len(published_events()) == 1
        table = boto3.resource("dynamodb", region_name=REGION).Table(IDEMPOTENCY_TABLE)
        for item in table.scan()["Items"]:
            table.delete_item(Key={"id": item["id"]})
        # When the scan result comes again, now even saying the file is clean
        assert checker.deliver(scan_result(QUARANTINED_CV, version_id=version_id, etag=etag)) == {
            "batchItemFailures": []}
        # Then the record's conditional writes keep it rejected, and nothing is published again
        assert record(CV) == before and checker.versions(CV) == []
        assert published_events() == []

    def test_a_second_post_to_the_same_key_is_never_promoted(self, verifying: Any) -> None:
        # Given Alice's CV verified clean
        checker: Verifying = verifying(scanning="guardduty")
        data = samples.pdf()
        await_upload(CV, data)
        checker.upload(CV, data)
        published_events()
        # When the (still valid) presigned POST is used again with other bytes
        checker.upload(CV, samples.HTML_PAYLOAD, scan="NO_THREATS_FOUND")
        # Then the final key still serves the verified bytes, the new upload is gone, nothing is published
        assert checker.read(CV) == data and len(checker.versions(CV)) == 1
        assert checker.versions(QUARANTINED_CV) == []
        assert record(CV)["status"] == "clean" and published_events() == []


class TestNothingWithoutARecord:
    @pytest.mark.parametrize("key", [
        "incoming/private/users/alice/cv/not-a-file-id.pdf",
        "incoming/elsewhere/0123456789abcdef0123456789abcdef.pdf",
        CV,  # the verifier's own copy to a final key
        "rejected/" + CV,
    ])
    def test_unknown_keys_are_left_alone(self, verifying: Any, key: str) -> None:
        # Given an object whose key is not a quarantined upload with a record
        checker: Verifying = verifying(scanning="none")
        response = boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=samples.pdf())
        before = everything_stored()
        assert len(before) == 1
        # When its Object Created is delivered
        result = checker.deliver(object_created(key, version_id=response["VersionId"],
                                                etag=response["ETag"].strip('"'), size=len(samples.pdf())))
        # Then the item succeeds, and nothing is deleted, copied or published
        assert result == {"batchItemFailures": []}
        assert everything_stored() == before
        assert published_events() == []

    @pytest.mark.parametrize("tombstoned", [False, True], ids=["no record", "tombstone"])
    @pytest.mark.parametrize("scanning", ["none", "guardduty"])
    def test_an_upload_without_a_record_is_deleted(self, verifying: Any, tombstoned: bool, scanning: str) -> None:
        # Given a quarantined upload whose record is missing (erased, expired, never minted) or a
        # deleted file's tombstone (a still-valid presigned POST used after the DELETE), and, under
        # the same key, an older version that must stay (only the event's version is the verifier's)
        checker: Verifying = verifying(scanning=scanning)
        s3 = boto3.client("s3", region_name=REGION)
        older = s3.put_object(Bucket=BUCKET, Key=QUARANTINED_CV, Body=b"older")["VersionId"]
        if tombstoned:
            boto3.resource("dynamodb", region_name=REGION).Table("filegate-test-files").put_item(Item={
                "file_id": CV_ID, "tombstone": True, "deleted_at": NOW - 10, "expires_at": NOW + 600_000})
        version_id, etag = checker.quarantine(CV, samples.pdf())
        # When its Object Created (and, with GuardDuty, its scan result) is delivered
        events = [object_created(QUARANTINED_CV, version_id=version_id, etag=etag, size=len(samples.pdf()))]
        if scanning == "guardduty":
            events.append(scan_result(QUARANTINED_CV, version_id=version_id, etag=etag))
        # Then the item succeeds, exactly that version is gone, nothing else moved, nothing published
        assert checker.deliver(*events) == {"batchItemFailures": []}
        assert everything_stored() == [(QUARANTINED_CV, older)]
        assert published_events() == []
        assert (get_item(CV_ID) is not None) is tombstoned

    def test_a_record_for_another_key_promotes_nothing(self, verifying: Any) -> None:
        # Given a record for this file id whose key is another identity's
        checker: Verifying = verifying(scanning="none")
        put_record(f"private/users/bob/cv/{CV_ID}.pdf", status="awaiting_upload", size=len(samples.pdf()))
        # When Alice's key with the same id is uploaded and announced
        checker.upload(CV, samples.pdf())
        # Then nothing moves: the quarantined object stays, no final key, the record untouched
        assert len(checker.versions(QUARANTINED_CV)) == 1 and checker.versions(CV) == []
        assert record(f"private/users/bob/cv/{CV_ID}.pdf")["status"] == "awaiting_upload"

    def test_another_buckets_events_are_ignored(self, verifying: Any) -> None:
        checker: Verifying = verifying(scanning="none")
        await_upload(CV, samples.pdf())
        version_id, etag = checker.quarantine(CV, samples.pdf())
        event = object_created(QUARANTINED_CV, version_id=version_id, etag=etag, size=1, bucket="someone-else")
        assert checker.deliver(event) == {"batchItemFailures": []}
        assert record(CV)["status"] == "awaiting_upload" and checker.versions(CV) == []


class TestFailures:
    def test_a_partial_batch_failure_names_only_the_bad_items(self, verifying: Any) -> None:
        # Given a batch: a clean upload, an unparseable body, an event for a version that does not
        # exist, and a GuardDuty event for an unversioned object
        checker: Verifying = verifying(scanning="none")
        data = samples.pdf()
        await_upload(CV, data)
        version_id, etag = checker.quarantine(CV, data)
        other = "private/users/alice/cv/9999456789abcdef0123456789abcdef.pdf"
        await_upload(other, data)
        checker.quarantine(other, data)
        no_version = scan_result("incoming/" + other, version_id="x", etag=etag)
        del no_version["detail"]["s3ObjectDetails"]["versionId"]
        batch = [
            object_created(QUARANTINED_CV, version_id=version_id, etag=etag, size=len(data)),
            "{not json",
            object_created("incoming/" + other, version_id="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", etag=etag,
                           size=len(data)),
            no_version,
        ]
        # When it is delivered
        response = checker.deliver(*batch)
        # Then exactly the three bad items are reported for retry, and the good one is promoted
        assert response == {"batchItemFailures": [{"itemIdentifier": "message-1"}, {"itemIdentifier": "message-2"},
                                                   {"itemIdentifier": "message-3"}]}
        assert record(CV)["status"] == "clean" and checker.read(CV) == data
        # And nothing was promoted for the failed one: it waits, undecided, for a retry or the sweep
        assert record(other)["status"] == "verifying" and checker.versions(other) == []

    def test_an_etag_other_than_the_scanned_one_fails_closed(self, verifying: Any) -> None:
        # Given a scan result whose ETag is not the object's
        checker: Verifying = verifying(scanning="guardduty")
        data = samples.pdf()
        await_upload(CV, data)
        version_id, _ = checker.quarantine(CV, data)
        response = checker.deliver(scan_result(QUARANTINED_CV, version_id=version_id, etag="0" * 32))
        # Then the item fails (retried, then dead-lettered) and nothing is promoted
        assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
        assert checker.versions(CV) == [] and record(CV)["status"] == "awaiting_upload"

    def test_a_refused_event_fails_the_item_and_the_retry_publishes_it(self, verifying: Any) -> None:
        # Given EventBridge refusing the entry once
        checker: Verifying = verifying(scanning="none")
        from filegate.handlers import verifier
        client = verifier.runtime().verifier.events._client  # type: ignore[attr-defined]
        real = client.put_events
        calls: list[int] = []

        def refuse_once(**request: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}
            return real(**request)

        client.put_events = refuse_once
        data = samples.pdf()
        await_upload(CV, data)
        version_id, etag = checker.quarantine(CV, data)
        event = object_created(QUARANTINED_CV, version_id=version_id, etag=etag, size=len(data))
        # When the event is delivered, then delivered again (SQS's retry)
        first = checker.deliver(event)
        # Then the first try fails the item with the file decided but not announced
        assert first == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
        assert record(CV)["status"] == "clean" and "notified_at" not in record(CV)
        # And the retry announces it once and finishes
        assert checker.deliver(event) == {"batchItemFailures": []}
        assert [e["detail-type"] for e in published_events()] == ["File Verified"]
        assert "notified_at" in record(CV) and checker.versions(QUARANTINED_CV) == []


class TestCrashes:
    """A crash at each step, retried from the top, converges on one outcome."""

    def _crash_once(self, monkeypatch: pytest.MonkeyPatch, target: Any, name: str, after: bool = False) -> None:
        real = getattr(target, name)
        state = {"crashed": False}

        def crashing(*args: Any, **kwargs: Any) -> Any:
            if state["crashed"]:
                return real(*args, **kwargs)
            state["crashed"] = True
            if after:
                real(*args, **kwargs)
            raise RuntimeError(f"crash {'after' if after else 'before'} {name}")

        monkeypatch.setattr(target, name, crashing)

    @pytest.mark.parametrize(("component", "step", "after"), [
        ("objects", "promote_copy", True),      # copied, record not yet clean
        ("records", "transition", False),      # the clean write itself fails
        ("objects", "delete_all_versions", False),  # clean, quarantine not yet deleted
        ("events", "publish", False),           # clean, not announced
        ("records", "mark_notified", False),    # announced, not marked: announced again (at least once)
        ("records", "mark_notified", True),     # all done but the answer: nothing left to do
    ])
    def test_a_crash_and_a_retry_converge(self, *, verifying: Any, minting: Minting,
                                          monkeypatch: pytest.MonkeyPatch, component: str, step: str,
                                          after: bool) -> None:
        # Given a verifier that crashes once at `step`
        checker: Verifying = verifying(scanning="none")
        from filegate.handlers import verifier
        checks = verifier.runtime().verifier
        target = getattr(checks, component)
        if step == "transition":  # crash on the decision, not on awaiting_upload -> verifying
            real = target.transition
            state = {"crashed": False}

            def crash_on_decision(before: Any, after_: Any) -> bool:
                if after_.status.value == "clean" and not state["crashed"]:
                    state["crashed"] = True
                    raise RuntimeError("crash")
                return bool(real(before, after_))

            monkeypatch.setattr(target, "transition", crash_on_decision)
        else:
            self._crash_once(monkeypatch, target, step, after)
        data = samples.pdf()
        await_upload(CV, data)
        version_id, etag = checker.quarantine(CV, data)
        event = object_created(QUARANTINED_CV, version_id=version_id, etag=etag, size=len(data))
        # When the event fails once
        assert checker.deliver(event) == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
        # Then meanwhile no URL is minted unless the record is clean
        meanwhile = minting.download(api_event("/downloads", {"key": CV}, claims=careers("alice")))
        assert (meanwhile["statusCode"] == 200) is (record(CV)["status"] == "clean")
        # When SQS delivers it again
        assert checker.deliver(event) == {"batchItemFailures": []}
        # Then the file is promoted once, the quarantine empty, the record clean and announced
        assert checker.read(CV) == data and checker.versions(QUARANTINED_CV) == []
        assert record(CV)["status"] == "clean" and "notified_at" in record(CV)
        events = [e["detail-type"] for e in published_events()]
        assert events == (["File Verified"] * 2 if step == "mark_notified" and not after else ["File Verified"])

    def test_a_promotion_that_loses_to_a_rejection_removes_its_copy(self, verifying: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
        # Given a verifier whose copy lands just as something else (the sweep) rejects the file
        checker: Verifying = verifying(scanning="none")
        from filegate.handlers import verifier
        objects = verifier.runtime().verifier.objects
        real_copy = objects.promote_copy

        def copy_then_rejected(*args: Any, **kwargs: Any) -> None:
            real_copy(*args, **kwargs)
            put_record(CV, status="rejected", reason="scan_failed", size=len(data))

        monkeypatch.setattr(objects, "promote_copy", copy_then_rejected)
        data = samples.pdf()
        await_upload(CV, data)
        # When the verifier finishes
        checker.upload(CV, data)
        # Then the rejection stands and the final key holds nothing at all
        assert record(CV)["status"] == "rejected" and checker.versions(CV) == []
        assert checker.versions(QUARANTINED_CV) == []
        assert [e["detail-type"] for e in published_events()] == ["File Rejected"]


    def test_a_version_that_loses_to_another_takes_its_copy_back(self, verifying: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
        # Given two POSTs of different clean PDFs (same size) to the same quarantine key
        checker: Verifying = verifying(scanning="guardduty")
        first, second = samples.pdf(text="first!!"), samples.pdf(text="second!")
        assert len(first) == len(second) and first != second
        put_record(CV, status="verifying", size=len(first))
        v1, e1 = checker.quarantine(CV, first)
        v2, e2 = checker.quarantine(CV, second)
        from filegate.handlers import verifier
        objects = verifier.runtime().verifier.objects
        real_copy = objects.promote_copy

        def copy_after_the_other_won(source_key: str, **kwargs: Any) -> Any:
            # ... and the second version's worker copies and decides while the first is copying
            real_copy(source_key, **{**kwargs, "version_id": v2, "etag": e2})
            put_record(CV, status="clean", size=len(second), sha256=hashlib.sha256(second).hexdigest())
            return real_copy(source_key, **kwargs)

        monkeypatch.setattr(objects, "promote_copy", copy_after_the_other_won)
        # When the first version's verdict is handled
        assert checker.deliver(scan_result(QUARANTINED_CV, version_id=v1, etag=e1)) == {"batchItemFailures": []}
        # Then the record and the served bytes agree, the winner's: the loser's copy is taken back
        item = record(CV)
        assert item["status"] == "clean" and item["sha256"] == hashlib.sha256(second).hexdigest()
        assert checker.read(CV) == second and len(checker.versions(CV)) == 1
        # And the winner's record is finished: quarantine emptied, announced once
        assert checker.versions(QUARANTINED_CV) == []
        assert [e["detail-type"] for e in published_events()] == ["File Verified"]

    def test_a_version_that_loses_and_crashes_after_its_copy_is_taken_back_on_retry(
            self, verifying: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given two POSTs of different clean PDFs (same size) to the same quarantine key
        checker: Verifying = verifying(scanning="guardduty")
        first, second = samples.pdf(text="first!!"), samples.pdf(text="second!")
        assert len(first) == len(second) and first != second
        put_record(CV, status="verifying", size=len(first))
        v1, e1 = checker.quarantine(CV, first)
        v2, e2 = checker.quarantine(CV, second)
        from filegate.handlers import verifier
        objects = verifier.runtime().verifier.objects
        real_copy = objects.promote_copy
        state = {"crashed": False}

        def other_wins_then_crash_after_copy(source_key: str, **kwargs: Any) -> Any:
            if state["crashed"]:
                return real_copy(source_key, **kwargs)
            state["crashed"] = True
            # ... the second version's worker copies and decides (recording the version it wrote)
            # while the first is copying ...
            won = real_copy(source_key, **{**kwargs, "version_id": v2, "etag": e2})
            put_record(CV, status="clean", size=len(second), sha256=hashlib.sha256(second).hexdigest(),
                       served_version_id=won)
            # ... then the first version's copy lands on top, and its worker dies before anything else
            real_copy(source_key, **kwargs)
            raise RuntimeError("crash right after the losing copy")

        monkeypatch.setattr(objects, "promote_copy", other_wins_then_crash_after_copy)
        event = scan_result(QUARANTINED_CV, version_id=v1, etag=e1)
        # When the first version's verdict fails once, then is delivered again (SQS's retry)
        assert checker.deliver(event) == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
        assert checker.deliver(event) == {"batchItemFailures": []}
        # Then the bytes served are the ones the record describes, and only they are at the final key
        item = record(CV)
        assert item["status"] == "clean" and item["sha256"] == hashlib.sha256(second).hexdigest()
        assert hashlib.sha256(checker.read(CV)).hexdigest() == item["sha256"]
        assert len(checker.versions(CV)) == 1
        # And the winner's record is finished: quarantine emptied, announced once
        assert checker.versions(QUARANTINED_CV) == []
        assert [e["detail-type"] for e in published_events()] == ["File Verified"]


def test_the_whole_flow_from_mint_to_download(verifying: Any, minting: Minting) -> None:
    # Given Alice mints an upload and her browser posts the file
    import requests
    data = samples.pdf()
    minted = body(minting.upload(api_event("/uploads", {"rule": "cv", "content_type": "application/pdf",
                                                       "size": len(data), "filename": "cv.pdf"},
                                           claims=careers("alice"))))
    posted = requests.post(minted["url"], data=minted["fields"], files={"file": ("cv.pdf", data)}, timeout=10)
    assert int(posted.status_code) == 201
    checker: Verifying = verifying(scanning="guardduty")
    status = minting.file(api_event(f"/files/{minted['file_id']}", claims=careers("alice"), method="GET"))
    assert body(status)["status"] == "awaiting_upload"
    # When S3 and GuardDuty announce the quarantined object
    head = boto3.client("s3", region_name=REGION).head_object(Bucket=BUCKET, Key="incoming/" + minted["key"])
    for event in (object_created("incoming/" + minted["key"], version_id=head["VersionId"],
                                 etag=head["ETag"].strip('"'), size=len(data)),
                  scan_result("incoming/" + minted["key"], version_id=head["VersionId"],
                              etag=head["ETag"].strip('"'))):
        assert checker.deliver(event) == {"batchItemFailures": []}
    # Then Alice sees it clean and gets a URL for it; a backend can too
    status = minting.file(api_event(f"/files/{minted['file_id']}", claims=careers("alice"), method="GET"))
    assert body(status)["status"] == "clean" and body(status)["filename"] == "cv.pdf"
    url = minting.download(api_event("/downloads", {"key": minted["key"]}, claims=careers("alice")))
    assert url["statusCode"] == 200, url["body"]
    backend = minting.download(api_event("/backend/downloads", {"key": minted["key"], "on_behalf_of": {
        "sub": "alice", "groups": ["careers"]}}, iam_arn=BACKEND_ARN))
    assert backend["statusCode"] == 200
    assert checker.read(minted["key"]) == data
