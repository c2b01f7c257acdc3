"""The origin-verify header inside a CloudFront ``DistributionConfig`` (docs/front-door.md).

Rotation's ``setSecret`` writes the pending value into every origin that carries the header and
``testSecret`` reads it back: both are pure functions of the config ``GetDistributionConfig``
returns, so that they are tested without CloudFront and the adapter stays a plain client call.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from filegate.domain.front_door import ORIGIN_VERIFY_HEADER


class NoOriginHeader(ValueError):
    """No origin of the distribution carries the header: rotating it would protect nothing."""


def _headers(origin: Mapping[str, Any]) -> list[dict[str, Any]]:
    custom = origin.get("CustomHeaders")
    items = custom.get("Items") if isinstance(custom, Mapping) else None
    return [item for item in items or [] if isinstance(item, dict)]


def _origins(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    origins = config.get("Origins")
    items = origins.get("Items") if isinstance(origins, Mapping) else None
    return [item for item in items or [] if isinstance(item, dict)]


def _is_verify_header(header: Mapping[str, Any]) -> bool:
    name = header.get("HeaderName")
    return isinstance(name, str) and name.lower() == ORIGIN_VERIFY_HEADER


def origin_header_values(config: Mapping[str, Any]) -> dict[str, str]:
    """Origin id -> the header's value, for every origin that carries it."""
    found: dict[str, str] = {}
    for origin in _origins(config):
        for header in _headers(origin):
            if _is_verify_header(header):
                found[str(origin.get("Id"))] = str(header.get("HeaderValue", ""))
    return found


def with_origin_header(config: Mapping[str, Any], value: str) -> dict[str, Any]:
    """A copy of ``config`` whose every ``x-origin-verify`` origin header is ``value``; nothing
    else changes (so that ``UpdateDistribution`` sends back exactly what it read). Raises
    ``NoOriginHeader`` when no origin carries it."""
    updated = copy.deepcopy(dict(config))
    changed = 0
    for origin in _origins(updated):
        for header in _headers(origin):
            if _is_verify_header(header):
                header["HeaderValue"] = value
                changed += 1
    if not changed:
        raise NoOriginHeader(f"no origin of the distribution carries the {ORIGIN_VERIFY_HEADER} header")
    return updated
