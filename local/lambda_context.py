"""What the Lambda runtime passes as ``context`` (the fields Powertools reads), for the local API,
the queue pollers and the function workers: one definition for every local invocation."""

from __future__ import annotations

import time
import uuid

ACCOUNT = "000000000000"


class LambdaContext:
    function_version = "$LATEST"

    def __init__(self, function: str, timeout_seconds: float, *, memory_mb: int = 512) -> None:
        self.function_name = f"filegate-local-{function}"
        self.invoked_function_arn = f"arn:aws:lambda:local:{ACCOUNT}:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
