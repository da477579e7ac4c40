"""Reads the event log in decoded batches for the projection runner.

Each event is decoded once per batch, whatever the number of projections, and handed over as
a ``LoggedEvent`` carrying the text forms every projection stores (stream id, time).

Reading ahead in a helper thread (decode batch N+1 while batch N is applied) was tried and
measured: it gains nothing, because ``sqlite3`` releases the GIL around every statement step
and then has to wait for the decoding thread to give it back (the convoy effect), so the two
never really overlap. Batches are therefore read on the runner's own thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.application import Labeling
from event_store.table import EventTable


class LoggedEvent(NamedTuple):
    """A decoded event with its global position, as the log reader hands it out
    (the projection runner passes it on to every projection).

    ``stream`` (the aggregate id as text) and ``at`` (the event time, ``isoformat()``) are
    what nearly every row stores; they cost microseconds each, so the reader computes them
    once per event instead of every projection computing them again.
    """

    position: int
    event: Any
    stream: str
    at: str


@dataclass(frozen=True, slots=True)
class LogBatch:
    """Decoded events after a position, in log order."""

    events: list[LoggedEvent]
    failed_at: int | None = None  # the position of an event that could not be decoded
    error: Exception | None = None  # why it could not


class LogReader:
    """``read(after, limit)``: up to ``limit`` decoded events with positions > ``after``.

    Reads the event table directly rather than through ``select_notifications``: a rebuild
    spends most of its time decoding, and the stream ids repeat (a few per image), so each is
    parsed into a UUID and formatted as text once and then taken from a cache.
    """

    def __init__(self, app: Labeling) -> None:
        self.app = app
        self.table = EventTable(app.recorder)
        self._streams: dict[Any, tuple[UUID, str]] = {}

    def _rows(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        return self.table.select(
            "SELECT {position}, originator_id, originator_version, topic, state FROM {table} "
            "WHERE {position} > ? ORDER BY {position} LIMIT ?", (after, limit))

    def read(self, after: int, limit: int) -> LogBatch:
        rows = self._rows(after, limit)
        to_event = self.app.mapper.to_domain_event
        streams = self._streams
        if len(streams) > 100_000:
            streams.clear()
        events: list[LoggedEvent] = []
        for position, raw_id, version, topic, state in rows:
            known = streams.get(raw_id)
            if known is None:
                uid = raw_id if isinstance(raw_id, UUID) else UUID(raw_id)
                known = streams[raw_id] = (uid, str(uid))
            if type(state) is not bytes:  # PostgreSQL answers a memoryview
                state = bytes(state)
            try:
                event: Any = to_event(StoredEvent(originator_id=known[0],
                                                  originator_version=version, topic=topic,
                                                  state=state))
            except Exception as e:  # the runner decides what a bad event means
                return LogBatch(events, position, e)
            events.append(LoggedEvent(position, event, known[1], event.timestamp.isoformat()))
        return LogBatch(events)
