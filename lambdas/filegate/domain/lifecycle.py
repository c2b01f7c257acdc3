"""Deleting a file and erasing a subject (docs/lifecycle.md): the order of the side effects.

Plain Python over ports (``Protocol``s the adapters satisfy); time is passed in, never read.

``delete_file``: refused (409, nothing done) while ``verifying`` or while an ``awaiting_upload``
record's upload sits in the quarantine (the verifier will act on it); else revoke the final key at
the edge → delete every version and delete marker of the final, quarantine and rejected keys →
invalidate the path (when anything was ever served there) → replace the record by a tombstone
carrying the ``File Deleted`` detail, conditionally on the record being unchanged since it was
read → publish ``File Deleted`` → remove the detail from the tombstone. Each step is safe to
repeat, so a crash anywhere, retried from the top, converges (a tombstone with a pending event
publishes it); a lost condition (the verifier moved the record meanwhile) re-reads and starts
again, or answers 409 when the record is now ``verifying``, without any event.

An erasure is a chain of bounded steps, one per queue message (``ErasureMessage``):
``revoke`` → ``records`` (page by page, repeated after a delay while some record is being
verified) → ``objects`` (one listing page at a time under each of the subject's prefixes, in
its three forms) → ``finish``. ``run_erasure_step`` does one and returns the next message;
the pure ``after_*`` functions decide which that is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol
from urllib.parse import quote

from filegate.domain.errors import Reason, Refusal
from filegate.domain.keys import usable_claim
from filegate.domain.quarantine import quarantine_key, rejected_key
from filegate.domain.records import FileRecord, Status, Tombstone, tombstone
from filegate.domain.rules import Rule

FILE_DELETED = "File Deleted"
SUBJECT_ERASED = "Subject Erased"
#: Restarts after a lost tombstone condition before the delete answers 409 ``not_ready``.
MAX_DELETE_RESTARTS = 2
#: Records one ``records`` step handles (one Query page).
RECORDS_PAGE = 100
#: How long the erasure waits before looking again at records being verified.
WAITING_DELAY_SECONDS = 60
SubjectKind = Literal["sub", "org_id"]
DeletedBy = Literal["owner", "backend"]
StepName = Literal["revoke", "records", "objects", "finish"]
ErasureStatus = Literal["running", "done"]


# --- ports ----------------------------------------------------------------------------------

class RecordPort(Protocol):
    def get_entry(self, file_id: str) -> FileRecord | Tombstone | None: ...
    def put_tombstone(self, record: FileRecord, tomb: Tombstone) -> bool: ...
    def clear_pending_event(self, file_id: str) -> bool: ...


class RevocationPort(Protocol):
    def revoke(self, names: Sequence[str], *, until: int) -> None: ...


class VersionPort(Protocol):
    def delete_key_versions(self, key: str) -> int: ...
    def has_versions(self, key: str) -> bool: ...


class InvalidationPort(Protocol):
    def invalidate(self, paths: Sequence[str], *, caller_reference: str) -> None: ...


class EventPort(Protocol):
    def publish(self, detail_type: str, detail: dict[str, Any]) -> None: ...


# --- deleting one file ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Deletion:
    """What a delete did: the record it deleted (None: it was already a tombstone), and the
    ``File Deleted`` detail it published (None: a tombstone whose event was published already)."""

    file_id: str
    record: FileRecord | None
    deleted_versions: int = 0
    published: dict[str, Any] | None = None


def file_keys(key: str) -> tuple[str, str, str]:
    """The three keys one file may have objects at: final, quarantine, rejected."""
    return (key, quarantine_key(key), rejected_key(key))


def invalidation_path(key: str) -> str:
    """The request path CloudFront caches a key under (escaped as ``resource_url`` escapes it)."""
    return "/" + quote(key, safe="/-._~")


def ever_served(record: FileRecord, rules: Mapping[str, Rule]) -> bool:
    """Whether anything was ever at the final key for the edge to cache: a clean record, or a
    public rule (whose files the edge serves unsigned)."""
    rule = rules.get(record.rule)
    return record.status is Status.CLEAN or record.key.startswith("public/") or bool(rule and rule.is_public)


def _publish_pending(tomb: Tombstone, *, records: RecordPort, events: EventPort) -> dict[str, Any] | None:
    """A tombstone's pending ``File Deleted`` (a delete that stopped after its tombstone):
    published, then removed from the tombstone. Returns what was published."""
    if tomb.pending_event is None:
        return None
    events.publish(FILE_DELETED, tomb.pending_event)
    records.clear_pending_event(tomb.file_id)
    return tomb.pending_event


def delete_file(file_id: str, *, records: RecordPort, revocations: RevocationPort, objects: VersionPort,
                invalidations: InvalidationPort, events: EventPort, rules: Mapping[str, Rule],
                authorize: Callable[[FileRecord], None], deleted_by: DeletedBy, now: int,
                url_max_seconds: int) -> Deletion:
    """Delete one file in the documented order; ``authorize`` refuses a record the caller may not
    delete (it raises). No record: 404; a tombstone: done already (204, its pending event
    published first); ``verifying``, or an upload that landed and awaits the verifier: 409."""
    for _attempt in range(MAX_DELETE_RESTARTS + 1):
        entry = records.get_entry(file_id)
        if entry is None:
            raise Refusal(Reason.NO_SUCH_FILE, "no such file")
        if isinstance(entry, Tombstone):
            published = _publish_pending(entry, records=records, events=events)
            return Deletion(file_id=file_id, record=None, published=published)
        authorize(entry)
        if entry.status is Status.VERIFYING:
            raise Refusal(Reason.FILE_NOT_READY, "the file is being verified; retry shortly")
        if entry.status is Status.AWAITING_UPLOAD and objects.has_versions(quarantine_key(entry.key)):
            # The upload landed: the verifier is about to act on it. Nothing done yet.
            raise Refusal(Reason.FILE_NOT_READY, "the file is being verified; retry shortly")
        # 1. Every URL or cookie issued before now has expired by ``until``.
        revocations.revoke([entry.key], until=now + url_max_seconds)
        # 2. Every version and delete marker, at each of the file's three keys.
        deleted = sum(objects.delete_key_versions(key) for key in file_keys(entry.key))
        # 3. Cached copies: only where something was ever served from the final key.
        if ever_served(entry, rules):
            invalidations.invalidate([invalidation_path(entry.key)], caller_reference=f"delete-{file_id}")
        # 4. The tombstone, only over the record as read (a verifier that moved it meanwhile may
        #    have put bytes back at the final key), carrying the event until it is published.
        detail = {"file_id": file_id, "key": entry.key, "rule": entry.rule, "deleted_at": now,
                  "deleted_by": deleted_by}
        tomb = tombstone(entry, now=now, pending_event=detail)
        if records.put_tombstone(entry, tomb):
            # 5. The event, then the tombstone forgets it (a crash in between: the next DELETE
            #    of this id publishes it; consumers dedupe on file_id).
            _publish_pending(tomb, records=records, events=events)
            return Deletion(file_id=file_id, record=entry, deleted_versions=deleted, published=detail)
        # Lost: re-read. ``verifying`` is a 409 at the top (no event; the key stays revoked
        # until ``until``); anything else starts again.
    raise Refusal(Reason.FILE_NOT_READY, "the file changed while it was being deleted; retry shortly")


# --- erasure: the subject, its id and prefixes --------------------------------------------------

@dataclass(frozen=True, slots=True)
class Subject:
    kind: SubjectKind
    value: str

    def as_dict(self) -> dict[str, str]:
        return {self.kind: self.value}


def subject_of(*, sub: str | None, org_id: str | None) -> Subject:
    """The one subject an erasure request names, when it is a usable claim value; else 400."""
    if (sub is None) == (org_id is None):
        raise Refusal(Reason.INVALID_SUBJECT, "name exactly one of sub or org_id")
    kind: SubjectKind = "sub" if sub is not None else "org_id"
    value = sub if sub is not None else org_id
    if not usable_claim(value):
        raise Refusal(Reason.INVALID_SUBJECT, f"{kind} is not a claim value a file key can hold")
    assert value is not None
    return Subject(kind=kind, value=value)


def erasure_id(subject: Subject) -> str:
    """One erasure per subject: first 32 hex of SHA-256(``kind \\0 value``)."""
    return hashlib.sha256(f"{subject.kind}\0{subject.value}".encode()).hexdigest()[:32]


def rule_prefix(rule: Rule, subject: Subject) -> str | None:
    """The rule's template filled up to the first segment after the subject's claim that is not
    literal, when every claim segment before it is the subject's claim; None when the rule
    does not name the claim, or a prefix would need another claim (erased through records)."""
    if subject.kind not in rule.claim_names:
        return None
    parts: list[str] = []
    named = False
    for segment in rule.segments:
        if segment.kind == "literal":
            parts.append(segment.value)
        elif segment.kind == "claim" and segment.value == subject.kind and not named:
            parts.append(subject.value)
            named = True
        elif not named:
            return None  # another claim before the subject's: the prefix would span other subjects
        else:
            break
    return "/".join(parts) + "/"


def subject_prefixes(rules: Iterable[Rule], subject: Subject) -> tuple[str, ...]:
    """The subject's prefixes, each once, none inside another (sorted)."""
    found = sorted({prefix for rule in rules if (prefix := rule_prefix(rule, subject)) is not None})
    return tuple(prefix for prefix in found
                 if not any(other != prefix and prefix.startswith(other) for other in found))


