"""Content checks for quarantined uploads: bytes in, verdict out (docs/verification.md).

``inspect_content`` runs the checks in order and the first failure is the reason:

1. **size** (``size_mismatch``): ``len(data)`` equals the declared size and is within the rule's
   ``max_bytes``.
2. **type** (``unsupported``, ``type_mismatch``): a declared type without a checker here is
   ``unsupported`` (fail closed). Otherwise ``puremagic`` must see the declared family in the
   bytes, and a stricter structural check of our own must agree:

   - PDF: ``%PDF-1.x``/``%PDF-2.x`` at offset 0 (the spec's 1,024-byte tolerance is an Acrobat
     habit, and bytes before the header are how PDF polyglots are made), the last line
     ``%%EOF``, and ``pypdf`` can open it (catalog, at least one page). A PDF pypdf cannot parse
     is ``type_mismatch``: we cannot establish that it is a PDF at all, and that is the
     truthful thing to tell an honest uploader with a damaged file. A password-protected PDF
     (no empty user password) cannot be inspected: ``unsupported``, as GuardDuty says for
     password-protected files.
   - DOCX / XLSX / PPTX: a ZIP (``PK\\x03\\x04`` at 0, central directory ending the file) whose
     ``_rels/.rels`` ``officeDocument`` relationship points at a present part whose content type
     (its ``[Content_Types].xml`` Override, else the Default for its extension) is the declared
     type's main part, or its macro-enabled sibling (which then fails the active-content check).
     The ZIP's declared sizes are bounded *before* any member is inflated, so a zip bomb is
     ``active_content`` even when it would also fail the package check.
   - DOC: OLE2 (``olefile``, defects raised at ``DEFECT_INCORRECT``), a Word 97+
     ``WordDocument`` stream (FIB ``0xA5EC``, nFib >= 0xC1), every stream readable, no sector
     after the last allocated one. Word 6/95 (macros live inside the document stream, where no
     storage scan sees them) and encrypted documents are ``unsupported``.
   - PNG (chunk walk: IHDR first, CRCs, IEND), JPEG (SOI, an EOI), GIF (87a/89a, trailer),
     WebP (RIFF size within the file); then Pillow must open it *as that format*.

3. **active content** (``active_content``):

   - PDF (``pypdf`` object graph, from the trailer and from every xref entry, bounded by object
     and node counts; plus a raw scan of the bytes with ``#xx`` name escapes decoded, which
     also sees objects no xref lists; short names such as ``/JS`` only outside stream bodies,
     where binary data would match them by chance): ``/JS``, ``/JavaScript``, ``/Launch``, ``/EmbeddedFile(s)``,
     ``/EF``, ``/FileAttachment``, ``/RichMedia``, ``/XFA``, ``/SubmitForm``, ``/ImportData``,
     ``/GoToR``, ``/GoToE``, ``/Rendition``, ``/Movie``, ``/Sound``, ``/3D``, and ``/URI`` links
     to ``javascript:``, ``vbscript:``, ``data:``, ``file:`` or UNC targets. A PDF that
     exceeds the work bounds is hostile structure. A long forbidden name inside stream data
     (an uncompressed text stream that shows ``/JavaScript``) is refused too: fail closed.
   - OOXML (``zipfile``): member count, per-member and total inflated size, per-member and
     overall ratio; no absolute, drive, backslash, NUL or ``..`` member names, no duplicates, no
     encrypted members, only stored/deflated members; no ``vbaProject``/``vbaData`` part,
     ``activeX`` parts, ``oleObject`` parts, ``macrosheets``, and no ``embeddings/`` at all
     (an embedded package is a document we would have to verify recursively: refused instead);
     no macro-enabled, VBA, ActiveX or OLE content type; no relationship of an OLE, package,
     control or VBA type; no external relationship but hyperlinks (remote templates and
     Follina-style ``oleObject`` targets); no DTD in any part we parse; every member inflates
     with a correct CRC. Not checked: DDE field codes (Word disables DDE by default since
     ADV170021).
   - DOC (``olefile``; ``oletools`` would add pyparsing, colorclass, easygui, pcodedmp and
     msoffcrypto-tool with ``cryptography`` to the bundle, for a decision olefile's directory
     answers): no ``Macros``, ``VBA`` or ``_VBA_PROJECT_CUR`` storage, no ``_VBA_PROJECT``
     stream, no embedded OLE objects (``ObjectPool`` with content, ``\\x01Ole10Native``,
     ``Equation Native``).
   - Images (Pillow): at most ``MAX_IMAGE_PIXELS`` pixels, checked from the header before any
     pixel is decoded (pixel bombs), fully decoded (truncation is ``type_mismatch``), then
     re-encoded in the same format with no metadata: no EXIF (JPEG orientation is applied to
     the pixels first, so the picture shows as the uploader saw it), no XMP, text chunks or
     comments; the ICC profile and transparency are kept. ``served`` is the re-encoded bytes, so
     trailing payloads and polyglots are gone. PNG, GIF and lossless WebP decode to exactly the
     same pixels; JPEG is re-encoded with the original quantisation tables and subsampling and
     lossy WebP at quality 90, so their pixels match within a few levels, not bit for bit.
     Animated GIF, PNG (APNG) and WebP are ``unsupported``; a JPEG with Multi-Picture images
     (MPO: phones' depth and HDR gain maps) keeps only its primary image. An image Pillow
     cannot re-encode is ``unsupported``.

Supported declared types: ``SUPPORTED_TYPES`` (PDF, DOC, DOCX, XLSX, PPTX, PNG, JPEG, GIF,
WebP). Every other type ``rules.CONTENT_TYPE_EXTENSIONS`` allows is ``unsupported``: XLS and PPT
(Excel 4.0 macros live inside BIFF records, out of a storage scan's sight), ODT/ODS, ZIP, TXT,
CSV, AVIF, HEIC, TIFF, MP3, MP4.

``decide`` adds the malware verdict. ``inspect_content`` never raises: an unexpected error in a
parser counts as ``type_mismatch`` while the type is being established and ``active_content``
after that. ``note`` is built only from fixed words and numbers, never from the file's bytes or
names; pypdf's own log lines (which quote what it read) are muted while a PDF is inspected.

Layout: this package holds the interface, the bounds and the orchestration (``_Checker``, the
entry points); one module per format family holds its checks (``sniff`` for puremagic, ``pdf``,
``ooxml`` for ZIP/OOXML, ``ole`` for .doc, ``images``), with ``common`` for the MIME names and
the refusal they share. The format modules read the ``MAX_*`` bounds from this package at call
time, so each bound has one definition and lowering it here (as the tests do) takes effect.

Import cost: this package imports only the standard library's light modules and
``filegate.domain.records``; puremagic (about 40 ms: it loads its signature table), pypdf,
Pillow (and only the plugin for the format at hand), olefile, zipfile and ElementTree are
imported on first use. ``preload()`` imports them all, for a handler that wants the cost in its
init phase rather than in its first invocation.
"""

