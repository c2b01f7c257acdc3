"""What Lambda's SQS event source mapping does for the verifier (and the erasure worker), on 127.0.0.1.

A process of the local mode (``python -m local.queue_poller``) with the function's environment
(the verifier: ``stacks.lambda_settings.verifier_environment``, with the verifier's own S3 user;
the erasure worker, ``--handler filegate.handlers.erasure_worker.handler --queue erasures``:
``lifecycle_environment``, with the deleting S3 user), pointed at the local services. One
execution environment, one batch at a time:

* receive up to ``--batch-size`` (10) messages from the verification queue (long poll, 1 s);
* invoke the handler (``filegate.handlers.verifier.handler`` by default) with an SQS event (``Records`` as Lambda builds
  them: ``messageId``, ``receiptHandle``, ``body``, ``attributes`` with ``ApproximateReceiveCount``,
  ``eventSource: aws:sqs``, ``eventSourceARN``, ``awsRegion``...) and a Lambda context;
* ``ReportBatchItemFailures``: delete the messages the handler did not name in
  ``batchItemFailures``; the named ones stay in flight and come back when their visibility
  timeout ends. An item identifier that names no message of the batch, a malformed response or
  an exception (an unhandled Lambda error) fails the whole batch, as Lambda does;
* after ``maxReceiveCount`` receives SQS itself (moto) moves a message to the dead-letter queue
  (the queue's ``RedrivePolicy``), as in AWS.

Every ``--schedule-seconds`` it also invokes the scheduled handler (``--scheduled``: the sweep for
the verifier, the revocation expiry beside the erasure worker) with a scheduled event, as the
stack's EventBridge schedule does (when that handler exists).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from local.lambda_context import ACCOUNT, LambdaContext


def sqs_record(message: Any, *, queue_arn: str, region: str) -> dict[str, Any]:
    """One received message as Lambda hands it to the function."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {name: str(attributes[name]) for name in (
            "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
            if name in attributes},
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def failed_ids(result: Any, batch_ids: set[str]) -> set[str]:
    """The messages to keep: those named in ``batchItemFailures``, or the whole batch when the
    response is not a valid partial-batch response (Lambda's rule)."""
    if result is None:
        return set()
    if not isinstance(result, dict):
        return set(batch_ids)
    failures = result.get("batchItemFailures", [])
    if not isinstance(failures, list):
        return set(batch_ids)
    named: set[str] = set()
    for failure in failures:
        ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not ident or ident not in batch_ids:
            return set(batch_ids)
        named.add(str(ident))
    return named


def scheduled_event(region: str, rule: str) -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
            "resources": [f"arn:aws:events:{region}:{ACCOUNT}:rule/{rule}"], "detail": {}}


