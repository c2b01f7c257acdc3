"""The verifier's decisions and the order of its side effects (docs/verification.md, "Flow").

Plain Python: the stores are passed in (``RecordStore``, ``QuarantineStore``, ``EventPublisher``),
events arrive as ``ObjectEvent`` (the handler turns AWS event shapes into it), and the content
checks are ``filegate.domain.content``'s ``inspect_content`` and ``decide``, passed in too.

Every step is safe to repeat, and the steps are ordered so that a crash anywhere, retried from
the top, converges on one outcome:

- clean: copy (or put the re-encoded bytes) to the final key → record ``clean`` (conditional,
  with the final-key version it wrote, ``served_version_id``) → delete every other final-key
  version (a losing or crashed promotion's copy) and every quarantine version → publish
  ``File Verified`` → ``notified_at``.
- rejected: copy to ``rejected/<key>`` → record ``rejected`` (conditional) → delete every final-key
  version (a crashed promotion's copy) and every quarantine version → publish ``File Rejected``
  → ``notified_at``.

A crash after the copy and before the record write leaves the file at its final key with an
undecided record only until the retry (downloads refuse it meanwhile: the record is not clean).
A record already decided is only *finished* (deletes, event), never decided again. A record that
another worker decided first wins: a promotion that loses to a rejection deletes the final key,
one that loses to another clean version of the upload deletes the version it wrote, and whatever
it left there by crashing first is deleted by ``finish`` (every final-key version but the record's
``served_version_id``; a record written before that field existed keeps only the former).
Nothing is promoted without a record whose key is the object's final key. A quarantined upload
with no record at all (or a deleted file's tombstone) is deleted, that exact version: the mint
writes the record before it answers, so such an object is an upload that came after its file was
deleted, erased or expired (docs/lifecycle.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol
from urllib.parse import quote

from filegate.domain.keys import content_disposition, metadata_filename
from filegate.domain.quarantine import file_id_of, final_key_of, quarantine_key, rejected_key
from filegate.domain.records import (
    DETAIL_TYPES,
    FileRecord,
    RejectReason,
    Status,
    mark_clean,
    mark_rejected,
    start_verifying,
)
from filegate.domain.rules import Rule
from filegate.domain.uploads import META_ORIGINAL_FILENAME, META_RULE, META_UPLOADER

Scanning = Literal["guardduty", "none"]
#: ``_record_for``'s answer for a quarantined upload without a record (or with a tombstone).
_NO_RECORD = "no record"
EventKind = Literal["object_created", "scan_result"]


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One thing that happened to one version of one object (no AWS event shape)."""

    kind: EventKind
    bucket: str
    key: str
    version_id: str
    etag: str
    #: The GuardDuty verdict (``scan_result`` only): ``NO_THREATS_FOUND``, ``THREATS_FOUND``, ...
    scan_status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "bucket": self.bucket, "key": self.key, "version_id": self.version_id,
                "etag": self.etag, "scan_status": self.scan_status}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectEvent:
        return cls(kind=data["kind"], bucket=data["bucket"], key=data["key"], version_id=data["version_id"],
                   etag=data["etag"], scan_status=data.get("scan_status"))


class Inspection(Protocol):
    """What ``filegate.domain.content.inspect_content`` returns (the fields used here)."""

    @property
    def reason(self) -> RejectReason | None: ...
    @property
    def detected_type(self) -> str | None: ...
    @property
    def served(self) -> bytes: ...
    @property
    def sha256(self) -> str: ...
    @property
    def note(self) -> str: ...


class Inspect(Protocol):
    def __call__(self, data: bytes, *, declared_type: str, declared_size: int, max_bytes: int) -> Any: ...


class Decide(Protocol):
    def __call__(self, inspection: Any, *, scan_verdict: str | None, scanning: Scanning) -> RejectReason | None: ...


class Stored(Protocol):
    @property
    def size(self) -> int: ...
    @property
    def data(self) -> bytes | None: ...


class StoredVersion(Protocol):
    @property
    def version_id(self) -> str: ...
    @property
    def etag(self) -> str: ...
    @property
    def last_modified(self) -> float: ...


@dataclass(frozen=True, slots=True)
class FinalHeaders:
    """What the final object is served with: set by the server, never taken from the upload."""

    content_type: str
    content_disposition: str
    #: ``x-amz-meta-*`` values without the prefix (only names the edge strips).
    metadata: dict[str, str]


class RecordStore(Protocol):
    def get(self, file_id: str) -> FileRecord | None: ...
    def transition(self, before: FileRecord, after: FileRecord) -> bool: ...
    def mark_notified(self, record: FileRecord, *, now: int) -> bool: ...


