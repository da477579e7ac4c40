"""Getting image files into a project: multipart uploads and server-side paths.

Both end in ``register``: every file is inspected first (is it an image we can label, how big),
and only when all of them pass are the bytes stored and the images recorded, so a request with
one bad file records nothing. Uploaded parts are spooled to temporary files while the request
streams in, with the per-file and per-request limits enforced on the way, so memory holds at
most one image at a time.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import SpooledTemporaryFile
from typing import Any, BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from domain.application import Labeling
from domain.command_pipeline import CommandPipeline
from domain.errors import DomainError
from service_layer.image_inspection import inspect_image
from service_layer.image_store import ImageStore
from web.errors import ApiError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MAX_FILES = 1000  # per request
_SPOOL_IN_MEMORY = 2 * 1024 * 1024
_FILE_FIELD = "file"


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


def _too_large_file(name: str, limit: int) -> ApiError:
    return ApiError("too_large", f"file {name!r} is larger than {limit:,} bytes",
                    {"field": "file", "file_name": name, "limit": limit})


def clean_file_name(raw: str, index: int) -> str:
    """The last path component of a client-supplied name (never a path), at most 255 chars."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip().replace("\x00", "")
    if name in ("", ".", ".."):
        name = f"upload-{index + 1}"
    return name[:255]


@dataclass
class _Part:
    name: str = ""
    file_name: str | None = None
    staged: StagedFile | None = None
    digest: Any = field(default_factory=hashlib.sha256)


class MultipartImages:
    """Streams a ``multipart/form-data`` body into ``StagedFile``s (parts named ``file``)."""

    def __init__(self, content_type: str, max_file: int, max_request: int) -> None:
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            raise ApiError("validation", "the multipart body has no boundary",
                           {"field": "content-type"})
        self.max_file = max_file
        self.max_request = max_request
        self.files: list[StagedFile] = []
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._part = _Part()
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        })

    async def read(self, stream: AsyncIterator[bytes]) -> list[StagedFile]:
        total = 0
        try:
            async for chunk in stream:
                total += len(chunk)
                if total > self.max_request:
                    raise ApiError("too_large", f"the upload is larger than "
                                   f"{self.max_request:,} bytes", {"limit": self.max_request})
                self._parser.write(chunk)
            self._parser.finalize()
        except MultipartParseError as e:
            self.close()
            raise ApiError("validation", f"the multipart body is malformed: {e}") from None
        except BaseException:
            self.close()
            raise
        if not self.files:
            raise ApiError("validation", "no image files: send one or more parts named 'file'",
                           {"field": "file"})
        return self.files

    def close(self) -> None:
        for f in self.files:
            f.close()
        if self._part.staged is not None:
            self._part.staged.close()

    # -- parser callbacks ------------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._part = _Part()
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name != _FILE_FIELD or b"filename" not in options:
            raise ApiError("validation", f"unexpected part {name!r}: send image files as parts "
                           "named 'file' with a filename", {"field": name or "part"})
        if len(self.files) >= MAX_FILES:
            raise ApiError("too_large", f"at most {MAX_FILES} files per request",
                           {"limit": MAX_FILES})
        file_name = clean_file_name(options[b"filename"].decode("utf-8", "replace"),
                                    len(self.files))
        spool = SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed later
        self._part.staged = StagedFile(file_name=file_name, spool=spool)  # type: ignore[arg-type]

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        staged = self._part.staged
        assert staged is not None and staged.spool is not None
        chunk = data[start:end]
        staged.size += len(chunk)
        if staged.size > self.max_file:
            raise _too_large_file(staged.file_name, self.max_file)
        self._part.digest.update(chunk)
        staged.spool.write(chunk)

    def _on_part_end(self) -> None:
        staged = self._part.staged
        if staged is not None:
            staged.sha256 = self._part.digest.hexdigest()
            self.files.append(staged)
            self._part.staged = None


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
        raise ApiError("validation", "paths must be a non-empty list of file or folder paths",
                       {"field": "paths"})
    roots = import_roots(settings)
    real_roots = [r.resolve() for r in roots]
    base = roots[0]
    out: list[StagedFile] = []
    for i, text in enumerate(raw):
        field_name = f"paths[{i}]"
        if "\x00" in text:
            raise ApiError("validation", "a path may not contain NUL", {"field": field_name})
        lexical = Path(os.path.abspath(base / text))
        if not _under(lexical, roots):
            raise ApiError("forbidden", f"{text!r} is outside the folders images may be "
                           "imported from", {"field": field_name})
        try:
            real = lexical.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            raise ApiError("validation", f"no file or folder {text!r}",
                           {"field": field_name}) from None
        if not _under(real, real_roots):
            raise ApiError("forbidden", f"{text!r} leads outside the folders images may be "
                           "imported from", {"field": field_name})
        found = [real] if real.is_file() else _image_files(real, real_roots)
        for path in found:
            size = path.stat().st_size
            if size > max_file:
                raise _too_large_file(path.name, max_file)
            out.append(StagedFile(file_name=path.name, path=path, size=size))
            if len(out) > MAX_FILES * 10:
                raise ApiError("too_large", f"at most {MAX_FILES * 10} files per request")
    if not out:
        raise ApiError("validation", "the paths name no image files", {"field": "paths"})
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
                raise ApiError("conflict", f"{staged.file_name!r} changed while it was "
                               "imported", {"file_name": staged.file_name})
    added, position = app.add_images(project_id, infos, actor)
    if pipeline is not None:
        pipeline.adopt([img for img, created in added if created])
    rows = [{"id": str(img.id), "file_name": img.file_name, "width": img.width,
             "height": img.height, "sha256": img.sha256, "content_type": img.content_type,
             "created": created} for img, created in added]
    return rows, position
