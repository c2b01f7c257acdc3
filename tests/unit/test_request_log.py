"""The API's audit and metric lines are the ones Powertools writes, field for field.

``filegate.handlers.request_log`` writes them directly (for speed, its docstring says why); the
oracle here is Powertools itself: its ``Logger`` (with ``inject_lambda_context``) and its
``Metrics`` write the same record for the same request, and the lines must agree in every field
and in field order, except the timestamp (and the log line's location, which names the caller).
"""

from __future__ import annotations

import io
import json
import logging
from contextlib import redirect_stdout
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from hypothesis import given, settings
from hypothesis import strategies as st

from filegate.handlers.request_log import RequestLog

TRACE = "Root=1-6a4b0c00-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1"


class Context:
    function_name = "filegate-dev-downloads"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:filegate-dev-downloads"
    aws_request_id = "8f5c0b2e-0000-4000-8000-000000000001"


def lines(write: Any) -> list[dict[str, Any]]:
    captured = io.StringIO()
    with redirect_stdout(captured):
        write()
    return [json.loads(line) for line in captured.getvalue().split("\n") if line]


#: Powertools' Logger under a service name of its own (the handlers' ``filegate`` logger is another).
SERVICE = "filegate-oracle"
_STREAM = io.StringIO()
_ORACLE = Logger(service=SERVICE, logger_handler=logging.StreamHandler(_STREAM))


def powertools_audit(level: int, record: dict[str, Any], correlation_id: str) -> dict[str, Any]:
    """The second request's audit line as Powertools writes it (its cold start flag is process-wide,
    so only a warm request is comparable; ``test_the_first_request_is_the_cold_start`` covers cold)."""
    write = _ORACLE.info if level == logging.INFO else _ORACLE.warning

    @_ORACLE.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
    def handle(event: dict[str, Any], context: Any) -> None:
        write("audit", extra={"audit": record})

    for _ in range(2):
        handle({"requestContext": {"requestId": correlation_id}}, Context())
    return dict(json.loads(_STREAM.getvalue().rstrip("\n").split("\n")[-1]))


def ours_audit(level: int, record: dict[str, Any], correlation_id: str) -> list[dict[str, Any]]:
    log = RequestLog(service=SERVICE, namespace="filegate", level=logging.INFO)
    written: list[dict[str, Any]] = []
    for _ in range(2):
        log.begin(Context(), correlation_id)
        written += lines(lambda: log.audit(level, record))
        log.end()
    return written


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_RECORDS = st.dictionaries(st.sampled_from(["event", "action", "route", "status", "key", "sub", "groups"]),
                           st.one_of(st.none(), st.integers(), _TEXT, st.lists(_TEXT, max_size=3)))


@pytest.fixture(autouse=True)
def _trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "filegate")


@settings(max_examples=40, deadline=None)
@given(record=_RECORDS, level=st.sampled_from([logging.INFO, logging.WARNING]), correlation=_TEXT)
def test_the_audit_line_is_powertools_logger_line(record: dict[str, Any], level: int, correlation: str) -> None:
    # Given a request's audit record
    # When written by Powertools' Logger and by request_log
    theirs = powertools_audit(level, record, correlation)
    ours = ours_audit(level, record, correlation)[-1]
    # Then the same fields in the same order, with the same values (timestamp and caller aside)
    assert list(ours) == list(theirs)
    for name in ("timestamp", "location"):
        assert isinstance(ours.pop(name), str) and isinstance(theirs.pop(name), str)
    assert ours == theirs


def test_the_first_request_is_the_cold_start() -> None:
    # Given a fresh environment's log / When two requests write / Then only the first is cold
    first, second = ours_audit(logging.INFO, {"a": 1}, "c")
    assert first["cold_start"] is True and second["cold_start"] is False


def test_the_timestamp_has_powertools_format() -> None:
    # Given a line from each
    theirs = powertools_audit(logging.INFO, {}, "c")["timestamp"]
    ours = ours_audit(logging.INFO, {}, "c")[-1]["timestamp"]
    # Then both read "YYYY-MM-DD HH:MM:SS,mmm+zzzz"
    import re
    pattern = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}[+-]\d{4}$"
    assert re.match(pattern, theirs) and re.match(pattern, ours)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(["UrlsMinted", "FileReads", "LifecycleChanges", "Refusals"]),
       dimensions=st.dictionaries(st.sampled_from(["action", "rule", "reason"]),
                                  st.text("abcdefghij-_0123456789", min_size=1, max_size=20), min_size=1))
def test_the_metric_line_is_powertools_emf_line(name: str, dimensions: dict[str, str]) -> None:
    # Given one count under some dimensions
    metrics = Metrics(namespace="filegate", service="filegate")

    def powertools() -> None:
        for dimension, value in dimensions.items():
            metrics.add_dimension(name=dimension, value=value)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()

    # When written by Powertools' Metrics and by request_log
    (theirs,) = lines(powertools)
    (ours,) = lines(lambda: RequestLog(service="filegate", namespace="filegate", level=logging.INFO)
                    .count(name, dimensions))
    # Then the same EMF document (its timestamp aside), dimensions in the same order
    assert isinstance(ours["_aws"].pop("Timestamp"), int) and isinstance(theirs["_aws"].pop("Timestamp"), int)
    assert ours == theirs and list(ours) == list(theirs)


def test_lines_below_the_level_are_not_written() -> None:
    # Given a log at WARNING / When an INFO audit is written / Then nothing is
    log = RequestLog(service="filegate", namespace="filegate", level=logging.WARNING)
    assert lines(lambda: log.audit(logging.INFO, {"a": 1})) == []
    assert len(lines(lambda: log.audit(logging.WARNING, {"a": 1}))) == 1
