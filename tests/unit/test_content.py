"""filegate.domain.content: size, type, active content, scan verdict (docs/verification.md).

Examples cover every accept and reject path with samples made by ``samples`` (by construction,
not by running the checker's libraries). The properties build files whose verdict is known
from how they were made: a clean sample, optionally one active-content injection, optionally
one structural damage, and a declaration that is right or wrong in one known way; the oracle
is the documented order of the checks applied to that recipe.
"""

from __future__ import annotations

import hashlib
import io
import string
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import samples as s
from hypothesis import assume, event, given
from hypothesis import strategies as st
from PIL import Image, ImageChops

from filegate.domain import content
from filegate.domain.content import SUPPORTED_TYPES, Inspection, decide, inspect_content
from filegate.domain.records import RejectReason
from filegate.domain.rules import CONTENT_TYPE_EXTENSIONS

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
MAX = 10 * 1024 * 1024
DOCUMENTS = (s.PDF, s.DOC, s.DOCX, s.XLSX, s.PPTX)
IMAGES = (s.PNG, s.JPEG, s.GIF, s.WEBP)
KINDS = DOCUMENTS + IMAGES
OOXML = (s.DOCX, s.XLSX, s.PPTX)
UNSUPPORTED = sorted(set(CONTENT_TYPE_EXTENSIONS) - SUPPORTED_TYPES)


def inspect(data: bytes, declared_type: str, *, declared_size: int | None = None, max_bytes: int = MAX) -> Inspection:
    return inspect_content(data, declared_type=declared_type,
                           declared_size=len(data) if declared_size is None else declared_size, max_bytes=max_bytes)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def max_difference(first: bytes, second: bytes) -> int:
    a, b = decoded(first).convert("RGBA"), decoded(second).convert("RGBA")
    assert a.size == b.size
    return max(high for _low, high in ImageChops.difference(a, b).getextrema())


def assert_rejected_keeps_upload(result: Inspection, data: bytes) -> None:
    assert result.served == data
    assert result.sha256 == hashlib.sha256(data).hexdigest()


# -- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("declared", "data"), [
    (s.PDF, s.pdf()),
    (s.PDF, s.pdf(text="Skills: JavaScript, Python")),  # the word, not the PDF name, is fine
    (s.DOCX, s.ooxml(s.DOCX)),
    (s.XLSX, s.ooxml(s.XLSX)),
    (s.PPTX, s.ooxml(s.PPTX)),
    (s.DOC, s.doc()),
], ids=["pdf", "pdf-mentions-javascript", "docx", "xlsx", "pptx", "doc"])
def test_clean_documents_pass_byte_for_byte(declared: str, data: bytes) -> None:
    # Given a clean document of the declared type
    # When it is inspected
    result = inspect(data, declared)
    # Then it passes, and what is served is the upload itself
    assert result.reason is None, result.note
    assert result.served == data
    assert result.detected_type == declared
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.note == "ok"


@pytest.mark.parametrize(("declared", "data"), [
    (s.PNG, s.png()),
    (s.PNG, s.png(mode="RGBA", seed=3)),
    (s.GIF, s.gif()),
    (s.WEBP, s.webp()),
], ids=["png", "png-rgba", "gif", "webp-lossless"])
def test_clean_lossless_images_pass_re_encoded_with_the_same_pixels(declared: str, data: bytes) -> None:
    # Given a clean image in a lossless encoding
    # When it is inspected
    result = inspect(data, declared)
    # Then it passes, the served bytes are a re-encoding in the same format, pixel for pixel
    assert result.reason is None, result.note
    assert decoded(result.served).format == content._PIL_FORMAT[declared]
    assert max_difference(data, result.served) == 0
    assert result.sha256 == hashlib.sha256(result.served).hexdigest()


@pytest.mark.parametrize(("declared", "data"), [
    (s.JPEG, s.jpeg(320, 240)),
    (s.WEBP, s.webp(320, 240, lossless=False)),
], ids=["jpeg", "webp-lossy"])
def test_clean_lossy_images_pass_within_a_few_levels(declared: str, data: bytes) -> None:
    # Given a clean photo-like image in a lossy encoding
    # When it is inspected
    result = inspect(data, declared)
    # Then it passes re-encoded in the same format, and decodes to nearly the same pixels
    assert result.reason is None, result.note
    assert decoded(result.served).format == content._PIL_FORMAT[declared]
    assert max_difference(data, result.served) <= 8


def test_a_pdf_carrying_eicar_passes_content_checks_and_the_scan_makes_it_malware() -> None:
    # Given a well-formed PDF whose text is the EICAR test string
    data = s.pdf(text=s.EICAR.decode())
    # When it is inspected, and GuardDuty says THREATS_FOUND
    result = inspect(data, s.PDF)
    # Then the content checks pass (EICAR is inert structure) and the verdict rejects it as malware
    assert result.reason is None
    assert decide(result, scan_verdict="THREATS_FOUND", scanning="guardduty") is RejectReason.MALWARE


def test_a_pdf_padded_to_one_mebibyte_passes() -> None:
    # Given the benchmark's 1 MiB PDF (text page plus an image of noise)
    data = s.pdf(pad_to=1024 * 1024)
    assert len(data) == 1024 * 1024
    # When it is inspected  Then it passes
    assert inspect(data, s.PDF).reason is None


def test_a_pdf_encrypted_with_an_empty_user_password_is_inspected() -> None:
    # Given a PDF with permissions (owner password) but an empty user password
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(s.pdf()))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    # When it is inspected  Then it opens and passes
    assert inspect(out.getvalue(), s.PDF).reason is None


# -- size ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("delta", [-1, 1, -100, 10_000])
def test_a_file_shorter_or_longer_than_declared_is_size_mismatch(delta: int) -> None:
    # Given a clean PDF whose declared size is off by delta
    data = s.pdf()
    # When it is inspected
    result = inspect(data, s.PDF, declared_size=len(data) + delta)
    # Then it is size_mismatch, the note names only numbers, and the upload is kept as it was
    assert result.reason is RejectReason.SIZE_MISMATCH
    assert result.note.startswith("size: ")
    assert_rejected_keeps_upload(result, data)


