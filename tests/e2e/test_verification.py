"""Verified uploads through the local mode, as a new user would meet them (issue 8, "Done means").

Every upload lands in quarantine (``incoming/<final key>``); the local GuardDuty stand-in streams
it to ClamAV and tags it, S3's and GuardDuty's events reach the real verifier through SQS, and only
a file the verifier passed appears at its final key and downloads through the edge. Files are
built at run time (``tests/unit/samples.py``; EICAR from ``local/clamav/eicar.ndb``'s hex). Every
wait polls ``GET /files/{file_id}`` with short sleeps and a bound.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from PIL import Image

from local.clamd import eicar_bytes
from tests.e2e.conftest import Local
from tests.e2e.helpers import (
    VERIFY_TIMEOUT,
    api,
    download_url,
    events,
    file_record,
    kms_signing_key,
    mint_upload,
    now,
    post_file,
    scanner_control,
    scanner_paused,
    wait_for_status,
    wait_until_decided,
)
from tests.unit import samples

pytestmark = pytest.mark.e2e

PUBLIC_FIELDS = {"file_id", "key", "rule", "filename", "content_type", "size", "status", "created_at"}
#: Decided files this module made, for the events check at the end: file_id -> expected detail-type.
DECIDED: dict[str, str] = {}


@dataclass
class Uploaded:
    file_id: str
    key: str
    data: bytes
    token: str
    record: dict[str, Any]


@pytest.fixture(scope="module")
def tokens(local: Local) -> dict[str, str]:
    return {name: local.token(user=name) for name in ("alice", "carol", "bob", "mia")}


def upload(local: Local, token: str, rule: str, content_type: str, data: bytes, *, filename: str,
           declared_size: int | None = None, wait: bool = True) -> Uploaded:
    minted = mint_upload(local, token, rule, content_type, declared_size or len(data), filename=filename)
    posted = post_file(minted, data)
    assert posted.status_code == 201, posted.text
    record = wait_until_decided(local, token, minted.file_id) if wait else {}
    if record:
        DECIDED[minted.file_id] = "File Verified" if record["status"] == "clean" else "File Rejected"
    return Uploaded(minted.file_id, minted.key, data, token, record)


def served_by_edge(local: Local, token: str, key: str) -> requests.Response:
    if key.startswith("public/"):
        return requests.get(f"{local.edge}/{key}", timeout=30)
    return requests.get(download_url(local, token, key), timeout=30)


def pixels(data: bytes) -> tuple[tuple[int, int], str, bytes]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        converted = image.convert("RGBA")
        return converted.size, image.format or "", converted.tobytes()


def hand_signed(local: Local, key: str) -> str:
    """A valid CloudFront signature for ``key`` made without the API (which would refuse it)."""
    from filegate.domain.cloudfront import resource_url, signed_url

    return str(signed_url(resource_url(local.edge, key), expires=now() + 300, key=kms_signing_key(local)))


def readable_by(local: Local, key: str) -> list[str]:
    """The S3 users (of every one the local mode hands out) that can read ``key``, by role."""
    readers = []
    for role in local.s3_users:
        try:
            local.s3_as(role).get_object(Bucket=local.bucket, Key=key)["Body"].read()
        except ClientError:
            continue
        readers.append(role)
    return readers


# --- clean files --------------------------------------------------------------------------------

CLEAN_FILES = {
    # name: (user, rule, content type, bytes, filename)
    "pdf": ("alice", "cv", samples.PDF, samples.pdf(text="Curriculum vitae of Alice"), "Alice CV.pdf"),
    "docx": ("alice", "cv", samples.DOCX, samples.ooxml(samples.DOCX, text="Alice CV"), "Alice CV.docx"),
    "png": ("alice", "certificate", samples.PNG, samples.png(48, 32, seed=3), "degree.png"),
    # A photo with GPS in its EXIF: the served, re-encoded JPEG has none.
    "jpeg": ("alice", "certificate", samples.JPEG, samples.jpeg(64, 48, seed=4, exif=samples.exif_with_gps()),
             "certificate.jpg"),
    "webp": ("mia", "marketing", samples.WEBP, samples.webp(40, 30, lossless=True, seed=5), "banner.webp"),
}


@pytest.mark.parametrize("kind", list(CLEAN_FILES))
def test_a_clean_file_becomes_clean_and_downloads_through_the_edge(local: Local, tokens: dict[str, str],
                                                                   kind: str) -> None:
    user, rule, content_type, data, filename = CLEAN_FILES[kind]
    token = tokens[user]
    # Given a user uploads a genuine file of an allowed type
    # When the scanner and the verifier have seen it
    uploaded = upload(local, token, rule, content_type, data, filename=filename)
    # Then its record is clean, with the public fields only
    record = uploaded.record
    assert record["status"] == "clean", record
    assert set(record) >= PUBLIC_FIELDS and "reason" not in record and record["verified_at"] >= record["created_at"]
    assert record["key"] == uploaded.key and record["content_type"] == content_type and record["filename"] == filename
    assert not {"owner_sub", "sha256", "scan_verdict", "url"} & set(record)
    # And it downloads through the edge, served with the declared type
    served = served_by_edge(local, token, uploaded.key)
    assert served.status_code == 200, served.text
    assert served.headers["Content-Type"] == content_type
    if kind in {"pdf", "docx"}:
        # Documents keep byte equality
        assert served.content == data
        assert record["size"] == len(data)
    else:
        # Images are re-encoded (polyglots and metadata gone) and decode to the same pixels
        assert record["size"] == len(served.content)
        size, fmt, served_pixels = pixels(served.content)
        original_size, original_fmt, original_pixels = pixels(data)
        assert (size, fmt) == (original_size, original_fmt)
        if kind == "jpeg":  # lossy: re-encoded with the original tables, within a few levels
            worst = max(abs(a - b) for a, b in zip(served_pixels, original_pixels, strict=True))
            assert worst <= 12, f"JPEG pixels moved by up to {worst} levels"
            with Image.open(io.BytesIO(served.content)) as image:
                assert 0x8825 not in image.getexif(), "the GPS IFD must not survive re-encoding"
        else:
            assert served_pixels == original_pixels
    # And the quarantine copy goes: the verifier deletes it right after the record turns clean
    # (docs/verification.md's step order), so it is polled for, bounded, not expected at once
    deadline = time.monotonic() + VERIFY_TIMEOUT
    while True:
        quarantined = local.verifier_s3.list_object_versions(Bucket=local.bucket, Prefix=f"incoming/{uploaded.key}")
        if not quarantined.get("Versions") and not quarantined.get("DeleteMarkers"):
            break
        assert time.monotonic() < deadline, f"incoming/{uploaded.key} still holds {quarantined.get('Versions')}"
        time.sleep(0.05)


# --- rejected files -------------------------------------------------------------------------------

def _eicar_pdf() -> bytes:
    # The EICAR test string in an uncompressed stream of an otherwise ordinary PDF.
    return samples.pdf(extra_objects=[samples.stream(eicar_bytes())])


REJECTED_FILES = {
    # name: (rule, declared type, bytes, declared size (None: the real one), reason)
    "html_declared_as_pdf": ("cv", samples.PDF, samples.HTML_PAYLOAD, None, "type_mismatch"),
    "pdf_carrying_eicar": ("cv", samples.PDF, _eicar_pdf(), None, "malware"),
    "docx_with_macro_part": ("cv", samples.DOCX, samples.docx_with_vba_project(), None, "active_content"),
    "pdf_with_open_action_javascript": ("cv", samples.PDF, samples.pdf_with_open_action_js(), None, "active_content"),
    "shorter_than_declared": ("cv", samples.PDF, samples.pdf(), len(samples.pdf()) + 100, "size_mismatch"),
    "zip_bomb_posing_as_docx": ("cv", samples.DOCX, samples.zip_bomb(samples.DOCX), None, "active_content"),
}


@pytest.mark.parametrize("kind", list(REJECTED_FILES))
def test_a_hostile_or_broken_file_is_rejected_and_never_readable(local: Local, tokens: dict[str, str],
                                                                 kind: str) -> None:
    rule, content_type, data, declared, reason = REJECTED_FILES[kind]
    token = tokens["alice"]
    # Given Alice uploads a file that is not what it claims, or carries something it must not
    uploaded = upload(local, token, rule, content_type, data, filename=f"{kind}.bin", declared_size=declared)
    # Then its record is rejected, with the reason
    assert uploaded.record["status"] == "rejected", uploaded.record
    assert uploaded.record["reason"] == reason, uploaded.record
    # And no download is minted for it
    refused = api(local, "/downloads", {"key": uploaded.key}, token=token)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "rejected", refused.text
    # And even a validly signed URL (made without the API) gets nothing from the edge, for the
    # final key, the quarantine key or the rejected copy
    for key in (uploaded.key, f"incoming/{uploaded.key}", f"rejected/{uploaded.key}"):
        served = requests.get(hand_signed(local, key), timeout=30)
        assert served.status_code == 403, (key, served.status_code)
        assert data[:64] not in served.content
    # And no S3 credential the local mode hands out reads it anywhere
    for key in (uploaded.key, f"incoming/{uploaded.key}", f"rejected/{uploaded.key}"):
        assert readable_by(local, key) == [], key
    # While the rejected copy exists for a security review (listed, never readable here)
    kept = local.verifier_s3.list_object_versions(Bucket=local.bucket, Prefix=f"rejected/{uploaded.key}")
    assert kept.get("Versions"), "the rejected copy is kept (until the lifecycle expires it)"


def test_a_file_scanned_while_clamav_is_down_is_rejected_scan_failed(local: Local, tokens: dict[str, str]) -> None:
    # Given the scanner cannot reach clamd (a local-only fault)
    scanner_control(local, "faults", {"clamd_down": True})
    try:
        # When a perfectly clean PDF is uploaded
        uploaded = upload(local, tokens["carol"], "cv", samples.PDF, samples.pdf(text="no verdict"),
                          filename="unscanned.pdf")
    finally:
        scanner_control(local, "faults", {"clamd_down": False})
    # Then it fails closed: no verdict, no file
    assert uploaded.record["status"] == "rejected" and uploaded.record["reason"] == "scan_failed", uploaded.record
    assert readable_by(local, uploaded.key) == []


# --- timing ---------------------------------------------------------------------------------------

def test_a_download_minted_before_verification_finishes_is_refused(local: Local, tokens: dict[str, str]) -> None:
    token = tokens["alice"]
    data = samples.pdf(text="not yet")
    minted = mint_upload(local, token, "cv", samples.PDF, len(data), filename="early.pdf")
    # Before the file is even sent: awaiting_upload -> 409 not_ready
    assert file_record(local, token, minted.file_id).json()["status"] == "awaiting_upload"
    early = api(local, "/downloads", {"key": minted.key}, token=token)
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_ready", early.text
    with scanner_paused(local):
        # Sent, and S3's Object Created has moved the record on, but the scan is held
        assert post_file(minted, data).status_code == 201
        wait_for_status(local, token, minted.file_id, ("verifying",))
        during = api(local, "/downloads", {"key": minted.key}, token=token)
        assert during.status_code == 409 and during.json()["error"]["code"] == "not_ready", during.text
        # and nothing is at the final key yet
        assert requests.get(hand_signed(local, minted.key), timeout=30).status_code == 403
    # Once the scan result arrives, the file is clean and the same request succeeds
    record = wait_until_decided(local, token, minted.file_id)
    DECIDED[minted.file_id] = "File Verified"
    assert record["status"] == "clean", record
    served = requests.get(download_url(local, token, minted.key), timeout=30)
    assert served.status_code == 200 and served.content == data


def test_a_quarantined_object_is_readable_only_by_the_scanner_and_the_verifier(local: Local,
                                                                              tokens: dict[str, str]) -> None:
    token = tokens["carol"]
    data = samples.pdf(text="in quarantine")
    with scanner_paused(local):
        minted = mint_upload(local, token, "cv", samples.PDF, len(data), filename="quarantined.pdf")
        assert post_file(minted, data).status_code == 201
        wait_for_status(local, token, minted.file_id, ("verifying",))
        quarantined = f"incoming/{minted.key}"
        # Then of every S3 user the local mode hands out, only these two read it
        assert sorted(readable_by(local, quarantined)) == ["scanner", "verifier"]
        # And the edge serves it to nobody, signed or not
        assert requests.get(hand_signed(local, quarantined), timeout=30).status_code == 403
        assert requests.get(f"{local.edge}/{quarantined}", timeout=30).status_code == 403
        # And the uploader can neither tag it (GuardDuty's tag) nor write a final key
        tag = {"TagSet": [{"Key": "GuardDutyMalwareScanStatus", "Value": "NO_THREATS_FOUND"}]}
        with pytest.raises(ClientError):
            local.uploader_s3.put_object_tagging(Bucket=local.bucket, Key=quarantined, Tagging=tag)
        with pytest.raises(ClientError):
            local.uploader_s3.put_object(Bucket=local.bucket, Key=minted.key, Body=data)
        # And nothing is at the final key until the verifier puts it there
        assert readable_by(local, minted.key) == []
    record = wait_until_decided(local, token, minted.file_id)
    DECIDED[minted.file_id] = "File Verified"
    assert record["status"] == "clean"


def test_another_user_cannot_see_a_files_record(local: Local, tokens: dict[str, str]) -> None:
    mine = upload(local, tokens["alice"], "cv", samples.PDF, samples.pdf(text="mine"), filename="mine.pdf")
    # Carol (careers too) and Bob (org) get 404, as for an id that does not exist
    for other in ("carol", "bob"):
        response = file_record(local, tokens[other], mine.file_id)
        assert response.status_code == 404, response.text
    assert file_record(local, tokens["alice"], "0" * 32).status_code == 404


# --- events (last: every decided file of this module is counted) ----------------------------------

def test_the_events_url_shows_exactly_one_event_per_outcome(local: Local, tokens: dict[str, str]) -> None:
    assert DECIDED, "the tests above decide files"
    deadline = time.monotonic() + 20
    while True:
        seen = events(local)
        ours = [event for event in seen if event["detail"].get("file_id") in DECIDED]
        if {event["detail"]["file_id"] for event in ours} >= set(DECIDED) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # Oldest first
    times = [event["time"] for event in seen]
    assert times == sorted(times)
    # Exactly one event for every decided file of the whole session, of the outcome's type
    counts = Counter(event["detail"]["file_id"] for event in seen if event["detail-type"] in {
        "File Verified", "File Rejected"})
    assert {file_id: count for file_id, count in counts.items() if count != 1} == {}
    by_id = {event["detail"]["file_id"]: event for event in ours}
    assert set(by_id) == set(DECIDED)
    for file_id, detail_type in DECIDED.items():
        event = by_id[file_id]
        assert event["detail-type"] == detail_type and event["source"] == "filegate"
        # detail = the record's public fields, never a URL
        detail = event["detail"]
        assert set(detail) <= PUBLIC_FIELDS | {"reason", "verified_at"}
        assert not any(isinstance(value, str) and "://" in value for value in detail.values())
    # And the detail is what the owner's GET /files/{id} answers
    some = next(iter(DECIDED))
    owner = next(token for token in tokens.values() if file_record(local, token, some).status_code == 200)
    assert by_id[some]["detail"] == file_record(local, owner, some).json()


def test_every_verification_message_was_handled_and_none_dead_lettered(local: Local) -> None:
    # The verifier failed no batch item for good: the queue drains and the DLQ stays empty
    sqs = boto3.session.Session().client("sqs", endpoint_url=local.endpoints["aws"], region_name=local.region,
                                         aws_access_key_id="test", aws_secret_access_key="test")
    queues = local.runtime["queues"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

    def depth(name: str) -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=queues[name]["url"], AttributeNames=names)["Attributes"]
        return sum(int(attributes[attribute]) for attribute in names)

    deadline = time.monotonic() + 10
    while depth("verification") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert depth("verification") == 0
    assert depth("dlq") == 0
