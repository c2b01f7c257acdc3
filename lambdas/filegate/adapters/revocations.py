"""The edge's deny list: CloudFront KeyValueStore entries the function ``edge/revocation.js`` reads.

docs/lifecycle.md, "Revocations". An entry's name is a final key or a prefix ending in ``/``; its
value is ``until`` (decimal epoch seconds): while ``until`` is later than now, the edge refuses every
request the name covers. Writes go through ``UpdateKeys`` with ``IfMatch`` = the store's ETag from
``DescribeKeyValueStore`` (the service takes one write per ETag): a ``ConflictException`` means
another writer got there first, so the ETag is read again and the batch retried, up to
``CONFLICT_ATTEMPTS`` times, after an exponential back-off with full jitter (a random wait between
0 and ``min(CONFLICT_CAP_SECONDS, CONFLICT_BASE_SECONDS * 2**attempt)``), which spreads concurrent
writers (many deletes at once) over time instead of letting them collide again in lock step.
``expire`` reads each candidate again with ``GetKey`` under the same ETag (its role needs
``cloudfront-keyvaluestore:GetKey``).
Anything else the service or the network answers is ``RevocationUnavailable``, so that a delete
fails (and is retried) rather than reporting a file gone whose issued URLs still work.

The API signs with SigV4A, which botocore does only with ``awscrt`` installed
(``lambdas/requirements-revocations.txt``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from filegate.adapters.dependency_config import dependency_config

if TYPE_CHECKING:
    from mypy_boto3_cloudfront_keyvaluestore import CloudFrontKeyValueStoreClient
    from mypy_boto3_cloudfront_keyvaluestore.type_defs import (
        DeleteKeyRequestListItemTypeDef,
        PutKeyRequestListItemTypeDef,
    )

    #: What one ``UpdateKeys`` puts and deletes.
    Changes = tuple[list[PutKeyRequestListItemTypeDef], list[DeleteKeyRequestListItemTypeDef]]

#: The service's limits: names of 1 to 512 bytes; at most 50 names per ``UpdateKeys``.
MAX_NAME_BYTES = 512
MAX_BATCH = 50
LIST_PAGE = 50
#: ``UpdateKeys`` attempts per batch when other writers keep changing the ETag, and the back-off
#: between them (full jitter: worst case about 3.2 s of waiting in all, inside an API's timeout).
CONFLICT_ATTEMPTS = 8
CONFLICT_BASE_SECONDS = 0.025
CONFLICT_CAP_SECONDS = 2.0


class RevocationUnavailable(Exception):
    """The store could not be read or written; nothing can be assumed revoked."""


def revocations_client(session: boto3.session.Session, region: str | None) -> CloudFrontKeyValueStoreClient:
    """The KeyValueStore client with the short timeouts and single retry of a request path."""
    return session.client("cloudfront-keyvaluestore", region_name=region, config=dependency_config())


def _check_names(names: Sequence[str]) -> list[str]:
    checked: list[str] = []
    for name in names:
        if not name or len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise ValueError(f"a revocation name must be 1 to {MAX_NAME_BYTES} bytes")
        if name not in checked:
            checked.append(name)
    return checked


def _expired(value: str, now: int) -> bool:
    return value.isascii() and value.isdigit() and int(value) <= now


def _puts_only(puts: list[PutKeyRequestListItemTypeDef]) -> Changes:
    return puts, []


def _is_conflict(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConflictException"


def backoff_seconds(attempt: int, *, draw: Callable[[], float] = random.random) -> float:
    """The wait after conflict number ``attempt`` (0-based): full jitter, capped."""
    return draw() * min(CONFLICT_CAP_SECONDS, CONFLICT_BASE_SECONDS * float(2 ** attempt))


class EdgeRevocations:
    def __init__(self, client: CloudFrontKeyValueStoreClient, store_arn: str, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self.store_arn = store_arn
        self._sleep = sleep

    def _update(self, changes: Callable[[], Changes]) -> int:
        """One ``UpdateKeys`` (all or nothing) at the current ETag; how many names it changed.
        ``changes`` is asked after each ``DescribeKeyValueStore``, so whatever it reads is
        checked by that ETag; after a conflict, both are done again."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                etag = self._client.describe_key_value_store(KvsARN=self.store_arn)["ETag"]
                puts, deletes = changes()
                if puts or deletes:
                    self._client.update_keys(KvsARN=self.store_arn, IfMatch=etag, Puts=puts, Deletes=deletes)
                return len(puts) + len(deletes)
            except ClientError as error:
                if _is_conflict(error) and attempt + 1 < CONFLICT_ATTEMPTS:
                    self._sleep(backoff_seconds(attempt))
                    continue
                raise RevocationUnavailable(f"UpdateKeys failed: {type(error).__name__} "
                                            f"{error.response.get('Error', {}).get('Code')}") from error
            except BotoCoreError as error:  # timeouts, connection errors, a missing awscrt
                raise RevocationUnavailable(f"UpdateKeys failed: {type(error).__name__}") from error
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _still_expired(self, names: Sequence[str], now: int) -> Changes:
        """The names of ``names`` whose current value has passed: a name revoked again since it was
        listed keeps its new entry (the ETag the caller read makes this read current)."""
        deletes: list[DeleteKeyRequestListItemTypeDef] = []
        for name in names:
            try:
                value = self._client.get_key(KvsARN=self.store_arn, Key=name)["Value"]
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    continue
                raise
            if _expired(value, now):
                deletes.append({"Key": name})
        return [], deletes

    def revoke(self, names: Sequence[str], *, until: int) -> None:
        """Every name refused at the edge until ``until`` (an entry already there is replaced)."""
        checked = _check_names(names)
        value = str(int(until))
        for start in range(0, len(checked), MAX_BATCH):
            puts: list[PutKeyRequestListItemTypeDef] = [
                {"Key": name, "Value": value} for name in checked[start:start + MAX_BATCH]]
            self._update(partial(_puts_only, puts))

    def expire(self, *, now: int) -> int:
        """Delete every entry whose ``until`` is not later than ``now``; how many were deleted.

        A value that is not a decimal number is left alone: the function refuses on it, and only
        a person should decide about an entry filegate did not write."""
        expired: list[str] = []
        try:
            paginator = self._client.get_paginator("list_keys")
            for page in paginator.paginate(KvsARN=self.store_arn, PaginationConfig={"PageSize": LIST_PAGE}):
                for item in page.get("Items", []):
                    if _expired(item["Value"], now):
                        expired.append(item["Key"])
        except (BotoCoreError, ClientError) as error:
            raise RevocationUnavailable(f"ListKeys failed: {type(error).__name__}") from error
        deleted = 0
        for start in range(0, len(expired), MAX_BATCH):
            batch = expired[start:start + MAX_BATCH]
            deleted += self._update(partial(self._still_expired, batch, now))
        return deleted