def test_a_file_over_the_rules_maximum_is_size_mismatch() -> None:
    # Given a clean PNG one byte over the rule's maximum (declared truthfully)
    data = s.png()
    # When it is inspected  Then it is size_mismatch
    assert inspect(data, s.PNG, max_bytes=len(data) - 1).reason is RejectReason.SIZE_MISMATCH


def test_a_truncated_upload_declared_at_full_size_is_size_mismatch() -> None:
    # Given the first half of a DOCX, declared with the full file's size
    full = s.ooxml(s.DOCX)
    # When it is inspected  Then it is size_mismatch (before any type check)
    assert inspect(full[: len(full) // 2], s.DOCX, declared_size=len(full)).reason is RejectReason.SIZE_MISMATCH


# -- type ----------------------------------------------------------------------------------------


def test_html_declared_as_pdf_is_type_mismatch() -> None:
    # Given an HTML page with a script, declared as a PDF
    data = b"<!DOCTYPE html>" + s.HTML_PAYLOAD
    # When it is inspected
    result = inspect(data, s.PDF)
    # Then it is type_mismatch, and the record learns what it really is
    assert result.reason is RejectReason.TYPE_MISMATCH
    assert result.detected_type == "text/html"
    assert_rejected_keeps_upload(result, data)


@pytest.mark.parametrize(("data", "declared"), [
    (s.png(), s.JPEG), (s.jpeg(), s.PNG), (s.gif(), s.WEBP), (s.webp(), s.GIF),
    (s.pdf(), s.DOCX), (s.ooxml(s.DOCX), s.PDF), (s.ooxml(s.DOCX), s.XLSX), (s.ooxml(s.XLSX), s.PPTX),
    (s.ooxml(s.PPTX), s.DOCX), (s.doc(), s.DOCX), (s.ooxml(s.DOCX), s.DOC), (s.png(), s.PDF),
], ids=["png-as-jpeg", "jpeg-as-png", "gif-as-webp", "webp-as-gif", "pdf-as-docx", "docx-as-pdf",
        "docx-as-xlsx", "xlsx-as-pptx", "pptx-as-docx", "doc-as-docx", "docx-as-doc", "png-as-pdf"])
def test_bytes_of_another_type_are_type_mismatch(data: bytes, declared: str) -> None:
    # Given a clean file of one supported type declared as another
    # When it is inspected  Then it is type_mismatch
    assert inspect(data, declared).reason is RejectReason.TYPE_MISMATCH


@pytest.mark.parametrize(("data", "why"), [
    (b"<html>" + s.pdf(), "header not at offset 0"),
    (s.pdf() + s.HTML_PAYLOAD, "bytes after %%EOF"),
    (b"%PDF-1.7\n%garbage only\n%%EOF\n", "no objects pypdf can read"),
    (s.pdf_from_objects([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]),
     "no pages"),
], ids=["prefix", "suffix", "unparseable", "no-pages"])
def test_malformed_pdfs_are_type_mismatch(data: bytes, why: str) -> None:
    # Given a PDF broken in one way (why)
    # When it is inspected  Then it is type_mismatch
    assert inspect(data, s.PDF).reason is RejectReason.TYPE_MISMATCH, why


def test_a_password_protected_pdf_is_unsupported() -> None:
    # Given a PDF that needs a user password to open
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(s.pdf()))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    # When it is inspected  Then it is unsupported (nothing inside can be checked), as GuardDuty says too
    assert inspect(out.getvalue(), s.PDF).reason is RejectReason.UNSUPPORTED


@pytest.mark.parametrize(("data", "why"), [
    (s.zip_bytes({"a.txt": b"hello"}), "a plain ZIP"),
    (s.ooxml(s.DOCX) + s.HTML_PAYLOAD, "bytes after the central directory"),
    (s.zip_bytes({k: v for k, v in s.ooxml_parts(s.DOCX).items() if k != "[Content_Types].xml"}),
     "no [Content_Types].xml"),
    (s.zip_bytes({k: v for k, v in s.ooxml_parts(s.DOCX).items() if k != "word/document.xml"}), "no main part"),
    (s.ooxml(s.DOCX, replace={"_rels/.rels": s.relationships([])}), "no officeDocument relationship"),
    (s.ooxml(s.DOCX, replace={"[Content_Types].xml": b"<Types"}), "content types not XML"),
], ids=["plain-zip", "suffix", "no-content-types", "no-main-part", "no-package-rel", "bad-xml"])
def test_zips_that_are_not_the_declared_package_are_type_mismatch(data: bytes, why: str) -> None:
    # Given a ZIP that is not a valid DOCX (why)
    # When it is inspected as a DOCX  Then it is type_mismatch
    assert inspect(data, s.DOCX).reason is RejectReason.TYPE_MISMATCH, why


def test_a_docx_member_with_a_bad_crc_is_type_mismatch() -> None:
    # Given a stored (uncompressed) DOCX whose main part's bytes were altered after zipping
    data = bytearray(s.zip_bytes(s.ooxml_parts(s.DOCX), compression=0))
    at = data.index(b"Curriculum vitae")
    data[at] = ord("X")
    # When it is inspected  Then the CRC check refuses it as a broken package
    assert inspect(bytes(data), s.DOCX).reason is RejectReason.TYPE_MISMATCH


@pytest.mark.parametrize(("data", "why"), [
    (s.doc()[:-512], "truncated by one sector"),
    (s.doc() + bytes(512), "an extra sector after the last allocated one"),
    (s.ole_file({"Workbook": b"\x09\x08"}), "an OLE file with no WordDocument (an .xls)"),
    (s.ole_file({"WordDocument": b"not a FIB"}), "a WordDocument stream without a FIB"),
], ids=["truncated", "extra-sector", "xls", "no-fib"])
def test_ole_files_that_are_not_word_documents_are_type_mismatch(data: bytes, why: str) -> None:
    # Given an OLE2 file that is not a well-formed Word 97+ document (why)
    # When it is inspected as a .doc  Then it is type_mismatch
    assert inspect(data, s.DOC).reason is RejectReason.TYPE_MISMATCH, why


@pytest.mark.parametrize(("data", "why"), [
    (s.doc(n_fib=0x65), "Word 6/95: macros live inside the document stream"),
    (s.doc(encrypted=True), "an encrypted document"),
], ids=["word95", "encrypted"])
def test_doc_files_we_cannot_inspect_are_unsupported(data: bytes, why: str) -> None:
    # Given a .doc whose macros could hide where a storage scan cannot look (why)
    # When it is inspected  Then it is unsupported
    assert inspect(data, s.DOC).reason is RejectReason.UNSUPPORTED, why


@pytest.mark.parametrize(("data", "declared"), [
    (s.png()[:-20], s.PNG), (s.jpeg()[:300], s.JPEG), (s.gif()[:500], s.GIF), (s.webp()[:200], s.WEBP),
    (s.png().replace(b"IDAT", b"IDAx", 1), s.PNG),
], ids=["png-truncated", "jpeg-truncated", "gif-truncated", "webp-truncated", "png-bad-crc"])
def test_truncated_or_corrupt_images_are_type_mismatch(data: bytes, declared: str) -> None:
    # Given an image cut short or with a corrupt chunk
    # When it is inspected  Then it is type_mismatch
    assert inspect(data, declared).reason is RejectReason.TYPE_MISMATCH


@pytest.mark.parametrize("declared", UNSUPPORTED)
def test_allowed_types_without_a_checker_are_unsupported(declared: str) -> None:
    # Given a type rules may name but this module has no checker for
    data = b"plain text, a CSV, a movie: whatever the bytes"
    # When a file declared as that type is inspected  Then it is unsupported (fail closed)
    result = inspect(data, declared)
    assert result.reason is RejectReason.UNSUPPORTED
    assert_rejected_keeps_upload(result, data)


def test_every_supported_type_is_one_rules_allow_and_the_default_rules_are_covered() -> None:
    # Given the rules' content types  Then every supported type is among them, and so is every seed-rule type
    assert set(CONTENT_TYPE_EXTENSIONS) >= SUPPORTED_TYPES
    assert {s.PDF, s.DOC, s.DOCX, s.PNG, s.JPEG, s.WEBP} <= SUPPORTED_TYPES


# -- active content: PDF -------------------------------------------------------------------------


@pytest.mark.parametrize("injection", sorted(s.PDF_INJECTIONS))
def test_pdfs_with_active_content_are_active_content(injection: str) -> None:
    # Given a clean PDF with one kind of active content added (JavaScript, launch, embedded file, ...)
    data = s.pdf(**s.PDF_INJECTIONS[injection])  # type: ignore[arg-type]
    # When it is inspected
    result = inspect(data, s.PDF)
    # Then it is active_content, with a note that names the PDF construct, and the upload kept
    assert result.reason is RejectReason.ACTIVE_CONTENT, injection
    assert result.note.startswith("pdf: /")
    assert result.detected_type == s.PDF
    assert_rejected_keeps_upload(result, data)


def test_an_open_action_javascript_pdf_is_active_content() -> None:
    # Given the sample: a PDF whose /OpenAction runs JavaScript
    result = inspect(s.pdf_with_open_action_js(), s.PDF)
    # When it is inspected  Then it is active_content
    assert result.reason is RejectReason.ACTIVE_CONTENT
    assert result.note in ("pdf: /JS", "pdf: /JavaScript")


def test_hex_escaped_names_are_decoded_by_both_layers() -> None:
    # Given '/J#61vaScript' and '/J#53' (hex-escaped /JavaScript and /JS)
    data = s.pdf(catalog_extra=s.HEX_ESCAPED_JS)
    # When the object graph and the raw scan look at it
    # Then both see through the escapes
    assert inspect(data, s.PDF).reason is RejectReason.ACTIVE_CONTENT
    assert content._pdf_raw_hit(data) in ("/JavaScript", "/JS")


def test_an_orphan_object_no_xref_lists_is_caught_by_the_raw_scan() -> None:
    # Given a JavaScript action in an object that is in the file but in no xref table
    data = s.pdf(orphans=[b"<< /S /J#61vaScript /JS (app.alert\\(1\\)) >>"])
    # When it is inspected
    result = inspect(data, s.PDF)
    # Then the raw layer refuses it (pypdf never saw it)
    assert result.reason is RejectReason.ACTIVE_CONTENT
    assert result.note.endswith("(raw scan)")


def test_a_pdf_with_an_embedded_file_is_active_content() -> None:
    # Given a PDF with an /EmbeddedFiles name tree holding a program
    result = inspect(s.pdf_with_embedded_file(), s.PDF)
    # When it is inspected  Then it is active_content, and the note never carries the attachment's name
    assert result.reason is RejectReason.ACTIVE_CONTENT
    assert "payload" not in result.note


def test_pdf_work_is_bounded_by_object_count(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a PDF with more objects than the bound (the bound lowered, so the test stays small)
    monkeypatch.setattr(content, "MAX_PDF_OBJECTS", 20)
    data = s.pdf(extra_objects=[b"<< /N %d >>" % index for index in range(30)])
    # When it is inspected  Then it is refused as hostile structure
    result = inspect(data, s.PDF)
    assert result.reason is RejectReason.ACTIVE_CONTENT
    assert result.note == "pdf: too many objects"


def test_pdf_work_is_bounded_by_nesting_depth() -> None:
    # Given a PDF whose catalog holds arrays nested deeper than the bound
    depth = content.MAX_PDF_DEPTH + 20
    data = s.pdf(catalog_extra=b"/Deep " + b"[" * depth + b"]" * depth + b" ")
    # When it is inspected  Then it is refused as hostile structure, without a recursion error
    assert inspect(data, s.PDF).reason is RejectReason.ACTIVE_CONTENT


# -- active content: OOXML -----------------------------------------------------------------------


def test_a_docx_with_a_vba_project_is_active_content() -> None:
    # Given the sample: a DOCX carrying word/vbaProject.bin (part, content type, relationship)
    data = s.docx_with_vba_project()
    # When it is inspected
    result = inspect(data, s.DOCX)
    # Then it is active_content
    assert result.reason is RejectReason.ACTIVE_CONTENT
    assert result.note == "ooxml: VBA macro part"


@pytest.mark.parametrize("kind", OOXML)
@pytest.mark.parametrize("injection", sorted(s.ooxml_injections(s.DOCX)))
def test_packages_with_macros_activex_ole_or_hostile_structure_are_active_content(kind: str, injection: str) -> None:
    # Given a clean DOCX/XLSX/PPTX with one active or hostile part added or replaced
    data = s.ooxml(kind, extra=s.ooxml_injections(kind)[injection])
    # When it is inspected  Then it is active_content
    result = inspect(data, kind)
    assert result.reason is RejectReason.ACTIVE_CONTENT, (injection, result.note)
    assert_rejected_keeps_upload(result, data)


def test_a_zip_bomb_posing_as_docx_is_active_content_before_anything_inflates() -> None:
    # Given a 50 KB DOCX with a member that inflates to 50 MB of zeros
    data = s.zip_bomb(s.DOCX, 50 * 1024 * 1024)
    assert len(data) < 200_000
    # When it is inspected
    result = inspect(data, s.DOCX)
    # Then the central directory alone condemns it
    assert result.reason is RejectReason.ACTIVE_CONTENT
    assert "ratio" in result.note


def test_a_zip_bomb_is_active_content_even_when_declared_as_another_package() -> None:
    # Given the bomb declared as an XLSX (its package check would also fail)
    # When it is inspected  Then the bomb is named first: refused before it is expanded
    assert inspect(s.zip_bomb(s.DOCX, 2 * 1024 * 1024), s.XLSX).reason is RejectReason.ACTIVE_CONTENT


@pytest.mark.parametrize(("bound", "value"), [("MAX_ZIP_MEMBERS", 2), ("MAX_ZIP_TOTAL_BYTES", 100),
                                              ("MAX_ZIP_MEMBER_BYTES", 100)])
def test_zip_count_and_size_bounds(monkeypatch: pytest.MonkeyPatch, bound: str, value: int) -> None:
    # Given a clean DOCX and one bound lowered below what it needs
    monkeypatch.setattr(content, bound, value)
    # When it is inspected  Then it is active_content
    assert inspect(s.ooxml(s.DOCX), s.DOCX).reason is RejectReason.ACTIVE_CONTENT


def test_an_external_hyperlink_is_allowed_but_no_other_external_target() -> None:
    # Given DOCXs whose document relationships point outside: a hyperlink, then a remote image
    rels = "word/_rels/document.xml.rels"
    link = s.ooxml(s.DOCX, replace={rels: s.relationships([("hyperlink", "https://example.org/", "External")])})
    image = s.ooxml(s.DOCX, replace={rels: s.relationships([("image", "https://example.org/a.png", "External")])})
    # When each is inspected  Then the hyperlink passes and the remote image (a tracking/credential leak) does not
    assert inspect(link, s.DOCX).reason is None
    assert inspect(image, s.DOCX).reason is RejectReason.ACTIVE_CONTENT


# -- active content: legacy .doc -----------------------------------------------------------------


@pytest.mark.parametrize("injection", sorted(s.DOC_INJECTIONS))
def test_docs_with_macros_or_embedded_objects_are_active_content(injection: str) -> None:
    # Given a Word 97 document with a macro storage or an embedded OLE object
    data = s.doc(extra=s.DOC_INJECTIONS[injection])
    # When it is inspected  Then it is active_content
    result = inspect(data, s.DOC)
    assert result.reason is RejectReason.ACTIVE_CONTENT, injection
    assert_rejected_keeps_upload(result, data)


# -- active content: images ----------------------------------------------------------------------


def test_a_png_with_a_trailing_html_payload_is_served_re_encoded_without_it() -> None:
    # Given a PNG with an HTML page appended after IEND (a polyglot)
    original = s.png(48, 32)
    data = original + s.HTML_PAYLOAD
    # When it is inspected
    result = inspect(data, s.PNG)
    # Then it passes, but what is served is a fresh PNG: no payload, same pixels
    assert result.reason is None
    assert result.served != data
    assert s.HTML_PAYLOAD not in result.served and b"<script" not in result.served
    assert max_difference(original, result.served) == 0
    assert result.sha256 == hashlib.sha256(result.served).hexdigest()


def test_png_text_chunks_are_stripped() -> None:
    # Given a PNG whose tEXt chunk holds a script
    result = inspect(s.png_with_text(), s.PNG)
    # When it is inspected  Then the served PNG has no text at all
    assert result.reason is None
    assert b"<script" not in result.served and b"tEXt" not in result.served


def test_jpeg_exif_gps_is_stripped_and_orientation_applied() -> None:
    # Given a 32x24 JPEG whose EXIF holds GPS coordinates, a camera make and Orientation 6 (rotate 90)
    data = s.jpeg(32, 24, exif=s.exif_with_gps(orientation=6))
    assert decoded(data).getexif().get_ifd(0x8825)
    # When it is inspected
    result = inspect(data, s.JPEG)
    # Then the served JPEG has no EXIF (no GPS, no make) and its pixels stand as the viewer saw them
    assert result.reason is None
    served = decoded(result.served)
    assert not served.getexif()
    assert "exif" not in served.info
    assert b"FilegateCam" not in result.served and b"Exif" not in result.served
    assert served.size == (24, 32)


def test_gif_comments_are_stripped() -> None:
    # Given a GIF whose comment extension holds a script
    result = inspect(s.gif(comment=s.HTML_PAYLOAD), s.GIF)
    # When it is inspected  Then it passes and the served GIF carries no comment
    assert result.reason is None
    assert b"<script" not in result.served


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (9_000, 9_000)],
                         ids=["past-pillows-own-limit", "past-our-bound"])
