"""puremagic sniffing: the first, signature-level type check, and the detected type for the record.

puremagic costs about 40 ms to import (its signature table), so it is imported on first use.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

from filegate.domain.content.common import DOC, DOCX, GIF, JPEG, PDF, PNG, PPTX, WEBP, XLSX
from filegate.domain.content.ole import _OLE_SIGNATURE

_PUREMAGIC_FAMILY: dict[str, frozenset[str]] = {
    PDF: frozenset({PDF}),
    DOC: frozenset({DOC}),
    # puremagic reads only the first bytes, so every ZIP is a candidate for every ZIP-based type;
    # the package check (ooxml) tells DOCX from XLSX from PPTX.
    DOCX: frozenset({DOCX, XLSX, PPTX, "application/zip"}),
    XLSX: frozenset({DOCX, XLSX, PPTX, "application/zip"}),
    PPTX: frozenset({DOCX, XLSX, PPTX, "application/zip"}),
    PNG: frozenset({PNG}),
    JPEG: frozenset({JPEG}),
    GIF: frozenset({GIF}),
    WEBP: frozenset({WEBP}),
}


def _puremagic_types(data: bytes) -> set[str]:
    import puremagic

    try:
        matches = puremagic.magic_string(data)
    except Exception:  # puremagic raises on empty or unknown input
        return set()
    return {str(match.mime_type).lower() for match in matches if match.mime_type}


def _sniff(data: bytes) -> str | None:
    """puremagic's best guess at what the bytes are, for the record (never a verdict).

    From the first bytes alone every ZIP could be any ZIP-based type and every OLE2 file any
    OLE-based one, so those are named by their container.
    """
    if data.startswith(b"PK\x03\x04"):
        return "application/zip"
    if data.startswith(_OLE_SIGNATURE):
        return "application/x-ole-storage"
    if not data:
        return None
    import puremagic

    try:
        matches = puremagic.magic_string(data)
    except Exception:
        return None
    for match in matches:
        if match.mime_type:
            return str(match.mime_type)
    return None
