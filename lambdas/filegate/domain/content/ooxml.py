"""ZIP / OOXML checks: hostile ZIP structure from the central directory, then the package's parts.

zipfile and ElementTree are imported on first use. The bounds are read from the package at call
time, so they have one definition (``filegate.domain.content.MAX_ZIP_*`` and the others).
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import re
import struct
from typing import TYPE_CHECKING

from filegate.domain import content
from filegate.domain.content.common import (
    DOCX,
    PPTX,
    XLSX,
    _active,
    _drain,
    _Refused,
    _type_mismatch,
    allowed_link,
)

if TYPE_CHECKING:
    import zipfile
    from xml.etree.ElementTree import Element

#: The main part's content type for each OOXML type, plain first, then its macro-enabled sibling.
_OOXML_MAIN: dict[str, tuple[str, ...]] = {
    DOCX: ("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
           "application/vnd.ms-word.document.macroenabled.main+xml"),
    XLSX: ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
           "application/vnd.ms-excel.sheet.macroenabled.main+xml"),
    PPTX: ("application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
           "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml",
           "application/vnd.ms-powerpoint.slideshow.macroenabled.main+xml"),
}
_OOXML_FORBIDDEN_CONTENT_TYPES = (b"macroenabled", b"vbaproject", b"vnd.ms-office.vba", b"activex", b"oleobject",
                                  b"macrosheet", b"vnd.ms-excel.intlmacrosheet",
                                  # Formats Word imports whole (altChunk): RTF carries OLE objects
                                  # (\object), HTML and MHTML carry script.
                                  b"rtf", b"text/html", b"xhtml", b"mhtml", b"message/rfc822", b"multipart/related")
_OOXML_FORBIDDEN_RELATIONSHIPS = ("/vbaproject", "/wordvbadata", "/oleobject", "/package", "/control",
                                  "/activexcontrol", "/activexcontrolbinary", "/xlmacrosheet",
                                  "/xlintlmacrosheet", "/keymapcustomizations",
                                  # Content imported from another document or loaded in a frame.
                                  "/afchunk", "/subdocument", "/frame")
#: Bytes that start an OLE compound file or a Windows executable: never inside a package part.
_EMBEDDED_EXECUTABLE_HEADS = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"MZ")


def _zip_directory_ends_file(data: bytes) -> bool:
    """True when the end-of-central-directory record (and its comment) ends the file exactly."""
    position = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if position < 0 or position + 22 > len(data):
        return False
    comment_length = int(struct.unpack_from("<H", data, position + 20)[0])
    return position + 22 + comment_length == len(data)


def _zip_bounds(members: list[zipfile.ZipInfo], file_size: int) -> None:
    """Refuse hostile ZIP structure from the central directory, before anything is inflated."""
    if len(members) > content.MAX_ZIP_MEMBERS:
        raise _active("ooxml: too many members")
    seen: set[str] = set()
    total = 0
    for member in members:
        name = member.filename
        lowered = name.lower()
        if (name.startswith(("/", "\\")) or "\\" in name or "\x00" in name or re.match(r"[A-Za-z]:", name)
                or ".." in name.split("/")):
            raise _active("ooxml: absolute or traversing member name")
        if lowered in seen:
            raise _active("ooxml: duplicate member name")
        seen.add(lowered)
        if member.flag_bits & 0x1:
            raise _active("ooxml: encrypted member")
        if member.compress_type not in (0, 8):
            raise _active("ooxml: compression method OOXML does not allow")
        if member.file_size > content.MAX_ZIP_MEMBER_BYTES:
            raise _active("ooxml: member inflates past the size bound")
        if member.file_size > content.RATIO_FLOOR_BYTES and member.file_size > content.MAX_ZIP_MEMBER_RATIO * max(
                member.compress_size, 1):
            raise _active(f"ooxml: member compression ratio over {content.MAX_ZIP_MEMBER_RATIO}")
        total += member.file_size
    if total > content.MAX_ZIP_TOTAL_BYTES:
        raise _active("ooxml: members inflate past the total size bound")
    if total > content.RATIO_FLOOR_BYTES and total > content.MAX_ZIP_TOTAL_RATIO * file_size:
        raise _active(f"ooxml: overall compression ratio over {content.MAX_ZIP_TOTAL_RATIO}")



def _zip_read_xml(archive: zipfile.ZipFile, member: zipfile.ZipInfo | None, what: str) -> Element:
    """Parse one small XML part (``what`` is a fixed name for messages, never the file's)."""
    from xml.etree import ElementTree

    if member is None:
        raise _type_mismatch(f"ooxml: no {what}")
    if member.file_size > content.MAX_XML_PART_BYTES:
        raise _active("ooxml: XML part over its size bound")
    try:
        with archive.open(member) as stream:
            raw = _drain(stream, content.MAX_XML_PART_BYTES)
    except _Refused:
        raise
    except Exception as error:
        raise _type_mismatch(f"ooxml: {what} does not inflate") from error
    if re.search(rb"<!(DOCTYPE|ENTITY)", raw, re.IGNORECASE):
        raise _active("ooxml: DTD in a package part")
    try:
        return ElementTree.fromstring(raw)  # noqa: S314 (no DTD: checked above; expat bounds expansion)
    except Exception as error:
        raise _type_mismatch(f"ooxml: {what} is not well-formed XML") from error


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _part_content_type(content_types: Element, part: str) -> str:
    """A part's content type by OPC's rule: its Override, else the Default for its extension."""
    extension = part.rsplit(".", 1)[-1] if "." in part.rsplit("/", 1)[-1] else ""
    default = ""
    for element in content_types:
        kind = _local(element.tag)
        if kind == "Override" and element.get("PartName", "").lstrip("/").lower() == part:
            return element.get("ContentType", "").lower()
        if kind == "Default" and element.get("Extension", "").lower() == extension:
            default = element.get("ContentType", "").lower()
    return default


def _office_document_targets(rels: Element) -> set[str]:
    targets = set()
    for element in rels:
        if _local(element.tag) == "Relationship" and element.get("Type", "").endswith("/officeDocument"):
            targets.add(element.get("Target", "").lstrip("/").lower())
    return targets


def _ooxml_active(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], names: dict[str, zipfile.ZipInfo],
                  content_types: Element) -> None:
    _ooxml_part_names(names)
    for element in content_types:
        declared = element.get("ContentType", "").lower().encode()
        if any(marker in declared for marker in _OOXML_FORBIDDEN_CONTENT_TYPES):
            raise _active("ooxml: macro, ActiveX or OLE content type")
    _ooxml_relationships(archive, names)
    for member in members:
        try:
            with archive.open(member) as stream:
                head = stream.read(8)
                _drain(stream)
        except Exception as error:
            raise _type_mismatch("ooxml: a member does not inflate with a correct CRC") from error
        if head.startswith(_EMBEDDED_EXECUTABLE_HEADS):
            raise _active("ooxml: a part is an OLE compound file or an executable")


