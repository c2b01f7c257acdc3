"""The one failure every lifecycle adapter raises (a subclass each): the API answers it 503.

An S3 delete, an invalidation, an event, an erasure item or message, a revocation that could
not be made: the client retries (every lifecycle step is safe to repeat), so each maps to 503
``temporarily_unavailable`` (reason ``lifecycle_unavailable``) in ``filegate.handlers.common``.
"""

from __future__ import annotations


class LifecycleUnavailable(Exception):
    """A dependency of a delete, revocation or erasure failed; retrying is safe."""