def test_pixel_bombs_are_active_content(width: int, height: int) -> None:
    # Given a small PNG whose header claims a huge pixel count
    data = s.png_pixel_bomb(width, height)
    assert len(data) < 10_000
    # When it is inspected  Then it is refused before its pixels are decoded
    result = inspect(data, s.PNG)
    assert result.reason is RejectReason.ACTIVE_CONTENT
    assert result.note == "image: pixel count over the bound"


@pytest.mark.parametrize(("fmt", "declared"), [("GIF", s.GIF), ("PNG", s.PNG), ("WEBP", s.WEBP)])
def test_animated_images_are_unsupported(fmt: str, declared: str) -> None:
    # Given an animated GIF, APNG or WebP
    # When it is inspected  Then it is unsupported (documented: no frame-by-frame re-encoding)
    assert inspect(s.animated(fmt), declared).reason is RejectReason.UNSUPPORTED


# -- decide --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("verdict", "expected"), [
    ("NO_THREATS_FOUND", None),
    ("THREATS_FOUND", RejectReason.MALWARE),
    ("UNSUPPORTED", RejectReason.UNSUPPORTED),
    ("ACCESS_DENIED", RejectReason.SCAN_FAILED),
    ("FAILED", RejectReason.SCAN_FAILED),
    ("no_threats_found", RejectReason.SCAN_FAILED),
    ("", RejectReason.SCAN_FAILED),
    (None, RejectReason.SCAN_FAILED),
])
def test_guardduty_verdicts(verdict: str | None, expected: RejectReason | None) -> None:
    # Given a clean inspection and a GuardDuty verdict (or none)
    clean = inspect(s.pdf(), s.PDF)
    # When the verdict is decided  Then only NO_THREATS_FOUND passes
    assert decide(clean, scan_verdict=verdict, scanning="guardduty") is expected


