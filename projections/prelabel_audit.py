"""Projection ``prelabel_audit``: one row per pre-label and the latest human verdict on it.

``outcome`` is ``proposed`` until a person acts, then the latest of ``accepted`` / ``edited``
/ ``relabeled`` / ``rejected`` (an accepted pre-label edited later counts as edited, an edited
one deleted later as rejected). The latest decision counts: a ``PrelabelRestored`` (an undone
accept or reject) makes it ``proposed`` again. A PrelabelEdited is classified by what the
person left, against the model's proposal:

* ``edited`` (a geometry correction): IoU below :data:`SAME_GEOMETRY_IOU`, class changed or not;
* ``relabeled``: the geometry the same within that tolerance, the class changed;
* ``accepted``: neither changed (an edit that came back to the proposal).

``actor`` is who acted last; ``iou`` is the IoU of the latest PrelabelEdited (the edited shape
against the model's proposal); ``final_label`` the class the pre-label has now (the class
confusion); ``model_id`` the registered model that made it (None for imported files).
Grouping by model, label, actor or score bucket happens at query time
(``ReadModels.prelabel_metrics``, ``ReadModels.prelabel_confusion``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from domain.image import Image
from event_store.log_reader import LoggedEvent
from projections.database import Cursor
from projections.projection import Projection
from projections.row_set import RowSet

AUDIT_COLUMNS = ("image_id", "annotation_id", "project_id", "model", "label", "score", "bucket",
                 "outcome", "actor", "iou", "final_label", "model_id")
_OUTCOME_OF: dict[type, str] = {
    Image.PrelabelAccepted: "accepted",
    Image.PrelabelEdited: "edited",
    Image.PrelabelRejected: "rejected",
    Image.PrelabelRestored: "proposed",
}
# An edit whose shape overlaps the proposal at least this much left the geometry as it was.
SAME_GEOMETRY_IOU = 0.99


def edit_outcome(iou: float, proposed_label: str, final_label: str) -> str:
    """``edited`` (geometry corrected), ``relabeled`` (only the class changed) or
    ``accepted`` (nothing changed) for a pre-label edited to ``final_label`` at ``iou``."""
    if iou < SAME_GEOMETRY_IOU:
        return "edited"
    return "relabeled" if final_label != proposed_label else "accepted"


def score_bucket(score: float | None) -> str:
    """``floor(score * 10) / 10`` as text (``"0.7"``); a score of 1.0 falls in ``"0.9"``."""
    if score is None:
        return "none"
    tenths = min(max(math.floor(score * 10), 0), 9)
    return f"{tenths / 10:.1f}"


class PrelabelAudit(Projection):
    """What happened to every pre-label: accepted, edited (with IoU), rejected or pending."""

    name = "prelabel_audit"
    tables = ("prelabel_audit", "prelabel_images")

    def apply(self, cur: Cursor, events: Sequence[LoggedEvent]) -> None:
        added = [(le.stream, le.event.project_id) for le in events
                 if type(le.event) is Image.ImageAdded]
        if added:
            cur.executemany("INSERT INTO prelabel_images (image_id, project_id) VALUES (?, ?)",
                            added)
        relevant = [le for le in events
                    if type(le.event) is Image.PrelabelProposed or type(le.event) in _OUTCOME_OF]
        if not relevant:
            return
        audit = RowSet("prelabel_audit", ("image_id", "annotation_id"), AUDIT_COLUMNS,
                       fixed=("project_id", "model", "label", "score", "bucket", "model_id"))
        proposed = {(le.stream, le.event.annotation_id) for le in relevant
                    if type(le.event) is Image.PrelabelProposed}
        audit.load(cur, [key for le in relevant
                         if (key := (le.stream, le.event.annotation_id)) not in proposed])
        # Images added in this batch are already in prelabel_images (same transaction).
        projects = RowSet("prelabel_images", ("image_id",), ("image_id", "project_id"))
        projects.load(cur, [le.stream for le in relevant
                            if type(le.event) is Image.PrelabelProposed])
        for le in relevant:
            e = le.event
            key = (le.stream, e.annotation_id)
            if type(e) is Image.PrelabelProposed:
                image = projects.get(le.stream)
                if image is None:
                    raise LookupError(f"pre-label on unknown image {le.stream}")
                audit.add(key, {
                    "image_id": le.stream, "annotation_id": e.annotation_id,
                    "project_id": image["project_id"],
                    "model": f"{e.model['name']}@{e.model['version']}", "label": e.label,
                    "score": e.score, "bucket": score_bucket(e.score), "outcome": "proposed",
                    "actor": None, "iou": None, "final_label": e.label,
                    "model_id": e.model.get("id"),
                })
                continue
            row = audit.get(key)
            if row is None:
                raise LookupError(f"{type(e).__name__} of unknown pre-label {key}")
            row["outcome"] = _OUTCOME_OF[type(e)]
            row["actor"] = e.actor
            if type(e) is Image.PrelabelEdited:
                row["iou"] = e.iou
                if e.label is not None:
                    row["final_label"] = e.label
                final = row["final_label"] or row["label"]
                row["outcome"] = edit_outcome(e.iou, row["label"], final)
            elif type(e) is Image.PrelabelRestored:
                row.update(actor=None, iou=None, final_label=row["label"])
            audit.changed(key)
        audit.flush(cur)
