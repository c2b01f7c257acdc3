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

Import cost: this module imports only the standard library's light modules and
``filegate.domain.records``; puremagic (about 40 ms: it loads its signature table), pypdf,
Pillow (and only the plugin for the format at hand), olefile, zipfile and ElementTree are
imported on first use. ``preload()`` imports them all, for a handler that wants the cost in its
init phase rather than in its first invocation.
"""

# Parsers are imported where they are used, so that a cold start pays only for what it inspects.
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from filegate.domain.records import RejectReason

if TYPE_CHECKING:
    import zipfile
    from xml.etree.ElementTree import Element

    from PIL import Image as PILImage

PDF = "application/pdf"
DOC = "application/msword"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"

#: Declared types with a checker here; every other type is ``unsupported``.
SUPPORTED_TYPES: frozenset[str] = frozenset({PDF, DOC, DOCX, XLSX, PPTX, PNG, JPEG, GIF, WEBP})

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

_PUREMAGIC_FAMILY: dict[str, frozenset[str]] = {
    PDF: frozenset({PDF}),
    DOC: frozenset({DOC}),
    # puremagic reads only the first bytes, so every ZIP is a candidate for every ZIP-based type;
    # the package check below tells DOCX from XLSX from PPTX.
    DOCX: frozenset({DOCX, XLSX, PPTX, "application/zip"}),
    XLSX: frozenset({DOCX, XLSX, PPTX, "application/zip"}),
    PPTX: frozenset({DOCX, XLSX, PPTX, "application/zip"}),
    PNG: frozenset({PNG}),
    JPEG: frozenset({JPEG}),
    GIF: frozenset({GIF}),
    WEBP: frozenset({WEBP}),
}

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
                                  b"macrosheet", b"vnd.ms-excel.intlmacrosheet")
_OOXML_FORBIDDEN_RELATIONSHIPS = ("/vbaproject", "/wordvbadata", "/oleobject", "/package", "/control",
                                  "/activexcontrol", "/activexcontrolbinary", "/xlmacrosheet",
                                  "/xlintlmacrosheet", "/keymapcustomizations")

_PDF_FORBIDDEN = frozenset({
    "/JS", "/JavaScript", "/Launch", "/EmbeddedFile", "/EmbeddedFiles", "/EF", "/FileAttachment", "/RichMedia",
    "/RichMediaExecute", "/XFA", "/SubmitForm", "/ImportData", "/GoToR", "/GoToE", "/Rendition", "/Movie",
    "/Sound", "/3D",
})
#: The raw scan looks for long names everywhere; short ones (a 3-byte name turns up by chance in
#: about one MiB of compressed or image data in 200) only outside stream bodies.
_PDF_RAW_SHORT = frozenset(name.encode() for name in _PDF_FORBIDDEN if len(name) < 6)
_PDF_RAW_LONG = frozenset(name.encode() for name in _PDF_FORBIDDEN if len(name) >= 6)
#: Link targets a reader would run or open locally (UNC paths leak Windows credentials).
_PDF_FORBIDDEN_URI = ("javascript:", "vbscript:", "data:", "file:", "\\\\")
# A PDF name: '/' then regular characters (anything but white space and delimiters).
_PDF_NAME = re.compile(rb"/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*")
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_HEADER = re.compile(rb"%PDF-[12]\.\d")
_PDF_TRAILING_WHITESPACE = b"\x00\t\n\x0c\r "

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PIL_FORMAT = {PNG: "PNG", JPEG: "JPEG", GIF: "GIF", WEBP: "WEBP"}

Stage = Literal["type", "active"]


@dataclass(frozen=True)
class Inspection:
    reason: RejectReason | None  # None: every content check passed
    detected_type: str | None  # what the bytes are (a MIME type), when known
    served: bytes  # what the final key will hold: the upload, or re-encoded image bytes
    sha256: str  # hex SHA-256 of `served`
    note: str  # a short, content-free explanation for logs ("pdf: /JavaScript")


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


# -- puremagic -----------------------------------------------------------------------------------


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


# -- PDF helpers ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _silenced(name: str) -> Iterator[None]:
    """Mute a library's logger for the duration (uploads are personal data; logs are not for them)."""
    import logging

    logger = logging.getLogger(name)  # its modules log to children ("pypdf._reader"): level, not disabled
    previous = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _pdf_open(data: bytes) -> Any:
    """A pypdf reader on a PDF with a catalog and at least one page, decrypted if it can be."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                decrypted = reader.decrypt("")
            except (DependencyError, NotImplementedError) as error:
                raise _unsupported("pdf: encrypted with an algorithm we cannot open") from error
            if not decrypted:
                raise _unsupported("pdf: password-protected")
        root = reader.trailer.get("/Root")
        root = root.get_object() if root is not None else None
        if not isinstance(root, dict):
            raise _type_mismatch("pdf: no document catalog")
        if len(reader.pages) < 1:
            raise _type_mismatch("pdf: no pages")
    except _Refused:
        raise
    except LimitReachedError as error:
        raise _active("pdf: exceeds pypdf's parsing limits") from error
    except FileNotDecryptedError as error:
        raise _unsupported("pdf: password-protected") from error
    except RecursionError as error:
        raise _active("pdf: structure nested too deeply") from error
    except Exception as error:
        raise _type_mismatch("pdf: pypdf cannot parse it") from error
    return reader


def _pdf_graph_hit(reader: Any) -> str | None:
    """The first forbidden name in the object graph (trailer and every xref entry), bounded."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, StreamObject

    seen: set[tuple[int, int]] = set()
    budget = [MAX_PDF_NODES]
    objects = [0]

    def resolve(ref: IndirectObject) -> Any:
        key = (ref.idnum, ref.generation)
        if key in seen:
            return None
        seen.add(key)
        objects[0] += 1
        if objects[0] > MAX_PDF_OBJECTS:
            raise _active("pdf: too many objects")
        try:
            return ref.get_object()
        except Exception:
            return None  # a dangling reference: readers treat it as null

    def visit(node: Any, depth: int) -> str | None:
        # Iterative over siblings, recursive over depth (bounded by MAX_PDF_DEPTH).
        if depth > MAX_PDF_DEPTH:
            raise _active("pdf: structure nested too deeply")
        if isinstance(node, IndirectObject):
            node = resolve(node)
        if isinstance(node, NameObject):
            return str(node) if str(node) in _PDF_FORBIDDEN else None
        if isinstance(node, DictionaryObject | StreamObject):
            items: list[Any] = []
            for key, value in node.items():
                if str(key) in _PDF_FORBIDDEN:
                    return str(key)
                if key == "/URI" and _forbidden_uri(value):
                    return "/URI with a script or local target"
                items.append(value)
        elif isinstance(node, ArrayObject):
            items = list(node)
        else:
            return None
        budget[0] -= len(items) + 1
        if budget[0] < 0:
            raise _active("pdf: too many objects")
        for item in items:
            hit = visit(item, depth + 1)
            if hit is not None:
                return hit
        return None

    hit = visit(reader.trailer, 0)
    if hit is not None:
        return hit
    numbers: set[tuple[int, int]] = set()
    for generation, entries in reader.xref.items():
        numbers.update((int(idnum), int(generation)) for idnum in entries)
    numbers.update((int(idnum), 0) for idnum in reader.xref_objStm)
    if len(numbers) > MAX_PDF_OBJECTS:
        raise _active("pdf: too many objects")
    for idnum, generation in sorted(numbers):
        hit = visit(IndirectObject(idnum, generation, reader), 0)
        if hit is not None:
            return hit
    return None


