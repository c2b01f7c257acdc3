"""The sweep: records the verifier did not finish, acted on after ``FILEGATE_VERIFYING_TIMEOUT_SECONDS``.

Deployed as ``filegate.handlers.sweep.handler`` on a schedule (every few minutes). The policy
fails closed and never promotes anything itself:

- **Undecided past the timeout** (``verifying`` in the records' ``pending`` index, or an upload
  still in ``incoming/`` whose record is ``awaiting_upload`` or ``verifying``, the object older
  than the timeout): rejected as ``scan_failed``. No verdict (or no completed check) within
  the timeout, which exceeds the queue's whole retry budget, means the events were lost or every
  retry failed; the message, if any, is in the dead-letter queue. The object is copied to
  ``rejected/``, the quarantine and any final-key copy are deleted, ``File Rejected`` is
  published. The owner sees ``rejected: scan_failed`` and uploads again. Re-driving (re-running
  the checks here) was not chosen: with GuardDuty there is no verdict to re-drive with, and a
  second path that can promote is a second thing to get right.
- **Decided but unfinished past the timeout** (``clean``/``rejected`` still in the index: the
  verifier stopped between the decision and ``notified_at``): finished, i.e. the quarantine
  deleted and the event published, exactly as the verifier would have.

The decision is the same conditional write the verifier makes, so a verifier still working on a
file either wins (the sweep then only finishes) or loses (and deletes its own final-key copy).
Each run handles at most ``MAX_RECORDS_PER_RUN`` records per source and publishes
``OldestVerifyingAgeSeconds`` (0 when none) for the alarm on stuck verification.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from filegate.domain.quarantine import QUARANTINE_PREFIX, file_id_of, final_key_of, quarantine_key
from filegate.domain.records import FileRecord, Status
from filegate.domain.verification import Verifier
from filegate.handlers.observability import entry_point, logger, metrics
from filegate.handlers.verifier import Wiring, build_verifier
from filegate.settings import VerifierSettings

MAX_RECORDS_PER_RUN = 200
clock: Callable[[], float] = time.time


def _clock() -> float:
    return clock()  # read at call time, so that tests can replace ``clock``


class PendingRecords(Protocol):
    def get(self, file_id: str) -> FileRecord | None: ...
    def pending(self, status: Status, *, updated_before: int, limit: int = ...) -> Any: ...
    def oldest_pending(self, status: Status) -> int | None: ...


class Quarantine(Protocol):
    def listed(self, prefix: str, *, modified_before: float, limit: int) -> list[str]: ...
    def versions(self, key: str) -> list[Any]: ...


class SweepIncomplete(Exception):
    """Some records could not be handled this run (the next run tries again); fails the invocation
    so that the sweep's error alarm sees it."""


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: int = 0
    oldest_verifying_age: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"expired": len(self.expired), "finished": len(self.finished), "failed": len(self.failed),
                "skipped": self.skipped, "oldest_verifying_age": self.oldest_verifying_age}


def sweep(verifier: Verifier, records: PendingRecords, quarantine: Quarantine, *, now: int, timeout: int,
          limit: int = MAX_RECORDS_PER_RUN) -> SweepReport:
    """One pass (see the module docstring); per-record failures are collected, not raised."""
    cutoff = now - timeout
    report = SweepReport()
    seen: set[str] = set()

    def act(file_id: str, *, object_modified_before_cutoff: bool) -> None:
        if file_id in seen:
            return
        seen.add(file_id)
        try:
            record = records.get(file_id)
            if record is None or not record.has_pending_work:
                report.skipped += 1
                return
            if record.decided:
                if record.updated_at >= cutoff:
                    report.skipped += 1  # the verifier may still be finishing it
                    return
                verifier.finish(record)
                report.finished.append(file_id)
                return
            stale = record.updated_at < cutoff if record.status is Status.VERIFYING else False
            if not (stale or object_modified_before_cutoff):
                report.skipped += 1
                return
            if record.status is Status.AWAITING_UPLOAD and not _uploaded_before(quarantine, record, cutoff):
                report.skipped += 1  # no upload (its TTL forgets it), or one still in flight
                return
            verifier.expire(record)
            report.expired.append(file_id)
        except Exception as error:  # one bad record must not stop the sweep; the run still fails
            logger.error("sweep step failed", extra={"file_id": file_id, "error_type": type(error).__name__})
            report.failed.append(file_id)

    for status in (Status.VERIFYING, Status.CLEAN, Status.REJECTED):
        for file_id in records.pending(status, updated_before=cutoff, limit=limit):
            act(file_id, object_modified_before_cutoff=False)
    for key in quarantine.listed(QUARANTINE_PREFIX, modified_before=cutoff, limit=limit):
        final_key = final_key_of(key)
        file_id = file_id_of(final_key) if final_key else None
        if file_id is None:
            report.skipped += 1  # not an upload filegate minted: the quarantine's lifecycle expires it
            continue
        act(file_id, object_modified_before_cutoff=True)
    oldest = records.oldest_pending(Status.VERIFYING)
    report.oldest_verifying_age = max(0, now - oldest) if oldest is not None else 0
    return report


def _uploaded_before(quarantine: Quarantine, record: FileRecord, cutoff: int) -> bool:
    versions = quarantine.versions(quarantine_key(record.key))
    return bool(versions) and max(version.last_modified for version in versions) < cutoff


@dataclass(frozen=True)
class SweepRuntime:
    settings: VerifierSettings
    wiring: Wiring


@lru_cache(maxsize=1)
def runtime() -> SweepRuntime:
    """Settings and clients: built once per execution environment."""
    settings = VerifierSettings.from_environ()
    return SweepRuntime(settings=settings,
                        wiring=build_verifier(settings, boto3.session.Session(), now=_clock))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def _handle(_event: Any, _context: Any) -> dict[str, Any]:
    state = runtime()
    wiring = state.wiring
    report = sweep(wiring.verifier, wiring.files, wiring.objects, now=int(clock()),
                   timeout=state.settings.verifying_timeout_seconds)
    metrics.add_metric(name="OldestVerifyingAgeSeconds", unit=MetricUnit.Seconds, value=report.oldest_verifying_age)
    metrics.add_metric(name="SweepExpired", unit=MetricUnit.Count, value=len(report.expired))
    metrics.add_metric(name="SweepFinished", unit=MetricUnit.Count, value=len(report.finished))
    logger.info("sweep", extra={"sweep": report.as_dict()})
    if report.failed:
        raise SweepIncomplete(f"{len(report.failed)} record(s) could not be handled")
    return report.as_dict()


handler = entry_point(_handle)
"""Lambda entry point (a scheduled event; its content is not read)."""


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # build clients during the init phase
    runtime()
