"""Loading many image streams in one round trip (the writer's cache misses in bulk).

eventsourcing's repository loads one aggregate per call (two queries: latest snapshot, then
the events after it). A predictions import touches thousands of images the writer has never
seen, so the command pipeline asks for all of a batch's misses at once: one query for their
latest snapshots and one for their events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.application import Labeling
from domain.image import Image
from event_store.table import EventTable

CHUNK = 500


def _stream(stored: StoredEvent) -> UUID:
    oid = stored.originator_id
    return oid if isinstance(oid, UUID) else UUID(oid)


class StreamLoader:
    """Implements ``domain.command_pipeline.BulkLoader`` for SQLite and PostgreSQL."""

    def __init__(self, app: Labeling) -> None:
        self.app = app
        self.events = EventTable(app.recorder)
        self.snapshots = (EventTable(app.snapshots.recorder) if app.snapshots is not None
                          else None)

    def __call__(self, image_ids: Sequence[UUID]) -> dict[UUID, Image]:
        out: dict[UUID, Image] = {}
        for start in range(0, len(image_ids), CHUNK):
            out.update(self._load(list(image_ids[start:start + CHUNK])))
        return out

    def _load(self, ids: list[UUID]) -> dict[UUID, Image]:
        snapshots = self._latest_snapshots(ids) if self.snapshots is not None else {}
        rows = self._select(self.events, ids)
        streams: dict[UUID, list[StoredEvent]] = {}
        for stored in rows:
            key = _stream(stored)
            snapshot = snapshots.get(key)
            if snapshot is None or stored.originator_version > snapshot.originator_version:
                streams.setdefault(key, []).append(stored)
        out: dict[UUID, Image] = {}
        mapper = self.app.mapper
        for iid in set(streams) | set(snapshots):
            aggregate: Any = None
            if iid in snapshots:
                taken: Any = mapper.to_domain_event(snapshots[iid])
                aggregate = taken.mutate(None)
            for stored in sorted(streams.get(iid, ()), key=lambda s: s.originator_version):
                event: Any = mapper.to_domain_event(stored)
                aggregate = event.mutate(aggregate)
            if isinstance(aggregate, Image):
                out[iid] = aggregate
        return out

    def _latest_snapshots(self, ids: list[UUID]) -> dict[UUID, StoredEvent]:
        assert self.snapshots is not None
        latest: dict[UUID, StoredEvent] = {}
        for stored in self._select(self.snapshots, ids):
            key = _stream(stored)
            have = latest.get(key)
            if have is None or stored.originator_version > have.originator_version:
                latest[key] = stored
        return latest

    @staticmethod
    def _select(table: EventTable, ids: list[UUID]) -> list[StoredEvent]:
        if not ids:
            return []
        if table.postgres:  # one array parameter: psycopg parses no 500-placeholder query
            where, params = "originator_id = ANY(?)", [list(ids)]
        else:
            where, params = (f"originator_id IN ({','.join('?' * len(ids))})",
                             [table.stream_id(i) for i in ids])
        rows = table.select(
            "SELECT originator_id, originator_version, topic, state FROM {table} "
            f"WHERE {where} ORDER BY originator_id, originator_version", params)
        return [StoredEvent(originator_id=r[0] if type(r[0]) is UUID else UUID(r[0]),
                            originator_version=r[1], topic=r[2], state=bytes(r[3]))
                for r in rows]
