"""The product's own EventBridge bus: ``File Verified`` and ``File Rejected`` (DESIGN.md decision 11).

``detail`` is the record's public fields (``FileRecord.public()``): never a URL, never an owner id.
PutEvents can accept a request and still refuse an entry (``FailedEntryCount``); that raises,
so the verifier's batch item fails and is retried rather than losing the event.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from filegate.domain.records import DETAIL_TYPES as _BY_STATUS
from filegate.domain.records import Status

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SOURCE = "filegate"
FILE_VERIFIED = _BY_STATUS[Status.CLEAN]
FILE_REJECTED = _BY_STATUS[Status.REJECTED]
DETAIL_TYPES = frozenset(_BY_STATUS.values())


class EventNotPublished(Exception):
    """EventBridge did not take the event; the caller retries."""


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