def _forbidden_uri(value: Any) -> bool:
    try:
        target = value.get_object()
    except AttributeError:
        target = value
    except Exception:
        return True  # an unresolvable link target: fail closed
    text = target.decode("latin-1") if isinstance(target, bytes) else str(target)
    return "".join(ch for ch in text if ord(ch) > 0x20).lower().startswith(_PDF_FORBIDDEN_URI)


def _outside_stream_bodies(data: bytes) -> bytes:
    """The bytes with every ``stream`` EOL ... ``endstream`` body cut out (a body without an end stays)."""
    kept: list[bytes] = []
    position = search = 0
    while (start := data.find(b"stream", search)) >= 0:
        body = start + len(b"stream")
        search = body
        if data[start - 3:start] == b"end" or data[body:body + 1] not in (b"\r", b"\n"):
            continue
        end = data.find(b"endstream", body)
        if end < 0:
            break
        kept.append(data[position:body])
        position = search = end
    kept.append(data[position:])
    return b" ".join(kept)


def _pdf_raw_hit(data: bytes) -> str | None:
    """The first forbidden name in the raw bytes, ``#xx`` escapes decoded.

    Long names are looked for everywhere, stream data included (a stream a lenient reader
    mis-delimits could hide a dictionary); short names only outside ``stream``...``endstream``
    bodies, where a chance match in binary data is not a real name.
    """
    outside = _outside_stream_bodies(data)
    for source, forbidden in ((data, _PDF_RAW_LONG), (outside, _PDF_RAW_SHORT)):
        for match in _PDF_NAME.finditer(source):
            name = match.group()
            if b"#" in name:
                name = _PDF_NAME_ESCAPE.sub(lambda escape: bytes([int(escape.group(1), 16)]), name)
            if name in forbidden:
                return name.decode("ascii", "replace")
    return None


