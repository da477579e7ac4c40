"""The Project aggregate: its classes (label schema), annotation types and members."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.attributes import AttributeDefinition, parse_attribute_definitions
from domain.errors import ValidationFailed
from domain.geometry import ANNOTATION_TYPES
from domain.roles import validate_role

COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"
_COLOR = re.compile(COLOR_PATTERN)
_PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
    "#42d4f4", "#f032e6", "#bfef45", "#469990", "#9a6324",
)
MAX_CLASSES = 1000
MAX_CLASS_NAME = 100  # characters; a label names a class, so labels have the same limit
MAX_PROJECT_NAME = 200


def _name(value: object, field: str, max_len: int = MAX_PROJECT_NAME) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{field} must be a non-empty string", {"field": field})
    value = value.strip()
    if len(value) > max_len:
        raise ValidationFailed(f"{field} is longer than {max_len} characters", {"field": field})
    return value


def parse_classes(raw: object, existing: int = 0) -> list[dict[str, str]]:
    """Validate ``[{"name", "color"?}]`` (or plain names); colours default from a palette."""
    if not isinstance(raw, list):
        raise ValidationFailed("classes must be a list", {"field": "classes"})
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or set(item) - {"name", "color"}:
            raise ValidationFailed(
                "each class is {\"name\", \"color\"?}", {"field": f"classes[{i}]"}
            )
        name = _name(item.get("name"), f"classes[{i}].name", MAX_CLASS_NAME)
        if name in seen:
            raise ValidationFailed(f"class {name!r} is listed twice", {"field": "classes"})
        seen.add(name)
        color = item.get("color")
        if color is None or color == "":  # not {} or 0 or false: those are mistakes
            color = _PALETTE[(existing + i) % len(_PALETTE)]
        if not isinstance(color, str) or not _COLOR.fullmatch(color):
            raise ValidationFailed(
                "color must look like #1f77b4", {"field": f"classes[{i}].color"}
            )
        out.append({"name": name, "color": color})
    if existing + len(out) > MAX_CLASSES:
        raise ValidationFailed(f"a project has at most {MAX_CLASSES} classes")
    return out


def parse_annotation_types(raw: object) -> list[str]:
    """Validate the allowed annotation types of a project."""
    if raw is None:
        return list(ANNOTATION_TYPES)
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise ValidationFailed(
            "annotation_types must be a non-empty list", {"field": "annotation_types"}
        )
    unknown = [t for t in raw if t not in ANNOTATION_TYPES]
    if unknown:
        raise ValidationFailed(
            f"unknown annotation type {unknown[0]!r}",
            {"field": "annotation_types", "allowed": list(ANNOTATION_TYPES)},
        )
    return list(dict.fromkeys(raw))


@dataclass(frozen=True, slots=True)
class LabelSchema:
    """What an image command needs to know of its project."""

    project_id: str
    active_classes: frozenset[str]
    all_classes: frozenset[str]
    annotation_types: frozenset[str]
    # The project's per-object attribute definitions (``domain.attributes``).
    attributes: tuple[AttributeDefinition, ...] = ()

    def check_label(self, label: object, field: str = "label") -> str:
        if not isinstance(label, str) or label not in self.all_classes:
            raise ValidationFailed(
                f"label {label!r} is not a class of this project",
                {"field": field, "allowed": sorted(self.active_classes)},
            )
        if label not in self.active_classes:
            raise ValidationFailed(
                f"class {label!r} is retired: new annotations may not use it", {"field": field}
            )
        return label

    def check_type(self, kind: object) -> str:
        if not isinstance(kind, str) or kind not in self.annotation_types:
            raise ValidationFailed(
                f"annotation type {kind!r} is not allowed in this project",
                {"field": "annotation.type", "allowed": sorted(self.annotation_types)},
            )
        return kind


class Project(Aggregate):
    """A labeling project. Classes can be added or retired, never deleted."""

    class ProjectCreated(Aggregate.Created):
        name: str
        classes: list[dict[str, str]]
        annotation_types: list[str]
        actor: str
        command_id: str | None

    class Event(Aggregate.Event):
        actor: str
        command_id: str | None

    class ProjectRenamed(Event):
        name: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Project)
            aggregate.name = self.name

    class ClassesAdded(Event):
        classes: list[dict[str, str]]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Project)
            for c in self.classes:
                aggregate.classes.append({"name": c["name"], "color": c["color"], "retired": False})

    class ClassRetired(Event):
        name: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Project)
            for c in aggregate.classes:
                if c["name"] == self.name:
                    c["retired"] = True

    class ClassColorChanged(Event):
        name: str
        color: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Project)
            for c in aggregate.classes:
                if c["name"] == self.name:
                    c["color"] = self.color

    class AnnotationTypesSet(Event):
        annotation_types: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Project)
            aggregate.annotation_types = list(self.annotation_types)

    class AttributesDefined(Event):
        """The project's per-object attributes, the whole list (it replaces the previous
        one; values already on annotations stay)."""

        attributes: list[dict[str, Any]]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Project)
            aggregate.attributes = [dict(a) for a in self.attributes]

    class MemberRoleSet(Event):
        username: str
        role: str | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Project)
            if self.role is None:
                aggregate.members.pop(self.username, None)
            else:
                aggregate.members[self.username] = self.role

    class ModelAttached(Event):
        model_id: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Project)
            aggregate.model_ids.append(self.model_id)

    class JobAttached(Event):
        job_id: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Project)
            aggregate.job_ids.append(self.job_id)

    def __init__(
        self,
        name: str,
        classes: list[dict[str, str]],
        annotation_types: list[str],
        actor: str,
        command_id: str | None,
    ) -> None:
        self.name = name
        self.classes: list[dict[str, Any]] = [
            {"name": c["name"], "color": c["color"], "retired": False} for c in classes
        ]
        self.annotation_types = list(annotation_types)
        self.attributes: list[dict[str, Any]] = []
        self.members: dict[str, str] = {actor: "manager"}
        self.created_by = actor
        # Indexes of the project's own streams (each model and job has its own).
        self.model_ids: list[str] = []
        self.job_ids: list[str] = []

    @classmethod
    def start(
        cls,
        project_id: UUID,
        name: object,
        classes: object,
        annotation_types: object,
        actor: str,
    ) -> Project:
        """Validate and create a project; the creator becomes its manager."""
        parsed = parse_classes(classes)
        if not parsed:
            raise ValidationFailed("a project needs at least one class", {"field": "classes"})
        return cls._create(
            cls.ProjectCreated,
            id=project_id,
            name=_name(name, "name"),
            classes=parsed,
            annotation_types=parse_annotation_types(annotation_types),
            actor=actor,
            command_id=None,
        )

    def rename(self, name: object, actor: str) -> None:
        new = _name(name, "name")
        if new != self.name:
            self.trigger_event(self.ProjectRenamed, name=new, actor=actor, command_id=None)

    def add_classes(self, raw: object, actor: str) -> None:
        parsed = parse_classes(raw, existing=len(self.classes))
        known = {c["name"] for c in self.classes}
        clash = [c["name"] for c in parsed if c["name"] in known]
        if clash:
            raise ValidationFailed(f"class {clash[0]!r} already exists", {"field": "add_classes"})
        if parsed:
            self.trigger_event(self.ClassesAdded, classes=parsed, actor=actor, command_id=None)

    def retire_class(self, name: object, actor: str) -> None:
        active = {c["name"] for c in self.classes if not c["retired"]}
        if not isinstance(name, str) or name not in {c["name"] for c in self.classes}:
            raise ValidationFailed(f"no class named {name!r}", {"field": "retire_classes"})
        if name in active:
            if len(active) == 1:
                raise ValidationFailed("a project must keep at least one active class")
            self.trigger_event(self.ClassRetired, name=name, actor=actor, command_id=None)

    def recolor_classes(self, raw: object, actor: str) -> None:
        """``raw``: {class name: "#rrggbb"}; retired classes may be recoloured too (old labels
        are still drawn)."""
        if not isinstance(raw, dict):
            raise ValidationFailed('class_colors is {"class name": "#1f77b4"}',
                                   {"field": "class_colors"})
        colors = {c["name"]: c["color"] for c in self.classes}
        for name, color in raw.items():
            if name not in colors:
                raise ValidationFailed(f"no class named {name!r}", {"field": "class_colors"})
            if not isinstance(color, str) or not _COLOR.fullmatch(color):
                raise ValidationFailed("color must look like #1f77b4",
                                       {"field": f"class_colors.{name}"})
        for name, color in raw.items():
            if colors[name].lower() != color.lower():
                self.trigger_event(self.ClassColorChanged, name=name, color=color, actor=actor,
                                   command_id=None)

    def set_annotation_types(self, raw: object, actor: str) -> None:
        """Which shapes new annotations may have; shapes of a type taken away stay as they
        are (like a retired class)."""
        if raw is None:
            raise ValidationFailed("annotation_types must be a non-empty list",
                                   {"field": "annotation_types"})
        parsed = parse_annotation_types(raw)
        if parsed != self.annotation_types:
            self.trigger_event(self.AnnotationTypesSet, annotation_types=parsed, actor=actor,
                               command_id=None)

    def define_attributes(self, raw: object, actor: str) -> None:
        """Replace the per-object attribute definitions (``domain.attributes``); nothing is
        recorded when the list is the same."""
        parsed = parse_attribute_definitions(raw, self.class_names())
        if parsed != self.attributes:
            self.trigger_event(self.AttributesDefined, attributes=parsed, actor=actor,
                               command_id=None)

    def set_member(self, username: str, role: object, actor: str) -> None:
        parsed = None if role is None else validate_role(role)
        if self.members.get(username) != parsed:
            self.trigger_event(
                self.MemberRoleSet, username=username, role=parsed, actor=actor, command_id=None
            )

    def attach_model(self, model_id: str, actor: str) -> None:
        if model_id not in self.model_ids:
            self.trigger_event(self.ModelAttached, model_id=model_id, actor=actor,
                               command_id=None)

    def attach_job(self, job_id: str, actor: str) -> None:
        if job_id not in self.job_ids:
            self.trigger_event(self.JobAttached, job_id=job_id, actor=actor, command_id=None)

    def role_of(self, username: str) -> str | None:
        return self.members.get(username)

    def schema(self) -> LabelSchema:
        return LabelSchema(
            project_id=str(self.id),
            active_classes=frozenset(c["name"] for c in self.classes if not c["retired"]),
            all_classes=frozenset(c["name"] for c in self.classes),
            annotation_types=frozenset(self.annotation_types),
            attributes=tuple(self.attributes),
        )

    def class_names(self) -> list[str]:
        return [c["name"] for c in self.classes]
