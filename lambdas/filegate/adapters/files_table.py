"""File records in DynamoDB (docs/verification.md, "File record").

One item per file, keyed by ``file_id``. Every write is conditional:

- ``put_new``: ``attribute_not_exists(file_id)`` (the mint never overwrites a record).
- ``transition``: ``#status IN (:from...)`` with the statuses ``records.ENTERED_FROM`` allows;
  a failed condition returns False (the record already moved on: a redelivered event, a race
  another worker won) and is never an error.
- ``mark_notified``: once, for a decided record whose event was just published.

Unfinished work is indexed: ``pending_status`` holds the status while the record is ``verifying``,
or decided but its event not yet published, and is removed with ``mark_notified``. The sparse
global secondary index ``PENDING_INDEX`` (partition key ``pending_status``, sort key
``updated_at``) therefore holds only records the sweep may have to act on, never the many
finished ones (no hot ``clean`` partition) nor the minted uploads that may never happen
(``awaiting_upload``: the sweep finds the ones that did happen by listing the quarantine).

Lifecycle (docs/lifecycle.md): every item carries ``listed_at``, the sort key of the listing
indexes ``owner`` (partition ``owner_sub``) and ``org`` (partition ``org_scope``, sparse), both
projecting every attribute. ``stream`` reads one partition newest first, in bounded pages, and
ends with a ``Frontier`` when its budget is spent; ``count_for_quota`` counts (``Select=COUNT``);
``put_tombstone`` replaces a record by its tombstone only if ``status`` and ``updated_at`` are
still the ones read; ``get`` answers None for a tombstone, so every older path fails closed.
``subject_page`` and ``delete_records`` are the erasure's (BatchWriteItem, unprocessed items
retried).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from filegate.adapters.dynamodb import conditional_write, consistent_get
from filegate.domain.listing import Frontier
from filegate.domain.records import ENTERED_FROM, FileRecord, RejectReason, Status, Tombstone

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: The sparse index of records with unfinished work (the sweep's view).
PENDING_INDEX = "pending"
PENDING_ATTRIBUTE = "pending_status"
#: The listing indexes (docs/lifecycle.md, "File record additions").
OWNER_INDEX = "owner"
ORG_INDEX = "org"
LISTED_AT = "listed_at"
#: Which index, and which partition attribute, each kind of listing reads.
INDEX_PARTITIONS: dict[str, str] = {OWNER_INDEX: "owner_sub", ORG_INDEX: "org_scope"}
#: DynamoDB Query requests one listing stream may make per API request, and BatchWriteItem's limit.
MAX_QUERY_PAGES = 5
_BATCH_WRITE = 25
_BATCH_ATTEMPTS = 6
_KEY = "file_id"
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_FIELDS = tuple(field.name for field in fields(FileRecord))
_INTEGERS = frozenset({"declared_size", "size", "created_at", "updated_at", "verified_at", "expires_at",
                       "notified_at", "upload_expires_at"})


def _listing_index(name: str) -> dict[str, Any]:
    return {"IndexName": name, "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": INDEX_PARTITIONS[name], "KeyType": "HASH"},
                          {"AttributeName": LISTED_AT, "KeyType": "RANGE"}]}


def create_tables(dynamodb: Any, *, files_table: str, idempotency_table: str,
                  erasures_table: str | None = None) -> None:
    """Create the tables as the stacks do (stacks/constructs/file_index.py), with their TTLs and
    indexes: for the stand-ins that have no CloudFormation (moto in the unit tests and the local
    mode). The erasures table (partition key ``erasure_id``) only when named."""
    dynamodb.create_table(
        TableName=files_table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": _KEY, "AttributeType": "S"},
                              {"AttributeName": PENDING_ATTRIBUTE, "AttributeType": "S"},
                              {"AttributeName": "updated_at", "AttributeType": "N"},
                              {"AttributeName": "owner_sub", "AttributeType": "S"},
                              {"AttributeName": "org_scope", "AttributeType": "S"},
                              {"AttributeName": LISTED_AT, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": _KEY, "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": PENDING_INDEX, "Projection": {"ProjectionType": "KEYS_ONLY"},
                                 "KeySchema": [{"AttributeName": PENDING_ATTRIBUTE, "KeyType": "HASH"},
                                               {"AttributeName": "updated_at", "KeyType": "RANGE"}]},
                                _listing_index(OWNER_INDEX), _listing_index(ORG_INDEX)])
    dynamodb.update_time_to_live(TableName=files_table, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expires_at"})
    dynamodb.create_table(
        TableName=idempotency_table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    dynamodb.update_time_to_live(TableName=idempotency_table, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expiration"})
    if erasures_table is not None:
        dynamodb.create_table(
            TableName=erasures_table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "erasure_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "erasure_id", "KeyType": "HASH"}])


class FilesTableUnavailable(Exception):
    """DynamoDB failed (throttled, unreachable, refused); the caller may retry."""


def _attributes(record: FileRecord) -> dict[str, Any]:
    """The record's attributes as plain values (None: absent)."""
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(record, name)
        if value is None:
            continue
        values[name] = value.value if isinstance(value, Status | RejectReason) else value
    return values