# Parsers are imported where they are used, so that a cold start pays only for what it inspects.
# ruff: noqa: PLC0415

from __future__ import annotations

import hashlib
import io
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from filegate.domain.content.common import (
    DOC,
    DOCX,
    GIF,
    JPEG,
    PDF,
    PNG,
    PPTX,
    WEBP,
    XLSX,
    _active,
    _Refused,
    _type_mismatch,
    _unsupported,
)
from filegate.domain.content.images import _PIL_FORMAT, _gif_frames, _open_image, _png_structure, _reencode
from filegate.domain.content.ole import _OLE_SIGNATURE, _ole_active_hit, _ole_word_document
from filegate.domain.content.ooxml import (
    _OOXML_MAIN,
    _local,
    _office_document_targets,
    _ooxml_active,
    _part_content_type,
    _zip_bounds,
    _zip_directory_ends_file,
    _zip_read_xml,
)
from filegate.domain.content.pdf import (
    _PDF_HEADER,
    _PDF_TRAILING_WHITESPACE,
    _pdf_graph_hit,
    _pdf_open,
    _pdf_raw_hit,
    _silenced,
)
from filegate.domain.content.sniff import _PUREMAGIC_FAMILY, _puremagic_types, _sniff
from filegate.domain.records import RejectReason

