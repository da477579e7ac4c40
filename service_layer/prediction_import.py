"""Recording a predictions file as pre-labels (``PrelabelProposed`` events).

Everything is checked before anything is recorded: the file's shape, that every image exists
in the project, every label is an active class and every geometry fits its image. Only then is
one request per image handed to the command pipeline (which group-commits them). Blocking:
the web endpoint runs it in a thread, the CLI calls it directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from domain import geometry as g
from domain.application import Labeling
from domain.command_pipeline import Actor, CommandPipeline
from domain.commands import ProposePrelabel, parse_prelabel
from domain.errors import NotFound, ValidationFailed
from event_store.positions import log_head
from service_layer.prediction_formats import ImageRef, PredictionSet, parse_predictions

PAGE = 500


class ImageListing(Protocol):
    """What the import needs of the read models (``projections.read_models.ReadModels``)."""

    def list_images(self, project_id: str, status: str | None, limit: int,
                    cursor: str | None) -> tuple[list[dict[str, Any]], str | None]: ...


@dataclass(frozen=True, slots=True)
class _Target:
    image_id: UUID
    width: int
    height: int


class ImageResolver:
    """Finds the project's image an ``ImageRef`` names. Ids are looked up in the event store;
    file names and COCO numbers need the project's image list, read once, lazily."""

    def __init__(self, app: Labeling, read: ImageListing, project_id: str) -> None:
        self.app = app
        self.read = read
        self.project_id = project_id
        self._listing: list[dict[str, Any]] | None = None
        self._by_name: dict[str, list[dict[str, Any]]] = {}
        self._ids: dict[str, dict[str, Any]] | None = None

    def resolve(self, ref: ImageRef, field_name: str) -> _Target:
        if isinstance(ref, int):
            listing = self._images()
            if not 1 <= ref <= len(listing):
                raise ValidationFailed(
                    f"no image number {ref} in this project (it has {len(listing)} images, "
                    "numbered 1.. in export order)", {"field": field_name})
            row = listing[ref - 1]
            return _Target(UUID(str(row["id"])), int(row["width"]), int(row["height"]))
        try:
            uid = UUID(ref)
        except ValueError:
            uid = None
        if uid is not None:
            # One paged read of the project's image list beats loading every image's stream;
            # an image the read model has not caught up with yet is loaded from the store.
            known = self._by_id().get(str(uid))
            if known is not None:
                return _Target(uid, int(known["width"]), int(known["height"]))
            try:
                image = self.app.image(uid)
            except NotFound:
                image = None
            if image is not None and image.project_id == self.project_id:
                return _Target(uid, image.width, image.height)
        self._images()
        rows = self._by_name.get(ref, [])
        if len(rows) > 1:
            raise ValidationFailed(f"several images of this project are named {ref!r}; name "
                                   "the image by its id", {"field": field_name})
        if not rows:
            raise ValidationFailed(f"no image {ref!r} in this project",
                                   {"field": field_name})
        row = rows[0]
        return _Target(UUID(str(row["id"])), int(row["width"]), int(row["height"]))

    def _by_id(self) -> dict[str, dict[str, Any]]:
        if self._ids is None:
            self._ids = {str(row["id"]): row for row in self._images()}
        return self._ids

    def _images(self) -> list[dict[str, Any]]:
        if self._listing is None:
            wait_for = getattr(self.read, "wait_for", None)
            if wait_for is not None:
                # Images uploaded a moment ago: let the list catch up with the log first.
                head = log_head(self.app)
                wait_for(head, 5.0)
            listing: list[dict[str, Any]] = []
            cursor: str | None = None
            while True:
                items, cursor = self.read.list_images(self.project_id, None, PAGE, cursor)
                listing.extend(items)
                if not cursor:
                    break
            self._listing = listing
            for row in listing:
                self._by_name.setdefault(str(row["file_name"]), []).append(row)
        return self._listing


def plan_prelabels(app: Labeling, read: ImageListing, project_id: str,
                   predictions: PredictionSet) -> list[tuple[UUID, list[ProposePrelabel]]]:
    """Validate ``predictions`` completely; the commands to submit, per image."""
    project = app.project(project_id)
    schema = project.schema()
    resolver = ImageResolver(app, read, project_id)
    plans: dict[UUID, list[ProposePrelabel]] = {}
    for group in predictions.images:
        where_image = (group.fields[0].rsplit(".annotations", 1)[0] + ".image_id"
                       if group.fields else "image_id")
        target = resolver.resolve(group.image_ref, where_image)
        commands = plans.setdefault(target.image_id, [])
        for annotation, where in zip(group.annotations, group.fields, strict=True):
            try:
                command = parse_prelabel(annotation, predictions.model_name,
                                         predictions.model_version)
                schema.check_type(command.annotation_type)
                schema.check_label(command.label)
                g.parse_geometry(command.annotation_type, command.geometry, target.width,
                                 target.height)
            except ValidationFailed as e:
                inner = e.details.get("field")
                e.details["field"] = f"{where}.{inner}" if inner else where
                raise
            commands.append(command)
    return [(iid, cmds) for iid, cmds in plans.items() if cmds]


def record_prelabels(pipeline: CommandPipeline, plans: Iterable[tuple[UUID, list[Any]]],
                     username: str, timeout: float = 300.0) -> dict[str, Any]:
    """Submit every image's pre-labels (checked already, hence ``trusted``) and wait."""
    actor = Actor(username, trusted=True)
    plans = list(plans)
    futures = list(zip([len(cmds) for _, cmds in plans],
                       pipeline.submit_many(plans, actor), strict=True))
    images = annotations = 0
    position: int | None = None
    for count, future in futures:
        result = future.result(timeout)
        images += 1
        annotations += count
        position = result.position if position is None else max(position, result.position)
    return {"images": images, "annotations": annotations, "position": position}


def import_predictions(app: Labeling, pipeline: CommandPipeline, read: ImageListing,
                       project_id: str, raw: object, username: str,
                       model_name: str | None = None, model_version: str | None = None
                       ) -> dict[str, Any]:
    """Parse, validate and record a predictions document; ``{"images", "annotations",
    "position"}``. The caller checks that ``username`` may import into the project."""
    project = app.project(project_id)
    parsed = parse_predictions(raw, project.class_names(), model_name, model_version)
    plans = plan_prelabels(app, read, project_id, parsed)
    return record_prelabels(pipeline, plans, username)
