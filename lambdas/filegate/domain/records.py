"""File records and the one-way life of their status (DESIGN.md decision 10).

``awaiting_upload`` → ``verifying`` → ``clean`` | ``rejected``. A transition names the statuses it
may start from, so that the store can make it a conditional write: AWS delivers events at least
once, and a redelivered event must change nothing. Time is passed in, never read here.

A decided record has one more thing to happen to it: its ``File Verified`` / ``File Rejected``
event. ``notified_at`` says that it happened; until then the record counts as having unfinished
work (``has_pending_work``) and the sweep finishes it if the verifier did not.

Deleting a file replaces its record by a ``Tombstone`` (docs/lifecycle.md): the file id and when,
nothing else (no key, owner or filename), kept a week so that a retried ``DELETE`` is a 204 and
every other reader sees no record at all (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from filegate.domain.errors import Reason, Refusal
from filegate.domain.identity import Identity
from filegate.domain.keys import key_in_rule
from filegate.domain.rules import Rule


class Status(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    VERIFYING = "verifying"
    CLEAN = "clean"
    REJECTED = "rejected"


class RejectReason(StrEnum):
    TYPE_MISMATCH = "type_mismatch"
    SIZE_MISMATCH = "size_mismatch"
    ACTIVE_CONTENT = "active_content"
    MALWARE = "malware"
    SCAN_FAILED = "scan_failed"
    UNSUPPORTED = "unsupported"


#: Which statuses each status may be entered from. Nothing leaves clean or rejected.
ENTERED_FROM: dict[Status, frozenset[Status]] = {
    Status.AWAITING_UPLOAD: frozenset(),
    Status.VERIFYING: frozenset({Status.AWAITING_UPLOAD}),
    Status.CLEAN: frozenset({Status.AWAITING_UPLOAD, Status.VERIFYING}),
    Status.REJECTED: frozenset({Status.AWAITING_UPLOAD, Status.VERIFYING}),
}
FINAL: frozenset[Status] = frozenset({Status.CLEAN, Status.REJECTED})
#: An upload that never happens is forgotten after this long (the record's TTL).
UNUSED_RECORD_SECONDS = 24 * 3600


class TransitionRefused(ValueError):
    """The record is not in a status the transition may start from (already moved on)."""


@dataclass(frozen=True, slots=True)
class FileRecord:
    file_id: str
    key: str
    rule: str
    owner_sub: str
    filename: str
    content_type: str
    declared_size: int
    status: Status
    created_at: int
    updated_at: int
    owner_org_id: str | None = None
    size: int | None = None
    detected_type: str | None = None
    sha256: str | None = None
    scan_verdict: str | None = None
    reason: RejectReason | None = None
    verified_at: int | None = None
    expires_at: int | None = None
    #: When the record's outcome event was published (decided records only).
    notified_at: int | None = None
    #: The final key's version the winning promotion wrote (clean records; not public). Every other
    #: version of the final key is a promotion that lost or crashed, and ``finish`` deletes it.
    #: None for records written before this field existed, or where S3 returned no version id.
    served_version_id: str | None = None
    #: ``owner_org_id``, only for rules whose template names ``{org_id}``: the ``org`` index's key.
    org_scope: str | None = None
    #: When the upload's presigned POST expires: an ``awaiting_upload`` record counts (quota,
    #: listing) only until then.
    upload_expires_at: int | None = None

    @property
    def listed_at(self) -> str:
        """The listing indexes' sort key: newest first by ``created_at``, unique by ``file_id``."""
        return listed_at(self.created_at, self.file_id)

    @property
    def decided(self) -> bool:
        return self.status in FINAL

    @property
    def has_pending_work(self) -> bool:
        """Undecided, or decided but its event not yet published: what the sweep looks for."""
        return not self.decided or self.notified_at is None

    def public(self) -> dict[str, Any]:
        """What the owner (``GET /files/{id}``) and the events see: never a URL or an owner id."""
        fields: dict[str, Any] = {
            "file_id": self.file_id, "key": self.key, "rule": self.rule, "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size if self.size is not None else self.declared_size,
            "status": self.status.value, "created_at": self.created_at,
        }
        if self.reason is not None:
            fields["reason"] = self.reason.value
        if self.verified_at is not None:
            fields["verified_at"] = self.verified_at
        return fields


def listed_at(created_at: int, file_id: str) -> str:
    return f"{created_at:011d}#{file_id}"


def new_record(*, file_id: str, key: str, rule: str, owner_sub: str, owner_org_id: str | None, filename: str,
               content_type: str, declared_size: int, now: int, org_scoped: bool = False,
               upload_expires_at: int | None = None) -> FileRecord:
    """The record the upload mint writes, before the browser has sent a byte. ``org_scoped``: the
    rule's template names ``{org_id}``, so the file belongs to the org (``org_scope``)."""
    return FileRecord(file_id=file_id, key=key, rule=rule, owner_sub=owner_sub, owner_org_id=owner_org_id,
                      filename=filename, content_type=content_type, declared_size=declared_size,
                      status=Status.AWAITING_UPLOAD, created_at=now, updated_at=now,
                      expires_at=now + UNUSED_RECORD_SECONDS,
                      org_scope=owner_org_id if org_scoped else None, upload_expires_at=upload_expires_at)


def _moved(record: FileRecord, to: Status, now: int, **changes: Any) -> FileRecord:
    if record.status not in ENTERED_FROM[to]:
        raise TransitionRefused(f"{record.file_id}: {record.status.value} cannot become {to.value}")
    return replace(record, status=to, updated_at=now, **changes)


def start_verifying(record: FileRecord, *, now: int) -> FileRecord:
    return _moved(record, Status.VERIFYING, now)