def prefix_swept(record: FileRecord, prefixes: Sequence[str]) -> bool:
    """Whether the ``objects`` step removes this record's objects (its key is under a prefix)."""
    return any(record.key.startswith(prefix) for prefix in prefixes)


# --- erasure: items, messages, steps ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Erasure:
    """The erasures table's item: the subject (to resume, and as evidence), counts, timestamps."""

    erasure_id: str
    subject: Subject
    status: ErasureStatus
    runs: int
    requested_by: str
    started_at: int
    updated_at: int
    finished_at: int | None = None
    deleted_files: int = 0
    deleted_versions: int = 0
    revoked_prefixes: int = 0
    waiting_files: int = 0
    #: The run whose ``Subject Erased`` event was published (and its marker cleared).
    notified_run: int | None = None
    #: The step sequence: the only message a worker acts on carries this ``seq``; each step's
    #: write advances it (conditionally), so a duplicate or stale chain does nothing.
    seq: int = 0
    #: Set by the finish write (the run whose ``Subject Erased`` is being published, and when),
    #: cleared once the event and the audit record are out: a crash in between is recovered.
    announce_run: int | None = None
    announce_at: int | None = None
    #: Wildcard paths the finish step invalidates for served records outside the prefixes.
    loose_paths: frozenset[str] = frozenset()

    def public(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "erasure_id": self.erasure_id, "status": self.status, "subject": self.subject.as_dict(),
            "deleted_files": self.deleted_files, "deleted_versions": self.deleted_versions,
            "revoked_prefixes": self.revoked_prefixes, "waiting_files": self.waiting_files, "runs": self.runs,
            "started_at": self.started_at,
        }
        if self.finished_at is not None:
            fields["finished_at"] = self.finished_at
        return fields


