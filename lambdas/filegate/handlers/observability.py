"""The Powertools logger and metrics every filegate handler writes with, and how a failure is
located in a log line: file, line and function only, never the exception's message (it may
quote a signed URL, a policy or a signature being built).

Kept apart from ``filegate.handlers.common`` (the API's) so that the queue and schedule
handlers log the same way without loading the HTTP resolver.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from filegate.handlers.lambda_context import ensure_context
from filegate.handlers.request_log import RequestLog

SERVICE = "filegate"
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or SERVICE,
                  service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE)
#: The API's audit and metric lines (``filegate.handlers.request_log``), with the same names.
request_log = RequestLog(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE,
                         namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or SERVICE,
                         level=logger.log_level)


def error_frames(error: BaseException, *, last: int) -> list[str]:
    """Where ``error`` was raised: its traceback's ``last`` frames as ``file:line function``."""
    return [f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}"
            for frame in traceback.extract_tb(error.__traceback__)][-last:]


def entry_point(handle: Callable[[Any, Any], Any]) -> Callable[[Any, Any], dict[str, Any]]:
    """The function Lambda calls: ``handle`` with a stand-in context where there is none (the
    local mode, benchmarks)."""
    def handler(event: Any, context: Any) -> dict[str, Any]:
        response: dict[str, Any] = handle(event, ensure_context(context))
        return response
    return handler
