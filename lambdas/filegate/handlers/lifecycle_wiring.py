"""The lifecycle adapters, wired once per execution environment (deletions, erasure worker, expiry).

The edge's revocation store is reached through ``make_revocations`` (by default
``filegate.adapters.revocations.EdgeRevocations``, imported only here, when first needed: it
needs ``awscrt`` for SigV4A, which only these functions bundle). Its failures become
``RevocationsUnavailable`` (a ``LifecycleUnavailable``: 503 in the API, a retried item in the
worker). Tests pass their own store through ``build_lifecycle(..., revocations=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from botocore.config import Config

from filegate.adapters.erasures_table import ErasuresTable
from filegate.adapters.events import ErasureQueue, EventBus
from filegate.adapters.files_table import FilesTable
from filegate.adapters.invalidations import Invalidations
from filegate.adapters.object_store import ObjectStore, s3_client
from filegate.adapters.unavailable import LifecycleUnavailable
from filegate.settings import LifecycleSettings

#: DynamoDB, EventBridge, SQS and CloudFront: standard retries, timeouts well inside an API
#: Lambda's (a slow dependency is a 503, not a timeout).
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=2, read_timeout=5)


class EdgeStore(Protocol):
    """What ``filegate.adapters.revocations.EdgeRevocations`` offers."""

    def revoke(self, names: Sequence[str], *, until: int) -> None: ...
    def expire(self, *, now: int) -> int: ...


class RevocationsUnavailable(LifecycleUnavailable):
    """The edge's revocation store refused or failed; retrying is safe."""


class GuardedRevocations:
    """An ``EdgeStore`` whose listed failures are ``RevocationsUnavailable``."""

    def __init__(self, store: EdgeStore, failures: tuple[type[BaseException], ...]) -> None:
        self._store = store
        self._failures = failures

    def revoke(self, names: Sequence[str], *, until: int) -> None:
        try:
            self._store.revoke(names, until=until)
        except self._failures as error:
            raise RevocationsUnavailable(f"revoking at the edge failed: {type(error).__name__}") from error

    def expire(self, *, now: int) -> int:
        try:
            return self._store.expire(now=now)
        except self._failures as error:
            raise RevocationsUnavailable(f"expiring revocations failed: {type(error).__name__}") from error


def edge_revocations(session: boto3.session.Session, settings: LifecycleSettings) -> GuardedRevocations:
    """The deployed store (KeyValueStore API, SigV4A through ``awscrt``)."""
    from filegate.adapters.revocations import (  # noqa: PLC0415 - lazy: awscrt, these functions only
        EdgeRevocations,
        RevocationUnavailable,
        revocations_client,
    )

    store = EdgeRevocations(revocations_client(session, settings.region), settings.revocation_store_arn)
    return GuardedRevocations(store, (RevocationUnavailable,))


make_revocations: Callable[[boto3.session.Session, LifecycleSettings], EdgeStore] = edge_revocations


@dataclass(frozen=True)
class Lifecycle:
    settings: LifecycleSettings
    files: FilesTable
    erasures: ErasuresTable
    objects: ObjectStore
    invalidations: Invalidations
    events: EventBus
    queue: ErasureQueue
    revocations: EdgeStore


def build_lifecycle(settings: LifecycleSettings, session: boto3.session.Session | None = None, *,
                    revocations: EdgeStore | None = None) -> Lifecycle:
    session = session or boto3.session.Session()
    dynamodb = session.client("dynamodb", region_name=settings.region, config=CLIENT_CONFIG)
    s3 = s3_client(session, region=settings.region, addressing_style=settings.s3_addressing_style)
    cloudfront: Any = session.client("cloudfront", region_name=settings.region, config=CLIENT_CONFIG)
    return Lifecycle(
        settings=settings, files=FilesTable(dynamodb, settings.files_table),
        erasures=ErasuresTable(dynamodb, settings.erasures_table),
        objects=ObjectStore(s3, settings.bucket, kms_key_arn=settings.bucket_kms_key_arn),
        invalidations=Invalidations(cloudfront, settings.distribution_id),
        events=EventBus(session.client("events", region_name=settings.region, config=CLIENT_CONFIG),
                        settings.event_bus),
        queue=ErasureQueue(session.client("sqs", region_name=settings.region, config=CLIENT_CONFIG),
                           settings.erasure_queue_url),
        revocations=revocations if revocations is not None else make_revocations(session, settings),
    )
