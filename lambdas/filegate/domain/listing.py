"""Listing pages: tamper-proof cursors, the merge of two newest-first streams, page assembly.

Pure functions (docs/lifecycle.md, "Listing"). A cursor is ``v1.<payload>.<mac>``, base64url
without padding; the payload is ``{"b": <listed_at boundary>, "q": <scope digest>}`` and the MAC
the first 16 bytes of HMAC-SHA256 over ``"v1." + <payload>``. The scope digest binds a cursor to
the listing that issued it (channel, subject or owner, org, rule). Any cursor that fails a
check (shape, alphabet, non-canonical base64, MAC, JSON, boundary, scope) is one
``Refusal(INVALID_CURSOR)``: never a page.

Security never rests on the cursor: the partitions come from the verified identity (or the
backend's query) and every item passes the oracle; the cursor only says where to resume.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from filegate.domain.errors import Reason, Refusal
from filegate.domain.records import FileRecord

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
CURSOR_VERSION = "v1"
MAC_BYTES = 16
#: No cursor we issue is longer: a longer one is refused before anything is decoded.
MAX_CURSOR_LENGTH = 512
#: ``f"{created_at:011d}#{file_id}"``.
LISTED_AT = re.compile(r"[0-9]{11}#[0-9a-f]{32}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
#: The shape of every cursor ``encode_cursor`` makes (the MAC is 16 bytes: 22 characters).
CURSOR_PATTERN = rf"^{CURSOR_VERSION}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{{22}}$"


@dataclass(frozen=True, slots=True)
class Frontier:
    """A stream stopped early (its query budget spent): everything newer than ``listed_at`` was
    yielded before it, nothing older is known."""

    listed_at: str


Item = FileRecord | Frontier


@dataclass(frozen=True, slots=True)
class Page:
    records: tuple[FileRecord, ...]
    #: Where the next page starts (exclusive), or None when the listing is complete.
    next_boundary: str | None


def parse_limit(raw: str | None) -> int:
    """``limit``: default 50, capped at 100; not a plain positive integer: 400."""
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,9}", raw) or int(raw) < 1:
        raise Refusal(Reason.INVALID_QUERY, "limit must be a positive integer")
    return min(int(raw), MAX_LIMIT)


def scope_digest(*, channel: str, subject: str, org: str, rule: str) -> str:
    """First 16 hex characters of SHA-256 over ``channel \\0 sub-or-owner \\0 org \\0 rule``."""
    text = "\0".join((channel, subject, org, rule))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    """Strict base64url without padding: the alphabet only, and canonical (the unused low bits of
    the last character are zero), so that no two strings decode to the same bytes."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _mac(key: bytes, signed: str) -> bytes:
    return hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest()[:MAC_BYTES]


def encode_cursor(key: bytes, *, boundary: str, scope: str) -> str:
    if not LISTED_AT.fullmatch(boundary):
        raise ValueError("a boundary is a listed_at value")
    payload = _b64encode(json.dumps({"b": boundary, "q": scope}, separators=(",", ":")).encode("ascii"))
    signed = f"{CURSOR_VERSION}.{payload}"
    return f"{signed}.{_b64encode(_mac(key, signed))}"


def decode_cursor(key: bytes, cursor: str, *, scope: str) -> str:
    """The boundary a cursor names, when this key issued it for this scope; else a ``Refusal``."""
    refusal = Refusal(Reason.INVALID_CURSOR, "cursor is not valid for this listing")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise refusal
    parts = cursor.split(".")
    if len(parts) != 3 or parts[0] != CURSOR_VERSION:
        raise refusal
    try:
        mac = _b64decode(parts[2])
        if len(mac) != MAC_BYTES or not hmac.compare_digest(mac, _mac(key, f"{parts[0]}.{parts[1]}")):
            raise refusal
        payload = json.loads(_b64decode(parts[1]).decode("ascii"))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise refusal from None
    if not isinstance(payload, dict) or set(payload) != {"b", "q"}:
        raise refusal
    boundary, digest = payload["b"], payload["q"]
    if not isinstance(boundary, str) or not LISTED_AT.fullmatch(boundary):
        raise refusal
    if not isinstance(digest, str) or not hmac.compare_digest(digest.encode("ascii", "replace"),
                                                              scope.encode("ascii")):
        raise refusal
    return boundary


def _order(item: Item) -> tuple[str, int]:
    # At an equal listed_at, a record comes before a frontier: the frontier's own item was
    # yielded by its stream before the frontier was.
    return (item.listed_at, 1 if isinstance(item, FileRecord) else 0)


def merge_newest_first(*streams: Iterable[Item]) -> Iterator[Item]:
    """One newest-first stream from several, each record once (an own file in an org rule is in
    both the ``owner`` and the ``org`` stream). Stops at the first frontier: past it, one stream
    knows nothing, so nothing older can be placed."""
    seen: set[str] = set()
    for item in heapq.merge(*streams, key=_order, reverse=True):
        if isinstance(item, Frontier):
            yield item
            return
        if item.file_id in seen:
            continue
        seen.add(item.file_id)
        yield item


def assemble_page(items: Iterable[Item], *, admit: Callable[[FileRecord], bool], limit: int) -> Page:
    """Up to ``limit`` admitted records, newest first, and where the next page starts.

    One admitted record past the limit is looked at (not returned) to know there is more; a
    frontier ends the page early, its boundary the next page's start.
    """
    found: list[FileRecord] = []
    for item in items:
        if isinstance(item, Frontier):
            return Page(records=tuple(found), next_boundary=item.listed_at)
        if not admit(item):
            continue
        if len(found) == limit:
            return Page(records=tuple(found), next_boundary=found[-1].listed_at)
        found.append(item)
    return Page(records=tuple(found), next_boundary=None)
