"""Direct reads of the event store's tables, for what eventsourcing's recorders have no method.

The write side, projections and rooms need a few reads by stream and position in one round
trip (positions of an image's events, many streams at once, the log after a position). The
SQL is written once here-and-there with ``{table}``, ``{position}`` and ``?`` placeholders;
this class fills in the dialect: SQLite names the position ``rowid`` and stores stream ids
as hex text, PostgreSQL calls it ``notification_id``, stores UUIDs, and uses ``%s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID


class EventTable:
    """One table of an eventsourcing recorder (the events, or the snapshots)."""

    def __init__(self, recorder: Any) -> None:
        self._datastore = recorder.datastore
        table: str = recorder.events_table_name
        self.postgres = type(recorder.datastore).__module__.startswith("eventsourcing.postgres")
        if self.postgres:
            self.name = f"{recorder.datastore.schema or 'public'}.{table}"
            self.position = "notification_id"
        else:
            self.name = table
            self.position = "rowid"

    def stream_id(self, uid: UUID) -> Any:
        """``uid`` as this table stores it."""
        return uid if self.postgres else uid.hex

    def select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` as tuples; ``{table}`` and ``{position}`` are filled in."""
        statement = sql.format(table=self.name, position=self.position)
        if self.postgres:
            statement = statement.replace("?", "%s")
        with self._datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            rows = c.fetchall()
        if self.postgres:
            return [tuple(r.values()) for r in rows]
        return [tuple(r) for r in rows]
