"""Global positions of an image's events, read straight from the event store's table."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain.application import Labeling
from event_store.table import EventTable


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