@pytest.mark.parametrize("verdict", [None, "THREATS_FOUND", "FAILED"])
def test_scanning_none_needs_no_verdict(verdict: str | None) -> None:
    # Given a clean inspection with scanning off
    clean = inspect(s.pdf(), s.PDF)
    # When decided  Then the verdict is not consulted
    assert decide(clean, scan_verdict=verdict, scanning="none") is None


def test_the_inspections_reason_comes_first_and_an_unknown_setting_fails_closed() -> None:
    # Given a rejected inspection, and a clean one under a mistyped setting
    rejected = inspect(s.pdf_with_open_action_js(), s.PDF)
    clean = inspect(s.pdf(), s.PDF)
    # When decided  Then the content reason wins over any verdict, and the typo promotes nothing
    assert decide(rejected, scan_verdict="NO_THREATS_FOUND", scanning="guardduty") is RejectReason.ACTIVE_CONTENT
    assert decide(rejected, scan_verdict=None, scanning="none") is RejectReason.ACTIVE_CONTENT
    assert decide(clean, scan_verdict="NO_THREATS_FOUND", scanning="GuardDuty") is RejectReason.SCAN_FAILED  # type: ignore[arg-type]


# -- robustness and cost -------------------------------------------------------------------------


def test_an_unexpected_parser_error_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a parser that fails in a way nobody foresaw, during the type check and then after it
    def boom(*_args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(content, "_png_structure", boom)
    # When a PNG is inspected  Then it is rejected, not raised, with a content-free note
    result = inspect(s.png(), s.PNG)
    assert result.reason is RejectReason.TYPE_MISMATCH
    assert result.note == "type: unexpected MemoryError"
    monkeypatch.undo()
    monkeypatch.setattr(content, "_reencode", boom)
    assert inspect(s.png(), s.PNG).reason is RejectReason.ACTIVE_CONTENT


def test_importing_the_module_loads_no_parser() -> None:
    # Given a fresh interpreter that has imported what the module builds on (records, and its imports)
    code = ("import sys, filegate.domain.records; before = set(sys.modules); import filegate.domain.content; "
            "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} & "
            "{'PIL', 'pypdf', 'puremagic', 'olefile', 'zipfile', 'xml', 'cryptography', 'Crypto'}))")
    # When it imports filegate.domain.content  Then no parser is loaded yet (they load on first use)
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(LAMBDAS)}).stdout.strip()
    assert output == "[]"


