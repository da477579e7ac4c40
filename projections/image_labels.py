"""Projection ``image_labels``: every image's current state and its current annotations.

The rules here mirror the ``apply`` methods of ``domain.image.Image`` one for one (status
changes, revision increments, deleted annotations removed), so the rows always equal the
aggregate replayed to the same version; the tests check exactly that. ``seq`` is the image
version of the event that created an annotation, which keeps creation order without a counter.
It also keeps per-project counts of images by status, so project listings need no scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from domain.image import REOPENED_STATUS, Image
from event_store.log_reader import LoggedEvent
from projections.database import Cursor
from projections.image_events import is_image_event
from projections.projection import Projection
from projections.row_set import Row, RowSet

IMAGE_COLUMNS = (
    "image_id", "project_id", "file_name", "width", "height", "sha256", "content_type",
    "status", "version", "position", "added_position", "added_by", "added_at", "updated_at",
    "annotation_count", "submitted_by",
)
ANNOTATION_COLUMNS = (
    "image_id", "annotation_id", "seq", "type", "label", "geometry", "source", "model_name",
    "model_version", "score", "status", "revision", "created_by", "updated_by", "updated_at",
    "attributes",
)
_ADDED = Image.ImageAdded
# Events that create an annotation; the other annotation events refer to an existing one.
_CREATING = frozenset({Image.AnnotationCreated, Image.PrelabelProposed})
_REFERRING = frozenset({Image.AnnotationEdited, Image.AnnotationDeleted, Image.PrelabelAccepted,
                        Image.PrelabelEdited, Image.PrelabelRejected, Image.PrelabelRestored,
                        Image.AnnotationAttributesSet})
NO_ATTRIBUTES = "{}"


def dump_geometry(geometry: Any) -> str:
    return orjson.dumps(geometry).decode()


class _Batch:
    """The rows one batch works on, and the status-count changes it makes."""

    def __init__(self) -> None:
        self.images = RowSet("images", ("image_id",), IMAGE_COLUMNS, fixed=(
            "project_id", "file_name", "width", "height", "sha256", "content_type",
            "added_position", "added_by", "added_at"))
        self.annotations = RowSet("annotations", ("image_id", "annotation_id"),
                                  ANNOTATION_COLUMNS, fixed=(
                                      "type", "source", "model_name", "model_version",
                                      "score", "created_by"))
        self.counts: dict[tuple[str, str], int] = {}


_Handler = Callable[[_Batch, Row, LoggedEvent], object]


class ImageLabels(Projection):
    """Current images and annotations, equal to replaying each Image aggregate."""

    name = "image_labels"
    tables = ("images", "annotations", "image_status_counts")

    def __init__(self) -> None:
        self._handlers: dict[type, _Handler] = {
            Image.AnnotationCreated: self._created,
            Image.AnnotationEdited: self._edited,
            Image.AnnotationAttributesSet: self._attributes_set,
            Image.AnnotationDeleted: self._deleted,
            Image.PrelabelProposed: self._proposed,
            Image.PrelabelAccepted: self._accepted,
            Image.PrelabelEdited: self._prelabel_edited,
            Image.PrelabelRejected: self._deleted,
            Image.PrelabelRestored: self._restored,
            Image.ImageSubmitted: self._submitted,
            Image.ReviewRecorded: self._reviewed,
            Image.ImageReopened: self._reopened,
        }

    def apply(self, cur: Cursor, events: Sequence[LoggedEvent]) -> None:
        mine = [le for le in events if is_image_event(le.event)]
        if not mine:
            return
        batch = _Batch()
        added = {le.stream for le in mine if type(le.event) is Image.ImageAdded}
        batch.images.load(cur, [le.stream for le in mine if le.stream not in added])
        created = {(le.stream, le.event.annotation_id) for le in mine
                   if type(le.event) in _CREATING}
        batch.annotations.load(cur, [key for le in mine if type(le.event) in _REFERRING
                                     and (key := (le.stream, le.event.annotation_id))
                                     not in created])
        apply_one = self._apply_one
        for le in mine:
            apply_one(batch, le)
        batch.images.flush(cur)
        batch.annotations.flush(cur)
        if batch.counts:
            # Every touched (project, status) gets a row, even at a net 0, so the set of rows
            # does not depend on batch boundaries.
            cur.executemany(
                "INSERT INTO image_status_counts (project_id, status, n) VALUES (?, ?, ?) "
                "ON CONFLICT (project_id, status) DO UPDATE SET n = image_status_counts.n + "
                "excluded.n",
                [(p, s, n) for (p, s), n in batch.counts.items()],
            )

    def _apply_one(self, batch: _Batch, le: LoggedEvent) -> None:
        event = le.event
        counts = batch.counts
        kind = type(event)
        if kind is _ADDED:
            batch.images.add(le.stream, {
                "image_id": le.stream, "project_id": event.project_id,
                "file_name": event.file_name, "width": event.width, "height": event.height,
                "sha256": event.sha256, "content_type": event.content_type, "status": "new",
                "version": event.originator_version, "position": le.position,
                "added_position": le.position, "added_by": event.actor, "added_at": le.at,
                "updated_at": le.at, "annotation_count": 0, "submitted_by": None,
            })
            key = (event.project_id, "new")
            counts[key] = counts.get(key, 0) + 1
            return
        image = batch.images.get(le.stream)
        if image is None:  # an image event without its ImageAdded: not possible in one stream
            raise LookupError(f"event for unknown image {le.stream} at position {le.position}")
        before = image["status"]
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(batch, image, le)
        image["version"] = event.originator_version
        image["position"] = le.position
        image["updated_at"] = le.at
        batch.images.changed(le.stream)
        after = image["status"]
        if after != before:
            old, new = (image["project_id"], before), (image["project_id"], after)
            counts[old] = counts.get(old, 0) - 1
            counts[new] = counts.get(new, 0) + 1

    # -- the Image aggregate's apply methods, on rows ------------------------------------------

    @staticmethod
    def _work_started(image: Row) -> None:
        if image["status"] != "submitted":
            image["status"] = "in_progress"

    @staticmethod
    def _new_annotation(batch: _Batch, image: Row, le: LoggedEvent, source: str, status: str,
                        model: dict[str, str] | None, score: float | None) -> None:
        event = le.event
        batch.annotations.add((le.stream, event.annotation_id), {
            "image_id": le.stream, "annotation_id": event.annotation_id,
            "seq": event.originator_version, "type": event.annotation_type,
            "label": event.label, "geometry": dump_geometry(event.geometry), "source": source,
            "model_name": model["name"] if model else None,
            "model_version": model["version"] if model else None, "score": score,
            "status": status, "revision": 1, "created_by": event.actor,
            "updated_by": event.actor, "updated_at": le.at, "attributes": NO_ATTRIBUTES,
        })
        image["annotation_count"] += 1

    @staticmethod
    def _touch(batch: _Batch, le: LoggedEvent) -> Row:
        key = (le.stream, le.event.annotation_id)
        ann = batch.annotations.get(key)
        if ann is None:
            raise LookupError(f"{type(le.event).__name__} of unknown annotation {key}")
        ann["revision"] += 1
        ann["updated_by"] = le.event.actor
        ann["updated_at"] = le.at
        batch.annotations.changed(key)
        return ann

    def _created(self, batch: _Batch, image: Row, le: LoggedEvent) -> None:
        self._new_annotation(batch, image, le, le.event.source, "manual", None, None)
        self._work_started(image)

    def _proposed(self, batch: _Batch, image: Row, le: LoggedEvent) -> None:
        self._new_annotation(batch, image, le, "prelabel", "proposed", le.event.model,
                             le.event.score)

    def _edited(self, batch: _Batch, image: Row, le: LoggedEvent) -> Row:
        ann = self._touch(batch, le)
        if le.event.label is not None:
            ann["label"] = le.event.label
        if le.event.geometry is not None:
            ann["geometry"] = dump_geometry(le.event.geometry)
        self._work_started(image)
        return ann

    def _prelabel_edited(self, batch: _Batch, image: Row, le: LoggedEvent) -> None:
        self._edited(batch, image, le)["status"] = "edited"

    def _accepted(self, batch: _Batch, image: Row, le: LoggedEvent) -> None:
        self._touch(batch, le)["status"] = "accepted"
        self._work_started(image)

    def _restored(self, batch: _Batch, image: Row, le: LoggedEvent) -> None:
        # ``seq`` is not a fixed column: a pre-label rejected and restored in one batch is an
        # UPDATE of its row, and must get the restore's seq as in any other batching.
        event = le.event
        key = (le.stream, event.annotation_id)
        row = batch.annotations.get(key)
        if row is None:  # a rejected pre-label comes back
            self._new_annotation(batch, image, le, "prelabel", "proposed", event.model,
                                 event.score)
            row = batch.annotations.get(key)
            assert row is not None
            row["created_by"] = event.created_by
        else:  # an accepted one becomes proposed again, in its place
            row.update(label=event.label, geometry=dump_geometry(event.geometry),
                       status="proposed", attributes=NO_ATTRIBUTES)
            batch.annotations.changed(key)
        row.update(revision=event.revision, updated_by=event.actor, updated_at=le.at)
        self._work_started(image)

    def _attributes_set(self, batch: _Batch, image: Row, le: LoggedEvent) -> None:
        event = le.event
        key = (le.stream, event.annotation_id)
        ann = batch.annotations.get(key)
        if ann is None:
            raise LookupError(f"AnnotationAttributesSet of unknown annotation {key}")
        ann.update(attributes=orjson.dumps(event.attributes).decode(), revision=event.revision,
                   updated_by=event.actor, updated_at=le.at)
        batch.annotations.changed(key)
        self._work_started(image)

    def _deleted(self, batch: _Batch, image: Row, le: LoggedEvent) -> None:
        key = (le.stream, le.event.annotation_id)
        if batch.annotations.get(key) is None:
            raise LookupError(f"{type(le.event).__name__} of unknown annotation {key}")
        batch.annotations.remove(key)
        image["annotation_count"] -= 1
        self._work_started(image)

    @staticmethod
    def _submitted(batch: _Batch, image: Row, le: LoggedEvent) -> None:
        image["status"] = "submitted"
        image["submitted_by"] = le.event.actor

    @staticmethod
    def _reviewed(batch: _Batch, image: Row, le: LoggedEvent) -> None:
        image["status"] = "approved" if le.event.verdict == "approve" else "rejected"

    @staticmethod
    def _reopened(batch: _Batch, image: Row, le: LoggedEvent) -> None:
        image["status"] = REOPENED_STATUS
