"""Checking that uploaded bytes are an image we can label, and reading its size.

Pillow only reads the header to learn the size, so a decompression bomb (a small file that
claims billions of pixels) is refused before any pixel is decoded; ``verify()`` then checks
the file's structure.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from PIL import Image, UnidentifiedImageError

from domain.errors import DomainError, ValidationFailed

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                 "BMP": "image/bmp", "TIFF": "image/tiff", "WEBP": "image/webp"}


class ImageTooLarge(DomainError):
    code = "too_large"


def inspect_image(data: bytes, max_pixels: int) -> dict[str, Any]:
    """``{"width","height","content_type"}`` of an image file, or a clear error."""
    if not data:
        raise ValidationFailed("the file is empty", {"field": "file"})
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
                img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValidationFailed(f"the file is not an image we can read ({e.__class__.__name__})",
                               {"field": "file"}) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge("the image has too many pixels (decompression bomb guard)",
                            {"field": "file"}) from None
    if fmt not in CONTENT_TYPES:
        raise ValidationFailed(f"image format {fmt} is not supported; use JPEG, PNG, GIF, BMP, "
                               "TIFF or WebP", {"field": "file"})
    if width < 1 or height < 1:
        raise ValidationFailed("the image has no pixels", {"field": "file"})
    return {"width": width, "height": height, "content_type": CONTENT_TYPES[fmt]}