def test_preload_imports_every_parser() -> None:
    # Given the module  When preload runs  Then it returns (every parser importable, as bundled)
    content.preload()


# -- properties ----------------------------------------------------------------------------------

LETTERS = string.ascii_letters + " "


@dataclass(frozen=True)
class Case:
    """A file made by a known recipe, and the reason the documented checks must give it."""

    data: bytes
    declared_type: str
    declared_size: int
    max_bytes: int
    expected: RejectReason | None
    kind: str
    recipe: str
    secret: bytes | None  # bytes that must never be served when the file passes


def _clean(kind: str, draw: st.DrawFn) -> bytes:
    seed = draw(st.integers(0, 2**16))
    text = draw(st.text(LETTERS, max_size=30))
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    mode = draw(st.sampled_from(["RGB", "RGBA", "L"]))
    lossless = draw(st.booleans())
    makers: dict[str, Callable[[], bytes]] = {
        s.PDF: lambda: s.pdf(text=text),
        s.DOC: lambda: s.doc(text=text),
        **{kind: (lambda kind=kind: s.ooxml(kind, text=text)) for kind in OOXML},
        s.PNG: lambda: s.png(width, height, mode=mode, seed=seed),
        s.JPEG: lambda: s.jpeg(width, height, seed=seed),
        s.GIF: lambda: s.gif(width, height, seed=seed),
        s.WEBP: lambda: s.webp(width, height, lossless=lossless, seed=seed),
    }
    return makers[kind]()


#: Images carrying a payload in their metadata: they pass, and the payload must be gone.
METADATA_PAYLOADS: dict[str, Callable[[], tuple[bytes, bytes]]] = {
    s.PNG: lambda: (s.png_with_text(), s.HTML_PAYLOAD),
    s.JPEG: lambda: (s.jpeg(exif=s.exif_with_gps()), b"FilegateCam"),
    s.GIF: lambda: (s.gif(comment=s.HTML_PAYLOAD), s.HTML_PAYLOAD),
    s.WEBP: lambda: (s.encode(s.pixels(8, 8), "WEBP", lossless=True, exif=s.exif_with_gps()), b"FilegateCam"),
}


def _injected(kind: str, injection: str) -> tuple[bytes, RejectReason | None, bytes | None]:
    """(file, the reason the injection alone earns, bytes never to be served)."""
    active = RejectReason.ACTIVE_CONTENT
    if kind == s.PDF:
        return s.pdf(**s.PDF_INJECTIONS[injection]), active, None  # type: ignore[arg-type]
    if kind == s.DOC:
        return s.doc(extra=s.DOC_INJECTIONS[injection]), active, None
    if kind in OOXML:
        bomb = injection == "bomb"
        return (s.zip_bomb(kind, 2 * 1024 * 1024) if bomb else s.ooxml(kind, extra=s.ooxml_injections(kind)[injection]),
                active, None)
    if injection == "metadata":
        data, secret = METADATA_PAYLOADS[kind]()
        return data, None, secret
    if injection == "animated":
        return s.animated(content._PIL_FORMAT[kind]), RejectReason.UNSUPPORTED, None
    return s.png_pixel_bomb(), active, None


