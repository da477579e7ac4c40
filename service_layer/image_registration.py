"""Registering image files in a project: the use case behind uploads, server-side paths and
``labelwright import-images``.

Everything ends in ``register``: every file is inspected first (is it an image we can label,
how big), and only when all of them pass are the bytes stored and the images recorded, so a
request with one bad file records nothing. Files arrive as ``StagedFile``s: spooled uploads
(the web layer's ``web.multipart_images`` streams a request into them, enforcing the limits on
the way, so memory holds at most one image at a time) or files on the server's disk
(``staged_paths``, for an admin's ``{"paths": [...]}``). Refusals are domain errors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from domain.application import Labeling
from domain.command_pipeline import CommandPipeline
from domain.errors import Conflict, DomainError, Forbidden, TooLarge, ValidationFailed
from service_layer.image_inspection import inspect_image
from service_layer.image_store import ImageStore

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MAX_FILES = 1000  # per request


@dataclass
class StagedFile:
    """One file waiting to be registered: a spooled upload or a file on the server's disk."""

    file_name: str
    path: Path | None = None
    spool: BinaryIO | None = None
    size: int = 0
    sha256: str | None = None

    def read(self) -> bytes:
        if self.path is not None:
            return self.path.read_bytes()
        assert self.spool is not None
        self.spool.seek(0)
        return self.spool.read()

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


def file_too_large(name: str, limit: int) -> TooLarge:
    """The refusal of one file over the per-file limit (uploads and paths alike)."""
    return TooLarge(f"file {name!r} is larger than {limit:,} bytes",
                    {"field": "file", "file_name": name, "limit": limit})


def import_roots(settings: Any) -> list[Path]:
    """Folders whose files an admin may register by path: the data dir and the allow-list."""
    roots = [Path(settings.data_dir)]
    roots.extend(Path(p) for p in getattr(settings, "import_dirs", None) or ())
    return [Path(os.path.abspath(r)) for r in roots]


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def staged_paths(raw: object, settings: Any, max_file: int) -> list[StagedFile]:
    """Validate ``{"paths": [...]}`` entries: files (or folders of images) under the import
    roots only. A path is checked before and after resolving links, so neither ``..`` nor a
    symlink can reach outside; the answer for an outside path does not say whether it exists.
    """
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) and p for p in raw):
        raise ValidationFailed("paths must be a non-empty list of file or folder paths",
                       {"field": "paths"})
    roots = import_roots(settings)
    real_roots = [r.resolve() for r in roots]
    base = roots[0]
    out: list[StagedFile] = []
    for i, text in enumerate(raw):
        field_name = f"paths[{i}]"
        if "\x00" in text:
            raise ValidationFailed("a path may not contain NUL", {"field": field_name})
        lexical = Path(os.path.abspath(base / text))
        if not _under(lexical, roots):
            raise Forbidden(f"{text!r} is outside the folders images may be "
                           "imported from", {"field": field_name})
        try:
            real = lexical.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            raise ValidationFailed(f"no file or folder {text!r}",
                           {"field": field_name}) from None
        if not _under(real, real_roots):
            raise Forbidden(f"{text!r} leads outside the folders images may be "
                           "imported from", {"field": field_name})
        found = [real] if real.is_file() else _image_files(real, real_roots)
        for path in found:
            size = path.stat().st_size
            if size > max_file:
                raise file_too_large(path.name, max_file)
            out.append(StagedFile(file_name=path.name, path=path, size=size))
            if len(out) > MAX_FILES * 10:
                raise TooLarge(f"at most {MAX_FILES * 10} files per request")
    if not out:
        raise ValidationFailed("the paths name no image files", {"field": "paths"})
    return out


def _image_files(folder: Path, real_roots: Sequence[Path]) -> list[Path]:
    if not folder.is_dir():
        return []
    found = []
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            real = p.resolve()
            if _under(real, real_roots):  # skip links that point outside
                found.append(real)
    return found


def register(app: Labeling, store: ImageStore, project_id: str, files: Sequence[StagedFile],
             actor: str, max_pixels: int, pipeline: CommandPipeline | None = None
             ) -> tuple[list[dict[str, Any]], int | None]:
    """Inspect every file, then store the bytes and record the images (blocking: run it in a
    thread). Returns the public rows in the order of ``files`` and the last position. The
    new images are offered to ``pipeline``'s cache (pre-labels usually follow uploads)."""
    infos: list[dict[str, Any]] = []
    for i, staged in enumerate(files):
        data = staged.read()
        try:
            info = inspect_image(data, max_pixels)
        except DomainError as e:  # not an image, or too many pixels: name the file
            e.details.update({"file_name": staged.file_name, "index": i})
            raise
        sha = hashlib.sha256(data).hexdigest()
        infos.append({"file_name": staged.file_name, "sha256": sha, **info})
    for staged, info in zip(files, infos, strict=True):
        if not store.exists(info["sha256"]):
            if staged.spool is not None:
                staged.spool.seek(0)
                stored = store.put_file(staged.spool, info["sha256"])
            else:
                stored = store.put(staged.read())
            if stored != info["sha256"]:
                raise Conflict(f"{staged.file_name!r} changed while it was "
                               "imported", {"file_name": staged.file_name})
    added, position = app.add_images(project_id, infos, actor)
    if pipeline is not None:
        pipeline.adopt([img for img, created in added if created])
    rows = [{"id": str(img.id), "file_name": img.file_name, "width": img.width,
             "height": img.height, "sha256": img.sha256, "content_type": img.content_type,
             "created": created} for img, created in added]
    return rows, position
