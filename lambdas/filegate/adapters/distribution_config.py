"""One CloudFront distribution's config, read and written whole (``GetDistributionConfig``,
``UpdateDistribution`` with ``IfMatch``; ``GetDistribution`` for its deployment status): what the
origin secret's rotation changes.

``UpdateDistribution`` replaces the whole config, so it is always sent back exactly as read with
only the intended change (``filegate.domain.origin_header``), under the ETag it was read with: a
config changed in between fails with ``PreconditionFailed`` instead of being overwritten, and
``update`` then reads again and re-applies the change (a few times at most).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

#: Attempts at read-change-write when another writer changed the config in between.
MAX_ATTEMPTS = 3


class DistributionConfigs:
    def __init__(self, client: Any, distribution_id: str) -> None:
        self._client = client
        self.distribution_id = distribution_id

    def read(self) -> tuple[dict[str, Any], str]:
        """The config and its ETag."""
        response = self._client.get_distribution_config(Id=self.distribution_id)
        return dict(response["DistributionConfig"]), str(response["ETag"])

    def deployed(self) -> bool:
        """Whether CloudFront reports the distribution's last change deployed to every edge
        (``GetDistribution`` status ``Deployed``, not ``InProgress``)."""
        response = self._client.get_distribution(Id=self.distribution_id)
        return bool(response["Distribution"]["Status"] == "Deployed")

    def update(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> bool:
        """Apply ``change`` to the current config and write it when it differs; whether it wrote."""
        attempt = 1
        while True:
            config, etag = self.read()
            changed = change(config)
            if changed == config:
                return False
            try:
                self._client.update_distribution(Id=self.distribution_id, IfMatch=etag, DistributionConfig=changed)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "PreconditionFailed" or attempt >= MAX_ATTEMPTS:
                    raise
                attempt += 1
                continue
            return True
