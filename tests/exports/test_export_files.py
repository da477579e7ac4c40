"""File names inside exports: whatever was uploaded, a stem is one safe path component, unique
in the export (ignoring case), and an image's stem does not change as images are added."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.export_files import ImageNames


def image(n: int, name: str) -> dict[str, str]:
    return {"id": f"id-{n}", "file_name": name,
            "sha256": hashlib.sha256(str(n).encode()).hexdigest()}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=30))
def test_stems_are_single_safe_unique_components(names: list[str]) -> None:
    namer = ImageNames()
    seen: set[str] = set()
    for n, name in enumerate(names):
        stem, extension = namer.of(image(n, name))
        assert stem and stem not in (".", "..") and not stem.startswith((".", " "))
        assert not set(stem) & set('/\\<>:"|?*') and all(ord(c) >= 32 for c in stem)
        assert extension.startswith(".") and "/" not in extension
        assert stem.lower() not in seen
        seen.add(stem.lower())


def test_uploaded_names_are_kept_and_clashes_get_the_hash() -> None:
    namer = ImageNames()
    assert namer.of(image(1, "my photo.JPG")) == ("my photo", ".JPG")
    assert namer.of(image(2, "../../etc/passwd")) == ("passwd", ".jpg")
    assert namer.of(image(3, "C:\\shots\\My Photo.png"))[0].startswith("My Photo_")
    assert namer.of(image(4, "noext")) == ("noext", ".jpg")
    assert namer.of(image(5, "..jpg"))[0].startswith("_")
