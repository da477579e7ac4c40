"""Projection ``annotator_metrics``: what each person did in each project.

Counted per (project, username), from the image events that person is the actor of:

* ``created`` AnnotationCreated (manual and assisted), ``edited`` AnnotationEdited, ``deleted``
  AnnotationDeleted; ``prelabels_accepted|edited|rejected`` PrelabelAccepted|Edited|Rejected;
  ``iou_sum``/``iou_count`` the IoU of their PrelabelEdited events (mean = sum / count);
  ``images_submitted`` ImageSubmitted; ``reviews_given`` ReviewRecorded; ``assists``
  AssistClicked.
* A ``PrelabelRestored`` (an undone accept or reject) takes that verdict back: the
  ``prelabels_accepted`` or ``prelabels_rejected`` of whoever gave it (``undone_by``) goes down
  by one. The restore itself counts as work (active time) of its actor, in no counter.
* ``review_approvals`` / ``review_rejections``: verdicts recorded on images whose last
  ImageSubmitted was theirs (credited to the submitter, not the reviewer).
* ``active_seconds``: the sum of the gaps between a person's consecutive *work events* in the
  project, counting only gaps of at most ``ACTIVE_GAP_SECONDS`` (a longer pause is a break and
  adds nothing). Work events are the ones counted above; ImageAdded and PrelabelProposed are
  not work (uploads and model imports would otherwise look like hours of labeling), nor is an
  ``AnnotationCreated`` with source ``import`` (a labeled dataset's import).
  ``first_at``/``last_at`` are the times of their first and last work event.

Each projection keeps its own image → (project, last submitter) table (``metric_images``) so
it can be rebuilt alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.image import Image
from event_store.log_reader import LoggedEvent
from projections.database import Cursor
from projections.projection import Projection
from projections.row_set import Row, RowSet

ACTIVE_GAP_SECONDS = 300.0

COUNTERS = (
    "created", "edited", "deleted", "prelabels_accepted", "prelabels_edited",
    "prelabels_rejected", "iou_count", "images_submitted", "review_approvals",
    "review_rejections", "reviews_given", "assists",
)
METRIC_COLUMNS = ("project_id", "username", *COUNTERS[:6], "iou_sum", *COUNTERS[6:],
                  "active_seconds", "first_at", "last_at")
# The counter each work event increments.
_COUNTER_OF: dict[type, str] = {
    Image.AnnotationCreated: "created",
    Image.AnnotationEdited: "edited",
    Image.AnnotationDeleted: "deleted",
    Image.PrelabelAccepted: "prelabels_accepted",
    Image.PrelabelEdited: "prelabels_edited",
    Image.PrelabelRejected: "prelabels_rejected",
    Image.ImageSubmitted: "images_submitted",
    Image.ReviewRecorded: "reviews_given",
    Image.AssistClicked: "assists",
}
_UNDONE_COUNTER = {"accepted": "prelabels_accepted", "rejected": "prelabels_rejected"}
_WORK = frozenset({*_COUNTER_OF, Image.PrelabelRestored})


def _imported(event: object) -> bool:
    """A label from an imported dataset: somebody's earlier work, not this person's now."""
    return isinstance(event, Image.AnnotationCreated) and event.source == "import"


class AnnotatorMetrics(Projection):
    """Per-annotator counters, review outcomes and active time, per project."""

    name = "annotator_metrics"
    tables = ("annotator_metrics", "metric_images")

    def apply(self, cur: Cursor, events: Sequence[LoggedEvent]) -> None:
        relevant = [le for le in events
                    if (type(le.event) in _WORK and not _imported(le.event))
                    or type(le.event) is Image.ImageAdded]
        if not relevant:
            return
        images = RowSet("metric_images", ("image_id",),
                        ("image_id", "project_id", "submitted_by"), fixed=("project_id",))
        metrics = RowSet("annotator_metrics", ("project_id", "username"), METRIC_COLUMNS)
        project_of = {le.stream: le.event.project_id for le in relevant
                      if type(le.event) is Image.ImageAdded}
        images.load(cur, [le.stream for le in relevant if le.stream not in project_of])
        keys: dict[tuple[str, str], None] = {}
        for le in relevant:
            project = project_of.get(le.stream)
            if project is None:
                row = images.get(le.stream)
                if row is None:
                    raise LookupError(f"event for unknown image {le.stream}")
                project = project_of[le.stream] = row["project_id"]
                # The submitter credited by a review may have submitted in an earlier batch.
                if row["submitted_by"] is not None:
                    keys[(project, row["submitted_by"])] = None
            if type(le.event) is not Image.ImageAdded:
                keys[(project, le.event.actor)] = None
            if type(le.event) is Image.PrelabelRestored:
                keys[(project, le.event.undone_by)] = None
        metrics.load(cur, keys)
        # The datetime of each row's last_at, parsed at most once per batch.
        last_seen: dict[tuple[str, str], datetime] = {}
        for le in relevant:
            e = le.event
            if type(e) is Image.ImageAdded:
                images.add(le.stream, {"image_id": le.stream, "project_id": e.project_id,
                                       "submitted_by": None})
                continue
            image = images.get(le.stream)
            assert image is not None
            self._count(metrics, last_seen, image, le)
            if type(e) is Image.ImageSubmitted:
                image["submitted_by"] = e.actor
                images.changed(le.stream)
        images.flush(cur)
        metrics.flush(cur)

    @staticmethod
    def _row(metrics: RowSet, project_id: str, username: str) -> Row:
        key = (project_id, username)
        row = metrics.get(key)
        if row is None:
            row = metrics.add(key, {
                "project_id": project_id, "username": username, **dict.fromkeys(COUNTERS, 0),
                "iou_sum": 0.0, "active_seconds": 0.0, "first_at": None, "last_at": None,
            })
        metrics.changed(key)
        return row

    def _count(self, metrics: RowSet, last_seen: dict[tuple[str, str], datetime], image: Row,
               le: LoggedEvent) -> None:
        event = le.event
        project_id = image["project_id"]
        row = self._row(metrics, project_id, event.actor)
        counter = _COUNTER_OF.get(type(event))
        if counter is not None:
            row[counter] += 1
        if type(event) is Image.PrelabelRestored:
            verdict_by = self._row(metrics, project_id, event.undone_by)
            verdict_by[_UNDONE_COUNTER[event.undone]] -= 1
        elif type(event) is Image.PrelabelEdited:
            row["iou_sum"] += event.iou
            row["iou_count"] += 1
        elif type(event) is Image.ReviewRecorded and image["submitted_by"] is not None:
            submitter = self._row(metrics, project_id, image["submitted_by"])
            submitter["review_approvals" if event.verdict == "approve"
                      else "review_rejections"] += 1
        key = (project_id, event.actor)
        at: datetime = event.timestamp
        last = last_seen.get(key)
        if last is None and row["last_at"] is not None:
            last = datetime.fromisoformat(row["last_at"])
        if last is not None:
            gap = (at - last).total_seconds()
            if 0 < gap <= ACTIVE_GAP_SECONDS:
                row["active_seconds"] += gap
        if row["first_at"] is None:
            row["first_at"] = le.at
        row["last_at"] = le.at
        last_seen[key] = at
