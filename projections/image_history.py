"""Projection ``image_history``: one row per image event, as people see it.

Serves ``GET /images/{id}/history``, maps an image version to its global position, and tells
exports "as of position P" which version of each image existed then. It keeps its own small
image → project table so that those answers never depend on another projection's progress.
Rows carry exactly what ``domain.event_view.describe`` shows (type, actor, time, command id,
full data), built from its parts so the event time is not formatted twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from domain.event_view import event_data, event_type
from domain.image import Image
from event_store.log_reader import LoggedEvent
from projections.database import Cursor
from projections.image_events import is_image_event
from projections.projection import Projection


class ImageHistory(Projection):
    """Every image event with its version, position, actor, time and full data."""

    name = "image_history"
    tables = ("history", "history_images")

    def apply(self, cur: Cursor, events: Sequence[LoggedEvent]) -> None:
        rows = []
        images = []
        dumps = orjson.dumps
        for le in events:
            e = le.event
            if not is_image_event(e):
                continue
            rows.append((le.stream, e.originator_version, le.position, event_type(e),
                         getattr(e, "actor", None), le.at, getattr(e, "command_id", None),
                         dumps(event_data(e)).decode()))
            if type(e) is Image.ImageAdded:
                images.append((le.stream, e.project_id, le.position))
        if images:
            cur.executemany("INSERT INTO history_images (image_id, project_id, added_position) "
                            "VALUES (?, ?, ?)", images)
        if rows:
            cur.executemany("INSERT INTO history (image_id, version, position, type, actor, at, "
                            "command_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
