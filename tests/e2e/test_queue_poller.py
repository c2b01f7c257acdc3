"""The local event source mapping (local/queue_poller.py) keeps Lambda's SQS semantics.

Driven against the local mode's own SQS (moto), on a throw-away queue pair with a one-second
visibility timeout, with a stand-in handler (the real verifier is exercised end to end in
test_verification.py): partial batch failures, whole-batch failures, and the dead-letter queue
after ``maxReceiveCount`` receives.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.queue_poller import Poller, failed_ids
from tests.e2e.conftest import Local

pytestmark = pytest.mark.e2e


@pytest.fixture
def queues(local: Local) -> Iterator[tuple[Any, dict[str, str], dict[str, str]]]:
    sqs = boto3.session.Session().client("sqs", endpoint_url=local.endpoints["aws"], region_name=local.region,
                                         aws_access_key_id="test", aws_secret_access_key="test")
    name = f"poller-test-{uuid.uuid4().hex[:8]}"

    def make(queue: str, attributes: dict[str, str]) -> dict[str, str]:
        url = sqs.create_queue(QueueName=queue, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"url": url, "arn": arn}

    dlq = make(f"{name}-dlq", {})
    queue = make(name, {"VisibilityTimeout": "1", "RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq["arn"], "maxReceiveCount": 2})})
    yield sqs, queue, dlq
    for url in (queue["url"], dlq["url"]):
        sqs.delete_queue(QueueUrl=url)


def poller(local: Local, queue: dict[str, str], handler: Any) -> Poller:
    runtime = {"region": local.region, "aws": local.endpoints["aws"], "prefix": "test",
               "queues": {"verification": queue}}
    made = Poller(runtime, batch_size=10, timeout_seconds=5, handler=handler, sweep=None, sweep_seconds=3600)
    made.sqs = boto3.session.Session().client("sqs", endpoint_url=local.endpoints["aws"], region_name=local.region,
                                              aws_access_key_id="test", aws_secret_access_key="test")
    return made


def bodies(sqs: Any, url: str) -> list[str]:
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return found
        found.extend(message["Body"] for message in messages)
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_partial_batch_failures_keep_only_the_failed_messages_until_the_dlq(local: Local, queues: Any) -> None:
    sqs, queue, dlq = queues
    for body in ("good-1", "bad", "good-2"):
        sqs.send_message(QueueUrl=queue["url"], MessageBody=body)
    seen: list[list[str]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event["Records"]
        # Lambda's SQS record shape
        for record in records:
            assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == queue["arn"]
            assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1 and record["receiptHandle"]
        assert context.get_remaining_time_in_millis() > 0
        seen.append(sorted(record["body"] for record in records))
        return {"batchItemFailures": [{"itemIdentifier": record["messageId"]}
                                      for record in records if record["body"] == "bad"]}

    mapping = poller(local, queue, handler)
    # The first batch holds all three; only "bad" is kept
    deadline = time.monotonic() + 10
    while sum(len(batch) for batch in seen) < 3 and time.monotonic() < deadline:
        mapping.once()
    assert sorted(body for batch in seen for body in batch) == ["bad", "good-1", "good-2"]
    # "bad" comes back after its visibility timeout, fails again, and after 2 receives SQS moves
    # it to the dead-letter queue; the good ones never come back
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        mapping.once()
        if sqs.get_queue_attributes(QueueUrl=dlq["url"], AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"]["ApproximateNumberOfMessages"] != "0":
            break
    assert [body for batch in seen for body in batch].count("bad") == 2
    assert bodies(sqs, dlq["url"]) == ["bad"]
    assert bodies(sqs, queue["url"]) == []


def test_an_exception_or_a_bad_response_fails_the_whole_batch(local: Local, queues: Any) -> None:
    sqs, queue, _ = queues
    sqs.send_message(QueueUrl=queue["url"], MessageBody="one")

    def raising(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("unhandled")

    assert poller(local, queue, raising).once() == 1
    time.sleep(1.1)  # visible again: nothing was deleted
    assert bodies(sqs, queue["url"]) == ["one"]
    # Lambda's rule for a partial-batch response naming no message of the batch: all of it failed
    batch = {"a", "b"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, batch) == batch
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, batch) == batch
    assert failed_ids({"batchItemFailures": "nope"}, batch) == batch
    assert failed_ids("not a dict", batch) == batch
    assert failed_ids({"batchItemFailures": []}, batch) == set()
    assert failed_ids(None, batch) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, batch) == {"a"}