def indexed(record: FileRecord) -> bool:
    """Whether the record belongs in ``PENDING_INDEX``."""
    return record.has_pending_work and record.status is not Status.AWAITING_UPLOAD


def to_item(record: FileRecord) -> dict[str, Any]:
    """The DynamoDB item (typed attribute values) for a record."""
    values = _attributes(record)
    values[LISTED_AT] = record.listed_at
    if indexed(record):
        values[PENDING_ATTRIBUTE] = record.status.value
    return {name: _SERIALIZER.serialize(value) for name, value in values.items()}


#: The tombstone attribute holding a ``File Deleted`` detail until it is published.
PENDING_EVENT = "pending_event"


def tombstone_item(tomb: Tombstone) -> dict[str, Any]:
    """A tombstone's item: the id, ``tombstone``, ``deleted_at`` and the TTL, and the pending
    ``File Deleted`` detail until it is published; nothing else."""
    item: dict[str, Any] = {_KEY: {"S": tomb.file_id}, "tombstone": {"BOOL": True},
                            "deleted_at": {"N": str(tomb.deleted_at)}, "expires_at": {"N": str(tomb.expires_at)}}
    if tomb.pending_event is not None:
        item[PENDING_EVENT] = _SERIALIZER.serialize(tomb.pending_event)
    return item


