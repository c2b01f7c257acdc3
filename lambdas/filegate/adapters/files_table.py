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
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from filegate.domain.records import ENTERED_FROM, FileRecord, RejectReason, Status

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: The sparse index of records with unfinished work (the sweep's view).
PENDING_INDEX = "pending"
PENDING_ATTRIBUTE = "pending_status"
_KEY = "file_id"
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_FIELDS = tuple(field.name for field in fields(FileRecord))
_INTEGERS = frozenset({"declared_size", "size", "created_at", "updated_at", "verified_at", "expires_at",
                       "notified_at"})


def create_tables(dynamodb: Any, *, files_table: str, idempotency_table: str) -> None:
    """Create both tables as the stack does (stacks/constructs/file_index.py), with their TTLs:
    for the stand-ins that have no CloudFormation (moto in the unit tests and the local mode)."""
    dynamodb.create_table(
        TableName=files_table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": _KEY, "AttributeType": "S"},
                              {"AttributeName": PENDING_ATTRIBUTE, "AttributeType": "S"},
                              {"AttributeName": "updated_at", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": _KEY, "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": PENDING_INDEX, "Projection": {"ProjectionType": "KEYS_ONLY"},
                                 "KeySchema": [{"AttributeName": PENDING_ATTRIBUTE, "KeyType": "HASH"},
                                               {"AttributeName": "updated_at", "KeyType": "RANGE"}]}])
    dynamodb.update_time_to_live(TableName=files_table, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expires_at"})
    dynamodb.create_table(
        TableName=idempotency_table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    dynamodb.update_time_to_live(TableName=idempotency_table, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expiration"})



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
    if indexed(record):
        values[PENDING_ATTRIBUTE] = record.status.value
    return {name: _SERIALIZER.serialize(value) for name, value in values.items()}


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


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


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
        """The record (strongly consistent read), or None."""
        try:
            response = self._client.get_item(TableName=self.table_name, Key={_KEY: {"S": file_id}},
                                             ConsistentRead=True)
        except (BotoCoreError, ClientError) as error:
            raise FilesTableUnavailable(f"reading the file record failed: {type(error).__name__}") from error
        item = response.get("Item")
        return from_item(item) if item else None

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
        try:
            self._client.update_item(TableName=self.table_name, Key={_KEY: {"S": file_id}},
                                     UpdateExpression=update, ConditionExpression=condition,
                                     ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise FilesTableUnavailable(f"updating the file record failed: {type(error).__name__}") from error
        except BotoCoreError as error:
            raise FilesTableUnavailable(f"updating the file record failed: {type(error).__name__}") from error
        return True

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
