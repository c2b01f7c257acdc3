"""Who is asking: verified claims, never request-body values (except a trusted backend's)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Identity:
    """A caller's verified claims.

    ``claims`` holds the string-valued claims a key template may name (``sub``, ``org_id``...).
    ``principal`` is the IAM caller for the ``/backend/`` routes (who vouched for the claims).
    """

    sub: str
    groups: frozenset[str] = frozenset()
    claims: Mapping[str, str] = field(default_factory=dict)
    principal: str | None = None

    def claim(self, name: str) -> str | None:
        if name == "sub":
            return self.sub
        return self.claims.get(name)

    @property
    def org_id(self) -> str | None:
        return self.claim("org_id")
