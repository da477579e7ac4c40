"""Streaming a ``multipart/form-data`` upload into files for image registration.

Uploaded parts are spooled to temporary files while the request streams in, with the per-file
and per-request limits enforced on the way, so memory holds at most one image at a time. The
staged files then go to ``service_layer.image_registration.register`` like any others.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile
from typing import Any

from service_layer.image_registration import MAX_FILES, StagedFile, file_too_large
from web.errors import ApiError
from web.multipart_stream import MultipartStream

_SPOOL_IN_MEMORY = 2 * 1024 * 1024
_FILE_FIELD = "file"


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


class MultipartImages(MultipartStream):
    """Streams a ``multipart/form-data`` body into ``StagedFile``s (parts named ``file``)."""

    def __init__(self, content_type: str, max_file: int, max_request: int) -> None:
        super().__init__(content_type, max_request)
        self.max_file = max_file
        self.files: list[StagedFile] = []
        self._part = _Part()

    async def read(self, stream: AsyncIterator[bytes]) -> list[StagedFile]:
        await self._stream(stream)
        if not self.files:
            raise ApiError("validation", "no image files: send one or more parts named 'file'",
                           {"field": "file"})
        return self.files

    def close(self) -> None:
        for f in self.files:
            f.close()
        if self._part.staged is not None:
            self._part.staged.close()

    # -- the parts ---------------------------------------------------------------------------

    def _part_began(self) -> None:
        self._part = _Part()

    def _part_headers(self, name: str, options: dict[bytes, bytes]) -> None:
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
            raise file_too_large(staged.file_name, self.max_file)
        self._part.digest.update(chunk)
        staged.spool.write(chunk)

    def _on_part_end(self) -> None:
        staged = self._part.staged
        if staged is not None:
            staged.sha256 = self._part.digest.hexdigest()
            self.files.append(staged)
            self._part.staged = None