if TYPE_CHECKING:
    import zipfile

#: The public interface (the MIME names are defined in ``common``, for the format modules).
__all__ = [
    "DOC", "DOCX", "GIF", "JPEG", "MAX_IMAGE_PIXELS", "MAX_OLE_ENTRIES", "MAX_PDF_DEPTH", "MAX_PDF_NODES",
    "MAX_PDF_OBJECTS", "MAX_PNG_CHUNKS", "MAX_RELS_PARTS", "MAX_XML_PART_BYTES", "MAX_ZIP_MEMBERS",
    "MAX_ZIP_MEMBER_BYTES", "MAX_ZIP_MEMBER_RATIO", "MAX_ZIP_TOTAL_BYTES", "MAX_ZIP_TOTAL_RATIO", "PDF", "PNG",
    "PPTX", "RATIO_FLOOR_BYTES", "SUPPORTED_TYPES", "WEBP", "XLSX", "Inspection", "decide", "inspect_content",
    "preload",
]

#: Declared types with a checker here; every other type is ``unsupported``.
SUPPORTED_TYPES: frozenset[str] = frozenset({PDF, DOC, DOCX, XLSX, PPTX, PNG, JPEG, GIF, WEBP})
#: Markup a browser would render as HTML, near the start of a file that claims to be a PDF.
_PDF_FIRST_OBJECT = re.compile(rb"\d+\s+\d+\s+obj\b")
_HTML_MARKUP = re.compile(rb"<\s*(html|script|!doctype|body|head|iframe|svg|object|embed)\b", re.IGNORECASE)

# Bounds: what a hostile file may make us do.
MAX_IMAGE_PIXELS = 50_000_000  # a 48-megapixel phone photo passes; decoded RGB is ~150 MB
MAX_PNG_CHUNKS = 100_000
MAX_PDF_OBJECTS = 100_000
MAX_PDF_NODES = 2_000_000  # dictionary entries and array items visited, all objects together
MAX_PDF_DEPTH = 100
MAX_ZIP_MEMBERS = 5_000
MAX_ZIP_MEMBER_BYTES = 128 * 1024**2
MAX_ZIP_TOTAL_BYTES = 256 * 1024**2
MAX_ZIP_MEMBER_RATIO = 200  # inflated / compressed, for members over RATIO_FLOOR_BYTES
MAX_ZIP_TOTAL_RATIO = 100  # all members inflated / file size, when over RATIO_FLOOR_BYTES
RATIO_FLOOR_BYTES = 1024**2
MAX_XML_PART_BYTES = 4 * 1024**2  # [Content_Types].xml and *.rels we parse
MAX_RELS_PARTS = 2_000
MAX_OLE_ENTRIES = 10_000

Stage = Literal["type", "active"]


@dataclass(frozen=True)
class Inspection:
    reason: RejectReason | None  # None: every content check passed
    detected_type: str | None  # what the bytes are (a MIME type), when known
    served: bytes  # what the final key will hold: the upload, or re-encoded image bytes
    sha256: str  # hex SHA-256 of `served`
    note: str  # a short, content-free explanation for logs ("pdf: /JavaScript")


