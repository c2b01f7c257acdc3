"""Files the server's content checks accept (``filegate.domain.content``): bytes that are what
their declared type says, with no active content, so that a verification run's upload is
promoted (``clean``) rather than rejected.

A PDF is written by hand (one page of text, a correct xref table) and read back with pypdf
before it is used; images come from Pillow. Every sample carries a random token, so no two runs
upload the same bytes. The verifier re-encodes images, so an image is compared by its pixels
(lossless formats) or its size (JPEG), a PDF by its bytes (``same_content``).
"""

# ruff: noqa: PLC0415 (pypdf and Pillow are imported on first use)

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
WEBP = "image/webp"
#: What the verifier can produce, best first (a PDF is served byte for byte).
PRIVATE_PREFERENCE: tuple[str, ...] = (PDF, PNG, WEBP, JPEG)
#: For the public object only the headers matter: any image type will do.
PUBLIC_PREFERENCE: tuple[str, ...] = (PNG, WEBP, JPEG, PDF)
EXTENSIONS = {PDF: "pdf", PNG: "png", JPEG: "jpg", WEBP: "webp"}
IMAGE_FORMATS = {PNG: "PNG", JPEG: "JPEG", WEBP: "WEBP"}


@dataclass(frozen=True)
class Sample:
    content_type: str
    data: bytes
    filename: str


def _pdf_object(number: int, body: bytes) -> bytes:
    return b"%d 0 obj\n" % number + body + b"\nendobj\n"


def pdf_bytes(text: str) -> bytes:
    """A one-page PDF 1.7 showing ``text`` (ASCII letters, digits and spaces) in Helvetica."""
    safe = "".join(character for character in text if character.isalnum() or character in " -").encode("ascii")
    content = b"BT /F1 18 Tf 72 720 Td (" + safe + b") Tj ET"
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += _pdf_object(number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(bodies) + 1, xref)
    return bytes(out)


def check_pdf(data: bytes, text: str) -> None:
    """pypdf must open ``data``, find one page and read ``text`` from it (else ValueError)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=True)
    if len(reader.pages) != 1 or text not in (reader.pages[0].extract_text() or ""):
        raise ValueError("the verification PDF does not read back with pypdf")


def image_bytes(content_type: str, width: int = 32, height: int = 24) -> bytes:
    """An image of random pixels (JPEG: random blocks, which survive its compression)."""
    from PIL import Image

    if content_type == JPEG:
        small = Image.frombytes("RGB", (width // 8, height // 8), secrets.token_bytes((width // 8) * (height // 8) * 3))
        image = small.resize((width, height), Image.Resampling.NEAREST)
        params: dict[str, object] = {"quality": 90}
    else:
        image = Image.frombytes("RGB", (width, height), secrets.token_bytes(width * height * 3))
        params = {"lossless": True} if content_type == WEBP else {}
    buffer = io.BytesIO()
    image.save(buffer, IMAGE_FORMATS[content_type], **params)
    return buffer.getvalue()


def make_sample(content_type: str) -> Sample:
    """A fresh file of ``content_type`` (one of ``EXTENSIONS``), checked before it is returned."""
    token = secrets.token_hex(8)
    filename = f"filegate-verify-{token}.{EXTENSIONS[content_type]}"
    if content_type == PDF:
        text = f"filegate deployment verification {token}"
        data = pdf_bytes(text)
        check_pdf(data, text)
        return Sample(content_type, data, filename)
    if content_type in IMAGE_FORMATS:
        data = image_bytes(content_type)
        _decoded(data)  # Pillow reads it back
        return Sample(content_type, data, filename)
    raise ValueError(f"cannot make a sample of {content_type}")


def _decoded(data: bytes) -> tuple[tuple[int, int], bytes]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size, image.convert("RGBA").tobytes()


def same_content(content_type: str, served: bytes, original: bytes) -> tuple[bool, str]:
    """Whether the served file is the uploaded one, and how that was judged: bytes for a PDF,
    pixels for a lossless image (the verifier re-encodes images), the size for a JPEG."""
    if served == original:
        return True, "bytes equal"
    if content_type == PDF or content_type not in IMAGE_FORMATS:
        return False, f"bytes differ ({len(served)} served, {len(original)} uploaded)"
    try:
        served_image, original_image = _decoded(served), _decoded(original)
    except Exception as error:
        return False, f"the served image does not decode ({type(error).__name__})"
    if content_type == JPEG:
        same = served_image[0] == original_image[0]
        return same, "same size (JPEG re-encoded)" if same else "the served JPEG has another size"
    same = served_image == original_image
    return same, "same pixels (re-encoded)" if same else "the served image has other pixels"
