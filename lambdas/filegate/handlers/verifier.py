"""The verifier: SQS batches of EventBridge events, each one quarantined object's next step.

Deployed as ``filegate.handlers.verifier.handler`` behind a queue with a dead-letter queue and
``ReportBatchItemFailures``. Each SQS body is an EventBridge event, one of:

- S3 ``Object Created`` (source ``aws.s3``; EventBridge notifications on the bucket):
  ``detail.bucket.name``, ``detail.object.{key, etag, version-id}``;
- GuardDuty ``GuardDuty Malware Protection Object Scan Result`` (source ``aws.guardduty``):
  ``detail.s3ObjectDetails.{bucketName, objectKey, eTag, versionId}``,
  ``detail.scanResultDetails.scanResultStatus``.

This module only turns those shapes into ``ObjectEvent`` and runs the domain's ``Verifier``
(``filegate.domain.verification``: the order of the steps and why a retry converges).
Powertools' ``BatchProcessor`` reports each failed item (SQS retries it, then dead-letters it),
and its idempotency utility keys each event on (bucket, key, version id, event kind) in
``FILEGATE_IDEMPOTENCY_TABLE``, so a redelivered event returns the first run's result without
running again. Any exception fails the item: nothing is promoted on a failure path.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.config import Config

from filegate.adapters.events import EventBus
from filegate.adapters.files_table import FilesTable
from filegate.adapters.object_store import ObjectStore, s3_client
from filegate.domain.content import decide, inspect_content
from filegate.domain.verification import EventKind, ObjectEvent, Outcome, Verifier
from filegate.handlers.observability import entry_point, error_frames, logger, metrics
from filegate.settings import VerifierSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

clock: Callable[[], float] = time.time

OBJECT_CREATED = ("aws.s3", "Object Created")
SCAN_RESULT = ("aws.guardduty", "GuardDuty Malware Protection Object Scan Result")
#: What makes two deliveries the same event (Powertools hashes the values).
IDEMPOTENCY_KEY = "[bucket, key, version_id, kind]"
IDEMPOTENCY_SECONDS = 6 * 3600
_METRIC = {Outcome.CLEAN: "FilesVerified", Outcome.REJECTED: "FilesRejected", Outcome.VERIFYING: "FilesVerifying",
           Outcome.IGNORED: "EventsIgnored"}
#: boto3 config for DynamoDB and EventBridge: standard retries, timeouts that fit the Lambda's.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=10)


def _clock() -> float:
    return clock()  # read at call time, so that tests can replace ``clock``


class UnusableEvent(ValueError):
    """A message that is not one of the two events the verifier handles, or lacks what it needs."""


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 2048:
        raise UnusableEvent(f"{what} is missing or not a string")
    return value


def _object_key(raw: object) -> str:
    """The object key as S3 stores it. Keys filegate writes never hold ``%`` or a space, so a
    ``%`` can only be URL encoding (S3's notification style) and is decoded; ``+`` is left alone."""
    key = _text(raw, "the object key")
    return unquote(key) if "%" in key else key


def parse_event(body: str) -> ObjectEvent:
    """The ``ObjectEvent`` an SQS body (an EventBridge event) describes; ``UnusableEvent`` otherwise."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError) as error:
        raise UnusableEvent("the message body is not JSON") from error
    if not isinstance(message, dict) or not isinstance(message.get("detail"), dict):
        raise UnusableEvent("not an EventBridge event")
    detail: dict[str, Any] = message["detail"]
    origin = (message.get("source"), message.get("detail-type"))
    kind: EventKind
    if origin == OBJECT_CREATED:
        kind = "object_created"
        bucket, obj = _mapping(detail.get("bucket")), _mapping(detail.get("object"))
        return ObjectEvent(kind=kind, bucket=_text(bucket.get("name"), "bucket.name"),
                           key=_object_key(obj.get("key")),
                           version_id=_text(obj.get("version-id"), "object.version-id (the bucket is versioned)"),
                           etag=_text(obj.get("etag"), "object.etag"))
    if origin == SCAN_RESULT:
        kind = "scan_result"
        details, result = _mapping(detail.get("s3ObjectDetails")), _mapping(detail.get("scanResultDetails"))
        status = result.get("scanResultStatus")
        return ObjectEvent(kind=kind, bucket=_text(details.get("bucketName"), "s3ObjectDetails.bucketName"),
                           key=_object_key(details.get("objectKey")),
                           version_id=_text(details.get("versionId"), "s3ObjectDetails.versionId"),
                           etag=_text(details.get("eTag"), "s3ObjectDetails.eTag"),
                           # No status is no verdict: the checks then reject the file (scan_failed).
                           scan_status=status if isinstance(status, str) and status else None)
    raise UnusableEvent(f"unexpected event {origin!r}")


@dataclass(frozen=True)
class VerifierRuntime:
    settings: VerifierSettings
    verifier: Verifier
    idempotency: IdempotencyConfig
    process: Callable[..., dict[str, Any]]
    processor: BatchProcessor


@dataclass(frozen=True)
class Wiring:
    """The domain's verifier and the adapters behind it (the sweep queries them directly)."""

    verifier: Verifier
    files: FilesTable
    objects: ObjectStore
    dynamodb: DynamoDBClient


def build_verifier(settings: VerifierSettings, session: boto3.session.Session,
                   now: Callable[[], float] | None = None) -> Wiring:
    """The verifier wired to this deployment's bucket, table and bus. Also used by the sweep."""
    s3 = s3_client(session, region=settings.region, addressing_style=settings.s3_addressing_style)
    dynamodb = session.client("dynamodb", region_name=settings.region, config=_CLIENT_CONFIG)
    bus = session.client("events", region_name=settings.region, config=_CLIENT_CONFIG)
    files = FilesTable(dynamodb, settings.files_table)
    objects = ObjectStore(s3, settings.bucket, kms_key_arn=settings.bucket_kms_key_arn)
    verifier = Verifier(
        records=files, objects=objects, events=EventBus(bus, settings.event_bus),
        rules=settings.rules_by_name, scanning=settings.scanning, bucket=settings.bucket,
        inspect=inspect_content, decide=decide, clock=now or _clock,
    )
    return Wiring(verifier=verifier, files=files, objects=objects, dynamodb=dynamodb)


@lru_cache(maxsize=1)
def runtime() -> VerifierRuntime:
    """Settings, clients, the idempotent step and the batch processor: once per execution environment."""
    settings = VerifierSettings.from_environ()
    wiring = build_verifier(settings, boto3.session.Session())
    verifier = wiring.verifier
    config = IdempotencyConfig(event_key_jmespath=IDEMPOTENCY_KEY, raise_on_no_idempotency_key=True,
                               expires_after_seconds=IDEMPOTENCY_SECONDS)
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=wiring.dynamodb)

    def step(*, event: dict[str, Any]) -> dict[str, Any]:
        return verifier.handle(ObjectEvent.from_dict(event)).as_dict()

    process: Callable[..., dict[str, Any]] = idempotent_function(
        step, data_keyword_argument="event", persistence_store=persistence, config=config)

    return VerifierRuntime(settings=settings, verifier=verifier, idempotency=config, process=process,
                           processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False))


