"""A stand-in Lambda context for callers that have none (the local mode, benchmarks)."""

from __future__ import annotations

import uuid
from typing import Any


class LocalContext:
    function_name = "filegate-local"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:filegate-local"
    memory_limit_in_mb = 128
    log_group_name = "/aws/lambda/filegate-local"
    log_stream_name = "local"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def ensure_context(context: Any) -> Any:
    return LocalContext() if context is None else context
