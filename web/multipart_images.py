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

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from service_layer.image_registration import MAX_FILES, StagedFile, file_too_large
from web.errors import ApiError

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
            raise file_too_large(staged.file_name, self.max_file)
        self._part.digest.update(chunk)
        staged.spool.write(chunk)

    def _on_part_end(self) -> None:
        staged = self._part.staged
        if staged is not None:
            staged.sha256 = self._part.digest.hexdigest()
            self.files.append(staged)
            self._part.staged = None