# -- ZIP / OOXML helpers -------------------------------------------------------------------------


def _zip_directory_ends_file(data: bytes) -> bool:
    """True when the end-of-central-directory record (and its comment) ends the file exactly."""
    position = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if position < 0 or position + 22 > len(data):
        return False
    comment_length = int(struct.unpack_from("<H", data, position + 20)[0])
    return position + 22 + comment_length == len(data)


def _zip_bounds(members: list[zipfile.ZipInfo], file_size: int) -> None:
    """Refuse hostile ZIP structure from the central directory, before anything is inflated."""
    if len(members) > MAX_ZIP_MEMBERS:
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
        if member.file_size > MAX_ZIP_MEMBER_BYTES:
            raise _active("ooxml: member inflates past the size bound")
        if member.file_size > RATIO_FLOOR_BYTES and member.file_size > MAX_ZIP_MEMBER_RATIO * max(
                member.compress_size, 1):
            raise _active(f"ooxml: member compression ratio over {MAX_ZIP_MEMBER_RATIO}")
        total += member.file_size
    if total > MAX_ZIP_TOTAL_BYTES:
        raise _active("ooxml: members inflate past the total size bound")
    if total > RATIO_FLOOR_BYTES and total > MAX_ZIP_TOTAL_RATIO * file_size:
        raise _active(f"ooxml: overall compression ratio over {MAX_ZIP_TOTAL_RATIO}")


def _drain(stream: Any, limit: int | None = None) -> bytes:
    """Read a stream to its end in chunks; keep (and bound) the bytes only when ``limit`` is set."""
    kept = bytearray()
    while chunk := stream.read(1024 * 1024):
        if limit is not None:
            kept += chunk
            if len(kept) > limit:
                raise _active("ooxml: XML part over its size bound")
    return bytes(kept)


def _zip_read_xml(archive: zipfile.ZipFile, member: zipfile.ZipInfo | None, what: str) -> Element:
    """Parse one small XML part (``what`` is a fixed name for messages, never the file's)."""
    from xml.etree import ElementTree

    if member is None:
        raise _type_mismatch(f"ooxml: no {what}")
    if member.file_size > MAX_XML_PART_BYTES:
        raise _active("ooxml: XML part over its size bound")
    try:
        with archive.open(member) as stream:
            raw = _drain(stream, MAX_XML_PART_BYTES)
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
                _drain(stream)
        except Exception as error:
            raise _type_mismatch("ooxml: a member does not inflate with a correct CRC") from error


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
    if len(rels) > MAX_RELS_PARTS:
        raise _active("ooxml: too many relationship parts")
    for member in rels:
        for element in _zip_read_xml(archive, member, "relationships part"):
            if _local(element.tag) != "Relationship":
                continue
            kind = element.get("Type", "").lower()
            if kind.endswith(_OOXML_FORBIDDEN_RELATIONSHIPS):
                raise _active("ooxml: macro, ActiveX, OLE or package relationship")
            if element.get("TargetMode", "").lower() == "external" and not kind.endswith("/hyperlink"):
                raise _active("ooxml: external relationship other than a hyperlink")


# -- OLE helpers ---------------------------------------------------------------------------------


def _ole_word_document(ole: Any, file_size: int) -> list[list[str]]:
    """Every entry of a Word 97+ document whose streams all read back; else a refusal."""
    import olefile

    entries: list[list[str]] = ole.listdir(streams=True, storages=True)
    if len(entries) > MAX_OLE_ENTRIES:
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


# -- image helpers -------------------------------------------------------------------------------


def _png_structure(data: bytes) -> None:
    if not data.startswith(_PNG_SIGNATURE):
        raise _type_mismatch("png: no PNG signature")
    position, chunks = len(_PNG_SIGNATURE), 0
    while True:
        if position + 12 > len(data):
            raise _type_mismatch("png: truncated before IEND")
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if length > 0x7FFFFFFF or end > len(data):
            raise _type_mismatch("png: chunk runs past the end of the file")
        if chunks == 0 and kind != b"IHDR":
            raise _type_mismatch("png: first chunk is not IHDR")
        crc = struct.unpack_from(">I", data, end - 4)[0]
        if zlib.crc32(data[position + 4:end - 4]) != crc:
            raise _type_mismatch("png: chunk CRC mismatch")
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise _active("png: too many chunks")
        position = end
        if kind == b"IEND":
            return