def new_erasure(subject: Subject, *, requested_by: str, now: int) -> Erasure:
    return Erasure(erasure_id=erasure_id(subject), subject=subject, status="running", runs=1,
                   requested_by=requested_by, started_at=now, updated_at=now)


def rerun(erasure: Erasure, *, requested_by: str, now: int) -> Erasure:
    """A done erasure asked again: a new run, counts kept (cumulative over runs)."""
    return replace(erasure, status="running", runs=erasure.runs + 1, requested_by=requested_by, started_at=now,
                   updated_at=now, finished_at=None, waiting_files=0, loose_paths=frozenset())


@dataclass(frozen=True, slots=True)
class ErasureMessage:
    """One step of one run. ``prefix`` and ``form`` say where the ``objects`` step is; ``after``
    where the ``records`` step resumes (a ``listed_at``, exclusive); ``waiting`` counts the
    records left for the verifier so far in this pass; ``seq`` is the item's step sequence this
    message belongs to (any other is a duplicate or stale chain: ignored)."""

    erasure_id: str
    run: int
    step: StepName
    after: str | None = None
    waiting: int = 0
    prefix: int = 0
    form: int = 0
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"erasure_id": self.erasure_id, "run": self.run, "step": self.step, "after": self.after,
                "waiting": self.waiting, "prefix": self.prefix, "form": self.form, "seq": self.seq}

    @classmethod
    def from_dict(cls, data: object) -> ErasureMessage:
        """Strict: anything but the shape ``as_dict`` writes raises ValueError."""
        if not isinstance(data, dict) or set(data) != {"erasure_id", "run", "step", "after", "waiting", "prefix",
                                                         "form", "seq"}:
            raise ValueError("not an erasure message")
        ints = ("run", "waiting", "prefix", "form", "seq")
        if not all(type(data[name]) is int and data[name] >= 0 for name in ints):
            raise ValueError("not an erasure message")
        if data["step"] not in ("revoke", "records", "objects", "finish") or not isinstance(data["erasure_id"], str):
            raise ValueError("not an erasure message")
        if data["after"] is not None and not isinstance(data["after"], str):
            raise ValueError("not an erasure message")
        return cls(erasure_id=data["erasure_id"], run=data["run"], step=data["step"], after=data["after"],
                   waiting=data["waiting"], prefix=data["prefix"], form=data["form"], seq=data["seq"])


