"""A file cut short is refused at upload (service_layer.image_inspection), whatever its format."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.web.conftest import Site, assert_error


def _photo(fmt: str, **options: object) -> bytes:
    """A noisy 320x240 picture: big enough that half of it is a real cut through the data."""
    pixels = np.random.default_rng(7).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    if fmt == "GIF":
        image = image.convert("P")
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


FORMATS = {
    "jpeg": lambda: _photo("JPEG", quality=90),
    "progressive-jpeg": lambda: _photo("JPEG", quality=90, progressive=True),
    "png": lambda: _photo("PNG"),
    "webp": lambda: _photo("WEBP", quality=80),
    "lossless-webp": lambda: _photo("WEBP", lossless=True),
    "gif": lambda: _photo("GIF"),
    "bmp": lambda: _photo("BMP"),
}


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_truncated_files_are_refused(shared_site: Site, kind: str) -> None:
    site = shared_site
    pid = site.new_project(members=False)
    data = FORMATS[kind]()
    for cut in (len(data) // 2, len(data) - 16):
        response = site.post(f"/projects/{pid}/images",
                             files=[("file", (f"cut.{kind}", data[:cut], "image/jpeg"))])
        error = assert_error(response, 422, "validation")
        assert "truncated" in error["message"], error
        assert error["details"]["file_name"] == f"cut.{kind}"
    # The whole file is fine.
    assert site.upload(pid, (f"whole.{kind}", data))[0]["width"] == 320


def test_a_jpeg_with_bytes_after_its_end_is_accepted(shared_site: Site) -> None:
    """Cameras append data after the end-of-image marker; browsers show such files."""
    site = shared_site
    pid = site.new_project(members=False)
    data = _photo("JPEG", quality=80) + b"\x00" * 64 + b"trailing metadata"
    assert site.upload(pid, ("trailer.jpg", data))[0]["content_type"] == "image/jpeg"


def test_a_cut_in_a_batch_names_the_file(shared_site: Site) -> None:
    site = shared_site
    pid = site.new_project(members=False)
    whole = FORMATS["jpeg"]()
    files = [("file", ("good.jpg", whole, "image/jpeg")),
             ("file", ("bad.jpg", whole[: len(whole) // 2], "image/jpeg"))]
    error = assert_error(site.post(f"/projects/{pid}/images", files=files), 422, "validation")
    assert error["details"]["file_name"] == "bad.jpg" and error["details"]["index"] == 1
    listed = site.ok(site.get(f"/projects/{pid}/images"))
    assert listed["images"] == []  # nothing of the batch was added
