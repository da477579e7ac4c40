"""Global positions: the head of the log, and the positions of an image's events.

The global position (the event store's notification id) is the one cursor everything shares.
``log_head`` is the one way to ask where the log ends: the runner's lag, ``min_position``'s
"beyond the head", a room's resume point, the import's wait for the image list and the
readiness probe all call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.application import Application

from domain.application import Labeling
from event_store.table import EventTable


def log_head(app: Application) -> int:
    """The position of the last event in the log; 0 while the log is empty."""
    return int(app.recorder.max_notification_id() or 0)


class EventPositions:
    """Implements ``domain.command_pipeline.PositionLookup`` for SQLite and PostgreSQL."""

    def __init__(self, app: Labeling) -> None:
        self.table = EventTable(app.recorder)

    def __call__(self, image_id: UUID, versions: Sequence[int]) -> dict[int, int]:
        if not versions:
            return {}
        rows = self.table.select(
            "SELECT originator_version, {position} FROM {table} "
            "WHERE originator_id = ? AND originator_version BETWEEN ? AND ?",
            (self.table.stream_id(image_id), min(versions), max(versions)))
        return {int(version): int(position) for version, position in rows}
