"""The Image aggregate: one event stream per image, holding its annotations and review state.

The stream starts with ``ImageAdded`` (version 1). Every later event carries ``actor`` and
``command_id`` (the client's idempotency key, or None); the server time is the event's
``timestamp``. Decisions (``create``, ``edit``...) validate against the image and its project's
label schema and then trigger events; the events' ``apply`` methods are the only place state
changes, so replaying the stream to any version gives exactly the state at that version.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain import commands as c
from domain import geometry as g
from domain.attributes import default_values, resolve_values
from domain.errors import Conflict, Locked, NotFound, ValidationFailed
from domain.project import LabelSchema

IMAGE_STATUSES = ("new", "in_progress", "submitted", "approved", "rejected")
# Review holds: an image in one of these is read-only to annotators until it is reopened.
HELD_STATUSES = ("submitted", "approved")
REOPENED_STATUS = "in_progress"
ANNOTATION_SOURCES = ("manual", "prelabel", "assist", "import")  # where an annotation came from
ANNOTATION_STATUSES = ("proposed", "accepted", "edited", "manual")  # an annotation's status
MAX_ANNOTATIONS = 20_000
_GEOMETRIES = (g.Box, g.Polygon, g.Mask, g.Point, g.Tag)


def image_id_for(project_id: str, sha256: str) -> UUID:
    """Same bytes in the same project are the same image."""
    return uuid5(NAMESPACE_URL, f"labelwright:image:{project_id}:{sha256}")


class Image(Aggregate):
    """An image of a project, with its annotations, pre-labels and review state."""

    class ImageAdded(Aggregate.Created):
        project_id: str
        file_name: str
        width: int
        height: int
        sha256: str
        content_type: str
        actor: str
        command_id: str | None

    class Event(Aggregate.Event):
        actor: str
        command_id: str | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Image)
            if self.command_id is not None:
                first = aggregate.command_log.get(self.command_id, [self.originator_version])[0]
                aggregate.command_log[self.command_id] = [first, self.originator_version]
            self.apply_to(aggregate)

        def apply_to(self, image: Image) -> None:
            """The state change of this event type."""

        def touch(self, image: Image, annotation_id: str) -> dict[str, Any]:
            # Replace, never mutate, an annotation dict: the command pipeline restores a
            # failed batch from shallow copies of the image's containers.
            ann = dict(image.annotations[annotation_id])
            image.annotations[annotation_id] = ann
            ann["revision"] += 1
            ann["updated_by"] = self.actor
            ann["updated_at"] = self.timestamp.isoformat()
            return ann

        def change(self, image: Image, annotation_id: str, label: str | None,
                   geometry: dict[str, Any] | None) -> dict[str, Any]:
            ann = self.touch(image, annotation_id)
            if label is not None:
                ann["label"] = label
            if geometry is not None:
                ann["geometry"] = geometry
            self.work_started(image)
            return ann

        def remove(self, image: Image, annotation_id: str) -> None:
            del image.annotations[annotation_id]
            image.deleted.append(annotation_id)
            self.work_started(image)

        def work_started(self, image: Image) -> None:
            if image.status != "submitted":
                image.status = "in_progress"

    class AnnotationCreated(Event):
        annotation_id: str
        annotation_type: str
        label: str
        geometry: dict[str, Any]
        source: str

        def apply_to(self, image: Image) -> None:
            image.annotations[self.annotation_id] = image.new_annotation(
                self.annotation_id, self.annotation_type, self.label, self.geometry,
                self.source, "manual", self.actor, self.timestamp.isoformat(),
            )
            if self.source == "assist":
                image.assist_proposed(self.annotation_id, self.label, self.geometry)
            self.work_started(image)

    class AnnotationEdited(Event):
        annotation_id: str
        label: str | None
        geometry: dict[str, Any] | None

        def apply_to(self, image: Image) -> None:
            self.change(image, self.annotation_id, self.label, self.geometry)
            proposal = image.proposals.get(self.annotation_id)
            if proposal is not None and proposal.get("clicked") == self.originator_version - 1:
                # The edit right after an AssistClicked of this annotation is the engine's
                # refined proposal (the two are always recorded together), not a person's.
                ann = image.annotations[self.annotation_id]
                image.assist_proposed(self.annotation_id, ann["label"], ann["geometry"])

    class AnnotationDeleted(Event):
        annotation_id: str

        def apply_to(self, image: Image) -> None:
            self.remove(image, self.annotation_id)

    class AnnotationAttributesSet(Event):
        """An annotation's per-object attribute values, the whole resulting dict. Recorded
        right after the AnnotationCreated / AnnotationEdited / PrelabelEdited /
        PrelabelRestored of the same command (then ``revision`` is the one that event gave,
        so a command still moves an annotation on by one revision), or alone for a change of
        attributes only (then ``revision`` is one more). A separate event, so that the
        stored shape of the older events never changes."""

        annotation_id: str
        attributes: dict[str, Any]
        revision: int

        def apply_to(self, image: Image) -> None:
            ann = dict(image.annotations[self.annotation_id])
            image.annotations[self.annotation_id] = ann
            ann.update(attributes=dict(self.attributes), revision=self.revision,
                       updated_by=self.actor, updated_at=self.timestamp.isoformat())
            self.work_started(image)

    class PrelabelProposed(Event):
        annotation_id: str
        annotation_type: str
        label: str
        geometry: dict[str, Any]
        model: dict[str, str]
        score: float | None

        def apply_to(self, image: Image) -> None:
            ann = image.new_annotation(
                self.annotation_id, self.annotation_type, self.label, self.geometry,
                "prelabel", "proposed", self.actor, self.timestamp.isoformat(),
            )
            ann["model"] = dict(self.model)
            ann["score"] = self.score
            image.annotations[self.annotation_id] = ann
            image.proposals[self.annotation_id] = {"label": self.label, "geometry": self.geometry}

    class PrelabelAccepted(Event):
        annotation_id: str

        def apply_to(self, image: Image) -> None:
            self.touch(image, self.annotation_id)["status"] = "accepted"
            self.work_started(image)

    class PrelabelEdited(Event):
        annotation_id: str
        label: str | None
        geometry: dict[str, Any] | None
        iou: float

        def apply_to(self, image: Image) -> None:
            self.change(image, self.annotation_id, self.label, self.geometry)["status"] = "edited"

    class PrelabelRejected(Event):
        annotation_id: str

        def apply_to(self, image: Image) -> None:
            # Kept (replaced, never mutated) so that a PrelabelRestored can bring it back.
            image.rejected = {**rejected_prelabels(image), self.annotation_id: {
                **image.annotations[self.annotation_id], "rejected_by": self.actor}}
            self.remove(image, self.annotation_id)

    class PrelabelRestored(Event):
        """A person took back the verdict on a pre-label (the UI's undo of an accept or a
        reject): it is ``proposed`` again with the model's own label, geometry, model and
        score. ``undone`` is the verdict taken back (``accepted`` or ``rejected``) and
        ``undone_by`` who gave it, so metrics un-count it; ``created_by`` and ``revision``
        are the restored annotation's (a rejected one keeps its id and counts on)."""

        annotation_id: str
        annotation_type: str
        label: str
        geometry: dict[str, Any]
        model: dict[str, str]
        score: float | None
        created_by: str
        revision: int
        undone: str
        undone_by: str

        def apply_to(self, image: Image) -> None:
            ann = image.new_annotation(
                self.annotation_id, self.annotation_type, self.label, self.geometry,
                "prelabel", "proposed", self.created_by, self.timestamp.isoformat(),
            )
            ann.update(model=dict(self.model), score=self.score, revision=self.revision,
                       updated_by=self.actor)
            image.annotations[self.annotation_id] = ann
            if self.undone == "rejected":
                image.deleted = [d for d in image.deleted if d != self.annotation_id]
                image.rejected = {k: v for k, v in rejected_prelabels(image).items()
                                  if k != self.annotation_id}
            self.work_started(image)

    class AssistClicked(Event):
        """Clicks given to an assist engine; the annotation event that follows (created, or
        edited when refining) holds its proposal.

        Version 2 (``class_version``) always stores ``output`` and ``model_id``. Version 1
        events stored before issue 10 lack both (they were boxes from the built-in engine);
        ``upcast_v1_v2`` fills them in as they load, so every reader (the fold, history rows,
        room events) sees one shape (docs/operations.md, "Changing an event")."""

        class_version = 2

        mode: str
        points: list[list[float]]
        label: str
        annotation_id: str
        output: str = "box"
        model_id: str | None = None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("output", "box")
            state.setdefault("model_id", None)

        def apply_to(self, image: Image) -> None:
            known = image.proposals.get(self.annotation_id)
            entry = dict(known) if known is not None else {
                "mode": self.mode, "output": self.output, "model_id": self.model_id,
                "clicks": []}
            entry["clicks"] = [*entry["clicks"], *([*p, 1][:3] for p in self.points)]
            entry["clicked"] = self.originator_version
            image.proposals[self.annotation_id] = entry

    class AssistEdited(Event):
        """A person changed an assist proposal (recorded after its ``AnnotationEdited``):
        the IoU of the annotation's geometry now to the engine's last proposal."""

        annotation_id: str
        iou: float

    class AssistRejected(Event):
        """A person deleted an assist proposal (recorded before its ``AnnotationDeleted``)."""

        annotation_id: str

    class ImageSubmitted(Event):
        def apply_to(self, image: Image) -> None:
            image.status = "submitted"
            image.submitted_by = self.actor

    class ReviewRecorded(Event):
        verdict: str
        comment: str | None

        def apply_to(self, image: Image) -> None:
            image.status = "approved" if self.verdict == "approve" else "rejected"

    class ImageReopened(Event):
        """A reviewer or manager made a submitted or approved image editable again."""

        comment: str | None

        def apply_to(self, image: Image) -> None:
            image.status = REOPENED_STATUS

    def __init__(
        self,
        project_id: str,
        file_name: str,
        width: int,
        height: int,
        sha256: str,
        content_type: str,
        actor: str,
        command_id: str | None,
    ) -> None:
        self.project_id = project_id
        self.file_name = file_name
        self.width = width
        self.height = height
        self.sha256 = sha256
        self.content_type = content_type
        self.added_by = actor
        self.status = "new"
        self.annotations: dict[str, dict[str, Any]] = {}
        self.proposals: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.rejected: dict[str, dict[str, Any]] = {}  # rejected pre-labels, as they were
        self.command_log: dict[str, list[int]] = {}
        self.submitted_by: str | None = None

    # -- creation -------------------------------------------------------------------------

    @classmethod
    def add(
        cls,
        project_id: str,
        file_name: str,
        width: int,
        height: int,
        sha256: str,
        content_type: str,
        actor: str,
    ) -> Image:
        return cls._create(
            cls.ImageAdded,
            id=image_id_for(project_id, sha256),
            project_id=project_id,
            file_name=file_name,
            width=width,
            height=height,
            sha256=sha256,
            content_type=content_type,
            actor=actor,
            command_id=None,
        )

    @staticmethod
    def new_annotation(
        annotation_id: str, kind: str, label: str, geometry: dict[str, Any], source: str,
        status: str, actor: str, at: str,
    ) -> dict[str, Any]:
        return {
            "id": annotation_id, "type": kind, "label": label, "geometry": geometry,
            "source": source, "status": status, "revision": 1, "created_by": actor,
            "updated_by": actor, "updated_at": at, "attributes": {},
        }

    # -- decisions --------------------------------------------------------------------------

    def seen_command(self, command_id: str | None) -> list[int] | None:
        """The [first, last] versions a command id recorded, or None if it is new."""
        return None if command_id is None else self.command_log.get(command_id)

    def decide(self, command: c.Command, actor: str, schema: LabelSchema, *,
               reviewer: bool = False) -> None:
        """Validate ``command`` against this image and record its events (pending).

        ``reviewer``: the actor may review in this project (reviewer, manager, admin) or is a
        trusted service (imports, jobs); anyone else is held off a submitted or approved
        image (``Locked``) until it is reopened.

        Nothing here calls a model: an ``Assist`` command arrives with its proposal already
        computed (``domain.assist.AssistRegistry.prepare``), since this runs in the writer."""
        if not reviewer and self.status in HELD_STATUSES:
            raise Locked(
                f"this image is {self.status}"
                f"{' for review' if self.status == 'submitted' else ''} and read-only: a "
                "reviewer or manager must reopen it before it can be changed",
                {"status": self.status, "reopen_by": ["reviewer", "manager"]},
            )
        if command.base_version is not None and command.base_version != self.version:
            raise Conflict(
                f"the image is at version {self.version}, not {command.base_version}",
                {"version": self.version, "current": None},
            )
        meta = {"actor": actor, "command_id": command.command_id}
        if isinstance(command, c.CreateAnnotation | c.ImportAnnotation):
            self._create_annotation(command, schema, meta)
        elif isinstance(command, c.EditAnnotation):
            self._edit(command, schema, meta)
        elif isinstance(command, c.DeleteAnnotation):
            ann = self._current(command.annotation_id, command.base_revision)
            if self.assist_proposal(ann["id"]) is not None:
                self.trigger_event(self.AssistRejected, annotation_id=ann["id"], **meta)
            event = self.PrelabelRejected if ann["source"] == "prelabel" else self.AnnotationDeleted
            self.trigger_event(event, annotation_id=ann["id"], **meta)
        elif isinstance(command, c.AcceptPrelabel):
            ann = self._current(command.annotation_id, command.base_revision)
            if ann["source"] != "prelabel":
                raise ValidationFailed("only a pre-label can be accepted",
                                       {"field": "annotation_id"})
            if ann["status"] != "proposed":
                raise ValidationFailed(f"this pre-label is already {ann['status']}",
                                       {"field": "annotation_id"})
            self.trigger_event(self.PrelabelAccepted, annotation_id=ann["id"], **meta)
        elif isinstance(command, c.RestorePrelabel):
            self._restore(command, meta)
        elif isinstance(command, c.Assist):
            self._assist(command, schema, meta)
        elif isinstance(command, c.SubmitImage):
            if self.status not in ("new", "in_progress", "rejected"):
                raise ValidationFailed(f"an image that is {self.status} cannot be submitted",
                                       {"field": "type", "status": self.status})
            self.trigger_event(self.ImageSubmitted, **meta)
        elif isinstance(command, c.ReviewImage):
            if self.status != "submitted":
                raise ValidationFailed(f"only a submitted image can be reviewed; this one is "
                                       f"{self.status}", {"field": "type", "status": self.status})
            self.trigger_event(self.ReviewRecorded, verdict=command.verdict,
                               comment=command.comment, **meta)
        elif isinstance(command, c.ReopenImage):
            if self.status not in HELD_STATUSES:
                raise ValidationFailed(f"only a submitted or approved image can be reopened; "
                                       f"this one is {self.status}",
                                       {"field": "type", "status": self.status})
            self.trigger_event(self.ImageReopened, comment=command.comment, **meta)
        elif isinstance(command, c.ProposePrelabel):
            geometry = self._geometry(schema.check_type(command.annotation_type),
                                      command.geometry)
            self._check_room()
            self.trigger_event(
                self.PrelabelProposed, annotation_id=str(uuid.uuid4()),
                annotation_type=command.annotation_type,
                label=schema.check_label(command.label, "annotation.label"),
                geometry=geometry.to_json(),
                model=self._model_of(command), score=command.score, **meta,
            )
        else:  # pragma: no cover - parse_command only makes the types above
            raise ValidationFailed(f"unsupported command {type(command).__name__}")

    def _create_annotation(self, command: c.CreateAnnotation | c.ImportAnnotation,
                           schema: LabelSchema, meta: dict[str, Any]) -> None:
        """A drawn (``manual``) or imported (``import``) annotation and its class's attribute
        values (defaults, then the command's): AnnotationCreated and, when there are values,
        AnnotationAttributesSet."""
        geometry = self._geometry(schema.check_type(command.annotation_type), command.geometry)
        self._check_room()
        label = schema.check_label(command.label, "annotation.label")
        if isinstance(command, c.CreateAnnotation):
            annotation_id, source = self._new_id(command.annotation_id), "manual"
        else:
            # From the command id (unique per image): no random draw (a getrandom syscall
            # hands the GIL to the projection threads in the middle of a bulk import).
            annotation_id = str(uuid5(NAMESPACE_URL, f"labelwright:import:{command.command_id}")
                                if command.command_id else uuid.uuid4())
            source = "import"
        attributes = resolve_values(schema.attributes, label,
                                    default_values(schema.attributes, label),
                                    command.attributes or {}, "annotation.attributes")
        self.trigger_event(
            self.AnnotationCreated, annotation_id=annotation_id,
            annotation_type=command.annotation_type, label=label,
            geometry=geometry.to_json(), source=source, **meta,
        )
        if attributes:
            self.trigger_event(self.AnnotationAttributesSet, annotation_id=annotation_id,
                               attributes=attributes, revision=1, **meta)

    def _edit(self, command: c.EditAnnotation, schema: LabelSchema, meta: dict[str, Any]) -> None:
        ann = self._current(command.annotation_id, command.base_revision)
        label = None
        if command.label is not None and command.label != ann["label"]:
            label = schema.check_label(command.label, "changes.label")
        geometry = None
        parsed = None
        if command.geometry is not None:
            parsed = self._geometry(ann["type"], command.geometry, "changes.geometry")
            geometry = parsed.to_json()
        attributes = None
        if command.attributes is not None:
            attributes = resolve_values(schema.attributes, label or ann["label"],
                                        ann.get("attributes", {}), command.attributes,
                                        "changes.attributes")
            if command.label is None and command.geometry is None:
                self.trigger_event(self.AnnotationAttributesSet, annotation_id=ann["id"],
                                   attributes=attributes, revision=ann["revision"] + 1, **meta)
                return
        self._edit_shape(ann, label, geometry, parsed, meta)
        if attributes is not None:
            self.trigger_event(self.AnnotationAttributesSet, annotation_id=ann["id"],
                               attributes=attributes, revision=ann["revision"] + 1, **meta)

    def _edit_shape(self, ann: dict[str, Any], label: str | None,
                    geometry: dict[str, Any] | None, parsed: g.Geometry | None,
                    meta: dict[str, Any]) -> None:
        """Record a change of label and/or geometry (a pre-label's, or a person's)."""
        if ann["source"] == "prelabel":
            proposal = self.proposals[ann["id"]]
            # Parsing is idempotent, so the shape just validated is the one stored.
            final = parsed if parsed is not None else self._parsed(ann["type"], ann["geometry"])
            overlap = g.iou(final, self._parsed(ann["type"], proposal["geometry"]))
            self.trigger_event(self.PrelabelEdited, annotation_id=ann["id"], label=label,
                               geometry=geometry, iou=round(overlap, 6), **meta)
        else:
            self.trigger_event(self.AnnotationEdited, annotation_id=ann["id"], label=label,
                               geometry=geometry, **meta)
            assisted = self.assist_proposal(ann["id"])
            if assisted is not None and "geometry" in assisted:
                final = parsed if parsed is not None else self._parsed(ann["type"],
                                                                       ann["geometry"])
                overlap = g.iou(final, self._parsed(ann["type"], assisted["geometry"]))
                self.trigger_event(self.AssistEdited, annotation_id=ann["id"],
                                   iou=round(overlap, 6), **meta)

    def _restore(self, command: c.RestorePrelabel, meta: dict[str, Any]) -> None:
        """Put an accepted or rejected pre-label back to ``proposed`` as the model made it."""
        kept = rejected_prelabels(self).get(command.annotation_id)
        if kept is not None and command.annotation_id not in self.annotations:
            ann, undone, undone_by = kept, "rejected", kept["rejected_by"]
        else:
            ann = self._current(command.annotation_id, command.base_revision)
            if ann["source"] != "prelabel":
                raise ValidationFailed("only a pre-label can be restored",
                                       {"field": "annotation_id"})
            if ann["status"] != "accepted":
                raise ValidationFailed(
                    f"only an accepted or rejected pre-label can be restored; this one is "
                    f"{ann['status']}", {"field": "annotation_id", "status": ann["status"]})
            undone, undone_by = "accepted", ann["updated_by"]
        proposal = self.proposals[ann["id"]]
        self.trigger_event(
            self.PrelabelRestored, annotation_id=ann["id"], annotation_type=ann["type"],
            label=proposal["label"], geometry=proposal["geometry"], model=dict(ann["model"]),
            score=ann.get("score"), created_by=ann["created_by"], revision=ann["revision"] + 1,
            undone=undone, undone_by=undone_by, **meta)
        if ann.get("attributes"):  # a person's attributes outlive the verdict taken back
            self.trigger_event(self.AnnotationAttributesSet, annotation_id=ann["id"],
                               attributes=dict(ann["attributes"]),
                               revision=ann["revision"] + 1, **meta)

    def _assist(self, command: c.Assist, schema: LabelSchema, meta: dict[str, Any]) -> None:
        label = schema.check_label(command.label)
        prepared = command.proposal
        if prepared is None or prepared.image_id != self.id:
            # The pipeline prepares every assist before it reaches the writer; a command
            # without a proposal (or with another image's) is a bug, never a client's input.
            raise RuntimeError("an assist command reached the image without a proposal "
                               "computed on this image")
        refined: dict[str, Any] | None = None
        if command.annotation_id is not None:
            refined = self._current(command.annotation_id, None)
            known = self.assist_proposal(refined["id"])
            if known is None:
                raise ValidationFailed("only an assist proposal can be refined with clicks",
                                       {"field": "annotation_id"})
            if tuple(map(tuple, known["clicks"])) != prepared.previous:
                raise Conflict("this proposal was refined meanwhile; send the clicks again",
                               {"current": dict(refined), "version": self.version})
        proposal = prepared.result()  # the engine's own refusal, raised at the same point
        if not isinstance(proposal, _GEOMETRIES):
            raise RuntimeError(f"an assist engine proposed a {type(proposal).__name__}")
        schema.check_type(proposal.kind)
        clicked = {"mode": command.mode, "points": [list(p) for p in command.points],
                   "label": label, "output": prepared.output, "model_id": prepared.model_id}
        if refined is not None:
            self.trigger_event(self.AssistClicked, annotation_id=refined["id"], **clicked,
                               **meta)
            self.trigger_event(self.AnnotationEdited, annotation_id=refined["id"],
                               label=label if label != refined["label"] else None,
                               geometry=proposal.to_json(), **meta)
            return
        self._check_room()
        annotation_id = str(uuid.uuid4())
        self.trigger_event(self.AssistClicked, annotation_id=annotation_id, **clicked, **meta)
        self.trigger_event(self.AnnotationCreated, annotation_id=annotation_id,
                           annotation_type=proposal.kind, label=label,
                           geometry=proposal.to_json(), source="assist", **meta)
        defaults = default_values(schema.attributes, label)
        if defaults:  # like a drawn shape, a proposal starts with the attributes' defaults
            self.trigger_event(self.AnnotationAttributesSet, annotation_id=annotation_id,
                               attributes=defaults, revision=1, **meta)

    def assist_proposal(self, annotation_id: str) -> dict[str, Any] | None:
        """What this image knows of the assist proposal that made ``annotation_id``:
        ``mode`` (of its first clicks), ``output``, ``model_id``, ``clicks`` (all of them, in
        order, ``[x, y, +1|-1]``) and, once proposed, ``label`` and ``geometry`` (the
        engine's last answer); None for any other annotation (or one made before this
        image's last snapshot taken without this bookkeeping)."""
        ann = self.annotations.get(annotation_id)
        if ann is None or ann["source"] != "assist":
            return None
        return self.proposals.get(annotation_id)

    def assist_proposed(self, annotation_id: str, label: str, geometry: dict[str, Any]) -> None:
        """Remember the engine's answer for ``annotation_id`` (replacing, never mutating)."""
        known = self.proposals.get(annotation_id)
        if known is not None:
            self.proposals[annotation_id] = {**known, "label": label, "geometry": geometry}

    def _current(self, annotation_id: str, base_revision: int | None) -> dict[str, Any]:
        ann = self.annotations.get(annotation_id)
        if ann is None:
            if annotation_id in self.deleted:
                raise Conflict("this annotation was deleted",
                               {"current": None, "version": self.version})
            raise NotFound(f"no annotation {annotation_id!r} on this image",
                           {"field": "annotation_id"})
        if base_revision is not None and base_revision != ann["revision"]:
            raise Conflict(
                f"the annotation is at revision {ann['revision']}, not {base_revision}",
                {"current": dict(ann), "version": self.version},
            )
        return ann

    def _geometry(self, kind: str, raw: object, field: str = "annotation.geometry") -> g.Geometry:
        try:
            return g.parse_geometry(kind, raw, self.width, self.height)
        except ValidationFailed as e:
            e.details.setdefault("field", field)
            raise

    def _parsed(self, kind: str, stored: dict[str, Any]) -> g.Geometry:
        return g.parse_geometry(kind, stored, self.width, self.height)

    def _new_id(self, wanted: str | None) -> str:
        if wanted is None:
            return str(uuid.uuid4())
        if wanted in self.annotations or wanted in self.deleted:
            raise ValidationFailed(f"annotation id {wanted!r} is already used on this image",
                                   {"field": "annotation.id"})
        return wanted

    @staticmethod
    def _model_of(command: c.ProposePrelabel) -> dict[str, str]:
        """The pre-label's ``model``: name and version, plus the registered model's id and
        the job's id when a job recorded it."""
        model = {"name": command.model_name, "version": command.model_version}
        if command.model_id is not None:
            model["id"] = command.model_id
        if command.job_id is not None:
            model["job"] = command.job_id
        return model

    def _check_room(self) -> None:
        if len(self.annotations) >= MAX_ANNOTATIONS:
            raise ValidationFailed(f"an image holds at most {MAX_ANNOTATIONS} annotations")

    # -- views ----------------------------------------------------------------------------

    def public_annotations(self) -> list[dict[str, Any]]:
        return [dict(a) if "attributes" in a else with_attributes(a)
                for a in self.annotations.values()]


def with_attributes(annotation: dict[str, Any]) -> dict[str, Any]:
    """A copy of an annotation kept by a snapshot older than per-object attributes, with
    ``attributes: {}`` where a new one has it (right after ``updated_at``)."""
    out: dict[str, Any] = {}
    for key, value in annotation.items():
        out[key] = value
        if key == "updated_at":
            out["attributes"] = {}
    return out


def rejected_prelabels(image: Image) -> dict[str, dict[str, Any]]:
    """The image's rejected pre-labels by id, as they were when rejected (plus
    ``rejected_by``); empty for an image restored from a snapshot older than this record."""
    found: dict[str, dict[str, Any]] = image.__dict__.get("rejected", {})
    return found