def mark_clean(record: FileRecord, *, now: int, size: int, detected_type: str, sha256: str,
               scan_verdict: str | None, served_version_id: str | None = None) -> FileRecord:
    """``scan_verdict`` is None only where scanning is off (``scanning: none``);
    ``served_version_id`` is the final key's version holding the bytes ``sha256`` describes."""
    # A decided record is kept (no TTL): it stands for a file that exists.
    return _moved(record, Status.CLEAN, now, size=size, detected_type=detected_type, sha256=sha256,
                  scan_verdict=scan_verdict, verified_at=now, expires_at=None, reason=None,
                  served_version_id=served_version_id)


def mark_rejected(record: FileRecord, *, now: int, reason: RejectReason, size: int | None = None,
                  detected_type: str | None = None, sha256: str | None = None,
                  scan_verdict: str | None = None) -> FileRecord:
    return _moved(record, Status.REJECTED, now, reason=reason, size=size, detected_type=detected_type,
                  sha256=sha256, scan_verdict=scan_verdict, verified_at=now, expires_at=None)


#: The event published when a record is decided, by status (docs/verification.md).
DETAIL_TYPES: dict[Status, str] = {Status.CLEAN: "File Verified", Status.REJECTED: "File Rejected"}

_REASON_TEXT: dict[RejectReason, str] = {
    RejectReason.TYPE_MISMATCH: "its content is not the declared type",
    RejectReason.SIZE_MISMATCH: "its size is not the declared size, or over the limit",
    RejectReason.ACTIVE_CONTENT: "it carries active content (scripts, macros, embedded files)",
    RejectReason.MALWARE: "the malware scan found a threat",
    RejectReason.SCAN_FAILED: "it could not be verified",
    RejectReason.UNSUPPORTED: "its type cannot be verified",
}


def reason_text(reason: RejectReason | None) -> str:
    """Plain words for a rejection reason (safe to show the owner)."""
    return _REASON_TEXT.get(reason, "it could not be verified") if reason is not None else "it could not be verified"


def downloadable(record: FileRecord | None, key: str) -> FileRecord:
    """The record when ``key`` may be served (its record is ``clean``); else the ``Refusal``.

    No record, or a record for another key, is 404 (fail closed: nothing is served that the
    verifier did not pass); not yet decided is a retryable 409; rejected is 403.
    """
    if record is None or record.key != key:
        raise Refusal(Reason.NO_SUCH_FILE, "no such file")
    if record.status is Status.CLEAN:
        return record
    if record.status is Status.REJECTED:
        raise Refusal(Reason.FILE_REJECTED, f"the file was rejected: {reason_text(record.reason)}")
    raise Refusal(Reason.FILE_NOT_READY, "the file is not verified yet; retry shortly")


def owned_by(record: FileRecord, rules: dict[str, Rule], identity: Identity) -> bool:
    """True when ``identity`` is the record's owner: the one whose claims put its key in its rule,
    while the rule still admits it (a member removed from the org group keeps an ``org_id``
    claim at some issuers; that alone must not show the org's files). In a shared space (a rule
    whose template names no claim, ``public/marketing/{file}``) every member's claims build every
    key, so there the owner is the uploader only (``owner_sub``): listing, reading and deleting
    agree, and another member's file is 404."""
    rule = rules.get(record.rule)
    if rule is None or not rule.admits(identity.groups) or not key_in_rule(rule, identity, record.key):
        return False
    return bool(rule.claim_names) or record.owner_sub == identity.sub


# --- lifecycle (docs/lifecycle.md) -------------------------------------------------------------

#: How long a tombstone stands for a deleted file (then its TTL removes it).
TOMBSTONE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Tombstone:
    """What is left of a deleted file's record: no key, owner or filename (no personal data),
    except, until it is published, the ``File Deleted`` event's detail (``pending_event``), so
    that a crash between the tombstone and the event does not lose the event."""

    file_id: str
    deleted_at: int
    #: The ``File Deleted`` detail not yet published (``file_id, key, rule, deleted_at,
    #: deleted_by``); None once published (then the tombstone holds no personal data).
    pending_event: dict[str, Any] | None = None

    @property
    def expires_at(self) -> int:
        return self.deleted_at + TOMBSTONE_SECONDS


def tombstone(record: FileRecord, *, now: int, pending_event: dict[str, Any] | None = None) -> Tombstone:
    return Tombstone(file_id=record.file_id, deleted_at=now, pending_event=pending_event)


def visible(record: FileRecord, *, now: int) -> bool:
    """False for an upload whose POST has expired unused: it is about to expire by TTL, and it
    is not listed, read or counted any more."""
    return not (record.status is Status.AWAITING_UPLOAD and record.upload_expires_at is not None
                and record.upload_expires_at <= now)


def may_read(record: FileRecord, rules: dict[str, Rule], identity: Identity, *, now: int) -> bool:
    """Who lists and reads a record: its owner (``owned_by``), while the record is visible."""
    return visible(record, now=now) and owned_by(record, rules, identity)


def may_delete(record: FileRecord, rules: dict[str, Rule], identity: Identity) -> bool:
    """Who deletes a record: its owner, where the record's rule allows ``delete``."""
    rule = rules.get(record.rule)
    return rule is not None and rule.allows("delete") and owned_by(record, rules, identity)


#: Statuses a quota counts whatever the time; ``awaiting_upload`` counts while its POST lives.
QUOTA_STATUSES: frozenset[Status] = frozenset({Status.CLEAN, Status.VERIFYING})


def counts_toward_quota(record: FileRecord, *, now: int) -> bool:
    """The records the quota counts (the adapter's query says the same in DynamoDB's words)."""
    if record.status in QUOTA_STATUSES:
        return True
    return (record.status is Status.AWAITING_UPLOAD and record.upload_expires_at is not None
            and record.upload_expires_at > now)