class Poller:
    def __init__(self, runtime: dict[str, Any], *, batch_size: int, timeout_seconds: float,
                 handler: Callable[[dict[str, Any], Any], Any],
                 sweep: Callable[[dict[str, Any], Any], Any] | None, sweep_seconds: float,
                 queue: str = "verification", function: str = "verifier", scheduled_rule: str | None = None,
                 scheduled_function: str = "sweep") -> None:
        self.region = runtime["region"]
        queues = runtime["queues"]
        self.queue_url = queues[queue]["url"]
        self.queue_arn = queues[queue]["arn"]
        self.function = function
        self.scheduled_function = scheduled_function
        self.sweep_rule = scheduled_rule or f"{runtime['prefix']}-sweep"
        self.sqs = boto3.session.Session().client("sqs", endpoint_url=runtime["aws"], region_name=self.region)
        self.batch_size = batch_size
        self.timeout_seconds = timeout_seconds
        self.handler = handler
        self.sweep = sweep
        self.sweep_seconds = sweep_seconds
        self.stop = threading.Event()

    @staticmethod
    def log(level: str, message: str, **fields: Any) -> None:
        print(json.dumps({"level": level, "message": f"event source mapping: {message}", **fields}), flush=True)

    def once(self) -> int:
        response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size,
                                            WaitTimeSeconds=1, AttributeNames=["All"], MessageAttributeNames=["All"])
        messages = response.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [sqs_record(message, queue_arn=self.queue_arn, region=self.region)
                             for message in messages]}
        batch_ids = {message["MessageId"] for message in messages}
        started = time.monotonic()
        try:
            result = self.handler(event, LambdaContext(self.function, self.timeout_seconds, memory_mb=1024))
        except Exception as error:  # an unhandled Lambda error: the whole batch comes back later
            self.log("error", f"{self.function} raised; the batch returns after its visibility timeout",
                     error=f"{type(error).__name__}: {error}", trace=traceback.format_exc(limit=5))
            return len(messages)
        keep = failed_ids(result, batch_ids)
        done = [message for message in messages if message["MessageId"] not in keep]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(done)])
        self.log("info", "batch", received=len(messages), deleted=len(done), failed=len(keep),
                 ms=round((time.monotonic() - started) * 1000, 1))
        return len(messages)

    def run(self) -> None:
        next_sweep = time.monotonic() + self.sweep_seconds
        while not self.stop.is_set():
            try:
                self.once()
            except Exception as error:  # moto unreachable for a moment: try again
                self.log("error", "polling failed", error=f"{type(error).__name__}: {error}")
                self.stop.wait(0.5)
            if self.sweep is not None and time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + self.sweep_seconds
                try:
                    self.sweep(scheduled_event(self.region, self.sweep_rule),
                               LambdaContext(self.scheduled_function, 300, memory_mb=1024))
                except Exception as error:
                    self.log("error", f"{self.scheduled_function} raised", error=f"{type(error).__name__}: {error}")


def _optional(path: str) -> Callable[[dict[str, Any], Any], Any] | None:
    module_name, _, attribute = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        return None
    handler: Callable[[dict[str, Any], Any], Any] = getattr(module, attribute)
    return handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="local SQS event source mapping (and schedule) for one function (run by `python -m local`)")
    parser.add_argument("--runtime", type=Path, required=True)
    parser.add_argument("--handler", default="filegate.handlers.verifier.handler")
    parser.add_argument("--function", default="verifier", help="the function's short name (logs, context)")
    parser.add_argument("--queue", default="verification", help="the queue's name in runtime.json's queues")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--timeout-seconds", type=float, default=60.0, help="the function's Lambda timeout")
    parser.add_argument("--scheduled", default="filegate.handlers.sweep.handler",
                        help="the handler the schedule invokes (skipped when it does not exist)")
    parser.add_argument("--schedule-seconds", "--sweep-seconds", dest="schedule_seconds", type=float, default=60.0)
    parser.add_argument("--schedule-rule", default=None, help="the schedule's rule name (default <prefix>-sweep)")
    parser.add_argument("--ready-file", type=Path, help="written once the handlers are imported")
    args = parser.parse_args(argv)
    runtime = json.loads(args.runtime.read_text())
    # Imported as Lambda would at cold start: a missing or broken handler fails the local mode's start.
    module_name, _, attribute = args.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    scheduled = _optional(args.scheduled)
    scheduled_function = args.scheduled.rsplit(".", 2)[-2]
    if args.ready_file:
        args.ready_file.write_text(str(os.getpid()))
    poller = Poller(runtime, batch_size=args.batch_size, timeout_seconds=args.timeout_seconds, handler=handler,
                    sweep=scheduled, sweep_seconds=args.schedule_seconds, queue=args.queue, function=args.function,
                    scheduled_rule=args.schedule_rule, scheduled_function=scheduled_function)

    def on_signal(_signum: int, _frame: object) -> None:
        poller.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"local event source mapping for {args.function} (pid {os.getpid()}; queue {poller.queue_url}; "
          f"{scheduled_function} {f'every {args.schedule_seconds:.0f} s' if scheduled else 'absent'})", flush=True)
    poller.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
