"""Copy ``custom:org_id`` into the access token as ``org_id``.

Cognito access tokens carry no custom attributes; the org rules fill ``{org_id}`` from a
verified claim, so the claim must be in the token the API checks.
"""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    org_id = event.get("request", {}).get("userAttributes", {}).get("custom:org_id")
    if org_id:
        event.setdefault("response", {})["claimsAndScopeOverrideDetails"] = {
            "accessTokenGeneration": {"claimsToAddOrOverride": {"org_id": org_id}},
        }
    return event
