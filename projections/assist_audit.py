"""Projection ``assist_audit``: one row per assist proposal, its clicks and the latest human
verdict on it (issue 10: the dashboard's assist metrics).

A proposal starts at its first ``AssistClicked``; every refinement (an ``AssistClicked`` of the
same annotation) adds its clicks. ``outcome`` is ``accepted`` (kept as the engine proposed it),
``edited`` (``AssistEdited``: a person changed it; ``iou`` of their geometry to the engine's
proposal) or ``rejected`` (``AssistRejected``: deleted); a refinement after an edit makes the
engine's answer current again (``accepted``). ``engine`` is the interactive model's id, or
``built-in``; ``mode`` and ``output`` are those of the first clicks. Grouping happens at query
time (``ReadModels.assist_metrics``).
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.image import Image
from event_store.log_reader import LoggedEvent
from projections.database import Cursor
from projections.projection import Projection
from projections.row_set import RowSet

AUDIT_COLUMNS = ("image_id", "annotation_id", "project_id", "engine", "mode", "output",
                 "clicks", "outcome", "actor", "iou")
BUILT_IN = "built-in"
_RELEVANT = frozenset({Image.AssistClicked, Image.AssistEdited, Image.AssistRejected})


class AssistAudit(Projection):
    """What happened to every assist proposal: clicks, then accepted, edited or rejected."""

    name = "assist_audit"
    tables = ("assist_audit", "assist_images")

    def apply(self, cur: Cursor, events: Sequence[LoggedEvent]) -> None:
        added = [(le.stream, le.event.project_id) for le in events
                 if type(le.event) is Image.ImageAdded]
        if added:
            cur.executemany("INSERT INTO assist_images (image_id, project_id) VALUES (?, ?)",
                            added)
        relevant = [le for le in events if type(le.event) in _RELEVANT]
        if not relevant:
            return
        audit = RowSet("assist_audit", ("image_id", "annotation_id"), AUDIT_COLUMNS,
                       fixed=("project_id", "engine", "mode", "output"))
        audit.load(cur, [(le.stream, le.event.annotation_id) for le in relevant])
        # Images added in this batch are already in assist_images (same transaction).
        images = RowSet("assist_images", ("image_id",), ("image_id", "project_id"))
        images.load(cur, [le.stream for le in relevant if type(le.event) is Image.AssistClicked])
        for le in relevant:
            e = le.event
            key = (le.stream, e.annotation_id)
            row = audit.get(key)
            if type(e) is Image.AssistClicked:
                if row is None:
                    image = images.get(le.stream)
                    if image is None:
                        raise LookupError(f"assist on unknown image {le.stream}")
                    audit.add(key, {
                        "image_id": le.stream, "annotation_id": e.annotation_id,
                        "project_id": image["project_id"], "engine": e.model_id or BUILT_IN,
                        "mode": e.mode, "output": e.output, "clicks": len(e.points),
                        "outcome": "accepted", "actor": e.actor, "iou": None,
                    })
                    continue
                row["clicks"] += len(e.points)
                row["outcome"], row["iou"] = "accepted", None
            elif row is None:
                raise LookupError(f"{type(e).__name__} of unknown assist proposal {key}")
            elif type(e) is Image.AssistEdited:
                row["outcome"], row["iou"] = "edited", e.iou
            else:
                row["outcome"] = "rejected"
            row["actor"] = e.actor
            audit.changed(key)
        audit.flush(cur)
