"""Image commands: parsed from untrusted JSON into small typed values.

Parsing checks shape only (fields, types, sizes). Whether a command makes sense for the image
(geometry inside it, label in the project, annotation exists, revision current) is decided by
the Image aggregate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain import geometry as g
from domain.attributes import MAX_ATTRIBUTE_NAME, MAX_ATTRIBUTES
from domain.errors import ValidationFailed
from domain.project import MAX_CLASS_NAME

MAX_ID = 128
MAX_COMMENT = 4000
MAX_LABEL = MAX_CLASS_NAME
MAX_ASSIST_POINTS = 100  # clicks in one assist command
# Clicks one proposal may gather over all its refinements: an engine gets them all each time.
MAX_PROPOSAL_CLICKS = 200
VERDICTS = ("approve", "reject")
# Versions and revisions are 64-bit columns; a larger number is refused as it arrives.
MAX_INT = 2**63 - 1
ASSIST_MODES = ("extreme_points", "clicks", "box")
ASSIST_OUTPUTS = ("box", "mask", "polygon")


@dataclass(frozen=True, slots=True)
class Command:
    """Fields every command may carry."""

    command_id: str | None
    base_version: int | None

    @property
    def type(self) -> str:
        return _TYPE_OF[type(self)]


@dataclass(frozen=True, slots=True)
class CreateAnnotation(Command):
    annotation_type: str
    label: str
    geometry: Any
    annotation_id: str | None = None  # a client-made id (offline drawing); else the server's
    attributes: dict[str, Any] | None = None  # per-object attribute values ({name: value})


@dataclass(frozen=True, slots=True)
class EditAnnotation(Command):
    annotation_id: str
    label: str | None
    geometry: Any  # None: unchanged
    base_revision: int | None
    # {name: value} to set (a None value removes the key; keys not given stay); None: unchanged
    attributes: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class DeleteAnnotation(Command):
    annotation_id: str
    base_revision: int | None


@dataclass(frozen=True, slots=True)
class AcceptPrelabel(Command):
    annotation_id: str
    base_revision: int | None


@dataclass(frozen=True, slots=True)
class RestorePrelabel(Command):
    """Take back the verdict on a pre-label (undo of accept or reject): it is proposed again."""

    annotation_id: str
    base_revision: int | None


@dataclass(frozen=True, slots=True)
class Proposal:
    """What an assist engine answered for one ``Assist`` command: a geometry, or the error it
    raised (kept, so the aggregate refuses the command at the same point of its checks as
    when the engine ran inside the decision). Made by the server, outside the writer
    (``domain.assist.AssistRegistry.prepare``); never parsed from a request."""

    image_id: UUID  # the image it was computed on; the aggregate refuses it on any other
    geometry: g.Geometry | None
    error: Exception | None = None
    score: float | None = None  # the engine's own confidence, when it gives one
    # What the engine was asked, resolved: the output and model (a refinement inherits its
    # proposal's), and the proposal's earlier clicks it saw (the aggregate refuses the
    # answer if the proposal was refined meanwhile).
    output: str = "box"
    model_id: str | None = None
    previous: tuple[tuple[float, float, int], ...] = ()

    def result(self) -> g.Geometry:
        """The proposed geometry, or the engine's error raised."""
        if self.error is not None:
            raise self.error
        assert self.geometry is not None
        return self.geometry


@dataclass(frozen=True, slots=True)
class Assist(Command):
    mode: str
    points: tuple[tuple[float, float, int], ...]
    label: str
    # The geometry wanted (None: "box" for a new proposal, the proposal's own when refining).
    output: str | None = None
    model_id: str | None = None  # an interactive model of the project (None: built-in engine)
    annotation_id: str | None = None  # an earlier assist proposal to refine with these clicks
    # Filled in by the server before the writer sees the command; parse_command never sets
    # it (a client cannot send one: "proposal" is not a field of the public command).
    proposal: Proposal | None = None


@dataclass(frozen=True, slots=True)
class SubmitImage(Command):
    pass


@dataclass(frozen=True, slots=True)
class ReviewImage(Command):
    verdict: str
    comment: str | None


@dataclass(frozen=True, slots=True)
class ReopenImage(Command):
    """A reviewer or manager makes a submitted or approved image editable again."""

    comment: str | None


