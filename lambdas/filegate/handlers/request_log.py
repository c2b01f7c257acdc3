"""The API's two lines per request, written directly: the audit record and its metric.

Why not Powertools' ``Logger.info`` and ``Metrics`` here: for one line each per request they
cost about 85 and 45 µs (the ``logging`` machinery, Powertools' formatter, EMF validation), more
than the rest of a download mint together, and ``inject_lambda_context`` 28 µs more
(benchmarks/results/minting.json, ``hot_path_*``). Each line here has the same fields, in the same
order, as Powertools writes them (tests/unit/test_request_log.py compares them with Powertools'
own output): the audit line as ``Logger`` formats it (level, location, message, timestamp,
service, cold start, the Lambda context, correlation id, the ``audit`` object, X-Ray trace id),
the metric as an Embedded Metric Format line as ``Metrics`` flushes it (namespace, dimensions
with ``service``, one count). The cold start metric and every other log line (errors, the queue
and schedule handlers) still go through Powertools.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticSerializationError
from pydantic_core import to_json as _to_json

_json_serialize = json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=False).encode
_serialize_metric = json.JSONEncoder(separators=(",", ":")).encode
_LEVELS = {logging.INFO: "INFO", logging.WARNING: "WARNING"}
_METRIC_HEAD = '{"_aws":{"Timestamp":'
#: Distinct metric lines kept serialized (names x dimension values: a few dozen in practice).
_MAX_METRIC_KINDS = 512


@dataclass(slots=True)
class RequestContext:
    """The Lambda context keys of one request, as Powertools' ``inject_lambda_context`` sets them."""

    cold_start: bool
    function_name: str
    function_memory_size: Any
    function_arn: str
    function_request_id: str
    correlation_id: str | None

    def keys(self) -> dict[str, Any]:
        return {"cold_start": self.cold_start, "function_name": self.function_name,
                "function_memory_size": self.function_memory_size, "function_arn": self.function_arn,
                "function_request_id": self.function_request_id, "correlation_id": self.correlation_id}


class RequestLog:
    """Writes a service's audit and metric lines to standard output (as Lambda collects them)."""

    def __init__(self, *, service: str, namespace: str, level: int) -> None:
        self.service = service
        self.namespace = namespace
        self.level = level
        self._cold = True
        # Per request (a context variable: the local mode serves requests on threads; Lambda, one at a time).
        self._current: ContextVar[RequestContext | None] = ContextVar(f"request_log_{service}", default=None)
        self._metric_lines: dict[tuple[Any, ...], str] = {}

    def begin(self, context: Any, correlation_id: str | None) -> RequestContext:
        """A request starts: its context keys (the first request of an environment is the cold one)."""
        cold, self._cold = self._cold, False
        request = RequestContext(
            cold_start=cold, function_name=context.function_name, function_memory_size=context.memory_limit_in_mb,
            function_arn=context.invoked_function_arn, function_request_id=context.aws_request_id,
            correlation_id=correlation_id)
        self._current.set(request)
        return request

    def end(self) -> None:
        self._current.set(None)

    @property
    def current(self) -> RequestContext | None:
        return self._current.get()

    def audit(self, level: int, record: dict[str, Any]) -> None:
        """One ``{"message": "audit", "audit": record}`` line at ``level`` (INFO or WARNING); its
        ``location`` is the caller's ``function:line``, as ``logging`` finds it."""
        if level < self.level:
            return
        caller = sys._getframe(1)
        location = f"{caller.f_code.co_name}:{caller.f_lineno}"
        now = time.time()
        line: dict[str, Any] = {
            "level": _LEVELS.get(level) or logging.getLevelName(level),
            "location": location,
            "message": "audit",
            "timestamp": _timestamp(now),
            "service": self.service,
        }
        request = self._current.get()
        if request is not None:
            line.update(request.keys())
        line["audit"] = record
        trace = _xray_trace_id()
        if trace is not None:
            line["xray_trace_id"] = trace
        self.emit_audit(_serialize(line))

    @staticmethod
    def emit_audit(text: str) -> None:
        """Where an audit line goes: standard output, one line (Lambda sends it to CloudWatch Logs)."""
        sys.stdout.write(text + "\n")

    def count(self, name: str, dimensions: dict[str, str]) -> None:
        """One Embedded Metric Format line: ``name`` counted once, under ``dimensions`` and ``service``.

        The line after its timestamp depends only on the name and the dimensions (a few rules,
        actions and reasons), so it is serialized once per kind and kept."""
        kind: tuple[Any, ...] = (name, *dimensions.items())
        rest = self._metric_lines.get(kind)
        if rest is None:
            values = {**dimensions, "service": self.service}
            line: dict[str, Any] = {
                "_aws": {"Timestamp": 0, "CloudWatchMetrics": [{
                    "Namespace": self.namespace, "Dimensions": [list(values)],
                    "Metrics": [{"Name": name, "Unit": "Count"}]}]},
                **values,
                name: [1.0],
            }
            rest = _serialize_metric(line).removeprefix(_METRIC_HEAD + "0")
            if len(self._metric_lines) < _MAX_METRIC_KINDS:
                self._metric_lines[kind] = rest
        sys.stdout.write(f"{_METRIC_HEAD}{int(time.time() * 1000)}{rest}\n")


def _serialize(line: dict[str, Any]) -> str:
    """``line`` as Powertools' formatter writes it (``json``, compact, ``ensure_ascii=False``,
    ``default=str``), through pydantic-core's serializer: the same text for the values an audit
    line holds (text, integers, booleans, null, lists and objects of them; tested byte for byte
    in tests/unit/test_hot_path_equivalence.py) in a fifth of the time. Text it cannot encode (a
    lone surrogate) goes through ``json``, as before."""
    try:
        return _to_json(line).decode()
    except PydanticSerializationError:
        return _json_serialize(line)


#: The last second formatted: (second, date and time, zone), replaced whole (threads read it whole).
_second: tuple[int, str, str] = (-1, "", "")


def _timestamp(now: float) -> str:
    """Powertools' default ``%Y-%m-%d %H:%M:%S,%F%z`` in local time (UTC in Lambda); the
    second's text is formatted once per second."""
    global _second  # noqa: PLW0603 - a one-entry cache, swapped atomically
    second = int(now)
    cached = _second
    if cached[0] != second:
        local = time.localtime(second)
        cached = (second, time.strftime("%Y-%m-%d %H:%M:%S", local), time.strftime("%z", local))
        _second = cached
    return f"{cached[1]},{int(now * 1000) % 1000:03d}{cached[2]}"


def _xray_trace_id() -> str | None:
    """The root of ``_X_AMZN_TRACE_ID`` (set by Lambda for each request), as Powertools logs it."""
    header = os.environ.get("_X_AMZN_TRACE_ID")
    if not header:
        return None
    return header.split(";")[0].replace("Root=", "")
