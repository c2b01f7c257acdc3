"""The origin-verify secret's rotation function (docs/front-door.md, "Rotation with no failed request").

Deployed as ``filegate.handlers.origin_rotation.handler``; Secrets Manager invokes it four times
per rotation, with ``{"SecretId", "ClientRequestToken", "Step"}``:

1. ``createSecret``: a new random value (64 letters and digits) staged ``AWSPENDING`` as version
   ``ClientRequestToken``, unless that version has one already.
2. ``setSecret``: every origin of the distribution that carries ``x-origin-verify`` gets the
   pending value (no such origin is an error). The API already accepts ``AWSPENDING``, so edges
   that switch early pass. Before it writes, the step waits ``SETTLE_SECONDS``: a function that
   read the secret just before ``createSecret`` re-reads on an unknown value at most once per
   ``ORIGIN_SECRET_REFRESH_SECONDS``, so no edge may send the new value before every such function
   may read it again. A retry that finds the value written already neither waits nor writes.
3. ``testSecret``: the distribution's config is read again; every such header must be the pending
   value (a version with no value of its own, or the current one, is Secrets Manager's test of the
   rotation configuration: only reaching the distribution is checked), and the distribution must
   be ``Deployed`` (waited for, up to ``DEPLOY_WAIT_SECONDS``), so that no edge still sends the
   value the next rotation will stop accepting.
4. ``finishSecret``: the token is staged ``AWSCURRENT``; Secrets Manager moves the old version to
   ``AWSPREVIOUS``, still accepted while edges finish switching.

Each step checks what is done already and does only the rest, so a retried step changes
nothing. Its role reads and stages this secret's versions, calls ``GetRandomPassword``, and
``GetDistributionConfig``/``UpdateDistribution`` on this distribution only. The value is never
logged.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, cast

import boto3

from filegate.adapters.distribution_config import DistributionConfigs
from filegate.adapters.secret_rotation import ROTATION_CLIENT_CONFIG, RotationError, RotationSecrets
from filegate.domain.front_door import ORIGIN_SECRET_REFRESH_SECONDS
from filegate.domain.origin_header import origin_header_values, with_origin_header
from filegate.handlers.observability import entry_point, logger
from filegate.settings import OriginRotationSettings

Step = Literal["createSecret", "setSecret", "testSecret", "finishSecret"]
STEPS: tuple[Step, ...] = ("createSecret", "setSecret", "testSecret", "finishSecret")
#: How old the pending version must be before any edge may send it: the handlers' refresh
#: interval, plus two seconds for the clocks of Secrets Manager and this function to differ.
SETTLE_SECONDS = ORIGIN_SECRET_REFRESH_SECONDS + 2
#: testSecret waits this long at most for CloudFront to report the distribution ``Deployed``
#: (the function's timeout is longer), polling every ``DEPLOY_POLL_SECONDS``.
DEPLOY_WAIT_SECONDS = 600
DEPLOY_POLL_SECONDS = 15
#: Replaceable in tests (the wait is real in Lambda: a few seconds once per rotation).
clock: Callable[[], float] = time.time
sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class RotationRequest:
    secret_id: str
    token: str
    step: Step

    @classmethod
    def from_event(cls, event: Any) -> RotationRequest:
        """The event Secrets Manager sends; anything else is refused before any call is made."""
        if not isinstance(event, dict):
            raise RotationError("the event is not a Secrets Manager rotation event")
        secret_id, token, step = event.get("SecretId"), event.get("ClientRequestToken"), event.get("Step")
        if not isinstance(secret_id, str) or not secret_id or not isinstance(token, str) or not token:
            raise RotationError("the event has no SecretId or ClientRequestToken")
        if step not in STEPS:
            raise RotationError(f"unknown rotation step {str(step)[:40]!r}")
        return cls(secret_id=secret_id, token=token, step=cast(Step, step))


@dataclass(frozen=True)
class Rotation:
    """What the steps act on: the secret Secrets Manager names and the configured distribution."""

    secrets: RotationSecrets
    distribution: DistributionConfigs

    def _pending(self, token: str) -> str:
        value = self.secrets.value("AWSPENDING", version_id=token)
        if value is None:
            raise RotationError(f"version {token} has no AWSPENDING value: createSecret has not run")
        return value

    def create_secret(self, token: str) -> None:
        if self.secrets.value("AWSCURRENT") is None:
            raise RotationError("the secret has no AWSCURRENT value")
        if self.secrets.value("AWSPENDING", version_id=token) is not None:
            return  # a retry: the pending value exists
        self.secrets.put_pending(token, self.secrets.random_value())

    def set_secret(self, token: str) -> None:
        pending = self._pending(token)
        config, _etag = self.distribution.read()
        values = origin_header_values(config)
        if values and all(hmac.compare_digest(value.encode(), pending.encode()) for value in values.values()):
            return  # a retry: the distribution carries the pending value already
        sleep(SETTLE_SECONDS)
        self.distribution.update(lambda config: with_origin_header(config, pending))

    def test_secret(self, token: str) -> None:
        pending = self.secrets.value("AWSPENDING", version_id=token)
        if pending is None or pending == self.secrets.value("AWSCURRENT"):
            # Secrets Manager's test of the rotation configuration (a schedule created or changed without
            # rotating at once runs testSecret alone, on a version of its own): no value of ours to check,
            # so check only that this function reaches its distribution, and change nothing.
            self.distribution.read()
            logger.info("origin secret rotation: configuration test passed", extra={"rotation": {"token": token}})
            return
        config, _etag = self.distribution.read()
        values = origin_header_values(config)
        if not values:
            raise RotationError("no origin of the distribution carries the origin header")
        stale = sorted(origin for origin, value in values.items()
                       if not hmac.compare_digest(value.encode(), pending.encode()))
        if stale:
            raise RotationError(f"origins {stale} do not carry the pending value")
        # finishSecret demotes the old value to AWSPREVIOUS; the one before it stops being accepted. Only
        # once every edge sends the new value may a next rotation follow, so wait for the deployment.
        deadline = clock() + DEPLOY_WAIT_SECONDS
        while not self.distribution.deployed():
            if clock() >= deadline:
                raise RotationError("the distribution is still deploying the pending value; testSecret is retried")
            sleep(DEPLOY_POLL_SECONDS)

    def finish_secret(self, token: str) -> None:
        current = self.secrets.versions().carrying("AWSCURRENT")
        if current == token:
            return  # a retry: already current
        if current is None:
            raise RotationError("no version is staged AWSCURRENT")
        self.secrets.make_current(token, current=current)

    def run(self, request: RotationRequest) -> None:
        """One step, after the checks every rotation function makes on the version it is given."""
        versions = self.secrets.versions()
        if not versions.rotation_enabled:
            raise RotationError("rotation is not enabled on the secret")
        stages = versions.stages.get(request.token)
        if stages is None:
            raise RotationError(f"version {request.token} has no stage for rotation")
        if "AWSCURRENT" in stages:
            logger.info("origin secret rotation: version already current", extra={"rotation": {
                "step": request.step, "token": request.token}})
            return
        if "AWSPENDING" not in stages:
            raise RotationError(f"version {request.token} is not staged AWSPENDING")
        steps: dict[Step, Callable[[str], None]] = {
            "createSecret": self.create_secret, "setSecret": self.set_secret,
            "testSecret": self.test_secret, "finishSecret": self.finish_secret}
        steps[request.step](request.token)
        logger.info("origin secret rotation step done", extra={"rotation": {
            "step": request.step, "token": request.token, "distribution_id": self.distribution.distribution_id}})


@dataclass(frozen=True)
class RotationRuntime:
    settings: OriginRotationSettings
    secretsmanager: Any
    cloudfront: Any


@lru_cache(maxsize=1)
def runtime() -> RotationRuntime:
    """Settings and the Secrets Manager and CloudFront clients: built once per execution environment."""
    settings = OriginRotationSettings.from_environ()
    session = boto3.session.Session()
    return RotationRuntime(
        settings=settings,
        secretsmanager=session.client("secretsmanager", region_name=settings.region, config=ROTATION_CLIENT_CONFIG),
        cloudfront=session.client("cloudfront", region_name=settings.region, config=ROTATION_CLIENT_CONFIG))


def rotation_for(secret_id: str) -> Rotation:
    """The steps' adapters for ``secret_id`` (the event names it), on the configured distribution."""
    state = runtime()
    return Rotation(secrets=RotationSecrets(state.secretsmanager, secret_id),
                    distribution=DistributionConfigs(state.cloudfront, state.settings.distribution_id))


@logger.inject_lambda_context(clear_state=True, log_event=False)
def _handle(event: Any, _context: Any) -> dict[str, Any]:
    request = RotationRequest.from_event(event)
    rotation_for(request.secret_id).run(request)
    return {"step": request.step}


handler = entry_point(_handle)
"""Lambda entry point (Secrets Manager's rotation event)."""