def record_handler(record: SQSRecord) -> dict[str, Any]:
    """One SQS message: raises (the item fails and is retried) on anything but a completed step."""
    try:
        event = parse_event(record.body)
    except UnusableEvent as error:
        logger.error("unusable event", extra={"message_id": record.message_id, "problem": str(error)})
        raise
    try:
        result = runtime().process(event=event.as_dict())
    except Exception as error:
        # Say where and what kind of failure (a denied call, a throttle), so the DLQ can be
        # understood; the item fails and SQS retries it, then dead-letters it.
        frames = error_frames(error, last=8)
        code = getattr(error, "response", {}).get("Error", {}).get("Code") if hasattr(error, "response") else None
        logger.error("verification step failed", extra={"message_id": record.message_id, "kind": event.kind,
                                                        "error_type": type(error).__name__, "aws_error": code,
                                                        "frames": frames})
        raise
    logger.info("verification step", extra={"verification": {**result, "kind": event.kind,
                                                             "message_id": record.message_id}})
    metrics.add_metric(name=_METRIC[Outcome(result["outcome"])], unit=MetricUnit.Count, value=1)
    return result


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = runtime()
    state.idempotency.register_lambda_context(context)
    response: dict[str, Any] = dict(process_partial_response(event=event, record_handler=record_handler,
                                                             processor=state.processor, context=context))
    failures = len(response.get("batchItemFailures", []))
    if failures:
        logger.warning("batch items failed", extra={"failed": failures})
    return response


handler = entry_point(_handle)
"""Lambda entry point: the SQS event; answers ``{"batchItemFailures": [...]}``."""


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # build clients during the init phase
    runtime()