def _gif_frames(data: bytes) -> int:
    """Walk a GIF's blocks to its trailer; the number of images in it (bytes after are ignored)."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 14:
        raise _type_mismatch("gif: no GIF header")
    position = 13
    if data[10] & 0x80:
        position += 3 << ((data[10] & 7) + 1)
    frames = 0

    def sub_blocks(position: int) -> int:
        while True:
            if position >= len(data):
                raise _type_mismatch("gif: truncated before the trailer")
            size = data[position]
            position += 1 + size
            if size == 0:
                return position

    while True:
        if position >= len(data):
            raise _type_mismatch("gif: truncated before the trailer")
        block = data[position]
        if block == 0x3B:
            break
        if block == 0x21:
            position = sub_blocks(position + 2)
        elif block == 0x2C:
            if position + 10 > len(data):
                raise _type_mismatch("gif: truncated image descriptor")
            packed = data[position + 9]
            position += 10
            if packed & 0x80:
                position += 3 << ((packed & 7) + 1)
            position = sub_blocks(position + 1)
            frames += 1
        else:
            raise _type_mismatch("gif: unknown block")
    if frames == 0:
        raise _type_mismatch("gif: no image")
    return frames


def _open_image(data: bytes, pil_format: str) -> PILImage.Image:
    import warnings

    from PIL import Image

    _load_plugin(pil_format)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[pil_format])
    except Image.DecompressionBombError as error:
        raise _active("image: pixel count over the bound") from error
    except Exception as error:
        raise _type_mismatch("image: Pillow does not read it as the declared format") from error
    # A JPEG with a Multi-Picture (MPF) segment opens as MPO: phones write depth and HDR gain maps
    # that way. Only its primary image is kept (and re-encoded as a plain JPEG).
    primary_only = pil_format == "JPEG" and image.format == "MPO"
    if image.format != pil_format and not primary_only:
        raise _type_mismatch("image: decoded format differs from the declared one")
    width, height = image.size
    if width < 1 or height < 1:
        raise _type_mismatch("image: empty dimensions")
    if width * height > MAX_IMAGE_PIXELS:
        raise _active("image: pixel count over the bound")
    if not primary_only and (getattr(image, "is_animated", False) or getattr(image, "n_frames", 1) != 1):
        raise _unsupported("image: animated")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
    except Image.DecompressionBombError as error:
        raise _active("image: pixel count over the bound") from error
    except Exception as error:
        raise _type_mismatch("image: does not decode (truncated or corrupt)") from error
    return image


def _load_plugin(pil_format: str) -> None:
    """Import only the plugin needed: ``Image.open`` would otherwise import every plugin."""
    if pil_format == "PNG":
        from PIL import PngImagePlugin  # noqa: F401
    elif pil_format == "JPEG":
        from PIL import JpegImagePlugin  # noqa: F401
    elif pil_format == "GIF":
        from PIL import GifImagePlugin  # noqa: F401
    else:
        from PIL import WebPImagePlugin  # noqa: F401


def _webp_is_lossless(data: bytes) -> bool:
    position, end = 12, min(len(data), struct.unpack_from("<I", data, 4)[0] + 8)
    while position + 8 <= end:
        kind, size = data[position:position + 4], struct.unpack_from("<I", data, position + 4)[0]
        if kind == b"VP8L":
            return True
        if kind == b"VP8 ":
            return False
        position += 8 + size + (size & 1)
    return False


def _reencode(image: PILImage.Image, declared: str, data: bytes) -> bytes:
    from PIL import ImageOps

    params: dict[str, Any] = {}
    icc = image.info.get("icc_profile")
    if icc:
        params["icc_profile"] = icc
    if declared == JPEG:
        from PIL import JpegImagePlugin

        quantization = getattr(image, "quantization", None)
        if quantization:
            params["qtables"] = quantization
        sampling = JpegImagePlugin.get_sampling(image)
        if sampling != -1:
            params["subsampling"] = sampling
        try:
            clean = ImageOps.exif_transpose(image)
        except Exception:  # unreadable EXIF: keep the pixels as stored; the EXIF is dropped anyway
            clean = image.copy()
    else:
        clean = image.copy()
        if "transparency" in image.info:
            params["transparency"] = image.info["transparency"]
    clean.info = {}
    if declared == WEBP:
        if _webp_is_lossless(data):
            params.update(lossless=True, exact=True)
        else:
            params.update(quality=90)
    out = io.BytesIO()
    try:
        clean.save(out, _PIL_FORMAT[declared], **params)
    except Exception as error:
        raise _unsupported("image: cannot be re-encoded") from error
    return out.getvalue()


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