@dataclass(frozen=True, slots=True)
class ProposePrelabel(Command):
    """A model's output, recorded as a pre-label (predictions import, inference jobs)."""

    annotation_type: str
    label: str
    geometry: Any
    model_name: str
    model_version: str
    score: float | None
    # A registered model and the job that ran it (inference jobs; None for imported files):
    # both go into the event's ``model`` dict as ``id`` and ``job``.
    model_id: str | None = None
    job_id: str | None = None


@dataclass(frozen=True, slots=True)
class ImportAnnotation(Command):
    """A human label from an imported dataset (``service_layer.dataset_import``): recorded as
    ``AnnotationCreated`` with source ``import``. Made by the server only, never parsed from
    a request (``import`` is not a public command type)."""

    annotation_type: str
    label: str
    geometry: Any
    attributes: dict[str, Any] | None = None  # values the project defines (checked there)


_TYPE_OF: dict[type[Command], str] = {
    CreateAnnotation: "create",
    EditAnnotation: "edit",
    DeleteAnnotation: "delete",
    AcceptPrelabel: "accept",
    RestorePrelabel: "restore",
    Assist: "assist",
    SubmitImage: "submit",
    ReviewImage: "review",
    ReopenImage: "reopen",
    ProposePrelabel: "propose",
    ImportAnnotation: "import",
}
COMMAND_TYPES = ("create", "edit", "delete", "accept", "restore",
                 "assist", "submit", "review", "reopen")
_ENVELOPE = {"type", "command_id", "base_version"}
_FIELDS: dict[str, set[str]] = {
    "create": {"annotation"},
    "edit": {"annotation_id", "changes", "base_revision"},
    "delete": {"annotation_id", "base_revision"},
    "accept": {"annotation_id", "base_revision"},
    "restore": {"annotation_id", "base_revision"},
    "assist": {"mode", "points", "label", "output", "model_id", "annotation_id"},
    "submit": set(),
    "review": {"verdict", "comment"},
    "reopen": {"comment"},
}


def _fail(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, {"field": field})


def _str(raw: dict[str, Any], key: str, *, max_len: int = MAX_ID, optional: bool = False) -> Any:
    value = raw.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise _fail(f"{key} must be a non-empty string of at most {max_len} characters", key)
    return value


