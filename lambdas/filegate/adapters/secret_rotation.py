"""Secrets Manager calls of a rotation function (docs/front-door.md, "Rotation with no failed request").

The four steps read and stage versions of one secret; each call here is one Secrets Manager
operation, and a missing version or stage is ``None``, not an error, so that every step can ask
"is this done already?" and be repeated safely. No value appears in a message or an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

#: A rotation function is not on a request's path: standard retries and patient timeouts.
ROTATION_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=3,
                                read_timeout=10)
#: What ``GetRandomPassword`` must give: 64 letters and digits (no punctuation, no space).
VALUE_LENGTH = 64
_VALUE = re.compile(rf"^[A-Za-z0-9]{{{VALUE_LENGTH}}}$")


class RotationError(RuntimeError):
    """A step cannot be made as asked (the secret's state or a dependency's answer is wrong)."""


@dataclass(frozen=True)
class SecretVersions:
    rotation_enabled: bool
    #: version id -> its staging labels
    stages: dict[str, tuple[str, ...]]

    def carrying(self, stage: str) -> str | None:
        """The version id staged ``stage``, if any."""
        return next((version for version, labels in self.stages.items() if stage in labels), None)


class RotationSecrets:
    """One secret's versions, as the rotation steps read and stage them."""

    def __init__(self, client: Any, secret_id: str) -> None:
        self._client = client
        self.secret_id = secret_id

    def versions(self) -> SecretVersions:
        metadata = self._client.describe_secret(SecretId=self.secret_id)
        stages = {str(version): tuple(labels) for version, labels in (metadata.get("VersionIdsToStages") or {}).items()}
        return SecretVersions(rotation_enabled=bool(metadata.get("RotationEnabled")), stages=stages)

    def value(self, stage: str, *, version_id: str | None = None) -> str | None:
        """The SecretString staged ``stage`` (of ``version_id``, when given), or None when there is none."""
        request: dict[str, str] = {"SecretId": self.secret_id, "VersionStage": stage}
        if version_id is not None:
            request["VersionId"] = version_id
        try:
            response = self._client.get_secret_value(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise
        value = response.get("SecretString")
        return value if isinstance(value, str) else None

    def random_value(self) -> str:
        """A new value: ``GetRandomPassword``, 64 characters, letters and digits only."""
        value = self._client.get_random_password(PasswordLength=VALUE_LENGTH, ExcludePunctuation=True,
                                                 IncludeSpace=False)["RandomPassword"]
        if not isinstance(value, str) or not _VALUE.match(value):
            raise RotationError("GetRandomPassword did not return 64 letters and digits")
        return value

    def put_pending(self, token: str, value: str) -> None:
        """Store ``value`` as version ``token``, staged ``AWSPENDING`` (idempotent for one token and value)."""
        self._client.put_secret_value(SecretId=self.secret_id, ClientRequestToken=token, SecretString=value,
                                      VersionStages=["AWSPENDING"])

    def make_current(self, token: str, *, current: str) -> None:
        """Stage ``token`` ``AWSCURRENT``, taking it from ``current`` (which Secrets Manager stages
        ``AWSPREVIOUS``)."""
        self._client.update_secret_version_stage(SecretId=self.secret_id, VersionStage="AWSCURRENT",
                                                 MoveToVersionId=token, RemoveFromVersionId=current)
