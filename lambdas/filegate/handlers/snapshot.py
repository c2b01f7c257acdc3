"""SnapStart: what every restored execution environment must make its own (docs/snapstart.md).

With SnapStart, Lambda runs a version's init once, snapshots its memory and resumes many
execution environments from that one snapshot. Whatever init made is then shared by all of them:

- ``random``'s state: every environment would draw the same "random" numbers. Reseeded from the
  OS (``secrets``, ``uuid4`` and ``os.urandom`` read the kernel, which Lambda reseeds itself).
- AWS credentials and connections: the clients built at init hold the credentials of the
  snapshot's time, which expire, and sockets that did not survive it. Rebuilt.
- Anything cached per environment: the signature cache (``FILEGATE_SIGNATURE_CACHE_SECONDS``),
  the origin secret's accepted values, the signing secret's PEM (its Powertools provider's cache),
  read at the snapshot's time and possibly rotated since. Rebuilt with the clients.

Signatures never depend on restored state: KMS signs in KMS, and the local-key signer signs
with deterministic ECDSA (RFC 6979: the nonce is derived from the key and the message).

Hooks are registered with ``snapshot_restore_py``, which Lambda's Python runtimes include; where
it is missing (a local mode without it) nothing is registered, since nothing is ever restored.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol


class Rebuildable(Protocol):
    """A handler module's ``runtime``: an ``lru_cache``'d builder of its clients and caches."""

    def __call__(self) -> Any: ...

    def cache_clear(self) -> None: ...


def _register(hook: Callable[[], None]) -> bool:
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError:
        return False
    register_after_restore(hook)
    return True


def reseed_random() -> None:
    """A fresh seed from the OS, so that no two restored environments share ``random``'s sequence."""
    random.seed()


def rebuild(runtime: Rebuildable) -> Callable[[], None]:
    """The after-restore hook for one handler module: forget what init built, build it afresh
    (new clients read the credentials the restored environment has; new secret providers start
    with empty caches)."""
    def after_restore() -> None:
        runtime.cache_clear()
        runtime()
    return after_restore


def after_restore(runtime: Rebuildable) -> bool:
    """Register ``reseed_random`` and ``rebuild(runtime)`` to run after every restore; False when
    this runtime has no SnapStart hooks (not Lambda)."""
    registered = _register(reseed_random)
    return _register(rebuild(runtime)) and registered
