"""OLE2 / legacy Word (.doc) checks: a Word 97+ document, read whole, with no macro or OLE storage.

olefile is imported on first use. The entry bound is read from the package at call time, so it
has one definition (``filegate.domain.content.MAX_OLE_ENTRIES``).
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import struct
from typing import Any

from filegate.domain import content
from filegate.domain.content.common import _active, _drain, _type_mismatch, _unsupported

_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _ole_word_document(ole: Any, file_size: int) -> list[list[str]]:
    """Every entry of a Word 97+ document whose streams all read back; else a refusal."""
    import olefile

    entries: list[list[str]] = ole.listdir(streams=True, storages=True)
    if len(entries) > content.MAX_OLE_ENTRIES:
        raise _active("doc: too many OLE entries")
    if not ole.exists("WordDocument") or ole.get_type("WordDocument") != olefile.STGTY_STREAM:
        raise _type_mismatch("doc: no WordDocument stream")
    fib = ole.openstream("WordDocument").read(12)
    if len(fib) < 12 or struct.unpack_from("<H", fib, 0)[0] != 0xA5EC:
        raise _type_mismatch("doc: WordDocument does not start with a Word FIB")
    n_fib, flags = struct.unpack_from("<HxxxxxxH", fib, 2)
    if n_fib < 0xC1:
        raise _unsupported("doc: Word 6/95 format (macros hide inside the document stream)")
    if flags & 0x0100:
        raise _unsupported("doc: encrypted")
    for entry in entries:
        if ole.get_type(entry) == olefile.STGTY_STREAM:
            _drain(ole.openstream(entry))
    if _ole_sectors_after_last_allocated(ole, file_size):
        raise _type_mismatch("doc: bytes after the last allocated sector")
    return entries


def _ole_sectors_after_last_allocated(ole: Any, file_size: int) -> bool:
    import olefile

    sector_size = int(ole.sectorsize)
    if file_size % sector_size:
        return True
    fat = list(ole.fat)
    last_used = max((index for index, entry in enumerate(fat) if entry != olefile.FREESECT), default=-1)
    sectors_in_file = file_size // sector_size - 1
    return sectors_in_file > last_used + 1


def _ole_active_hit(entries: list[list[str]]) -> str | None:
    for path in entries:
        lowered = [part.lower() for part in path]
        if lowered[0] == "macros" or "_vba_project_cur" in lowered or "vba" in lowered:
            return "VBA macro storage"
        if lowered[-1] in ("_vba_project", "\x01ole10native", "equation native"):
            return "macro or embedded object stream"
        if lowered[0] == "objectpool" and len(lowered) > 1:
            return "embedded OLE object"
    return None
