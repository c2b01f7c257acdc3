"""Signatures cached per execution environment, so a file asked for again costs no KMS call.

The download handler rounds each expiry up to the cache window, so repeated requests for one
file within a window produce byte-identical policies; this cache maps those exact policy bytes
to their signature. Entries live one window (a policy is only asked for again within its
window) and the cache is bounded (least recently used entries go first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from filegate.adapters.signer import Signer


class SignatureCache:
    def __init__(self, ttl_seconds: float, *, max_entries: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, bytes]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, message: bytes) -> bytes | None:
        entry = self._entries.get(message)
        if entry is None:
            return None
        stored_at, signature = entry
        if self._clock() - stored_at >= self._ttl:
            del self._entries[message]
            return None
        self._entries.move_to_end(message)
        return signature

    def put(self, message: bytes, signature: bytes) -> None:
        self._entries[message] = (self._clock(), signature)
        self._entries.move_to_end(message)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class CachingSigner:
    """A ``Signer`` that asks the wrapped signer only for policies it has not signed this window."""

    def __init__(self, signer: Signer, cache: SignatureCache) -> None:
        self._signer = signer
        self.cache = cache

    @property
    def key_pair_id(self) -> str:
        return self._signer.key_pair_id

    @property
    def hash_algorithm(self) -> str:
        return self._signer.hash_algorithm

    def sign(self, message: bytes) -> bytes:
        cache_key = self._signer.key_pair_id.encode("ascii") + b"\n" + message
        signature = self.cache.get(cache_key)
        if signature is not None:
            self.cache.hits += 1
            return signature
        self.cache.misses += 1
        signature = self._signer.sign(message)
        self.cache.put(cache_key, signature)
        return signature
