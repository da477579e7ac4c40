"""The Model aggregate: a model registered to a project (one stream per model version).

A model is weights (stored content-addressed beside the images, named by ``sha256``) plus what
was found out about them when they were registered: the format, the task, the output layout,
the input size and the model's own class names. ``class_map`` maps each model class onto a
project class (or None: dropped from pre-labels until mapped). Registering, re-mapping and
retiring are events; a retired model stays readable (old pre-labels name it) but runs no job.

The id is derived from (project, name, version), so registering one name and version twice
clashes on the stream's first version instead of making two models.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import Conflict, ValidationFailed
from domain.project import Project

MODEL_TASKS = ("detect", "segment", "classify", "interactive")
MODEL_FORMATS = ("onnx", "torchscript", "state_dict")
MAX_MODEL_NAME = 100
MAX_MODEL_VERSION = 50
MAX_MODEL_CLASSES = 5000


def model_id_for(project_id: str, name: str, version: str) -> UUID:
    """One name and version per project is one model."""
    return uuid5(NAMESPACE_URL, f"labelwright:model:{project_id}:{name}@{version}")


def _text(value: object, field: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{field} must be a non-empty string", {"field": field})
    value = value.strip()
    if len(value) > max_len or any(ch in value for ch in "\r\n\t\x00"):
        raise ValidationFailed(f"{field} must be one line of at most {max_len} characters",
                               {"field": field})
    return value


def default_class_map(model_classes: list[str], project: Project) -> dict[str, str | None]:
    """Each model class onto the project's active class of the same name (case-insensitive),
    else None."""
    active = {c["name"].casefold(): c["name"] for c in project.classes if not c["retired"]}
    return {name: active.get(name.casefold()) for name in model_classes}


class Model(Aggregate):
    """A registered model version of a project."""

    class ModelRegistered(Aggregate.Created):
        project_id: str
        name: str
        model_version: str  # ("version" is the aggregate's own event count)
        task: str
        format: str
        architecture: str | None
        layout: str
        classes: list[str]
        class_map: dict[str, str | None]
        input_size: list[int] | None
        sha256: str
        size_bytes: int
        file_name: str
        details: dict[str, Any]
        actor: str
        command_id: str | None
        # Where a model trained inside the tool came from (a train job): project_id,
        # position, base_model_id, hyperparameters, metrics, image counts, job_id. None for
        # uploaded weights (a default: added after release).
        lineage: dict[str, Any] | None = None

    class Event(Aggregate.Event):
        actor: str
        command_id: str | None

    class ClassMapChanged(Event):
        class_map: dict[str, str | None]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Model)
            aggregate.class_map = dict(self.class_map)

    class ModelRetired(Event):
        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Model)
            aggregate.retired = True

    def __init__(self, project_id: str, name: str, model_version: str, task: str, format: str,
                 architecture: str | None, layout: str, classes: list[str],
                 class_map: dict[str, str | None], input_size: list[int] | None, sha256: str,
                 size_bytes: int, file_name: str, details: dict[str, Any], actor: str,
                 command_id: str | None, lineage: dict[str, Any] | None = None) -> None:
        self.project_id = project_id
        self.name = name
        self.model_version = model_version
        self.task = task
        self.format = format
        self.architecture = architecture
        self.layout = layout
        self.classes = list(classes)
        self.class_map = dict(class_map)
        self.input_size = list(input_size) if input_size else None
        self.sha256 = sha256
        self.size_bytes = size_bytes
        self.file_name = file_name
        self.details = dict(details)
        self.lineage = dict(lineage) if lineage is not None else None
        self.created_by = actor
        self.retired = False

    @classmethod
    def register(cls, project: Project, *, name: object, version: object, task: str,
                 format: str, architecture: str | None, layout: str, classes: list[str],
                 input_size: list[int] | None, sha256: str, size_bytes: int, file_name: str,
                 details: dict[str, Any], actor: str,
                 lineage: dict[str, Any] | None = None) -> Model:
        """Validate and register; model classes map onto project classes by name."""
        name = _text(name, "name", MAX_MODEL_NAME)
        version = _text(version, "version", MAX_MODEL_VERSION)
        if task not in MODEL_TASKS:
            raise ValidationFailed(f"task must be one of {', '.join(MODEL_TASKS)}",
                                   {"field": "task", "allowed": list(MODEL_TASKS)})
        if format not in MODEL_FORMATS:
            raise ValidationFailed(f"unsupported model format {format!r}", {"field": "weights"})
        if task != "interactive" and not classes:
            raise ValidationFailed("the model's class names are unknown: send a classes file "
                                   "(part 'classes')", {"field": "classes"})
        if len(classes) > MAX_MODEL_CLASSES or len(set(classes)) != len(classes):
            raise ValidationFailed("the model's class names must be distinct (at most "
                                   f"{MAX_MODEL_CLASSES})", {"field": "classes"})
        return cls._create(
            cls.ModelRegistered, id=model_id_for(str(project.id), name, version),
            project_id=str(project.id), name=name, model_version=version, task=task, format=format,
            architecture=architecture, layout=layout, classes=list(classes),
            class_map=default_class_map(classes, project),
            input_size=list(input_size) if input_size else None, sha256=sha256,
            size_bytes=size_bytes, file_name=file_name, details=details, actor=actor,
            command_id=None, lineage=dict(lineage) if lineage is not None else None)

    def remap(self, changes: object, project: Project, actor: str) -> None:
        """Change ``class_map`` entries: ``{"model class": "project class" | None}``."""
        if not isinstance(changes, dict) or not changes:
            raise ValidationFailed('class_map is an object {"model class": "project class" '
                                   "or null}", {"field": "class_map"})
        active = {c["name"].casefold(): c["name"] for c in project.classes if not c["retired"]}
        mine = {c.casefold(): c for c in self.classes}
        new = dict(self.class_map)
        for key, value in changes.items():
            model_class = mine.get(str(key).casefold())
            if model_class is None:
                raise ValidationFailed(f"the model has no class {key!r}",
                                       {"field": f"class_map.{key}"})
            if value is None:
                new[model_class] = None
                continue
            target = active.get(value.casefold()) if isinstance(value, str) else None
            if target is None:
                raise ValidationFailed(f"{value!r} is not an active class of this project",
                                       {"field": f"class_map.{key}"})
            new[model_class] = target
        if new != self.class_map:
            self.trigger_event(self.ClassMapChanged, class_map=new, actor=actor,
                               command_id=None)

    def retire(self, actor: str) -> None:
        if not self.retired:
            self.trigger_event(self.ModelRetired, actor=actor, command_id=None)

    def check_runnable(self) -> None:
        if self.retired:
            raise Conflict(f"model {self.name}@{self.model_version} is retired: it runs no "
                           "new jobs",
                           {"field": "model_id"})

    @property
    def unmapped(self) -> list[str]:
        return [name for name in self.classes if self.class_map.get(name) is None]

    def describe(self) -> dict[str, Any]:
        """The model as the API shows it."""
        return {
            "id": str(self.id), "project_id": self.project_id, "name": self.name,
            "version": self.model_version, "task": self.task, "format": self.format,
            "architecture": self.architecture, "layout": self.layout,
            "classes": list(self.classes), "class_map": dict(self.class_map),
            "unmapped": self.unmapped, "input_size": self.input_size, "sha256": self.sha256,
            "size_bytes": self.size_bytes, "file_name": self.file_name,
            "details": dict(self.details), "lineage": self.lineage, "retired": self.retired,
            "created_by": self.created_by, "created_at": self.created_on.isoformat(),
        }
