"""The erasure worker: one bounded step of one erasure per SQS message, then the next message.

Deployed as ``filegate.handlers.erasure_worker.handler`` behind the erasure queue (batch partial
failures, dead-letter queue). Each body is an ``ErasureMessage`` (JSON); the step itself and
the choice of the next one are ``filegate.domain.lifecycle.run_erasure_step``'s. The next
message is sent after the step's counts and ``seq`` are written (one conditional write), so a
crash in between repeats the step (every step is safe to repeat) rather than skipping it, and a
step whose write lost (another chain advanced ``seq``) sends nothing. A message that is not the
item's current step (a run that finished, a duplicate delivery, a stale chain) is dropped; a
body that is no erasure message fails the item (to the dead-letter queue, after the retries).
The worker takes one message per invocation (batch size 1, set by the stacks).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from filegate.domain.lifecycle import ErasureMessage, ErasurePorts, StepOutcome, run_erasure_step
from filegate.handlers.lifecycle_wiring import Lifecycle, build_lifecycle
from filegate.handlers.observability import entry_point, error_frames, logger, metrics
from filegate.settings import LifecycleSettings

clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class WorkerRuntime:
    settings: LifecycleSettings
    lifecycle: Lifecycle
    ports: ErasurePorts
    processor: BatchProcessor


def _audit(record: dict[str, Any]) -> None:
    logger.info("audit", extra={"audit": record})


@lru_cache(maxsize=1)
def runtime() -> WorkerRuntime:
    """Settings, adapters and the batch processor: once per execution environment."""
    settings = LifecycleSettings.from_environ()
    lifecycle = build_lifecycle(settings)
    ports = ErasurePorts(erasures=lifecycle.erasures, records=lifecycle.files, objects=lifecycle.objects,
                         revocations=lifecycle.revocations, invalidations=lifecycle.invalidations,
                         events=lifecycle.events, rules=settings.rules, url_max_seconds=settings.url_max_seconds,
                         audit=_audit)
    return WorkerRuntime(settings=settings, lifecycle=lifecycle, ports=ports,
                         processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False))


def parse_message(body: str) -> ErasureMessage:
    try:
        return ErasureMessage.from_dict(json.loads(body))
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError("the message is not an erasure step") from error


def record_handler(record: SQSRecord) -> dict[str, Any]:
    """One message: one step, then its successor sent; raises (the item is retried) on failure."""
    state = runtime()
    message = parse_message(record.body)
    try:
        outcome: StepOutcome = run_erasure_step(message, state.ports, now=int(clock()))
        if outcome.next.message is not None:
            state.lifecycle.queue.send(outcome.next.message.as_dict(), delay_seconds=outcome.next.delay_seconds)
    except Exception as error:
        frames = error_frames(error, last=8)
        logger.error("erasure step failed", extra={"message_id": record.message_id, "step": message.step,
                                                  "erasure_id": message.erasure_id, "error_type": type(error).__name__,
                                                  "frames": frames})
        raise
    summary = {"erasure_id": message.erasure_id, "run": message.run, "step": message.step,
               "result": outcome.result, **outcome.detail,
               "next": outcome.next.message.step if outcome.next.message else None}
    logger.info("erasure step", extra={"erasure": summary})
    metrics.add_metric(name="ErasureSteps", unit=MetricUnit.Count, value=1)
    if outcome.result == "finished":
        metrics.add_metric(name="ErasuresFinished", unit=MetricUnit.Count, value=1)
    return summary


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = runtime()
    response: dict[str, Any] = dict(process_partial_response(event=event, record_handler=record_handler,
                                                             processor=state.processor, context=context))
    return response


handler = entry_point(_handle)
"""Lambda entry point: the SQS event; answers ``{"batchItemFailures": [...]}``."""


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # build clients during the init phase
    runtime()
