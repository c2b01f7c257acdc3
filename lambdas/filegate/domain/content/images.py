"""Image checks: our own structure walks, then Pillow decodes and re-encodes without metadata.

Pillow, and only the plugin for the format at hand, is imported on first use. The bounds are
read from the package at call time, so they have one definition
(``filegate.domain.content.MAX_IMAGE_PIXELS``, ``MAX_PNG_CHUNKS``).
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import io
import struct
import zlib
from typing import TYPE_CHECKING, Any

from filegate.domain import content
from filegate.domain.content.common import GIF, JPEG, PNG, WEBP, _active, _type_mismatch, _unsupported

if TYPE_CHECKING:
    from PIL import Image as PILImage

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PIL_FORMAT = {PNG: "PNG", JPEG: "JPEG", GIF: "GIF", WEBP: "WEBP"}


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
        if chunks > content.MAX_PNG_CHUNKS:
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
    if width * height > content.MAX_IMAGE_PIXELS:
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


def _to_srgb(image: PILImage.Image, icc: bytes) -> PILImage.Image:
    """The pixels as sRGB, by the embedded profile; as stored when it cannot be applied."""
    if image.mode not in ("RGB", "RGBA", "L"):
        return image
    try:
        from PIL import ImageCms

        converted = ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                              ImageCms.createProfile("sRGB"), outputMode=image.mode)
    except Exception:  # an unusable profile: drop it, keep the pixels
        return image
    return converted if converted is not None else image


def _reencode(image: PILImage.Image, declared: str, data: bytes) -> bytes:
    from PIL import ImageOps

    params: dict[str, Any] = {}
    icc = image.info.get("icc_profile")
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
    if icc:
        # An embedded profile is bytes of the uploader's choosing, copied verbatim otherwise (a
        # payload can ride in it): convert the pixels to sRGB with it, and serve no profile.
        clean = _to_srgb(clean, icc)
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