@dataclass(frozen=True, slots=True)
class Next:
    """The message to send after a step (None: the run is over), and its delay."""

    message: ErasureMessage | None
    delay_seconds: int = 0


def first_message(erasure: Erasure) -> ErasureMessage:
    """The run's first step, at the item's current ``seq`` (a re-sent chain restarts from here;
    whichever chain writes that seq first goes on, the other stops)."""
    return ErasureMessage(erasure_id=erasure.erasure_id, run=erasure.runs, step="revoke", seq=erasure.seq)


def after_revoke(message: ErasureMessage) -> Next:
    return Next(replace(message, step="records", after=None, waiting=0))


def after_records(message: ErasureMessage, *, last: str | None, waiting: int) -> Next:
    """``last``: where the page ended when more may follow (None: that was the last page);
    ``waiting``: records of this page left for the verifier."""
    total = message.waiting + waiting
    if last is not None:
        return Next(replace(message, after=last, waiting=total))
    if total:
        return Next(replace(message, after=None, waiting=0), delay_seconds=WAITING_DELAY_SECONDS)
    return Next(replace(message, step="objects", after=None, waiting=0, prefix=0, form=0))


FORMS = 3  # <p>, incoming/<p>, rejected/<p>


def after_objects(message: ErasureMessage, *, more: bool, prefixes: int) -> Next:
    if more:
        return Next(message)  # the same listing again: what was listed is gone now
    form, prefix = message.form + 1, message.prefix
    if form == FORMS:
        form, prefix = 0, prefix + 1
    if prefix >= prefixes:
        return Next(replace(message, step="finish", prefix=0, form=0))
    return Next(replace(message, prefix=prefix, form=form))


def object_prefix(prefix: str, form: int) -> str:
    return (prefix, quarantine_key(prefix), rejected_key(prefix))[form]


# --- erasure: running a step -----------------------------------------------------------------

#: A finish whose announcement marker is this old is recovered by a redelivered finish message:
#: longer than the worker's timeout (120 s: the announcing invocation is over), shorter than the
#: queue's visibility timeout (720 s: a crashed invocation's message comes back after it).
ANNOUNCE_LEASE_SECONDS = 300
#: Records a ``records`` step handles when some are outside the prefixes (three keys each to
#: delete, one by one): keeps a step well inside the worker's 120 s timeout.
LOOSE_RECORDS_PAGE = 25


class ErasureStore(Protocol):
    def get(self, erasure_id: str) -> Erasure | None: ...
    def record_step(self, erasure: Erasure, *, seq: int, now: int, deleted_files: int = 0,
                    deleted_versions: int = 0, revoked_prefixes: int | None = None,
                    waiting_files: int | None = None, loose_paths: Sequence[str] = ()) -> bool: ...
    def finish(self, erasure: Erasure, *, seq: int, now: int) -> bool: ...
    def claim_announcement(self, erasure: Erasure, *, now: int) -> bool: ...
    def clear_announcement(self, erasure: Erasure) -> bool: ...


class SubjectRecords(Protocol):
    def subject_page(self, kind: SubjectKind, value: str, *, after: str | None,
                     limit: int) -> tuple[list[FileRecord], str | None]: ...
    def delete_records(self, file_ids: Sequence[str]) -> None: ...


class PrefixObjects(Protocol):
    def delete_key_versions(self, key: str) -> int: ...
    def delete_page_under(self, prefix: str) -> tuple[int, bool]: ...


@dataclass(frozen=True)
class ErasurePorts:
    erasures: ErasureStore
    records: SubjectRecords
    objects: PrefixObjects
    revocations: RevocationPort
    invalidations: InvalidationPort
    events: EventPort
    rules: tuple[Rule, ...]
    url_max_seconds: int
    #: Called once per finished run, with the audit record's fields.
    audit: Callable[[dict[str, Any]], None] = field(default=lambda record: None)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    next: Next
    #: ``stale``: the message is not the item's current step (a finished run, a duplicate or
    #: stale chain): dropped. ``lost``: the step's conditional write lost to another chain.
    result: Literal["done", "stale", "finished", "lost"] = "done"
    detail: dict[str, int] = field(default_factory=dict)


