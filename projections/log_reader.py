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
from typing import Any

from domain.application import Labeling
from projections.projection import LoggedEvent


@dataclass(frozen=True, slots=True)
class LogBatch:
    """Decoded events after a position, in log order."""

    events: list[LoggedEvent]
    failed_at: int | None = None  # the position of an event that could not be decoded
    error: Exception | None = None  # why it could not


class LogReader:
    """``read(after, limit)``: up to ``limit`` decoded events with positions > ``after``."""

    def __init__(self, app: Labeling) -> None:
        self.app = app
        self._id_texts: dict[Any, str] = {}  # str(UUID) is slow, and streams repeat a lot

    def read(self, after: int, limit: int) -> LogBatch:
        notifications = self.app.recorder.select_notifications(start=after + 1, limit=limit)
        to_event = self.app.mapper.to_domain_event
        ids = self._id_texts
        if len(ids) > 100_000:
            ids.clear()
        events: list[LoggedEvent] = []
        for n in notifications:
            try:
                event: Any = to_event(n)
            except Exception as e:  # the runner decides what a bad event means
                return LogBatch(events, n.id, e)
            stream = ids.get(event.originator_id)
            if stream is None:
                stream = ids[event.originator_id] = str(event.originator_id)
            events.append(LoggedEvent(n.id, event, stream, event.timestamp.isoformat()))
        return LogBatch(events)
