"""What every format module shares: the declared MIME types and the refusal a failed check raises.

Its own module so the package and the format modules share it without importing each other at load time.
"""

from __future__ import annotations

import re
from typing import Any

from filegate.domain.records import RejectReason

PDF = "application/pdf"
DOC = "application/msword"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"


class _Refused(Exception):
    """A check failed: the reason and a content-free note."""

    def __init__(self, reason: RejectReason, note: str) -> None:
        super().__init__(note)
        self.reason = reason
        self.note = note


def _type_mismatch(note: str) -> _Refused:
    return _Refused(RejectReason.TYPE_MISMATCH, note)


def _active(note: str) -> _Refused:
    return _Refused(RejectReason.ACTIVE_CONTENT, note)


def _unsupported(note: str) -> _Refused:
    return _Refused(RejectReason.UNSUPPORTED, note)


def _drain(stream: Any, limit: int | None = None) -> bytes:
    """Read a stream to its end in chunks; keep (and bound) the bytes only when ``limit`` is set."""
    kept = bytearray()
    while chunk := stream.read(1024 * 1024):
        if limit is not None:
            kept += chunk
            if len(kept) > limit:
                raise _active("ooxml: XML part over its size bound")
    return bytes(kept)


#: The only link schemes a document may point at: nothing that starts a local handler
#: (ms-msdt:, search-ms:, file:, smb:) or runs script (javascript:, vbscript:, data:).
LINK_SCHEMES = ("http://", "https://", "mailto:")


def allowed_link(target: str) -> bool:
    """True for an http(s) or mailto link, or one with no scheme at all (relative: it opens no
    handler); never a UNC path (``\\\\host\\share`` leaks Windows credentials)."""
    text = "".join(ch for ch in target if ord(ch) > 0x20).lower()
    if text.startswith("\\\\"):
        return False
    # A colon before the first "/", "?" or "#" means a scheme (or a drive letter), however the
    # text begins (a byte-order mark, odd characters): only the listed ones pass.
    has_scheme = ":" in re.split(r"[/?#]", text, maxsplit=1)[0]
    return not has_scheme or text.startswith(LINK_SCHEMES)
