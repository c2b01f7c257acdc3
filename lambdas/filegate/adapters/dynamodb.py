"""What the DynamoDB adapters share: a strongly consistent read, and a conditional write whose
failed condition is an answer (the item moved on), never an error.

Each adapter passes its own exception class (``FilesTableUnavailable``, ``ErasuresUnavailable``...),
so the handlers still answer each failure as before; the message says what failed and the
botocore error's type, never its text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def consistent_get(client: DynamoDBClient, table_name: str, key: Mapping[str, Any], *,
                   unavailable: type[Exception], what: str) -> dict[str, Any] | None:
    """The item (strongly consistent read), or None; any failure raises ``unavailable``."""
    try:
        response = client.get_item(TableName=table_name, Key=dict(key), ConsistentRead=True)
    except (BotoCoreError, ClientError) as error:
        raise unavailable(f"{what} failed: {type(error).__name__}") from error
    item = response.get("Item")
    return dict(item) if item else None


def conditional_write(write: Callable[[], object], *, unavailable: type[Exception], what: str) -> bool:
    """Run one conditional write: True when it was made, False when its condition failed; any
    other failure raises ``unavailable`` (``"<what> failed: <error type>"``)."""
    try:
        write()
    except ClientError as error:
        if condition_failed(error):
            return False
        raise unavailable(f"{what} failed: {type(error).__name__}") from error
    except BotoCoreError as error:
        raise unavailable(f"{what} failed: {type(error).__name__}") from error
    return True