class _Checker:
    """One inspection's state: which stage is running decides what an unexpected error means."""

    def __init__(self, data: bytes, declared_type: str) -> None:
        self.data = data
        self.declared_type = declared_type
        self.stage: Stage = "type"
        self.served = data

    def run(self) -> str:
        if self.declared_type not in SUPPORTED_TYPES:
            raise _unsupported("type: no checker for the declared type")
        self._puremagic()
        if self.declared_type == PDF:
            with _silenced("pypdf"):  # its warnings quote the file's tokens: never into our logs
                self._pdf()
        elif self.declared_type == DOC:
            self._doc()
        elif self.declared_type in _OOXML_MAIN:
            self._ooxml()
        else:
            self._image()
        return "ok"

    # -- type ------------------------------------------------------------------------------------

    def _puremagic(self) -> None:
        if not self.data:
            raise _type_mismatch("type: empty file")
        seen = _puremagic_types(self.data)
        if not seen & _PUREMAGIC_FAMILY[self.declared_type]:
            raise _type_mismatch("type: signature does not match the declared type")

    # -- PDF -------------------------------------------------------------------------------------

    def _pdf(self) -> None:
        data = self.data
        if not _PDF_HEADER.match(data):
            raise _type_mismatch("pdf: no %PDF-1.x/2.x header at offset 0")
        # Before its first object a PDF holds only its header and a binary comment: markup there
        # is an HTML document wearing a PDF header (what a sniffing browser would render).
        first_object = _PDF_FIRST_OBJECT.search(data, 0, 4096)
        if _HTML_MARKUP.search(data, 0, first_object.start() if first_object else 1024):
            raise _type_mismatch("pdf: HTML markup before the first object (a PDF/HTML polyglot)")
        if not data.rstrip(_PDF_TRAILING_WHITESPACE).endswith(b"%%EOF"):
            raise _type_mismatch("pdf: the last line is not %%EOF")
        from pypdf.errors import LimitReachedError

        reader = _pdf_open(data)
        self.stage = "active"
        try:
            hit = _pdf_graph_hit(reader)
        except LimitReachedError as error:
            raise _active("pdf: exceeds pypdf's parsing limits") from error
        if hit is not None:
            raise _active(f"pdf: {hit}")
        raw = _pdf_raw_hit(data)
        if raw is not None:
            raise _active(f"pdf: {raw} (raw scan)")

    # -- OOXML -----------------------------------------------------------------------------------

    def _ooxml(self) -> None:
        import zipfile

        data = self.data
        if not data.startswith(b"PK\x03\x04"):
            raise _type_mismatch("ooxml: not a ZIP at offset 0")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            members = archive.infolist()
        except Exception as error:
            raise _type_mismatch("ooxml: not a readable ZIP") from error
        with archive:
            self._package(archive, members)

    def _package(self, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> None:
        data = self.data
        if not _zip_directory_ends_file(data):
            raise _type_mismatch("ooxml: bytes after the ZIP's central directory")
        _zip_bounds(members, len(data))
        names = {member.filename.lower(): member for member in members}
        content_types = _zip_read_xml(archive, names.get("[content_types].xml"), "[Content_Types].xml")
        package_rels = _zip_read_xml(archive, names.get("_rels/.rels"), "_rels/.rels")
        wanted = _OOXML_MAIN[self.declared_type]
        if _local(content_types.tag) != "Types" or not any(
                target in names and _part_content_type(content_types, target) in wanted
                for target in _office_document_targets(package_rels)):
            raise _type_mismatch("ooxml: no main part of the declared type")
        self.stage = "active"
        _ooxml_active(archive, members, names, content_types)

    # -- legacy Word -----------------------------------------------------------------------------

    def _doc(self) -> None:
        import olefile

        data = self.data
        if not data.startswith(_OLE_SIGNATURE):
            raise _type_mismatch("doc: not an OLE2 file")
        try:
            # A file object, never bytes: olefile takes bytes under 1,536 long for a *path* to open.
            ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
        except Exception as error:
            raise _type_mismatch("doc: olefile cannot parse it") from error
        try:
            entries = _ole_word_document(ole, len(data))
            self.stage = "active"
            hit = _ole_active_hit(entries)
            if hit is not None:
                raise _active(f"doc: {hit}")
        except _Refused:
            raise
        except Exception as error:
            if self.stage == "active":
                raise _active("doc: OLE structure we cannot inspect") from error
            raise _type_mismatch("doc: OLE structure olefile refuses") from error
        finally:
            ole.close()

    # -- images ----------------------------------------------------------------------------------

    def _image(self) -> None:
        declared, data = self.declared_type, self.data
        if declared == PNG:
            _png_structure(data)
        elif declared == JPEG:
            if not data.startswith(b"\xff\xd8\xff") or b"\xff\xd9" not in data[3:]:
                raise _type_mismatch("jpeg: no SOI/EOI markers")
        elif declared == GIF:
            if _gif_frames(data) != 1:
                raise _unsupported("image: animated")
        elif declared == WEBP:
            if len(data) < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
                raise _type_mismatch("webp: no RIFF/WEBP header")
            if struct.unpack_from("<I", data, 4)[0] + 8 > len(data):
                raise _type_mismatch("webp: RIFF size runs past the end of the file")
        image = _open_image(data, _PIL_FORMAT[declared])
        self.stage = "active"
        self.served = _reencode(image, declared, data)



# -- entry points --------------------------------------------------------------------------------


def inspect_content(data: bytes, *, declared_type: str, declared_size: int, max_bytes: int) -> Inspection:
    """Size, type and active-content checks on one upload; never raises."""
    data = bytes(data)
    checker = _Checker(data, declared_type)
    try:
        if len(data) != declared_size:
            raise _Refused(RejectReason.SIZE_MISMATCH, f"size: {len(data)} bytes, {declared_size} declared")
        if len(data) > max_bytes:
            raise _Refused(RejectReason.SIZE_MISMATCH, f"size: {len(data)} bytes, over the rule's {max_bytes}")
        note = checker.run()
    except _Refused as refused:
        return _verdict(data, refused.reason, refused.note, detected=_detected(checker))
    except Exception as error:  # a parser failed in a way nobody foresaw: fail closed
        reason = RejectReason.TYPE_MISMATCH if checker.stage == "type" else RejectReason.ACTIVE_CONTENT
        return _verdict(data, reason, f"{checker.stage}: unexpected {type(error).__name__}",
                        detected=_detected(checker))
    served = checker.served
    return Inspection(reason=None, detected_type=declared_type, served=served,
                      sha256=hashlib.sha256(served).hexdigest(), note=note)


def _detected(checker: _Checker) -> str | None:
    """The declared type once the type check passed; before that, what puremagic sees."""
    if checker.stage == "active":
        return checker.declared_type
    try:
        return _sniff(checker.data)
    except Exception:
        return None


def _verdict(data: bytes, reason: RejectReason, note: str, *, detected: str | None) -> Inspection:
    return Inspection(reason=reason, detected_type=detected, served=data, sha256=hashlib.sha256(data).hexdigest(),
                      note=note)


def decide(inspection: Inspection, *, scan_verdict: str | None, scanning: Literal["guardduty", "none"]
           ) -> RejectReason | None:
    """The final reason (None: clean): the content checks first, then the malware verdict."""
    if inspection.reason is not None:
        return inspection.reason
    mode: str = scanning
    if mode == "none":
        return None
    if mode != "guardduty":
        return RejectReason.SCAN_FAILED  # an unknown setting never promotes a file
    if scan_verdict == "NO_THREATS_FOUND":
        return None
    # THREATS_FOUND, UNSUPPORTED; ACCESS_DENIED, FAILED, anything else and no verdict: scan_failed
    return _VERDICT_REASONS.get(scan_verdict or "", RejectReason.SCAN_FAILED)


_VERDICT_REASONS: dict[str, RejectReason] = {
    "THREATS_FOUND": RejectReason.MALWARE,
    "UNSUPPORTED": RejectReason.UNSUPPORTED,
}


def preload() -> None:
    """Import every parser now (e.g. in a Lambda's init phase) instead of on first use."""
    import xml.etree.ElementTree
    import zipfile

    import olefile
    import puremagic
    import pypdf
    from PIL import GifImagePlugin, Image, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

    del xml, zipfile, olefile, puremagic, pypdf, GifImagePlugin, Image, ImageOps, JpegImagePlugin
    del PngImagePlugin, WebPImagePlugin