def run_erasure_step(message: ErasureMessage, ports: ErasurePorts, *, now: int) -> StepOutcome:
    """One bounded step of one run; the caller sends ``next.message`` (after ``delay_seconds``).

    Only the message carrying the item's current ``seq`` acts; its step's write advances ``seq``
    conditionally, and only then is the next message (``seq + 1``) returned."""
    erasure = ports.erasures.get(message.erasure_id)
    if erasure is None or erasure.runs != message.run:
        return StepOutcome(Next(None), result="stale")
    if erasure.status != "running":
        return _recover_announcement(message, erasure, ports, now=now)
    if message.seq != erasure.seq:
        return StepOutcome(Next(None), result="stale")  # a duplicate delivery, or a chain that lost
    prefixes = subject_prefixes(ports.rules, erasure.subject)
    step = {"revoke": _revoke_step, "records": _records_step, "objects": _objects_step, "finish": _finish_step}
    outcome = step[message.step](message, erasure, ports, prefixes=prefixes, now=now)
    if outcome.next.message is not None:
        outcome = replace(outcome, next=replace(outcome.next, message=replace(outcome.next.message,
                                                                                seq=message.seq + 1)))
    return outcome


def _recover_announcement(message: ErasureMessage, erasure: Erasure, ports: ErasurePorts, *,
                          now: int) -> StepOutcome:
    """A finish redelivered after its run was finished: when the run's announcement is still
    marked (the finishing invocation stopped before clearing it) and old enough that the
    invocation is over, claim it and announce; anything else is a duplicate: dropped."""
    if (message.step != "finish" or message.seq != erasure.seq - 1 or erasure.announce_run != message.run
            or (erasure.announce_at is not None and now < erasure.announce_at + ANNOUNCE_LEASE_SECONDS)):
        return StepOutcome(Next(None), result="stale")
    if not ports.erasures.claim_announcement(erasure, now=now):
        return StepOutcome(Next(None), result="stale")  # another delivery claimed it
    prefixes = subject_prefixes(ports.rules, erasure.subject)
    _announce(erasure, ports, paths=len(invalidation_paths(erasure, prefixes)))
    return StepOutcome(Next(None), result="finished")


def _revoke_step(message: ErasureMessage, erasure: Erasure, ports: ErasurePorts, *, prefixes: Sequence[str],
                 now: int) -> StepOutcome:
    if prefixes:
        ports.revocations.revoke(list(prefixes), until=now + ports.url_max_seconds)
    if not ports.erasures.record_step(erasure, seq=message.seq, now=now, revoked_prefixes=len(prefixes)):
        return StepOutcome(Next(None), result="lost")
    return StepOutcome(after_revoke(message), detail={"revoked_prefixes": len(prefixes)})


def _objects_step(message: ErasureMessage, erasure: Erasure, ports: ErasurePorts, *, prefixes: Sequence[str],
                  now: int) -> StepOutcome:
    deleted, more = 0, False
    if message.prefix < len(prefixes):
        deleted, more = ports.objects.delete_page_under(object_prefix(prefixes[message.prefix], message.form))
    if not ports.erasures.record_step(erasure, seq=message.seq, now=now, deleted_versions=deleted):
        return StepOutcome(Next(None), result="lost")
    return StepOutcome(after_objects(message, more=more, prefixes=len(prefixes)), detail={"deleted_versions": deleted})


def rule_wildcard(rule: Rule) -> str:
    """``/<the template's literal segments up to the first placeholder>/*``: one invalidation path
    covering every file of the rule (``/public/marketing/*``, ``/private/orgs/*``)."""
    literals: list[str] = []
    for segment in rule.segments:
        if segment.kind != "literal":
            break
        literals.append(segment.value)
    return invalidation_path("/".join(literals) + "/") + "*" if literals else "/*"


def loose_path(record: FileRecord, rules: Mapping[str, Rule]) -> str:
    """The wildcard invalidating a record outside the subject's prefixes: its rule's
    (``rule_wildcard``); for a rule no longer configured, its key's first segment's."""
    rule = rules.get(record.rule)
    return rule_wildcard(rule) if rule is not None else invalidation_path(record.key.split("/", 1)[0] + "/") + "*"


