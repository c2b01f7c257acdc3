"""PDF checks: pypdf's object graph and a raw scan of the bytes for active content, within bounds.

pypdf is imported on first use. The work bounds are read from the package at call time, so
they have one definition (``filegate.domain.content.MAX_PDF_*``).
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from typing import Any

from filegate.domain import content
from filegate.domain.content.common import _active, _Refused, _type_mismatch, _unsupported, allowed_link

_PDF_FORBIDDEN = frozenset({
    "/JS", "/JavaScript", "/Launch", "/EmbeddedFile", "/EmbeddedFiles", "/EF", "/FileAttachment", "/RichMedia",
    "/RichMediaExecute", "/XFA", "/SubmitForm", "/ImportData", "/GoToR", "/GoToE", "/Rendition", "/Movie",
    "/Sound", "/3D",
})
#: The raw scan looks for long names everywhere; short ones (a 3-byte name turns up by chance in
#: about one MiB of compressed or image data in 200) only outside stream bodies.
_PDF_RAW_SHORT = frozenset(name.encode() for name in _PDF_FORBIDDEN if len(name) < 6)
_PDF_RAW_LONG = frozenset(name.encode() for name in _PDF_FORBIDDEN if len(name) >= 6)
# A PDF name: '/' then regular characters (anything but white space and delimiters).
_PDF_NAME = re.compile(rb"/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*")
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_HEADER = re.compile(rb"%PDF-[12]\.\d")
_PDF_TRAILING_WHITESPACE = b"\x00\t\n\x0c\r "


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
    budget = [content.MAX_PDF_NODES]
    objects = [0]

    def resolve(ref: IndirectObject) -> Any:
        key = (ref.idnum, ref.generation)
        if key in seen:
            return None
        seen.add(key)
        objects[0] += 1
        if objects[0] > content.MAX_PDF_OBJECTS:
            raise _active("pdf: too many objects")
        try:
            return ref.get_object()
        except Exception:
            return None  # a dangling reference: readers treat it as null

    def visit(node: Any, depth: int) -> str | None:
        # Iterative over siblings, recursive over depth (bounded by MAX_PDF_DEPTH).
        if depth > content.MAX_PDF_DEPTH:
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
    if len(numbers) > content.MAX_PDF_OBJECTS:
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
    return not allowed_link(text)


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
