"""Global positions of an image's events, read straight from the event store's table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from domain.application import Labeling


class EventPositions:
    """Implements ``domain.command_pipeline.PositionLookup`` for SQLite and PostgreSQL."""

    def __init__(self, app: Labeling) -> None:
        recorder: Any = app.recorder
        self.recorder = recorder
        self.table: str = recorder.events_table_name
        self.postgres = type(self.recorder).__module__.startswith("eventsourcing.postgres")

    def __call__(self, image_id: UUID, versions: Sequence[int]) -> dict[int, int]:
        if not versions:
            return {}
        if self.postgres:
            schema = self.recorder.datastore.schema or "public"
            sql = (f"SELECT originator_version, notification_id FROM {schema}.{self.table} "
                   "WHERE originator_id = %s AND originator_version BETWEEN %s AND %s")
            with self.recorder.datastore.transaction(commit=False) as curs:
                curs.execute(sql, (image_id, min(versions), max(versions)))
                return {r["originator_version"]: r["notification_id"] for r in curs.fetchall()}
        sql = (f"SELECT originator_version, rowid FROM {self.table} "
               "WHERE originator_id = ? AND originator_version BETWEEN ? AND ?")
        with self.recorder.datastore.transaction(commit=False) as curs:
            curs.execute(sql, (image_id.hex, min(versions), max(versions)))
            return {r[0]: r[1] for r in curs.fetchall()}
