"""File names inside folder exports, and where an export finds the image files.

Every image gets a *stem* (its file name without the extension) that is unique within the
export, because folder formats pair files by stem (YOLO ``labels/x.txt`` with ``images/x.jpg``,
VOC ``Annotations/x.xml`` with ``JPEGImages/x.jpg``). The stem is the uploaded file name's
last path component (so never a folder, never ``..``) with control characters and those
Windows refuses in file names (``< > : " / \\ | ? *``) replaced by ``_`` and leading dots and
spaces removed; usually that is the uploaded name itself, which importers match on. A stem
that an earlier image of the export already took (compared case-insensitively, for case-blind
file systems) gets ``_`` and the first 8 hex digits of the image's sha256, then its id. Images
come in the order they were added, so an image's stem never changes when images are added
later. The extension is the uploaded name's (1-5 letters or digits), ``.jpg`` if it has none.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_EXTENSION = re.compile(r"\.[a-z0-9]{1,5}")
MAX_STEM = 120


class ImageFiles(Protocol):
    """Where the bytes of an image are (``service_layer.image_store.ImageStore`` is one)."""

    def path(self, sha: str) -> Path:
        """The file holding the image whose content hash is ``sha``."""
        ...


class ImageNames:
    """Hands out a unique ``(stem, extension)`` per image of one export."""

    def __init__(self, *, unique_stems: bool = True) -> None:
        """``unique_stems``: no two images share a stem (folder formats, whose label files are
        named by it: ``a.png`` and ``a.jpg`` cannot both be ``a``); else only whole names are
        kept unique (a JSON task list keeps ``a.png`` and ``a.jpg`` as they were uploaded)."""
        self._taken: set[str] = set()
        self._unique_stems = unique_stems

    def of(self, image: dict[str, Any]) -> tuple[str, str]:
        """The stem and the extension (with its dot) of ``image`` in this export."""
        name = str(image.get("file_name") or "").replace("\\", "/").rsplit("/", 1)[-1]
        stem, dot, extension = name.rpartition(".")
        if not dot or not _EXTENSION.fullmatch("." + extension.lower()):
            stem, extension = name, "jpg"
        stem = _UNSAFE.sub("_", stem)[:MAX_STEM].lstrip(". ").rstrip(". ")
        sha = str(image.get("sha256") or "")
        suffix = "" if self._unique_stems else "." + extension.lower()
        for candidate in (stem, f"{stem}_{sha[:8]}", f"{stem}_{image['id']}"):
            key = candidate.lower() + suffix
            if candidate and key not in self._taken and candidate != f"{stem}_":
                self._taken.add(key)
                return candidate, "." + extension
        fallback = str(image["id"])  # an id is unique in a project
        self._taken.add(fallback.lower() + suffix)
        return fallback, "." + extension
