"""Global positions: the head of the log, and the positions of an image's events.

``EventPositions.recorded`` answers repeated commands in bulk: the events of many images'
version spans, decoded, with their positions, in one query per few hundred images (a retried
import of 10,000 images asks for all of them).

The global position (the event store's notification id) is the one cursor everything shares.
``log_head`` is the one way to ask where the log ends: the runner's lag, ``min_position``'s
"beyond the head", a room's resume point, the import's wait for the image list and the
readiness probe all call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent

from domain.application import Labeling
from event_store.table import EventTable

CHUNK = 500  # images per query


def log_head(app: Application) -> int:
    """The position of the last event in the log; 0 while the log is empty."""
    return int(app.recorder.max_notification_id() or 0)


class EventPositions:
    """Implements ``domain.command_pipeline.PositionLookup`` for SQLite and PostgreSQL."""

    def __init__(self, app: Labeling) -> None:
        self.app = app
        self.table = EventTable(app.recorder)

    def __call__(self, image_id: UUID, versions: Sequence[int]) -> dict[int, int]:
        if not versions:
            return {}
        rows = self.table.select(
            "SELECT originator_version, {position} FROM {table} "
            "WHERE originator_id = ? AND originator_version BETWEEN ? AND ?",
            (self.table.stream_id(image_id), min(versions), max(versions)))
        return {int(version): int(position) for version, position in rows}

    def recorded(self, spans: Sequence[tuple[UUID, int, int]]
                 ) -> dict[UUID, list[tuple[Any, int]]]:
        """For each ``(image_id, first, last)``: its events of versions ``first..last``,
        decoded, with their positions, in version order. An image given with several spans
        gets the events from the lowest ``first`` to the highest ``last`` once."""
        wanted: dict[UUID, tuple[int, int]] = {}
        for image_id, first, last in spans:  # one image may come with several spans
            low, high = wanted.get(image_id, (first, last))
            wanted[image_id] = (min(low, first), max(high, last))
        ids = list(wanted)
        out: dict[UUID, list[tuple[Any, int]]] = {}
        to_event = self.app.mapper.to_domain_event
        for start in range(0, len(ids), CHUNK):
            part = ids[start:start + CHUNK]
            low = min(wanted[i][0] for i in part)
            if self.table.postgres:  # one array parameter: no 500-placeholder query to parse
                where, params = "originator_id = ANY(?)", [part]
            else:
                where, params = (f"originator_id IN ({','.join('?' * len(part))})",
                                 [self.table.stream_id(i) for i in part])
            rows = self.table.select(
                "SELECT originator_id, originator_version, {position}, topic, state "
                f"FROM {{table}} WHERE {where} AND originator_version >= ? "
                "ORDER BY originator_id, originator_version", [*params, low])
            for raw_id, version, position, topic, state in rows:
                image_id = raw_id if isinstance(raw_id, UUID) else UUID(raw_id)
                first, last = wanted[image_id]
                if not first <= version <= last:
                    continue
                event = to_event(StoredEvent(originator_id=image_id, originator_version=version,
                                             topic=topic, state=bytes(state)))
                out.setdefault(image_id, []).append((event, int(position)))
        return out