def _ooxml_part_names(names: dict[str, zipfile.ZipInfo]) -> None:
    for lowered in names:
        segments = lowered.split("/")
        base = segments[-1]
        if base.startswith(("vbaproject", "vbadata")):
            raise _active("ooxml: VBA macro part")
        if "activex" in segments:
            raise _active("ooxml: ActiveX part")
        if base.startswith("oleobject"):
            raise _active("ooxml: embedded OLE object")
        if "embeddings" in segments:
            raise _active("ooxml: embedded object")
        if "macrosheets" in segments:
            raise _active("ooxml: Excel 4.0 macro sheet")


def _ooxml_relationships(archive: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> None:
    rels = [member for lowered, member in names.items() if lowered.endswith(".rels")]
    if len(rels) > content.MAX_RELS_PARTS:
        raise _active("ooxml: too many relationship parts")
    for member in rels:
        for element in _zip_read_xml(archive, member, "relationships part"):
            if _local(element.tag) != "Relationship":
                continue
            kind = element.get("Type", "").lower()
            if kind.endswith(_OOXML_FORBIDDEN_RELATIONSHIPS):
                raise _active("ooxml: macro, ActiveX, OLE or package relationship")
            if element.get("TargetMode", "").lower() == "external":
                if not kind.endswith("/hyperlink"):
                    raise _active("ooxml: external relationship other than a hyperlink")
                if not allowed_link(element.get("Target", "")):
                    raise _active("ooxml: a hyperlink to a scheme other than http, https or mailto")