def _plain(value: Any) -> Any:
    """A deserialized DynamoDB value with its Decimals as ints (the event details hold no floats)."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {name: _plain(item) for name, item in value.items()}
    return value


def is_tombstone_item(item: dict[str, Any]) -> bool:
    return item.get("tombstone") == {"BOOL": True}


def from_entry(item: dict[str, Any]) -> FileRecord | Tombstone:
    if is_tombstone_item(item):
        pending = item.get(PENDING_EVENT)
        return Tombstone(file_id=str(item[_KEY]["S"]), deleted_at=int(item.get("deleted_at", {}).get("N", "0")),
                         pending_event=_plain(_DESERIALIZER.deserialize(pending)) if pending else None)
    return from_item(item)


def from_item(item: dict[str, Any]) -> FileRecord:
    values: dict[str, Any] = {}
    for name, typed in item.items():
        if name not in _FIELDS:
            continue  # pending_status and anything a later version adds
        value = _DESERIALIZER.deserialize(typed)
        if name in _INTEGERS and isinstance(value, Decimal):
            value = int(value)
        values[name] = value
    values["status"] = Status(values["status"])
    if values.get("reason") is not None:
        values["reason"] = RejectReason(values["reason"])
    return FileRecord(**values)


class FilesTable:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    def put_new(self, record: FileRecord) -> None:
        """Write a new record; raises ``FilesTableUnavailable`` on any failure (nothing is minted)."""
        try:
            self._client.put_item(TableName=self.table_name, Item=to_item(record),
                                  ConditionExpression="attribute_not_exists(#id)",
                                  ExpressionAttributeNames={"#id": _KEY})
        except (BotoCoreError, ClientError) as error:
            # A condition failure here is a 128-bit id collision: refuse like any other failure.
            raise FilesTableUnavailable(f"writing the file record failed: {type(error).__name__}") from error

    def get(self, file_id: str) -> FileRecord | None:
        """The record (strongly consistent read), or None (also for a deleted file's tombstone)."""
        entry = self.get_entry(file_id)
        return entry if isinstance(entry, FileRecord) else None

    def get_entry(self, file_id: str) -> FileRecord | Tombstone | None:
        """The record, the tombstone of a deleted file, or None (strongly consistent read)."""
        item = consistent_get(self._client, self.table_name, {_KEY: {"S": file_id}},
                              unavailable=FilesTableUnavailable, what="reading the file record")
        return from_entry(item) if item else None

    def is_tombstone(self, file_id: str) -> bool:
        return isinstance(self.get_entry(file_id), Tombstone)

    def put_tombstone(self, record: FileRecord, tomb: Tombstone) -> bool:
        """Replace ``record`` by its tombstone if its ``status`` and ``updated_at`` are still the
        ones read; False (nothing written) when the record moved on or is gone."""
        if record.file_id != tomb.file_id:
            raise ValueError("a tombstone keeps the file id")
        return conditional_write(
            lambda: self._client.put_item(
                TableName=self.table_name, Item=tombstone_item(tomb),
                ConditionExpression="#status = :status AND #updated = :updated",
                ExpressionAttributeNames={"#status": "status", "#updated": "updated_at"},
                ExpressionAttributeValues={":status": {"S": record.status.value},
                                           ":updated": {"N": str(record.updated_at)}}),
            unavailable=FilesTableUnavailable, what="writing the tombstone")

    def clear_pending_event(self, file_id: str) -> bool:
        """Remove a tombstone's published ``File Deleted`` detail; False when there was none."""
        return self._conditional_update(
            file_id=file_id, update="REMOVE #e", condition="#t = :true AND attribute_exists(#e)",
            names={"#e": PENDING_EVENT, "#t": "tombstone"}, values={":true": {"BOOL": True}})

    def _query(self, request: dict[str, Any], what: str) -> dict[str, Any]:
        try:
            return dict(self._client.query(**request))
        except (BotoCoreError, ClientError) as error:
            raise FilesTableUnavailable(f"{what} failed: {type(error).__name__}") from error

    def stream(self, index: str, partition: str, *, before: str | None = None, rule: str | None = None,
               page_size: int = 101, max_pages: int = MAX_QUERY_PAGES) -> Iterator[FileRecord | Frontier]:
        """One listing partition newest first (``listed_at < before``), optionally one rule's
        records only. At most ``max_pages`` Query requests: a filter can thin pages to nothing,
        so when the budget is spent with more to read the stream ends with a ``Frontier``."""
        names = {"#p": INDEX_PARTITIONS[index]}
        values: dict[str, Any] = {":p": {"S": partition}}
        condition = "#p = :p"
        if before is not None:
            names["#l"] = LISTED_AT
            values[":b"] = {"S": before}
            condition += " AND #l < :b"
        request: dict[str, Any] = {"TableName": self.table_name, "IndexName": index,
                                   "KeyConditionExpression": condition, "ScanIndexForward": False,
                                   "Limit": page_size}
        if rule is not None:
            names["#r"] = "rule"
            values[":r"] = {"S": rule}
            request["FilterExpression"] = "#r = :r"
        request["ExpressionAttributeNames"], request["ExpressionAttributeValues"] = names, values
        for _page in range(max_pages):
            response = self._query(request, "listing file records")
            for item in response.get("Items", []):
                if LISTED_AT in item and not is_tombstone_item(item):
                    yield from_item(item)
            start = response.get("LastEvaluatedKey")
            if not start:
                return
            request["ExclusiveStartKey"] = start
        yield Frontier(listed_at=str(request["ExclusiveStartKey"][LISTED_AT]["S"]))

    def count_for_quota(self, index: str, partition: str, *, rule: str, now: int,
                        stop_at: int | None = None) -> int:
        """Records of ``rule`` in one owner scope that count: ``clean``, ``verifying``, or
        ``awaiting_upload`` whose POST has not expired (``records.counts_toward_quota``).

        The index cannot narrow the Query to one rule (its sort key is ``listed_at``), so the rule
        is a filter and every page of the scope is read; with ``stop_at`` (the quota) the count
        stops as soon as it reaches it (``count >= max`` is decided then), so a scope at or over
        its quota costs only the pages up to the quota-th matching record. Under the quota the
        whole scope is read: at worst the owner's (or org's) records of every rule, 1 MB a page."""
        request: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": index, "Select": "COUNT",
            "KeyConditionExpression": "#p = :p",
            "FilterExpression": "#r = :r AND (#s IN (:clean, :verifying) OR (#s = :awaiting AND #u > :now))",
            "ExpressionAttributeNames": {"#p": INDEX_PARTITIONS[index], "#r": "rule", "#s": "status",
                                         "#u": "upload_expires_at"},
            "ExpressionAttributeValues": {":p": {"S": partition}, ":r": {"S": rule},
                                          ":clean": {"S": Status.CLEAN.value},
                                          ":verifying": {"S": Status.VERIFYING.value},
                                          ":awaiting": {"S": Status.AWAITING_UPLOAD.value},
                                          ":now": {"N": str(now)}},
        }
        count = 0
        while True:
            response = self._query(request, "counting file records")
            count += int(response.get("Count", 0))
            start = response.get("LastEvaluatedKey")
            if not start or (stop_at is not None and count >= stop_at):
                return count
            request["ExclusiveStartKey"] = start

    def subject_page(self, kind: str, value: str, *, after: str | None,
                     limit: int) -> tuple[list[FileRecord], str | None]:
        """One page (at most ``limit``) of a subject's records, newest first after ``after``; and
        where the page ended when more may follow (None: the last page)."""
        index = OWNER_INDEX if kind == "sub" else ORG_INDEX
        records: list[FileRecord] = []
        last: str | None = None
        for item in self.stream(index, value, before=after, page_size=limit, max_pages=1):
            if isinstance(item, Frontier):
                last = item.listed_at
            else:
                records.append(item)
        return records, last

    def delete_records(self, file_ids: Sequence[str]) -> None:
        """Delete records outright (the erasure: no tombstone either), 25 per BatchWriteItem,
        unprocessed items retried with back-off; raises when some are still left."""
        for start in range(0, len(file_ids), _BATCH_WRITE):
            pending: list[Any] = [{"DeleteRequest": {"Key": {_KEY: {"S": file_id}}}}
                                  for file_id in file_ids[start:start + _BATCH_WRITE]]
            for attempt in range(_BATCH_ATTEMPTS):
                try:
                    response = self._client.batch_write_item(RequestItems={self.table_name: pending})
                except (BotoCoreError, ClientError) as error:
                    raise FilesTableUnavailable(f"deleting file records failed: {type(error).__name__}") from error
                pending = list(response.get("UnprocessedItems", {}).get(self.table_name, []))
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            if pending:
                raise FilesTableUnavailable(f"{len(pending)} file record(s) were left unprocessed")

    def transition(self, before: FileRecord, after: FileRecord) -> bool:
        """Write ``after`` if the stored record is still in a status ``after.status`` may be
        entered from; False (and no change) when it is not."""
        if before.file_id != after.file_id:
            raise ValueError("a transition keeps the file id")
        allowed = sorted(status.value for status in ENTERED_FROM[after.status])
        if not allowed:
            raise ValueError(f"nothing moves into {after.status.value}")
        values = _attributes(after)
        values.pop(_KEY)
        values[LISTED_AT] = after.listed_at
        if indexed(after):
            values[PENDING_ATTRIBUTE] = after.status.value
        names = {"#id": _KEY, "#status": "status"}
        expression_values: dict[str, Any] = {}
        assignments = []
        for index, (name, value) in enumerate(sorted(values.items())):
            names[f"#a{index}"] = name
            expression_values[f":a{index}"] = _SERIALIZER.serialize(value)
            assignments.append(f"#a{index} = :a{index}")
        removed = sorted({*_FIELDS, PENDING_ATTRIBUTE} - set(values) - {_KEY})
        for index, name in enumerate(removed):
            names[f"#r{index}"] = name
        for index, status in enumerate(allowed):
            expression_values[f":from{index}"] = {"S": status}
        update = "SET " + ", ".join(assignments)
        if removed:
            update += " REMOVE " + ", ".join(f"#r{index}" for index in range(len(removed)))
        condition = "attribute_exists(#id) AND #status IN (" + ", ".join(
            f":from{index}" for index in range(len(allowed))) + ")"
        return self._conditional_update(file_id=after.file_id, update=update, condition=condition, names=names,
                                        values=expression_values)

    def mark_notified(self, record: FileRecord, *, now: int) -> bool:
        """Record that a decided record's event was published (once); False if already done."""
        if not record.decided:
            raise ValueError("only a decided record is notified")
        return self._conditional_update(
            file_id=record.file_id, update="SET #n = :now REMOVE #p",
            condition="#status = :status AND attribute_not_exists(#n)",
            names={"#n": "notified_at", "#p": PENDING_ATTRIBUTE, "#status": "status"},
            values={":now": {"N": str(now)}, ":status": {"S": record.status.value}})

    def _conditional_update(self, *, file_id: str, update: str, condition: str, names: dict[str, str],
                            values: dict[str, Any]) -> bool:
        return conditional_write(
            lambda: self._client.update_item(TableName=self.table_name, Key={_KEY: {"S": file_id}},
                                             UpdateExpression=update, ConditionExpression=condition,
                                             ExpressionAttributeNames=names, ExpressionAttributeValues=values),
            unavailable=FilesTableUnavailable, what="updating the file record")

    def pending(self, status: Status, *, updated_before: int, limit: int = 100) -> Iterator[str]:
        """Ids of indexed records (``verifying``, or decided and not notified) in ``status``, last
        updated before the given time, oldest first, at most ``limit`` (the index may project keys
        only: callers re-read)."""
        names = {"#p": PENDING_ATTRIBUTE, "#u": "updated_at"}
        values = {":s": {"S": status.value}, ":t": {"N": str(updated_before)}}
        start: dict[str, Any] | None = None
        found = 0
        while found < limit:
            request: dict[str, Any] = {
                "TableName": self.table_name, "IndexName": PENDING_INDEX,
                "KeyConditionExpression": "#p = :s AND #u < :t", "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values, "ScanIndexForward": True, "Limit": limit - found,
            }
            if start is not None:
                request["ExclusiveStartKey"] = start
            try:
                response = self._client.query(**request)
            except (BotoCoreError, ClientError) as error:
                raise FilesTableUnavailable(f"querying pending records failed: {type(error).__name__}") from error
            for item in response.get("Items", []):
                found += 1
                yield str(item[_KEY]["S"])
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def oldest_pending(self, status: Status) -> int | None:
        """``updated_at`` of the oldest record with unfinished work in ``status`` (for alarms)."""
        try:
            response = self._client.query(
                TableName=self.table_name, IndexName=PENDING_INDEX, KeyConditionExpression="#p = :s",
                ExpressionAttributeNames={"#p": PENDING_ATTRIBUTE},
                ExpressionAttributeValues={":s": {"S": status.value}}, ScanIndexForward=True, Limit=1)
        except (BotoCoreError, ClientError) as error:
            raise FilesTableUnavailable(f"querying pending records failed: {type(error).__name__}") from error
        items = response.get("Items", [])
        return int(items[0]["updated_at"]["N"]) if items and "updated_at" in items[0] else None
