"""CloudFront invalidations: cached copies of a deleted file (or an erased prefix) dropped.

``CreateInvalidation`` with a ``CallerReference`` the caller derives from what is deleted
(``delete-<file_id>``, ``erasure-<id>-<run>``): CloudFront answers a repeat of the same
reference and paths with the invalidation it already made, so a retried step creates nothing
new. The same reference with other paths (``InvalidationBatchAlreadyExists``) means that
reference's invalidation was made already; it is not an error either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from filegate.adapters.unavailable import LifecycleUnavailable

#: CloudFront accepts at most this many paths per invalidation batch (wildcards included: 15 in
#: progress at a time, so erasures use one batch per run).
MAX_PATHS = 3000


class InvalidationFailed(LifecycleUnavailable):
    """CloudFront did not take the invalidation; the caller retries."""


class Invalidations:
    def __init__(self, client: Any, distribution_id: str) -> None:
        self._client = client
        self.distribution_id = distribution_id

    def invalidate(self, paths: Sequence[str], *, caller_reference: str) -> None:
        if not paths:
            return
        if len(paths) > MAX_PATHS:
            raise ValueError(f"at most {MAX_PATHS} paths per invalidation")
        try:
            self._client.create_invalidation(
                DistributionId=self.distribution_id,
                InvalidationBatch={"Paths": {"Quantity": len(paths), "Items": list(paths)},
                                   "CallerReference": caller_reference[:128]})
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "InvalidationBatchAlreadyExists":
                return
            raise InvalidationFailed(f"CreateInvalidation failed: {type(error).__name__}") from error
        except BotoCoreError as error:
            raise InvalidationFailed(f"CreateInvalidation failed: {type(error).__name__}") from error
