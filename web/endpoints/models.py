"""The model registry over HTTP: register weights (multipart), list, read, re-map, retire.

``POST /projects/{project_id}/models`` streams its ``weights`` part straight into a private
temporary file under the weights store (``service_layer.model_registry.StagedWeights``: hashed
while written, 413 the moment it passes ``LABELWRIGHT_MAX_MODEL_BYTES``), so a 500 MB upload
never sits in memory; the small parts (``classes`` and the text fields) are kept in memory
under small limits. The inspection and the recording then run in a thread: the event loop
never waits on a model file. Reading a model is checked against the role in its project
(``read_models``), changing or registering one needs ``manage_models``.

What a weights file is, is found by ``inference_workers.model_files.inspect_model``, imported
on first use in the worker thread: it brings torch and onnx, which the rest of the API never
needs, and importing them takes a second the event loop must not wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.model import Model
from service_layer.image_store import ImageStore
from service_layer.model_registry import (
    MAX_CLASSES_FILE,
    ModelFacts,
    StagedWeights,
    clean_file_name,
    project_models,
    register_model,
    update_model,
)
from web.access import (
    authenticated,
    project_for,
    quick_query,
    services_of,
    wait_for_min_position,
)
from web.authentication import Principal
from web.errors import ApiError
from web.multipart_stream import MultipartStream
from web.request_bodies import declared_length, media_type, read_json_object
from web.responses import json_response
from web.services import Services

TEXT_FIELDS = ("name", "version", "task", "architecture", "input_size")
MAX_TEXT_FIELD = 4096  # bytes of one text field (a name is at most 100 characters)
_REQUEST_SLACK = 1024 * 1024  # part headers, boundaries and text fields around the files


class ModelUpload(MultipartStream):
    """Streams a ``multipart/form-data`` registration: the ``weights`` file into a
    ``StagedWeights``, the ``classes`` file and the text fields into memory (each under its
    limit, refused as soon as it passes it)."""

    too_large_field = "weights"
    malformed_field = "body"

    def __init__(self, content_type: str, store: ImageStore, max_weights: int) -> None:
        super().__init__(content_type, max_weights + MAX_CLASSES_FILE + _REQUEST_SLACK)
        self.store = store
        self.max_weights = max_weights
        self.weights: StagedWeights | None = None
        self.classes: tuple[str, bytes] | None = None
        self.fields: dict[str, str] = {}
        self._seen: set[str] = set()
        self._part = ""
        self._part_file_name = ""
        self._buffer = bytearray()

    async def read(self, stream: AsyncIterator[bytes]) -> None:
        await self._stream(stream)
        if self.weights is None:
            raise ApiError("validation", "no weights: send the model file as a part named "
                           "'weights'", {"field": "weights"})

    def close(self) -> None:
        """Remove the staged weights (idempotent)."""
        if self.weights is not None:
            self.weights.discard()

    # -- the parts ---------------------------------------------------------------------------

    def _part_began(self) -> None:
        self._buffer = bytearray()

    def _part_headers(self, name: str, options: dict[bytes, bytes]) -> None:
        if name not in ("weights", "classes", *TEXT_FIELDS):
            raise ApiError("validation", f"unexpected part {name!r}: send 'weights', "
                           "optionally 'classes', and the fields "
                           f"{', '.join(TEXT_FIELDS)}", {"field": name or "part"})
        if name in self._seen:
            raise ApiError("validation", f"the part {name!r} was sent twice", {"field": name})
        self._seen.add(name)
        self._part = name
        raw_name = options.get(b"filename")
        self._part_file_name = clean_file_name(
            raw_name.decode("utf-8", "replace")) if raw_name else ""
        if name == "weights":
            self.weights = StagedWeights(self.store, self._part_file_name or "weights",
                                         self.max_weights)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "weights":
            assert self.weights is not None
            self.weights.write(data[start:end])
            return
        self._buffer += data[start:end]
        limit = MAX_CLASSES_FILE if self._part == "classes" else MAX_TEXT_FIELD
        if len(self._buffer) > limit:
            raise ApiError("too_large", f"the part {self._part!r} is larger than {limit:,} "
                           "bytes", {"field": self._part, "limit": limit})

    def _on_part_end(self) -> None:
        if self._part == "classes":
            self.classes = (self._part_file_name or "classes.txt", bytes(self._buffer))
        elif self._part in TEXT_FIELDS:
            try:
                self.fields[self._part] = self._buffer.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError("validation", f"the field {self._part!r} is not UTF-8 text",
                               {"field": self._part}) from None
        self._buffer = bytearray()


def inspect_model(path: Path, file_name: str, *, classes: tuple[str, bytes] | None = None,
                  task: str | None = None, architecture: str | None = None,
                  input_size: list[int] | None = None, max_bytes: int | None = None
                  ) -> ModelFacts:
    """``inference_workers.model_files.inspect_model``, imported when first called."""
    from inference_workers.model_files import inspect_model as inspect

    return inspect(path, file_name, classes=classes, task=task, architecture=architecture,
                   input_size=input_size, max_bytes=max_bytes)


async def model_for(services: Services, principal: Principal, model_id: str,
                    action: str) -> Model:
    """The model, if ``principal`` may do ``action`` in its project (403 otherwise, as for
    images: ids are unguessable, so "not yours" tells nothing)."""
    model: Model = await quick_query(services, services.app.model, model_id)
    await project_for(services, principal, model.project_id, action)
    return model


async def add_model(request: Request) -> Response:
    services = services_of(request)
    settings = services.settings
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "manage_models")
    if media_type(request) != "multipart/form-data":
        raise ApiError("unsupported_media_type", "send the model as multipart/form-data: a "
                       "part 'weights' (the file), optionally 'classes', and form fields",
                       {"content_type": media_type(request)})
    upload = ModelUpload(request.headers["content-type"], services.models,
                         settings.max_model_bytes)
    declared_length(request, upload.max_request)
    await upload.read(request.stream())
    assert upload.weights is not None
    # From here on register_model owns the staged file (and always removes it).
    model, position = await asyncio.to_thread(
        register_model, services.app, services.models, project_id, weights=upload.weights,
        classes=upload.classes, name=upload.fields.get("name"),
        version=upload.fields.get("version"), task=upload.fields.get("task"),
        architecture=upload.fields.get("architecture"),
        input_size=upload.fields.get("input_size"), actor=principal.username,
        max_bytes=settings.max_model_bytes, inspect=inspect_model)
    return json_response({"model": model.describe(), "position": position}, 201)


async def list_models(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "read_models")
    await wait_for_min_position(request, services)
    models: list[dict[str, Any]] = await asyncio.to_thread(project_models, services.app,
                                                           project_id)
    return json_response({"models": models})


async def get_model(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    model = await model_for(services, principal, request.path_params["model_id"],
                            "read_models")
    await wait_for_min_position(request, services)
    return json_response({"model": model.describe()})


async def patch_model(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    model = await model_for(services, principal, request.path_params["model_id"],
                            "manage_models")
    body = await read_json_object(request, services.settings.max_command_body)
    changed, position = await asyncio.to_thread(update_model, services.app, str(model.id),
                                                body, principal.username)
    return json_response({"model": changed.describe(), "position": position})


routes = [
    Route("/projects/{project_id}/models", add_model, methods=["POST"]),
    Route("/projects/{project_id}/models", list_models, methods=["GET"]),
    Route("/models/{model_id}", get_model, methods=["GET"]),
    Route("/models/{model_id}", patch_model, methods=["PATCH"]),
]