class QuarantineStore(Protocol):
    def read_version(self, key: str, *, version_id: str, etag: str, max_bytes: int) -> Stored: ...
    def promote_copy(self, source_key: str, *, version_id: str, etag: str, final_key: str,
                     headers: FinalHeaders) -> str | None: ...
    def promote_bytes(self, final_key: str, data: bytes, headers: FinalHeaders) -> str | None: ...
    def delete_version(self, key: str, version_id: str) -> None: ...
    def copy_to_rejected(self, source_key: str, *, version_id: str, etag: str, rejected_key: str) -> None: ...
    def versions(self, key: str) -> list[Any]: ...
    def delete_all_versions(self, key: str) -> int: ...
    def delete_other_versions(self, key: str, keep: str) -> int: ...


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: dict[str, Any]) -> None: ...


class Outcome(StrEnum):
    IGNORED = "ignored"          # not an upload this verifier knows: nothing touched
    VERIFYING = "verifying"      # waiting for the scan verdict
    CLEAN = "clean"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    file_id: str | None = None
    reason: str | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "file_id": self.file_id, "reason": self.reason, "note": self.note}


@dataclass
class Verifier:
    records: RecordStore
    objects: QuarantineStore
    events: EventPublisher
    rules: Mapping[str, Rule]
    scanning: Scanning
    bucket: str
    inspect: Inspect
    decide: Decide
    clock: Callable[[], float]

    def _now(self) -> int:
        return int(self.clock())

    # --- events ---------------------------------------------------------------------------------

    def handle(self, event: ObjectEvent) -> Result:
        """Apply one event; raises (so that it is retried) on any failure of a store."""
        record, why = self._record_for(event)
        if record is None and why == _NO_RECORD:
            # The mint writes the record before it answers, so nothing legitimate arrives without
            # one: the file was deleted, erased or expired (a still-valid POST used late).
            self.objects.delete_version(event.key, event.version_id)
            return Result(Outcome.IGNORED, file_id=file_id_of(final_key_of(event.key) or ""),
                          note="no record (deleted, expired or never minted): upload deleted")
        if record is None:
            return Result(Outcome.IGNORED, file_id=file_id_of(event.key), note=why)
        if record.decided:
            return self.finish(record)
        verdict: str | None = None
        if event.kind == "object_created":
            if record.status is Status.AWAITING_UPLOAD:
                moved = self._start(record)
                if moved is None or moved.decided:
                    return self.finish(moved) if moved else Result(Outcome.IGNORED, file_id=record.file_id,
                                                                   note="record gone")
                record = moved
            if self.scanning == "guardduty":
                return Result(Outcome.VERIFYING, file_id=record.file_id, note="waiting for the scan result")
        else:
            verdict = event.scan_status
        return self._verify(record, event, verdict)

    def _record_for(self, event: ObjectEvent) -> tuple[FileRecord | None, str]:
        """The record of the upload an event is about, or None and why not."""
        if event.bucket != self.bucket:
            return None, "another bucket"
        final_key = final_key_of(event.key)
        file_id = file_id_of(final_key) if final_key else None
        if final_key is None or file_id is None:
            return None, "not a quarantined upload"
        record = self.records.get(file_id)
        if record is None:
            return None, _NO_RECORD
        if record.key != final_key:
            return None, "no record for this key"
        return record, ""

    def _start(self, record: FileRecord) -> FileRecord | None:
        after = start_verifying(record, now=self._now())
        if self.records.transition(record, after):
            return after
        return self.records.get(record.file_id)

    # --- checks -----------------------------------------------------------------------------------

    def _verify(self, record: FileRecord, event: ObjectEvent, verdict: str | None) -> Result:
        rule = self.rules.get(record.rule)
        if rule is None:  # the rule was removed since the upload: nothing to check against
            return self._reject(record, event, RejectReason.UNSUPPORTED, size=None, inspection=None,
                                verdict=verdict, note="rule no longer configured")
        # Never more than the declared size into memory (itself within the rule's maximum when minted).
        cap = min(record.declared_size, rule.max_bytes)
        stored = self.objects.read_version(event.key, version_id=event.version_id, etag=event.etag, max_bytes=cap)
        if stored.data is None:
            return self._reject(record, event, RejectReason.SIZE_MISMATCH, size=stored.size, inspection=None,
                                verdict=verdict, note="larger than declared")
        inspection: Inspection = self.inspect(stored.data, declared_type=record.content_type,
                                              declared_size=record.declared_size, max_bytes=rule.max_bytes)
        reason = self.decide(inspection, scan_verdict=verdict, scanning=self.scanning)
        if reason is not None:
            return self._reject(record, event, reason, size=stored.size, inspection=inspection, verdict=verdict,
                                note=inspection.note)
        return self._promote(record, event, rule, uploaded=stored.data, inspection=inspection, verdict=verdict)

    def final_headers(self, record: FileRecord, rule: Rule) -> FinalHeaders:
        """The served object's headers: from the record and the rule, never from the upload."""
        meta = {
            META_ORIGINAL_FILENAME: metadata_filename(record.filename),
            META_UPLOADER: quote(record.owner_sub, safe="@|+:=-._~"),
            META_RULE: rule.name,
        }
        return FinalHeaders(content_type=record.content_type,
                            content_disposition=content_disposition(rule.disposition, record.filename),
                            metadata={name.removeprefix("x-amz-meta-"): value for name, value in meta.items()})

    # --- outcomes ---------------------------------------------------------------------------------

    def _promote(self, record: FileRecord, event: ObjectEvent, rule: Rule, *, uploaded: bytes,
                 inspection: Inspection, verdict: str | None) -> Result:
        headers = self.final_headers(record, rule)
        if inspection.served == uploaded:
            written = self.objects.promote_copy(event.key, version_id=event.version_id, etag=event.etag,
                                                final_key=record.key, headers=headers)
        else:  # re-encoded image bytes: what is served is what was checked
            written = self.objects.promote_bytes(record.key, inspection.served, headers)
        after = mark_clean(record, now=self._now(), size=len(inspection.served),
                           detected_type=inspection.detected_type or record.content_type,
                           sha256=inspection.sha256, scan_verdict=verdict, served_version_id=written)
        if self.records.transition(record, after):
            return self.finish(after)
        current = self.records.get(record.file_id)
        if current is None or current.status is not Status.CLEAN:
            # Another worker rejected it (or the record is gone): the copy must not outlive that.
            self.objects.delete_all_versions(record.key)
            if current is None:
                return Result(Outcome.IGNORED, file_id=record.file_id, note="record gone")
        elif written is not None:
            # Another version of the upload won: take ours back off the final key, so that the
            # bytes served are the ones the winning record describes.
            self.objects.delete_version(record.key, written)
        return self.finish(current)

    def _reject(self, record: FileRecord, event: ObjectEvent, reason: RejectReason, *, size: int | None,
                inspection: Inspection | None, verdict: str | None, note: str) -> Result:
        self.objects.copy_to_rejected(event.key, version_id=event.version_id, etag=event.etag,
                                      rejected_key=rejected_key(record.key))
        after = mark_rejected(record, now=self._now(), reason=reason, size=size,
                              detected_type=inspection.detected_type if inspection else None,
                              sha256=inspection.sha256 if inspection else None, scan_verdict=verdict)
        if self.records.transition(record, after):
            return self.finish(after, note=note)
        current = self.records.get(record.file_id)
        if current is None:
            return Result(Outcome.IGNORED, file_id=record.file_id, note="record gone")
        return self.finish(current)

    def expire(self, record: FileRecord) -> Result:
        """Reject an upload that stayed undecided too long (``scan_failed``): no verdict, no file."""
        for version in self.objects.versions(quarantine_key(record.key))[:1]:
            self.objects.copy_to_rejected(quarantine_key(record.key), version_id=version.version_id,
                                          etag=version.etag, rejected_key=rejected_key(record.key))
        after = mark_rejected(record, now=self._now(), reason=RejectReason.SCAN_FAILED,
                              scan_verdict=record.scan_verdict)
        if self.records.transition(record, after):
            return self.finish(after, note="undecided past the verifying timeout")
        current = self.records.get(record.file_id)
        if current is None:
            return Result(Outcome.IGNORED, file_id=record.file_id, note="record gone")
        return self.finish(current)

    def finish(self, record: FileRecord, *, note: str = "") -> Result:
        """What follows a decision; safe to repeat. Publishes the outcome event at most once per
        successful run (a crash between publishing and ``notified_at`` publishes it again)."""
        if record.status is Status.REJECTED:
            self.objects.delete_all_versions(record.key)  # a promotion that lost, or crashed
        elif record.served_version_id is not None:
            # Only the version the record describes stays: any other is a promotion that lost to
            # it, or crashed (before or after this one won) and was retried as a decided record.
            self.objects.delete_other_versions(record.key, record.served_version_id)
        self.objects.delete_all_versions(quarantine_key(record.key))
        if record.notified_at is None:
            self.events.publish(DETAIL_TYPES[record.status], record.public())
            self.records.mark_notified(record, now=self._now())
        outcome = Outcome.CLEAN if record.status is Status.CLEAN else Outcome.REJECTED
        return Result(outcome, file_id=record.file_id,
                      reason=record.reason.value if record.reason else None, note=note)