def invalidation_paths(erasure: Erasure, prefixes: Sequence[str]) -> list[str]:
    """What the finish step invalidates: ``/<p>*`` for each prefix, and each wildcard of served
    records outside them; each once, none covered by another, sorted."""
    found = sorted({invalidation_path(prefix) + "*" for prefix in prefixes} | set(erasure.loose_paths))
    return [path for path in found
            if not any(other != path and path.startswith(other[:-1]) for other in found)]


def _finish_step(message: ErasureMessage, erasure: Erasure, ports: ErasurePorts, *, prefixes: Sequence[str],
                 now: int) -> StepOutcome:
    paths = invalidation_paths(erasure, prefixes)
    if paths:  # the reference names the paths: a repeat with the same ones is the same invalidation
        digest = hashlib.sha256("\n".join(paths).encode()).hexdigest()[:16]
        ports.invalidations.invalidate(paths, caller_reference=f"erasure-{erasure.erasure_id}-{erasure.runs}-{digest}")
    if not ports.erasures.finish(erasure, seq=message.seq, now=now):
        return StepOutcome(Next(None), result="lost")  # a duplicate chain finished it first
    finished = ports.erasures.get(erasure.erasure_id) or replace(
        erasure, status="done", finished_at=now, seq=erasure.seq + 1, announce_run=erasure.runs, announce_at=now)
    _announce(finished, ports, paths=len(paths))
    return StepOutcome(Next(None), result="finished", detail={"invalidation_paths": len(paths)})


def _records_step(message: ErasureMessage, erasure: Erasure, ports: ErasurePorts, *, prefixes: Sequence[str],
                  now: int) -> StepOutcome:
    subject = erasure.subject
    until = now + ports.url_max_seconds
    rules = rules_of(ports)
    page, last = ports.records.subject_page(subject.kind, subject.value, after=message.after, limit=RECORDS_PAGE)
    if len(page) > LOOSE_RECORDS_PAGE and any(not prefix_swept(record, prefixes) for record in page):
        # Records outside the prefixes cost three keys each: a smaller step (the rest next time).
        page, last = page[:LOOSE_RECORDS_PAGE], page[LOOSE_RECORDS_PAGE - 1].listed_at
    waiting = [record for record in page if record.status is Status.VERIFYING]
    erased = [record for record in page if record.status is not Status.VERIFYING]
    # Records outside every prefix: their objects and URLs go here, one file at a time; their
    # cached copies by one wildcard per rule, in the finish step.
    loose = [record for record in erased if not prefix_swept(record, prefixes)]
    deleted_versions = 0
    if loose:
        ports.revocations.revoke([record.key for record in loose], until=until)
        deleted_versions = sum(ports.objects.delete_key_versions(key)
                               for record in loose for key in file_keys(record.key))
    served = sorted({loose_path(record, rules) for record in loose if ever_served(record, rules)})
    if erased:
        ports.records.delete_records([record.file_id for record in erased])
    nxt = after_records(message, last=last, waiting=len(waiting))
    pass_over = last is None
    if not ports.erasures.record_step(erasure, seq=message.seq, now=now, deleted_files=len(erased),
                                      deleted_versions=deleted_versions,
                                      waiting_files=message.waiting + len(waiting) if pass_over else None,
                                      loose_paths=served):
        return StepOutcome(Next(None), result="lost")
    return StepOutcome(nxt, detail={"deleted_files": len(erased), "deleted_versions": deleted_versions,
                                    "waiting_files": len(waiting)})


def rules_of(ports: ErasurePorts) -> dict[str, Rule]:
    return {rule.name: rule for rule in ports.rules}


def _announce(erasure: Erasure, ports: ErasurePorts, *, paths: int) -> None:
    """``Subject Erased`` and the audit record of a finished run, then its marker cleared.
    Only a stop exactly between the publish and the clear repeats the event (consumers dedupe on
    ``erasure_id`` + ``run``)."""
    finished_at = erasure.finished_at or erasure.updated_at
    detail = {"erasure_id": erasure.erasure_id, "run": erasure.runs, "subject_kind": erasure.subject.kind,
              "deleted_files": erasure.deleted_files, "deleted_versions": erasure.deleted_versions,
              "revoked_prefixes": erasure.revoked_prefixes, "finished_at": finished_at}
    ports.events.publish(SUBJECT_ERASED, detail)
    ports.audit({**detail, "event": "erasure", "action": "erasure", "requested_by": erasure.requested_by,
                 "started_at": erasure.started_at, "invalidation_paths": paths})
    ports.erasures.clear_announcement(erasure)
