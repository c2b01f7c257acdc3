"""Erasure items in DynamoDB (docs/lifecycle.md, "Erasure"): one per subject, keyed by ``erasure_id``.

The item keeps the subject (``subject_kind``, ``subject_value``: to resume, and as evidence of
the erasure), ``requested_by``, ``status``, ``runs``, ``seq`` (the step sequence), the counts and
timestamps. Every write is conditional on the run it belongs to and, for steps, on ``seq``, so a
step of an old, duplicate or stale chain changes nothing:

- ``create``: ``attribute_not_exists`` (the first run);
- ``start_run``: ``done`` → ``running`` with ``runs`` + 1, only from the run read;
- ``touch``: ``updated_at`` of a running run (its chain is re-sent);
- ``record_step``: ``seq = :seq`` → ``seq + 1`` in the same write as the counts (``ADD``
  ``deleted_files``, ``deleted_versions``, and the ``loose_paths`` set; ``SET`` the current
  ``revoked_prefixes`` / ``waiting_files``): a step that loses adds nothing;
- ``finish``: ``running`` → ``done`` at ``seq``, advancing it, with the announcement marker
  (``announce_run``, ``announce_at``);
- ``claim_announcement``: a recovering finish takes the marker over (``announce_at`` as read);
- ``clear_announcement``: the marker removed, ``notified_run`` set, once the event is out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from filegate.adapters.dynamodb import conditional_write, consistent_get
from filegate.adapters.unavailable import LifecycleUnavailable
from filegate.domain.lifecycle import Erasure, Subject

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_KEY = "erasure_id"
_COUNTS = ("deleted_files", "deleted_versions", "revoked_prefixes", "waiting_files")


class ErasuresUnavailable(LifecycleUnavailable):
    """DynamoDB failed on the erasures table; the caller retries."""


def to_item(erasure: Erasure) -> dict[str, Any]:
    item: dict[str, Any] = {
        _KEY: {"S": erasure.erasure_id}, "subject_kind": {"S": erasure.subject.kind},
        "subject_value": {"S": erasure.subject.value}, "status": {"S": erasure.status},
        "runs": {"N": str(erasure.runs)}, "requested_by": {"S": erasure.requested_by},
        "started_at": {"N": str(erasure.started_at)}, "updated_at": {"N": str(erasure.updated_at)},
    }
    for name in _COUNTS:
        item[name] = {"N": str(getattr(erasure, name))}
    if erasure.finished_at is not None:
        item["finished_at"] = {"N": str(erasure.finished_at)}
    for name in ("notified_run", "announce_run", "announce_at"):
        value = getattr(erasure, name)
        if value is not None:
            item[name] = {"N": str(value)}
    item["seq"] = {"N": str(erasure.seq)}
    if erasure.loose_paths:
        item["loose_paths"] = {"SS": sorted(erasure.loose_paths)}
    return item


def _int(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if isinstance(value, dict) and "N" in value else None


def from_item(item: dict[str, Any]) -> Erasure:
    kind = item["subject_kind"]["S"]
    if kind not in ("sub", "org_id"):
        raise ValueError(f"unknown subject kind {kind!r}")
    status = item["status"]["S"]
    if status not in ("running", "done"):
        raise ValueError(f"unknown erasure status {status!r}")
    return Erasure(erasure_id=item[_KEY]["S"], subject=Subject(kind=kind, value=item["subject_value"]["S"]),
                   status=status, runs=_int(item, "runs") or 1, requested_by=item.get("requested_by", {}).get("S", ""),
                   started_at=_int(item, "started_at") or 0, updated_at=_int(item, "updated_at") or 0,
                   finished_at=_int(item, "finished_at"), notified_run=_int(item, "notified_run"),
                   seq=_int(item, "seq") or 0, announce_run=_int(item, "announce_run"),
                   announce_at=_int(item, "announce_at"),
                   loose_paths=frozenset(item.get("loose_paths", {}).get("SS", [])),
                   **{name: _int(item, name) or 0 for name in _COUNTS})


class ErasuresTable:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    def get(self, erasure_id: str) -> Erasure | None:
        item = consistent_get(self._client, self.table_name, {_KEY: {"S": erasure_id}},
                              unavailable=ErasuresUnavailable, what="reading the erasure")
        return from_item(item) if item else None

    def create(self, erasure: Erasure) -> bool:
        return conditional_write(
            lambda: self._client.put_item(TableName=self.table_name, Item=to_item(erasure),
                                          ConditionExpression="attribute_not_exists(#id)",
                                          ExpressionAttributeNames={"#id": _KEY}),
            unavailable=ErasuresUnavailable, what="writing the erasure")

    def start_run(self, before: Erasure, after: Erasure) -> bool:
        """``before`` (done) becomes ``after`` (running, the next run), unless someone else did it.
        ``seq`` carries on (the new run's first message has the current one)."""
        return self._update(
            before.erasure_id,
            update="SET #status = :running, #runs = :runs, requested_by = :by, started_at = :now, updated_at = :now, "
                   "waiting_files = :zero REMOVE finished_at, loose_paths",
            condition="#status = :done AND #runs = :before",
            names={"#status": "status", "#runs": "runs"},
            values={":running": {"S": "running"}, ":done": {"S": "done"}, ":runs": {"N": str(after.runs)},
                    ":before": {"N": str(before.runs)}, ":by": {"S": after.requested_by},
                    ":now": {"N": str(after.started_at)}, ":zero": {"N": "0"}})

    def touch(self, erasure: Erasure, *, now: int) -> bool:
        """A running run resumed (its chain re-sent): ``updated_at`` only, ``seq`` as read (so that
        only one POST re-sends it)."""
        return self._update(erasure.erasure_id, update="SET updated_at = :now",
                            condition="#status = :running AND #runs = :run AND #seq = :seq",
                            names={"#status": "status", "#runs": "runs", "#seq": "seq"},
                            values={":now": {"N": str(now)}, ":running": {"S": "running"},
                                    ":run": {"N": str(erasure.runs)}, ":seq": {"N": str(erasure.seq)}},
                            seq_may_be_missing=erasure.seq == 0)

    def record_step(self, erasure: Erasure, *, seq: int, now: int, deleted_files: int = 0, deleted_versions: int = 0,
                    revoked_prefixes: int | None = None, waiting_files: int | None = None,
                    loose_paths: Sequence[str] = ()) -> bool:
        """A step's counts and ``seq`` + 1, in one write, only while ``seq`` is the step's."""
        sets = ["updated_at = :now", "#seq = :next"]
        values: dict[str, Any] = {":now": {"N": str(now)}, ":running": {"S": "running"},
                                  ":run": {"N": str(erasure.runs)}, ":files": {"N": str(deleted_files)},
                                  ":versions": {"N": str(deleted_versions)}, ":seq": {"N": str(seq)},
                                  ":next": {"N": str(seq + 1)}}
        if revoked_prefixes is not None:
            sets.append("revoked_prefixes = :prefixes")
            values[":prefixes"] = {"N": str(revoked_prefixes)}
        if waiting_files is not None:
            sets.append("waiting_files = :waiting")
            values[":waiting"] = {"N": str(waiting_files)}
        adds = ["deleted_files :files", "deleted_versions :versions"]
        if loose_paths:
            adds.append("loose_paths :paths")
            values[":paths"] = {"SS": sorted(set(loose_paths))}
        return self._update(erasure.erasure_id,
                            update="SET " + ", ".join(sets) + " ADD " + ", ".join(adds),
                            condition="#status = :running AND #runs = :run AND #seq = :seq",
                            names={"#status": "status", "#runs": "runs", "#seq": "seq"}, values=values,
                            seq_may_be_missing=seq == 0)

    def finish(self, erasure: Erasure, *, seq: int, now: int) -> bool:
        """``running`` → ``done`` at ``seq`` (advanced), with the announcement marker for the run."""
        return self._update(erasure.erasure_id,
                            update="SET #status = :done, finished_at = :now, updated_at = :now, waiting_files = :zero, "
                                   "#seq = :next, announce_run = :run, announce_at = :now",
                            condition="#status = :running AND #runs = :run AND #seq = :seq",
                            names={"#status": "status", "#runs": "runs", "#seq": "seq"},
                            values={":done": {"S": "done"}, ":running": {"S": "running"}, ":now": {"N": str(now)},
                                    ":run": {"N": str(erasure.runs)}, ":zero": {"N": "0"},
                                    ":seq": {"N": str(seq)}, ":next": {"N": str(seq + 1)}},
                            seq_may_be_missing=seq == 0)

    def claim_announcement(self, erasure: Erasure, *, now: int) -> bool:
        """Take over the run's announcement marker as read (one recovering delivery wins)."""
        if erasure.announce_run is None:
            return False
        condition = "announce_run = :run AND #runs = :run AND "
        values: dict[str, Any] = {":run": {"N": str(erasure.announce_run)}, ":now": {"N": str(now)}}
        if erasure.announce_at is None:
            condition += "attribute_not_exists(announce_at)"
        else:
            condition += "announce_at = :at"
            values[":at"] = {"N": str(erasure.announce_at)}
        return self._update(erasure.erasure_id, update="SET announce_at = :now", condition=condition,
                            names={"#runs": "runs"}, values=values)

    def clear_announcement(self, erasure: Erasure) -> bool:
        """The run's ``Subject Erased`` is out: the marker goes, ``notified_run`` says so."""
        return self._update(erasure.erasure_id, update="SET notified_run = :run REMOVE announce_run, announce_at",
                            condition="announce_run = :run", names={},
                            values={":run": {"N": str(erasure.runs)}})

    def _update(self, erasure_id: str, *, update: str, condition: str, names: dict[str, str],
                values: dict[str, Any], seq_may_be_missing: bool = False) -> bool:
        if seq_may_be_missing:  # an item written before ``seq`` existed is at seq 0
            condition = condition.replace("#seq = :seq", "(#seq = :seq OR attribute_not_exists(#seq))")
        request: dict[str, Any] = {"TableName": self.table_name, "Key": {_KEY: {"S": erasure_id}},
                                   "UpdateExpression": update, "ConditionExpression": condition,
                                   "ExpressionAttributeValues": values}
        if names:
            request["ExpressionAttributeNames"] = names
        return conditional_write(lambda: self._client.update_item(**request),
                                 unavailable=ErasuresUnavailable, what="updating the erasure")