INJECTIONS: dict[str, list[str]] = {
    s.PDF: sorted(s.PDF_INJECTIONS),
    s.DOC: sorted(s.DOC_INJECTIONS),
    **{kind: [*sorted(s.ooxml_injections(kind)), "bomb"] for kind in OOXML},
    s.PNG: ["metadata", "animated", "pixel_bomb"],
    s.JPEG: ["metadata"],
    s.GIF: ["metadata", "animated"],
    s.WEBP: ["metadata", "animated"],
}
#: Injections the ZIP's central directory shows: named even before the package type is checked.
ZIP_DIRECTORY_INJECTIONS = {"bomb", "traversal"}
JUNK = st.text(string.ascii_letters, min_size=1, max_size=40).map(lambda text: s.HTML_PAYLOAD + text.encode())


@st.composite
def cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(KINDS))
    injected = draw(st.sampled_from([True, True, False]))
    injection = draw(st.sampled_from(INJECTIONS[kind])) if injected else None
    if injection is None:
        data, expected, secret = _clean(kind, draw), None, None
    else:
        data, expected, secret = _injected(kind, injection)
    # Weighted towards intact, truthfully declared files, so that passing recipes are common too.
    damage = draw(st.sampled_from([None, None, None, "truncate", "prepend", "append"]))
    if damage == "truncate":
        data = data[: max(1, len(data) * draw(st.integers(1, 9)) // 10)]
    elif damage == "prepend":
        data = draw(JUNK) + data
    elif damage == "append":
        junk = draw(JUNK)
        data, secret = data + junk, junk
    declaration = draw(st.sampled_from(["exact"] * 5 + ["size", "max", "other", "unsupported"]))
    declared_type, declared_size, max_bytes = kind, len(data), MAX
    if declaration == "size":
        declared_size = len(data) + draw(st.integers(-len(data), 10_000).filter(lambda delta: delta != 0))
    elif declaration == "max":
        max_bytes = draw(st.integers(0, len(data) - 1))
    elif declaration == "other":
        declared_type = draw(st.sampled_from([other for other in KINDS if other != kind]))
    elif declaration == "unsupported":
        declared_type = draw(st.sampled_from(UNSUPPORTED) | st.text(max_size=20).filter(
            lambda text: text not in SUPPORTED_TYPES))
    expected = _oracle(kind, injection, damage, declaration=declaration, declared_type=declared_type,
                       content_verdict=expected)
    recipe = f"{kind} injection={injection} damage={damage} declaration={declaration} as {declared_type!r}"
    return Case(data, declared_type, declared_size, max_bytes, expected, kind, recipe, secret)


def _oracle(kind: str, injection: str | None, damage: str | None, *, declaration: str, declared_type: str,
            content_verdict: RejectReason | None) -> RejectReason | None:
    """The documented order of the checks, applied to a recipe."""
    if declaration in ("size", "max"):
        return RejectReason.SIZE_MISMATCH
    if declaration == "unsupported":
        return RejectReason.UNSUPPORTED
    if damage in ("truncate", "prepend"):
        return RejectReason.TYPE_MISMATCH
    if declaration == "other":
        zip_directory = (kind in OOXML and declared_type in OOXML and injection in ZIP_DIRECTORY_INJECTIONS
                         and damage is None)
        return RejectReason.ACTIVE_CONTENT if zip_directory else RejectReason.TYPE_MISMATCH
    if damage == "append" and kind in DOCUMENTS:
        return RejectReason.TYPE_MISMATCH
    return content_verdict


@given(case=cases())
def test_a_constructed_file_passes_only_when_every_check_passes(case: Case) -> None:
    # Given a file made by a known recipe (clean sample, optional injection, damage, declaration)
    # When it is inspected
    result = inspect_content(case.data, declared_type=case.declared_type, declared_size=case.declared_size,
                             max_bytes=case.max_bytes)
    # Then the reason is the one the recipe earns under the documented order of checks
    event(f"expected {case.expected}")
    assert result.reason is case.expected, (case.recipe, result.note)
    assert result.sha256 == hashlib.sha256(result.served).hexdigest()
    if result.reason is not None or case.kind in DOCUMENTS:
        assert result.served == case.data
    else:
        # and a passing image is served re-encoded, in its format, with no payload left in it
        served = decoded(result.served)
        assert served.format == content._PIL_FORMAT[case.kind]
        if case.secret is not None:
            assert case.secret not in result.served
        if case.kind in (s.PNG, s.GIF):
            assert max_difference(case.data, result.served) == 0


SIGNATURES = [b"", b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"RIFF\x00\x10\x00\x00WEBPVP8L",
              b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"<html>"]
ANY_TYPE = st.sampled_from([*KINDS, *UNSUPPORTED]) | st.text(max_size=30)


@given(data=st.binary(max_size=4096), declared=ANY_TYPE)
def test_random_bytes_never_pass(data: bytes, declared: str) -> None:
    # Given arbitrary bytes under any declared type, with the size declared truthfully
    # When they are inspected
    result = inspect(data, declared)
    # Then they never pass, and the upload is kept as it was for the record
    assert result.reason is not None
    assert_rejected_keeps_upload(result, data)


@given(signature=st.sampled_from(SIGNATURES), tail=st.binary(max_size=4096), declared=ANY_TYPE,
       size_delta=st.sampled_from([0, 0, 0, -1, 1]), max_bytes=st.sampled_from([MAX, 0, 100]))
def test_inspect_content_never_raises_on_signature_prefixed_noise(signature: bytes, tail: bytes, declared: str,
                                                                  size_delta: int, max_bytes: int) -> None:
    # Given a real signature followed by noise (to reach each format's deeper parser)
    data = signature + tail
    # When it is inspected with any declaration
    result = inspect(data, declared, declared_size=len(data) + size_delta, max_bytes=max_bytes)
    # Then a verdict comes back; documents never pass, and an image passes only as a clean re-encoding
    assert isinstance(result, Inspection)
    assert result.reason is None or isinstance(result.reason, RejectReason)
    if result.reason is None:
        assert declared in IMAGES
        assert decoded(result.served).format == content._PIL_FORMAT[declared]


SAMPLES = {
    s.PDF: s.pdf(), s.DOC: s.doc(), s.DOCX: s.ooxml(s.DOCX), s.XLSX: s.ooxml(s.XLSX), s.PPTX: s.ooxml(s.PPTX),
    s.PNG: s.png(16, 16), s.JPEG: s.jpeg(16, 16), s.GIF: s.gif(16, 16), s.WEBP: s.webp(16, 16),
}


@given(kind=st.sampled_from(KINDS), edits=st.lists(
    st.tuples(st.sampled_from(["flip", "delete", "insert"]), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    min_size=1, max_size=4))
def test_inspect_content_never_raises_on_damaged_samples(kind: str, edits: list[tuple[str, float, bytes]]) -> None:
    # Given a clean sample with a few bytes flipped, deleted or inserted anywhere
    data = bytearray(SAMPLES[kind])
    for edit, where, value in edits:
        at = min(int(where * len(data)), len(data) - 1)
        if edit == "flip":
            data[at] ^= value[0] or 1
        elif edit == "delete":
            del data[at:at + len(value)]
        else:
            data[at:at] = value
    assume(data)
    # When it is inspected
    result = inspect(bytes(data), kind)
    # Then a verdict comes back; a passing document is served as uploaded, a passing image re-encoded
    assert result.reason is None or isinstance(result.reason, RejectReason)
    if result.reason is None:
        if kind in DOCUMENTS:
            assert result.served == bytes(data)
        else:
            assert decoded(result.served).format == content._PIL_FORMAT[kind]


@given(reason=st.none() | st.sampled_from(list(RejectReason)),
       verdict=st.none() | st.sampled_from(["NO_THREATS_FOUND", "THREATS_FOUND", "UNSUPPORTED", "ACCESS_DENIED",
                                            "FAILED"]) | st.text(max_size=20),
       scanning=st.sampled_from(["guardduty", "none"]))
def test_decide_passes_only_clean_content_with_a_clean_verdict(reason: RejectReason | None, verdict: str | None,
                                                                scanning: str) -> None:
    # Given any inspection outcome, any verdict and either scanning setting
    inspection = Inspection(reason=reason, detected_type=None, served=b"", sha256="", note="")
    # When decided
    final = decide(inspection, scan_verdict=verdict, scanning=scanning)  # type: ignore[arg-type]
    # Then a file passes only if its content passed and (with GuardDuty) the verdict is NO_THREATS_FOUND
    passes = reason is None and (scanning == "none" or verdict == "NO_THREATS_FOUND")
    assert (final is None) is passes
    if reason is not None:
        assert final is reason


# -- additions: OPC defaults, link targets, multi-picture JPEGs -----------------------------------


def test_a_main_part_typed_by_a_default_extension_is_accepted() -> None:
    # Given a DOCX whose main part gets its content type from a Default (no Override), as OPC allows
    main_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    data = s.ooxml(s.DOCX, replace={"[Content_Types].xml": s.content_types({}, {"xml": main_type})})
    # When it is inspected  Then it passes
    assert inspect(data, s.DOCX).reason is None


@pytest.mark.parametrize("uri", [b"(javascript:alert\\(1\\))", b"( JavaScript:alert\\(1\\))", b"(file:///etc/passwd)",
                                 b"(\\\\\\\\attacker\\\\share\\\\x.pdf)", b"(data:text/html,<script>)"])
def test_pdf_links_to_scripts_or_local_targets_are_active_content(uri: bytes) -> None:
    # Given a PDF whose page has a link annotation to a script, a local file or a UNC path
    link = b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /URI /URI " + uri + b" >> >>"
    data = s.pdf(page_extra=b"/Annots [6 0 R] ", extra_objects=[link])
    # When it is inspected  Then it is active_content
    result = inspect(data, s.PDF)
    assert result.reason is RejectReason.ACTIVE_CONTENT
    assert result.note == "pdf: /URI with a script or local target"


def test_a_pdf_with_a_web_link_passes() -> None:
    # Given a PDF whose page links to an https URL (a CV linking a portfolio)
    link = b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /URI /URI (https://example.org/me) >> >>"
    # When it is inspected  Then it passes
    assert inspect(s.pdf(page_extra=b"/Annots [6 0 R] ", extra_objects=[link]), s.PDF).reason is None


def test_a_multi_picture_jpeg_keeps_only_its_primary_image() -> None:
    # Given a JPEG with a second picture in a Multi-Picture segment (as phones store gain maps)
    primary, secondary = s.smooth(40, 30, seed=1), s.smooth(20, 15, seed=2)
    data = s.encode(primary, "MPO", save_all=True, append_images=[secondary], quality=90)
    assert decoded(data).format == "MPO"
    # When it is inspected as a JPEG
    result = inspect(data, s.JPEG)
    # Then it passes, served as a plain single-picture JPEG of the primary image
    assert result.reason is None, result.note
    served = decoded(result.served)
    assert served.format == "JPEG" and served.size == (40, 30)
    assert max_difference(s.encode(primary, "JPEG", quality=90), result.served) <= 8


def test_deeply_nested_pdf_objects_are_refused_without_crashing() -> None:
    # Given a PDF whose catalog holds 20,000 nested arrays (far past Python's recursion limit)
    depth = 20_000
    data = s.pdf(catalog_extra=b"/Deep " + b"[" * depth + b"]" * depth + b" ")
    # When it is inspected  Then a verdict comes back: refused
    assert inspect(data, s.PDF).reason in (RejectReason.ACTIVE_CONTENT, RejectReason.TYPE_MISMATCH)


def test_short_names_inside_binary_stream_data_are_not_mistaken_for_pdf_names() -> None:
    # Given a PDF whose image data happens to contain the bytes '/JS ' and '/EF\n' (as compressed data can)
    image = s.stream(b"\x8f\x02/JS \x91\xa0/EF\n\x00\xff", b"/Type /XObject /Subtype /Image /Width 1 /Height 4 "
                                                         b"/ColorSpace /DeviceRGB /BitsPerComponent 8 ")
    data = s.pdf(extra_objects=[image])
    # When it is inspected  Then it passes: inside a stream body those bytes are data, not names
    assert inspect(data, s.PDF).reason is None
    # and the same bytes outside any stream are refused
    assert content._pdf_raw_hit(b"1 0 obj << /JS (x) >> endobj") == "/JS"


def test_a_long_forbidden_name_inside_stream_data_is_refused() -> None:
    # Given a PDF whose (uncompressed) stream shows '/JavaScript' in its data
    data = s.pdf(extra_objects=[s.stream(b"<< /S /JavaScript /JS (x) >>")])
    # When it is inspected  Then the raw layer refuses it (fail closed)
    assert inspect(data, s.PDF).reason is RejectReason.ACTIVE_CONTENT


def test_pypdf_warnings_about_a_file_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    # Given a PDF whose xref points nowhere (pypdf warns, quoting what it read), and a log capture
    data = s.pdf().replace(b"startxref\n", b"startxref\n9").replace(b"Hello, recruiter", b"Secret, personal")
    # When it is inspected
    with caplog.at_level("DEBUG"):
        inspect(data, s.PDF)
    # Then nothing pypdf said was logged
    assert not [record for record in caplog.records if record.name.startswith("pypdf")]


# --- review of issue 8: what else a document or image can smuggle ---------------------------------

def _inspect(data: bytes, declared: str) -> Inspection:
    return inspect_content(data, declared_type=declared, declared_size=len(data), max_bytes=len(data) + 1)


def _docx_with(part: str, data: bytes, *, relationship: str, content_type: tuple[str, str] | None = None,
               target_mode: str | None = None, target: str | None = None) -> bytes:
    parts = s.ooxml_parts(s.DOCX)
    defaults = {content_type[0]: content_type[1]} if content_type else None
    parts["[Content_Types].xml"] = s.content_types(
        {"word/document.xml": "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"},
        defaults)
    parts["word/_rels/document.xml.rels"] = s.relationships([(relationship, target or part.split("/", 1)[1],
                                                              target_mode)])
    if target_mode is None:
        parts[part] = data
    return s.zip_bytes(parts)


RTF_OBJECT = rb"{\rtf1{\object\objautlink\objupdate{\*\objclass Package}{\*\objdata 0105000002000000}}}"


@pytest.mark.parametrize(("part", "data", "relationship", "content_type"), [
    ("word/afchunk.rtf", RTF_OBJECT, "aFChunk", ("rtf", "application/rtf")),
    ("word/afchunk.mht", b"MIME-Version: 1.0\r\n\r\n<html><script>alert(1)</script></html>", "aFChunk",
     ("mht", "message/rfc822")),
    ("word/page.html", b"<html><script>alert(1)</script></html>", "aFChunk", ("html", "text/html")),
    ("word/sub.docx", b"PK\x03\x04", "subDocument", None),
    ("word/media/x.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "image", ("bin", "image/png")),
    ("word/media/y.png", b"MZ\x90\x00" + bytes(60), "image", None),
])
def test_review_imported_chunks_and_hidden_executables_in_a_docx_are_active_content(
        part: str, data: bytes, relationship: str, content_type: tuple[str, str] | None) -> None:
    # Given a DOCX that pulls in RTF (with an OLE \object), MHTML or HTML through altChunk, a
    # sub-document, or a part that is an OLE compound file or an executable under a media name
    docx = _docx_with(part, data, relationship=relationship, content_type=content_type)
    # Then it is refused
    assert _inspect(docx, s.DOCX).reason is RejectReason.ACTIVE_CONTENT


@pytest.mark.parametrize(("target", "refused"), [
    ("https://example.org/cv", False), ("mailto:hr@example.org", False),
    ("file://\\\\evil\\share\\x.exe", True), ("ms-msdt:/id PCWDiagnostic", True), ("search-ms:query=cv", True),
    ("smb://evil/share", True), ("javascript:alert(1)", True), ("\\\\evil\\share", True),
])
def test_review_external_links_may_only_be_http_https_or_mailto(target: str, refused: bool) -> None:
    # Given a DOCX hyperlink, and a PDF link, to each target
    docx = _docx_with("word/x", b"", relationship="hyperlink", target_mode="External", target=target)
    pdf = s.pdf(page_extra=b"/Annots [6 0 R]", extra_objects=[
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /URI /URI ("
        + target.encode().replace(b"\\", b"\\\\") + b") >> >>"])  # a PDF literal string escapes backslashes
    # Then both are refused exactly when the scheme could start a local handler or run script
    for data, declared in ((docx, s.DOCX), (pdf, s.PDF)):
        reason = _inspect(data, declared).reason
        assert (reason is RejectReason.ACTIVE_CONTENT) is refused, (target, declared, reason)


def test_review_html_right_after_the_pdf_header_is_a_type_mismatch() -> None:
    pdf = s.pdf()
    first_line = pdf.index(b"\n") + 1
    polyglot = pdf[:first_line] + b"<html><body><script>alert(1)</script></body></html>\n" + pdf[first_line:]
    assert _inspect(polyglot, s.PDF).reason is RejectReason.TYPE_MISMATCH


@pytest.mark.parametrize("fmt", [s.JPEG, s.WEBP])
def test_review_an_embedded_colour_profile_never_reaches_the_served_bytes(fmt: str) -> None:
    # Given an image whose ICC profile field carries an HTML payload (copied verbatim before)
    payload = b"<html><script>alert(document.domain)</script></html>" * 50
    image = Image.new("RGB", (16, 16), (200, 10, 10))
    out = io.BytesIO()
    image.save(out, {s.JPEG: "JPEG", s.WEBP: "WEBP"}[fmt], icc_profile=payload)
    # When it is checked / Then it passes, re-encoded without any profile or payload
    result = _inspect(out.getvalue(), fmt)
    assert result.reason is None
    assert b"<script" not in result.served and "icc_profile" not in Image.open(io.BytesIO(result.served)).info