def _int(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise _fail(f"{key} must be an integer between 0 and {MAX_INT}", key)
    return value


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(f"{field} must be a finite number", field)
    return float(value)


def _attributes(container: dict[str, Any], field: str) -> dict[str, Any] | None:
    """The shape of an ``attributes`` object; its values are checked by the image against
    the project's definitions."""
    value = container.get("attributes")
    if value is None:
        return None
    if (not isinstance(value, dict) or len(value) > MAX_ATTRIBUTES
            or not all(0 < len(k) <= MAX_ATTRIBUTE_NAME for k in value)):
        raise _fail(f"attributes is an object of at most {MAX_ATTRIBUTES} {{name: value}} "
                    f"entries, names of 1 to {MAX_ATTRIBUTE_NAME} characters", field)
    return dict(value)


def parse_command(raw: object, *, skip_extra: frozenset[str] = frozenset()) -> Command:
    """Parse one command object of the public API (``{"type": ..., ...}``).

    ``skip_extra`` names envelope keys a transport adds (for example the WebSocket ``op``).
    """
    if not isinstance(raw, dict):
        raise _fail("a command must be a JSON object", "command")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:  # a list here is unhashable
        raise ValidationFailed(
            f"unknown command type {kind!r}",
            {"field": "type", "allowed": list(COMMAND_TYPES)},
        )
    extra = set(raw) - _ENVELOPE - _FIELDS[kind] - skip_extra
    if extra:
        raise _fail(f"unexpected field {sorted(extra)[0]!r} in a {kind} command", sorted(extra)[0])
    common = {"command_id": _str(raw, "command_id", optional=True),
              "base_version": _int(raw, "base_version")}
    if kind == "create":
        ann = raw.get("annotation")
        if not isinstance(ann, dict):
            raise _fail("create needs an annotation object", "annotation")
        extra = set(ann) - {"type", "label", "geometry", "id", "attributes"}
        if extra:
            raise _fail(f"unexpected annotation field {sorted(extra)[0]!r}", "annotation")
        if "geometry" not in ann:
            raise _fail("annotation.geometry is required", "annotation.geometry")
        return CreateAnnotation(
            **common,
            annotation_type=_str(ann, "type"),
            label=_str(ann, "label", max_len=MAX_LABEL),
            geometry=ann["geometry"],
            annotation_id=_str(ann, "id", optional=True),
            attributes=_attributes(ann, "annotation.attributes"),
        )
    if kind == "edit":
        changes = raw.get("changes")
        if (not isinstance(changes, dict) or not changes
                or set(changes) - {"label", "geometry", "attributes"}):
            raise _fail("edit needs changes with label, geometry and/or attributes", "changes")
        return EditAnnotation(
            **common,
            annotation_id=_str(raw, "annotation_id"),
            label=_str(changes, "label", max_len=MAX_LABEL, optional=True),
            geometry=changes.get("geometry"),
            base_revision=_int(raw, "base_revision"),
            attributes=_attributes(changes, "changes.attributes"),
        )
    if kind == "delete":
        return DeleteAnnotation(
            **common, annotation_id=_str(raw, "annotation_id"),
            base_revision=_int(raw, "base_revision"),
        )
    if kind == "accept":
        return AcceptPrelabel(
            **common, annotation_id=_str(raw, "annotation_id"),
            base_revision=_int(raw, "base_revision"),
        )
    if kind == "restore":
        return RestorePrelabel(
            **common, annotation_id=_str(raw, "annotation_id"),
            base_revision=_int(raw, "base_revision"),
        )
    if kind == "assist":
        mode = raw.get("mode")
        if mode not in ASSIST_MODES:
            raise ValidationFailed(
                f"unknown assist mode {mode!r}", {"field": "mode", "allowed": list(ASSIST_MODES)}
            )
        points = raw.get("points")
        if not isinstance(points, list) or not 1 <= len(points) <= MAX_ASSIST_POINTS:
            raise _fail(f"points must be a list of 1 to {MAX_ASSIST_POINTS} [x, y, +1|-1] items",
                        "points")
        parsed: list[tuple[float, float, int]] = []
        for i, p in enumerate(points):
            if not isinstance(p, list) or len(p) not in (2, 3):
                raise _fail("each point is [x, y] or [x, y, +1|-1]", f"points[{i}]")
            sign = p[2] if len(p) == 3 else 1
            if sign not in (1, -1) or isinstance(sign, bool):
                raise _fail("a point's third item is +1 or -1", f"points[{i}]")
            parsed.append((_number(p[0], f"points[{i}][0]"), _number(p[1], f"points[{i}][1]"),
                           int(sign)))
        output = raw.get("output")
        if output is not None and output not in ASSIST_OUTPUTS:
            raise ValidationFailed(f"unknown assist output {output!r}",
                                   {"field": "output", "allowed": list(ASSIST_OUTPUTS)})
        return Assist(**common, mode=mode, points=tuple(parsed),
                      label=_str(raw, "label", max_len=MAX_LABEL), output=output,
                      model_id=_str(raw, "model_id", optional=True),
                      annotation_id=_str(raw, "annotation_id", optional=True))
    if kind == "submit":
        return SubmitImage(**common)
    comment = raw.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise _fail(f"comment must be a string of at most {MAX_COMMENT} characters", "comment")
    if kind == "reopen":
        return ReopenImage(**common, comment=comment)
    verdict = raw.get("verdict")
    if verdict not in VERDICTS:
        raise _fail("verdict must be approve or reject", "verdict")
    return ReviewImage(**common, verdict=verdict, comment=comment)


def parse_prelabel(raw: object, model_name: str, model_version: str) -> ProposePrelabel:
    """Parse one predicted annotation ``{"type","label","geometry","score"?,"id"?}``."""
    if not isinstance(raw, dict):
        raise _fail("a prediction must be a JSON object", "annotation")
    extra = set(raw) - {"type", "label", "geometry", "score", "id", "command_id"}
    if extra:
        raise _fail(f"unexpected prediction field {sorted(extra)[0]!r}", "annotation")
    score = raw.get("score")
    if score is not None:
        score = _number(score, "score")
        if not 0.0 <= score <= 1.0:
            raise _fail("score must be between 0 and 1", "score")
    if "geometry" not in raw:
        raise _fail("annotation.geometry is required", "annotation.geometry")
    return ProposePrelabel(
        command_id=_str(raw, "command_id", optional=True),
        base_version=None,
        annotation_type=_str(raw, "type"),
        label=_str(raw, "label", max_len=MAX_LABEL),
        geometry=raw["geometry"],
        model_name=model_name,
        model_version=model_version,
        score=score,
    )
