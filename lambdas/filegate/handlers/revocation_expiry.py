"""The revocation expiry: deletes the edge's deny-list entries whose ``until`` has passed.

Deployed as ``filegate.handlers.revocation_expiry.handler`` on a schedule (every 15 minutes).
KeyValueStore has no TTL and holds at most 5 MB, so entries are removed here; an entry that
outlives its ``until`` refuses nothing (the edge compares ``until`` with now), so a missed run
only costs space. A failure fails the invocation (the error alarm sees it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from filegate.handlers import lifecycle_wiring
from filegate.handlers.lifecycle_wiring import EdgeStore
from filegate.handlers.observability import entry_point, logger, metrics
from filegate.settings import LifecycleSettings

clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class ExpiryRuntime:
    settings: LifecycleSettings
    revocations: EdgeStore


@lru_cache(maxsize=1)
def runtime() -> ExpiryRuntime:
    """Settings and the store's client only (no table, bucket or bus): once per execution environment."""
    settings = LifecycleSettings.from_environ()
    return ExpiryRuntime(settings=settings,
                         revocations=lifecycle_wiring.make_revocations(boto3.session.Session(), settings))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def _handle(_event: Any, _context: Any) -> dict[str, Any]:
    deleted = runtime().revocations.expire(now=int(clock()))
    metrics.add_metric(name="RevocationsExpired", unit=MetricUnit.Count, value=deleted)
    logger.info("revocations expired", extra={"revocations": {"deleted": deleted}})
    return {"deleted": deleted}


handler = entry_point(_handle)
"""Lambda entry point (a scheduled event; its content is not read)."""
