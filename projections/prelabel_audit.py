"""Projection ``prelabel_audit``: one row per pre-label and the latest human verdict on it.

``outcome`` is ``proposed`` until a person acts, then the latest of ``accepted`` / ``edited``
/ ``rejected`` (an accepted pre-label edited later counts as edited, an edited one deleted
later as rejected); ``actor`` is who acted last; ``iou`` is the IoU of the latest
PrelabelEdited (the edited shape against the model's proposal). Grouping by model, label,
actor or score bucket happens at query time (``ReadModels.prelabel_metrics``).
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
                 "outcome", "actor", "iou")
_OUTCOME_OF: dict[type, str] = {
    Image.PrelabelAccepted: "accepted",
    Image.PrelabelEdited: "edited",
    Image.PrelabelRejected: "rejected",
}


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
                       fixed=("project_id", "model", "label", "score", "bucket"))
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
                    "actor": None, "iou": None,
                })
                continue
            row = audit.get(key)
            if row is None:
                raise LookupError(f"{type(e).__name__} of unknown pre-label {key}")
            row["outcome"] = _OUTCOME_OF[type(e)]
            row["actor"] = e.actor
            if type(e) is Image.PrelabelEdited:
                row["iou"] = e.iou
            audit.changed(key)
        audit.flush(cur)
