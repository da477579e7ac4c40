"""Checking that uploaded bytes are an image we can label, and reading its size.

Pillow only reads the header to learn the size, so a decompression bomb (a small file that
claims billions of pixels) is refused before any pixel is decoded; ``verify()`` then checks
the file's structure (for PNG: every chunk's checksum, through ``IEND``).

``verify()`` does not read JPEG scan data, so a JPEG cut short (an interrupted copy, half a
download) would pass and show as a grey or torn image in the labelling UI. Every upload is
therefore checked for being complete, at a cost that does not grow with its pixels where the
format allows it:

- JPEG: an end-of-image marker (``FFD9``) must follow the last start-of-scan (``FFDA``).
  Entropy-coded data cannot contain either marker (a ``FF`` byte in it is followed by ``00``
  or a restart marker), so a scan cut anywhere lacks it. Searching backwards from the end
  finds the marker within the last bytes of a complete file: microseconds, against ~36 ms
  for a draft-mode (1/8 scale) decode and ~120 ms for a full decode of a 24-megapixel JPEG
  (180 ms and 280 ms when it is progressive).
- WebP: the RIFF header states the file's length; the file must be at least that long.
- TIFF: every strip or tile the first image's directory names must lie inside the file.
- GIF and BMP, which state no such thing: the first frame is decoded, bounded by the pixel
  limit (and a BMP by the upload size: about 50 ms for 60 MB).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from PIL import Image, UnidentifiedImageError

from domain.errors import TooLarge, ValidationFailed

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                 "BMP": "image/bmp", "TIFF": "image/tiff", "WEBP": "image/webp"}

_JPEG_SOS, _JPEG_EOI = b"\xff\xda", b"\xff\xd9"
# TIFF tags: StripOffsets, StripByteCounts, TileOffsets, TileByteCounts.
_TIFF_PARTS = ((273, 279), (324, 325))


class ImageTooLarge(TooLarge):
    """More pixels than the service accepts (or a decompression bomb)."""


def _truncated(detail: str) -> ValidationFailed:
    return ValidationFailed(f"the image file is truncated or corrupt: {detail}",
                            {"field": "file", "reason": "truncated"})


def _check_riff_length(data: bytes) -> None:
    """A WebP file (RIFF) is at least as long as its header says."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 12:
        stated = int.from_bytes(data[4:8], "little") + 8
        if len(data) < stated:
            raise _truncated(f"the WebP header says {stated:,} bytes, the file has "
                             f"{len(data):,}")


def _check_jpeg_complete(data: bytes) -> None:
    end = data.rfind(_JPEG_EOI)
    if end < 0 or data.find(_JPEG_SOS, end) >= 0:
        raise _truncated("the JPEG data ends before its end-of-image marker")


def _tiff_data_end(img: Image.Image) -> int:
    """Where the last strip or tile of the (first) TIFF image ends."""
    tags = getattr(img, "tag_v2", None)
    end = 0
    if tags is None:
        return end
    for offsets_tag, counts_tag in _TIFF_PARTS:
        offsets, counts = tags.get(offsets_tag), tags.get(counts_tag)
        if offsets is None or counts is None:
            continue
        offsets = offsets if isinstance(offsets, tuple) else (offsets,)
        counts = counts if isinstance(counts, tuple) else (counts,)
        for offset, count in zip(offsets, counts, strict=False):
            end = max(end, int(offset) + int(count))
    return end


def inspect_image(data: bytes, max_pixels: int) -> dict[str, Any]:
    """``{"width","height","content_type"}`` of an image file, or a clear error."""
    if not data:
        raise ValidationFailed("the file is empty", {"field": "file"})
    _check_riff_length(data)  # Pillow refuses a cut WebP too, with a vaguer message
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageTooLarge(
                        f"the image has {width}x{height} pixels; at most {max_pixels:,} are "
                        "allowed", {"field": "file", "width": width, "height": height})
                tiff_end = _tiff_data_end(img) if fmt == "TIFF" else 0
                img.verify()
            if fmt in ("GIF", "BMP"):
                # Their headers state no length to check the file against: decode the first
                # frame (bounded by the pixel limit above).
                with Image.open(io.BytesIO(data)) as img:
                    img.load()
    except UnidentifiedImageError:
        raise ValidationFailed("the file is not an image we can read (UnidentifiedImageError)",
                               {"field": "file"}) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        message = str(e)[:200]
        if "truncat" in message.lower() or "broken" in message.lower():
            raise _truncated(message) from None
        raise ValidationFailed(f"the file is not an image we can read, or it is corrupt "
                               f"({e.__class__.__name__}: {message})",
                               {"field": "file"}) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge("the image has too many pixels (decompression bomb guard)",
                            {"field": "file"}) from None
    if fmt not in CONTENT_TYPES:
        raise ValidationFailed(f"image format {fmt} is not supported; use JPEG, PNG, GIF, BMP, "
                               "TIFF or WebP", {"field": "file"})
    if width < 1 or height < 1:
        raise ValidationFailed("the image has no pixels", {"field": "file"})
    if fmt == "JPEG":
        _check_jpeg_complete(data)
    elif fmt == "TIFF" and tiff_end > len(data):
        raise _truncated(f"the TIFF image data runs to byte {tiff_end:,}, the file has "
                         f"{len(data):,}")
    return {"width": width, "height": height, "content_type": CONTENT_TYPES[fmt]}
