"""The product's own EventBridge bus (DESIGN.md decision 11), and the erasure queue's sender.

Detail types: ``File Verified``, ``File Rejected`` (the verifier), ``File Deleted`` and
``Subject Erased`` (docs/lifecycle.md).

``detail`` is the record's public fields (``FileRecord.public()``): never a URL, never an owner id.
PutEvents can accept a request and still refuse an entry (``FailedEntryCount``); that raises,
so the verifier's batch item fails and is retried rather than losing the event.

``ErasureQueue`` sends one erasure step (JSON) to the erasure queue, with an optional delay
(``DelaySeconds``, at most 900: SQS's limit).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from filegate.adapters.unavailable import LifecycleUnavailable
from filegate.domain.lifecycle import FILE_DELETED, SUBJECT_ERASED
from filegate.domain.records import DETAIL_TYPES as _BY_STATUS
from filegate.domain.records import Status

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sqs import SQSClient

SOURCE = "filegate"
FILE_VERIFIED = _BY_STATUS[Status.CLEAN]
FILE_REJECTED = _BY_STATUS[Status.REJECTED]
DETAIL_TYPES = frozenset({*_BY_STATUS.values(), FILE_DELETED, SUBJECT_ERASED})
MAX_DELAY_SECONDS = 900


class EventNotPublished(LifecycleUnavailable):
    """EventBridge did not take the event; the caller retries."""


class ErasureQueueUnavailable(LifecycleUnavailable):
    """SQS did not take the erasure's next step."""


class EventBus:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client = client
        self.bus_name = bus_name

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        if detail_type not in DETAIL_TYPES:
            raise ValueError(f"unknown detail type {detail_type!r}")
        entry = {"Source": SOURCE, "DetailType": detail_type, "EventBusName": self.bus_name,
                 "Detail": json.dumps(detail, separators=(",", ":"), sort_keys=True)}
        try:
            response = self._client.put_events(Entries=[entry])  # type: ignore[list-item]
        except (BotoCoreError, ClientError) as error:
            raise EventNotPublished(f"PutEvents failed: {type(error).__name__}") from error
        if response.get("FailedEntryCount", 0):
            codes = [item.get("ErrorCode", "?") for item in response.get("Entries", []) if item.get("ErrorCode")]
            raise EventNotPublished(f"PutEvents refused the entry: {', '.join(codes) or 'unknown error'}")


class ErasureQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self.queue_url = queue_url

    def send(self, message: dict[str, Any], *, delay_seconds: int = 0) -> None:
        if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
            raise ValueError("SQS delays are 0 to 900 seconds")
        try:
            self._client.send_message(QueueUrl=self.queue_url, DelaySeconds=delay_seconds,
                                      MessageBody=json.dumps(message, separators=(",", ":"), sort_keys=True))
        except (BotoCoreError, ClientError) as error:
            raise ErasureQueueUnavailable(f"SendMessage failed: {type(error).__name__}") from error
