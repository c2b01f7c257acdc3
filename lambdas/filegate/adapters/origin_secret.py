"""The origin-verify secret's accepted values, read from Secrets Manager (docs/front-door.md).

A user route's ``x-origin-verify`` header must equal one of the versions staged ``AWSCURRENT``,
``AWSPENDING`` or ``AWSPREVIOUS``: during a rotation CloudFront's edges switch from the old value
to the new one at their own pace, so both must pass until the next rotation. The set is read once
per execution environment and kept ``ORIGIN_SECRET_CACHE_SECONDS``; a value outside it re-reads at
most once per ``ORIGIN_SECRET_REFRESH_SECONDS`` (a rotation may have staged a version since), so a
caller presenting random values cannot make every request a Secrets Manager call.

If Secrets Manager fails, the cached set is used; with nothing cached, ``OriginSecretUnavailable``
(a 503). No value read or presented is ever logged, traced or put in an exception message.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from filegate.adapters.dependency_config import dependency_config
from filegate.adapters.unavailable import LifecycleUnavailable
from filegate.domain.front_door import ORIGIN_SECRET_CACHE_SECONDS, ORIGIN_SECRET_REFRESH_SECONDS

#: The stages whose values are accepted; only ``AWSCURRENT`` always exists.
ACCEPTED_STAGES = ("AWSCURRENT", "AWSPENDING", "AWSPREVIOUS")
#: No generated value is longer (64 characters); a longer header is refused without a re-read.
MAX_VALUE_CHARACTERS = 1024


class OriginSecretUnavailable(LifecycleUnavailable):
    """The secret could not be read and no earlier read is cached: the check cannot be made."""


def read_accepted_values(client: Any, secret_id: str) -> tuple[bytes, ...]:
    """Every accepted version's SecretString; a stage no version carries is skipped (Secrets
    Manager answers ``ResourceNotFoundException``), but ``AWSCURRENT`` must exist."""
    values: list[bytes] = []
    for stage in ACCEPTED_STAGES:
        try:
            response = client.get_secret_value(SecretId=secret_id, VersionStage=stage)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException" and stage != "AWSCURRENT":
                continue
            raise OriginSecretUnavailable(f"reading the origin secret ({stage}) failed: {code}") from error
        except BotoCoreError as error:
            raise OriginSecretUnavailable(f"reading the origin secret ({stage}) failed: "
                                          f"{type(error).__name__}") from error
        value = response.get("SecretString")
        if isinstance(value, str) and value:
            values.append(value.encode("utf-8"))
    if not values:
        raise OriginSecretUnavailable("the origin secret has no current SecretString")
    return tuple(values)


class OriginSecret:
    """The accepted values of one secret, cached; ``accepts`` compares in constant time."""

    def __init__(self, client: Any, secret_id: str, *, clock: Callable[[], float] = time.monotonic,
                 cache_seconds: float = ORIGIN_SECRET_CACHE_SECONDS,
                 refresh_seconds: float = ORIGIN_SECRET_REFRESH_SECONDS) -> None:
        self._client = client
        self._secret_id = secret_id
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._refresh_seconds = refresh_seconds
        self._values: tuple[bytes, ...] = ()
        self._read_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    def _may_read(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._refresh_seconds

    def _refresh(self, now: float) -> None:
        """Read the set again; on failure keep the cached one, or raise with nothing cached."""
        self._attempted_at = now
        try:
            values = read_accepted_values(self._client, self._secret_id)
        except OriginSecretUnavailable:
            if self._read_at is None:
                raise
            return
        self._values, self._read_at = values, now

    def _current(self, now: float) -> tuple[bytes, ...]:
        expired = self._read_at is None or now - self._read_at >= self._cache_seconds
        if expired and self._may_read(now):
            self._refresh(now)
        if self._read_at is None:  # the last read failed within the refresh interval: fail fast
            raise OriginSecretUnavailable("the origin secret could not be read recently")
        return self._values

    @staticmethod
    def _matches(presented: bytes, values: tuple[bytes, ...]) -> bool:
        matched = False
        for value in values:  # every value compared: the time taken says nothing about which matched
            matched |= hmac.compare_digest(presented, value)
        return matched

    def accepts(self, presented: str | None) -> bool:
        """Whether ``presented`` is one of the accepted values (re-read once if it is not and the
        last read is older than the refresh interval). Raises ``OriginSecretUnavailable``."""
        if not presented or len(presented) > MAX_VALUE_CHARACTERS:
            return False
        encoded = presented.encode("utf-8", "surrogateescape")
        with self._lock:
            now = self._clock()
            if self._matches(encoded, self._current(now)):
                return True
            if not self._may_read(now):
                return False
            self._refresh(now)
            return self._matches(encoded, self._values)


def origin_secret(session: boto3.session.Session, secret_id: str, *, region: str | None) -> OriginSecret:
    """The verifier for ``secret_id``, with its own Secrets Manager client (short timeouts, one
    retry: a slow read is a 503, not a Lambda timeout). Built once per execution environment."""
    client = session.client("secretsmanager", region_name=region, config=dependency_config())
    return OriginSecret(client, secret_id)
