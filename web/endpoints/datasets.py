"""``POST /projects/{project_id}/datasets``: import a labeled dataset (managers).

The multipart body carries the dataset as the part ``file`` (a zip, or one JSON/XML file),
streamed to a spooled temporary file under ``LABELWRIGHT_MAX_DATASET_BYTES`` (413 past it)
and hashed on the way; the text fields ``format`` and optionally ``create_classes``. The
import itself is ``service_layer.dataset_import`` on a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from tempfile import SpooledTemporaryFile
from typing import IO, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service_layer.dataset_archive import SingleFile, open_upload
from service_layer.dataset_formats import ZIP_ONLY, reader_for
from service_layer.dataset_import import import_dataset
from web.access import authenticated, project_for, services_of, wait_for_min_position
from web.errors import ApiError
from web.multipart_images import clean_file_name
from web.multipart_stream import MultipartStream
from web.request_bodies import declared_length, media_type
from web.responses import json_response

_IN_MEMORY = 8 * 1024 * 1024
_FIELDS = ("format", "create_classes")
_MAX_FIELD = 256
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class DatasetUpload(MultipartStream):
    """Streams the ``file`` part into a spooled temporary file; keeps the text fields."""

    too_large_field = "file"
    malformed_field = "body"

    def __init__(self, content_type: str, max_bytes: int) -> None:
        super().__init__(content_type, max_bytes + 64 * 1024)
        self.max_bytes = max_bytes
        self.file: IO[bytes] | None = None
        self.file_name = ""
        self.size = 0
        self.digest = hashlib.sha256()
        self.fields: dict[str, str] = {}
        self._part = ""
        self._buffer = bytearray()

    async def read(self, stream: AsyncIterator[bytes]) -> None:
        await self._stream(stream)
        if self.file is None:
            raise ApiError("validation", "no dataset: send it as a part named 'file'",
                           {"field": "file"})

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def _part_began(self) -> None:
        self._buffer = bytearray()

    def _part_headers(self, name: str, options: dict[bytes, bytes]) -> None:
        if name not in ("file", *_FIELDS):
            raise ApiError("validation", f"unexpected part {name!r}: send 'file', 'format' "
                           "and optionally 'create_classes'", {"field": name or "part"})
        if (name == "file" and self.file is not None) or name in self.fields:
            raise ApiError("validation", f"the part {name!r} was sent twice", {"field": name})
        self._part = name
        if name == "file":
            raw = options.get(b"filename", b"dataset").decode("utf-8", "replace")
            self.file_name = clean_file_name(raw, 0)
            self.file = SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115 - closed later

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._part == "file":
            assert self.file is not None
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise ApiError("too_large", f"the dataset {self.file_name!r} is larger than "
                               f"{self.max_bytes:,} bytes", {"field": "file", "reason":
                                                             "upload_size",
                                                             "limit": self.max_bytes})
            self.digest.update(chunk)
            self.file.write(chunk)
            return
        self._buffer += chunk
        if len(self._buffer) > _MAX_FIELD:
            raise ApiError("validation", f"the field {self._part!r} is too long",
                           {"field": self._part})

    def _on_part_end(self) -> None:
        if self._part in _FIELDS:
            self.fields[self._part] = self._buffer.decode("utf-8", "replace").strip()


def _create_classes(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ApiError("validation", "create_classes is true or false",
                   {"field": "create_classes"})


async def post_dataset(request: Request) -> Response:
    services = services_of(request)
    settings = services.settings
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "import_datasets")
    if media_type(request) != "multipart/form-data":
        raise ApiError("unsupported_media_type", "send the dataset as multipart/form-data "
                       "(parts 'file' and 'format')", {"field": "content-type"})
    max_bytes = settings.max_dataset_bytes
    declared_length(request, max_bytes + 64 * 1024)
    upload = DatasetUpload(request.headers["content-type"], max_bytes)
    try:
        await upload.read(request.stream())
        fmt = upload.fields.get("format", "")
        reader_for(fmt)  # 422 naming the formats before anything is opened
        create_classes = _create_classes(upload.fields.get("create_classes", ""))
        await wait_for_min_position(request, services)
        summary = await asyncio.to_thread(_import, services, project_id, upload, fmt,
                                          create_classes, principal.username)
    finally:
        upload.close()
    return json_response(summary)


def _import(services: Any, project_id: str, upload: DatasetUpload, fmt: str,
            create_classes: bool, username: str) -> dict[str, Any]:
    assert upload.file is not None
    files = open_upload(upload.file_name, upload.file)
    try:
        if fmt in ZIP_ONLY and isinstance(files, SingleFile):
            raise ApiError("validation", f"a {fmt} dataset comes as a zip (the class names "
                           "and one label file per image)", {"field": "file",
                                                              "reason": "zip_required"})
        return import_dataset(services.app, services.pipeline, services.read,
                              services.images, project_id, files, fmt,
                              upload.digest.hexdigest(), username,
                              max_pixels=services.settings.max_image_pixels,
                              create_classes=create_classes)
    finally:
        files.close()


routes = [
    Route("/projects/{project_id}/datasets", post_dataset, methods=["POST"]),
]
