"""Registering a model's weights in a project, re-mapping its classes and retiring it: the use
case behind ``POST /projects/{id}/models``, ``PATCH /models/{id}`` and ``labelwright model``.

Weights can be hundreds of megabytes, so they never sit in memory: they are streamed into a
private temporary file under the weights store (``StagedWeights``, hashed while written, refused
as ``TooLarge`` the moment they pass the limit), inspected there (what format, task, layout,
classes and input size; a pickle is never unpickled), moved into the content-addressed store by
a rename (same filesystem: no second copy), and only then recorded
(``Labeling.register_model``). The file goes in before the event, so an event never names
missing bytes; a refusal at any step records nothing and the temporary file is always removed.

The inspector is passed in (``ModelInspector``; the entry points pass
``inference_workers.model_files.inspect_model``): dependencies point inward (docs/adr/0003),
and the service layer stays free of torch and onnx.

Defaults, for a user who sends only a file: the name is the file's stem (``yolov8n.onnx`` ->
``yolov8n``) and the version the next free whole number among that name's versions in the
project (``1``, then ``2``...); two registrations racing for the same default version get
consecutive ones. A version given explicitly that is taken is 409 ``conflict``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Protocol

from domain.application import Labeling
from domain.errors import Conflict, DomainError, NotFound, TooLarge, ValidationFailed
from domain.model import MAX_MODEL_NAME, MAX_MODEL_VERSION, MODEL_TASKS, Model, model_id_for
from service_layer.image_store import ImageStore, _fsync_dir
from service_layer.private_files import PRIVATE_FILE, make_private_dir

log = logging.getLogger(__name__)

MAX_CLASSES_FILE = 1024 * 1024  # names, one a line (inference_workers.classes_files's bound)
MAX_INPUT_SIDE = 16384
MODEL_CHANGES = frozenset({"class_map", "retired"})
_CHUNK = 1024 * 1024
_DEFAULT_VERSION_TRIES = 5
_INPUT_SIZE = re.compile(r"\s*([0-9]{1,6})\s*(?:[,xX]\s*([0-9]{1,6})\s*)?")


class ModelFacts(Protocol):
    """What inspecting a weights file found (``inference_workers.model_api.ModelSpec``)."""

    @property
    def format(self) -> str: ...
    @property
    def task(self) -> str: ...
    @property
    def layout(self) -> str: ...
    @property
    def architecture(self) -> str | None: ...
    @property
    def classes(self) -> list[str]: ...
    @property
    def input_size(self) -> list[int] | None: ...
    @property
    def details(self) -> dict[str, Any]: ...


class ModelInspector(Protocol):
    """``inference_workers.model_files.inspect_model``'s signature: the facts of the weights
    at ``path`` (uploaded as ``file_name``), or ValidationFailed / TooLarge saying why not."""

    def __call__(self, path: Path, file_name: str, *, classes: tuple[str, bytes] | None = None,
                 task: str | None = None, architecture: str | None = None,
                 input_size: list[int] | None = None,
                 max_bytes: int | None = None) -> ModelFacts: ...


def weights_too_large(file_name: str, limit: int) -> TooLarge:
    return TooLarge(f"the weights file {file_name!r} is larger than {limit:,} bytes "
                    "(LABELWRIGHT_MAX_MODEL_BYTES)",
                    {"field": "weights", "file_name": file_name, "limit": limit})


@dataclass
class StagedWeights:
    """A weights file being written into the store's ``tmp`` folder, hashed on the way.

    ``write`` refuses (``TooLarge``) as soon as the bytes pass ``max_bytes``, so a client
    cannot fill the disk; ``discard`` removes the file (idempotent), and ``register_model``
    always calls it."""

    store: ImageStore
    file_name: str
    max_bytes: int
    size: int = 0
    path: Path = field(init=False)
    _digest: Any = field(init=False, default_factory=hashlib.sha256)
    _out: BinaryIO | None = field(init=False, default=None)
    _owned: bool = field(init=False, default=True)  # False once renamed into the store

    def __post_init__(self) -> None:
        folder = self.store.root / "tmp"
        make_private_dir(folder, private_parents=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".incoming-model-")
        os.fchmod(fd, PRIVATE_FILE)
        self.path = Path(name)
        self._out = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.discard()
            raise weights_too_large(self.file_name, self.max_bytes)
        assert self._out is not None, "write after finish or discard"
        self._digest.update(chunk)
        self._out.write(chunk)

    def copy_from(self, source: BinaryIO) -> None:
        """Stream the rest of ``source`` in (stops reading once over the limit)."""
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            self.write(chunk)

    def finish(self) -> str:
        """Flush and fsync the file; its sha256 (hex)."""
        out, self._out = self._out, None
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
            out.close()
        return str(self._digest.hexdigest())

    @property
    def sha256(self) -> str:
        return str(self._digest.hexdigest())

    def discard(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            out.close()
        if self._owned:
            self._owned = False
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def move_into_store(self) -> str:
        """Rename the finished file to ``store.path(sha)`` (kept if already there)."""
        sha = self.finish()
        final = self.store.path(sha)
        if final.is_file():
            self.discard()
            return sha
        make_private_dir(final.parent, private_parents=True)
        os.replace(self.path, final)
        self._owned = False
        _fsync_dir(final.parent)
        return sha


def stage_weights(store: ImageStore, source: BinaryIO | Path, file_name: str,
                  max_bytes: int) -> StagedWeights:
    """Copy a file or stream into a ``StagedWeights`` (the CLI's way in)."""
    if isinstance(source, Path):
        try:
            size = source.stat().st_size
        except OSError as e:
            raise ValidationFailed(f"cannot read the weights file {str(source)!r}: "
                                   f"{e.strerror}", {"field": "weights"}) from None
        if size > max_bytes:
            raise weights_too_large(file_name, max_bytes)
    staged = StagedWeights(store, file_name, max_bytes)
    try:
        if isinstance(source, Path):
            with open(source, "rb") as f:
                staged.copy_from(f)
        else:
            staged.copy_from(source)
    except BaseException:
        staged.discard()
        raise
    return staged


def clean_file_name(raw: str) -> str:
    """The last path component of a client-supplied name (never a path), at most 255 chars."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip().replace("\x00", "")
    return name[:255] if name not in ("", ".", "..") else "weights"


def parse_input_size(raw: object) -> list[int] | None:
    """``"640"`` -> [640, 640], ``"480,640"`` (height, width) -> [480, 640]; a list of one or
    two whole numbers too; None or "" -> None (read it from the model)."""
    if raw is None or raw == "":
        return None
    numbers: list[object]
    if isinstance(raw, str):
        match = _INPUT_SIZE.fullmatch(raw)
        if match is None:
            raise ValidationFailed('input_size is "H,W" or one number "S" (pixels)',
                                   {"field": "input_size"})
        numbers = [int(g) for g in match.groups() if g is not None]
    elif isinstance(raw, list):
        numbers = list(raw)
    else:
        raise ValidationFailed('input_size is "H,W" or one number "S" (pixels)',
                               {"field": "input_size"})
    sides = [n for n in numbers if isinstance(n, int) and not isinstance(n, bool)
             and 1 <= n <= MAX_INPUT_SIDE]
    if not 1 <= len(numbers) <= 2 or len(sides) != len(numbers):
        raise ValidationFailed(f"input_size sides must be whole numbers from 1 to "
                               f"{MAX_INPUT_SIDE}", {"field": "input_size"})
    return sides * 2 if len(sides) == 1 else sides


def _optional_text(value: object, field_name: str, max_len: int) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if (not isinstance(value, str) or len(value.strip()) > max_len
            or any(ch in value for ch in "\r\n\t\x00")):
        raise ValidationFailed(f"{field_name} must be one line of at most {max_len} characters",
                               {"field": field_name})
    return value.strip()


def default_name(file_name: str) -> str:
    """The weights file's stem, cut to the longest name a model may have."""
    stem = PurePath(file_name).stem.strip() or "model"
    return stem[:MAX_MODEL_NAME]


def next_version(app: Labeling, project_id: str, name: str) -> str:
    """One more than the highest whole-number version of ``name`` in the project ("1" if
    none); versions that are not whole numbers do not count."""
    taken = [m.model_version for m in app.project_models(project_id)
             if m.name == name]
    numbers = [int(v) for v in taken if v.isascii() and v.isdigit() and len(v) < 18]
    return str(max(numbers, default=0) + 1)


def _check_free(app: Labeling, project_id: str, name: str, version: str) -> None:
    """Conflict now, before a large file is inspected, if the name and version are taken
    (the recording checks again: this only saves the work)."""
    try:
        app.model(model_id_for(project_id, name, version))
    except NotFound:
        return
    raise Conflict(f"model {name}@{version} is already registered in this project: choose "
                   "another version", {"field": "version"})


def check_registration(app: Labeling, project_id: str, *, name: object, version: object,
                       task: object, architecture: object) -> tuple[str | None, str | None]:
    """The cheap checks, made before any bytes are read: the project exists, the fields are
    well formed, an explicit name and version are free. Returns (name, version) cleaned."""
    app.project(project_id)
    clean_name = _optional_text(name, "name", MAX_MODEL_NAME)
    clean_version = _optional_text(version, "version", MAX_MODEL_VERSION)
    if task is not None and task != "" and task not in MODEL_TASKS:
        raise ValidationFailed(f"task must be one of {', '.join(MODEL_TASKS)}",
                               {"field": "task", "allowed": list(MODEL_TASKS)})
    _optional_text(architecture, "architecture", MAX_MODEL_NAME)
    if clean_name is not None and clean_version is not None:
        _check_free(app, project_id, clean_name, clean_version)
    return clean_name, clean_version


def _inspect(inspect: ModelInspector, staged: StagedWeights, classes: tuple[str, bytes] | None,
             task: str | None, architecture: str | None, input_size: list[int] | None
             ) -> ModelFacts:
    file_name = staged.file_name
    try:
        return inspect(staged.path, file_name, classes=classes, task=task,
                       architecture=architecture, input_size=input_size,
                       max_bytes=staged.max_bytes)
    except DomainError:
        raise
    except Exception as e:  # a reader choking on a hostile file is the file's fault
        log.warning("inspecting the weights file %r failed: %r", file_name, e)
        raise ValidationFailed(f"{file_name!r} could not be read as a model: "
                               f"{type(e).__name__}", {"field": "weights"}) from None


def register_model(app: Labeling, weights_store: ImageStore, project_id: str, *,
                   weights: BinaryIO | Path | StagedWeights, file_name: str | None = None,
                   classes: tuple[str, bytes] | None = None, name: object = None,
                   version: object = None, task: object = None, architecture: object = None,
                   input_size: object = None, actor: str, max_bytes: int,
                   inspect: ModelInspector,
                   lineage: dict[str, Any] | None = None) -> tuple[Model, int]:
    """Inspect, store and record a weights file (all or nothing); the model and the global
    position of its registration. ``weights`` is a stream, a path, or bytes already staged
    by the caller (``StagedWeights``: the web layer streams an upload into one); either way
    the temporary file is gone when this returns or raises.

    ``inspect`` finds out what the file is (``ModelInspector``). Refusals:
    ``ValidationFailed`` (not a model of a supported kind, bad fields; field in
    ``details.field``), ``TooLarge`` (weights over ``max_bytes``, classes file over
    ``MAX_CLASSES_FILE``), ``Conflict`` (name and version taken), ``NotFound`` (project).
    ``lineage``: what a model trained inside the tool was made from (a train job's).
    """
    staged = weights if isinstance(weights, StagedWeights) else None
    try:
        if file_name is None:
            file_name = staged.file_name if staged else (
                weights.name if isinstance(weights, Path)
                else str(getattr(weights, "name", None) or "weights"))
        file_name = clean_file_name(file_name)
        clean_name, clean_version = check_registration(
            app, project_id, name=name, version=version, task=task, architecture=architecture)
        size = parse_input_size(input_size)
        arch = _optional_text(architecture, "architecture", MAX_MODEL_NAME)
        if classes is not None and len(classes[1]) > MAX_CLASSES_FILE:
            raise TooLarge(f"the classes file is larger than {MAX_CLASSES_FILE:,} bytes",
                           {"field": "classes", "limit": MAX_CLASSES_FILE})
        if staged is None:
            assert not isinstance(weights, StagedWeights)
            staged = stage_weights(weights_store, weights, file_name, max_bytes)
        elif staged.size > max_bytes:
            raise weights_too_large(file_name, max_bytes)
        if staged.size == 0:
            raise ValidationFailed(f"the weights file {file_name!r} is empty",
                                   {"field": "weights"})
        staged.finish()
        staged.file_name = file_name
        spec = _inspect(inspect, staged, classes,
                        task if isinstance(task, str) and task else None, arch, size)
        model_name = clean_name or default_name(file_name)
        size_bytes = staged.size
        sha = staged.move_into_store()
        return _record(app, project_id, actor, spec, name=model_name, version=clean_version,
                       sha256=sha, size_bytes=size_bytes, file_name=file_name, lineage=lineage)
    finally:
        if staged is not None:
            staged.discard()


def _record(app: Labeling, project_id: str, actor: str, spec: ModelFacts, *, name: str,
            version: str | None, sha256: str, size_bytes: int, file_name: str,
            lineage: dict[str, Any] | None = None) -> tuple[Model, int]:
    fields = {
        "name": name, "task": spec.task, "format": spec.format,
        "architecture": spec.architecture, "layout": spec.layout, "classes": list(spec.classes),
        "input_size": list(spec.input_size) if spec.input_size else None, "sha256": sha256,
        "size_bytes": size_bytes, "file_name": file_name, "details": dict(spec.details),
        "lineage": lineage,
    }
    if version is not None:
        return app.register_model(project_id, actor, version=version, **fields)
    # A default version: another registration of the same name may take it first; then the
    # next one is ours.
    for attempt in range(_DEFAULT_VERSION_TRIES):
        try:
            return app.register_model(project_id, actor,
                                      version=next_version(app, project_id, name), **fields)
        except Conflict as e:
            if e.details.get("field") != "version" or attempt == _DEFAULT_VERSION_TRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


# -- changing and reading ----------------------------------------------------------------------


def update_model(app: Labeling, model_id: str, body: object, actor: str
                 ) -> tuple[Model, int | None]:
    """Apply ``{"class_map"?: {...}, "retired"?: true}`` in one event batch; the model and
    the position of the last event (None when nothing changed). Retiring is final:
    ``"retired": false`` on a retired model is refused."""
    if not isinstance(body, dict) or not body:
        raise ValidationFailed('send {"class_map": {"model class": "project class" or null}} '
                               'and/or {"retired": true}', {"field": "body"})
    unknown = sorted(set(body) - MODEL_CHANGES)
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]!r}: a model's changes are "
                               "class_map and retired", {"field": unknown[0]})
    retired = body.get("retired")
    if "retired" in body and not isinstance(retired, bool):
        raise ValidationFailed("retired must be true (retiring is final)", {"field": "retired"})

    def change(model: Model) -> None:
        if "class_map" in body:
            model.remap(body["class_map"], app.project(model.project_id), actor)
        if retired is True:
            model.retire(actor)
        elif retired is False and model.retired:
            raise ValidationFailed("a retired model stays retired: register it again under "
                                   "a new version", {"field": "retired"})

    return app.change_model(model_id, change)


def describe_models(models: Iterable[Model]) -> list[dict[str, Any]]:
    return [m.describe() for m in models]


def project_models(app: Labeling, project_id: str) -> list[dict[str, Any]]:
    """The project's models as the API shows them, in registration order."""
    return describe_models(app.project_models(project_id))
