"""Reads the event log in decoded batches, one batch ahead, for the projection runner.

Fetching and decoding a batch is pure Python and holds the GIL; applying a batch spends much
of its time inside SQLite or PostgreSQL (statements, commits, checkpoints), which releases it.
So while the runner applies one batch, a helper thread already fetches and decodes the next
one, and a rebuild overlaps the two instead of doing them in turn.

Reading ahead never changes what is applied: a batch read ahead from position P is used only
if the runner asks for exactly the batch after P, and it is a correct prefix of the log even
if more events commit meanwhile (the event store's ids become visible in commit order, so no
event can later appear below one already read).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from domain.application import Labeling
from projections.projection import LoggedEvent


@dataclass(frozen=True, slots=True)
class LogBatch:
    """Decoded events after a position, in log order."""

    events: list[LoggedEvent]
    full: bool  # as many events as asked for: more may follow at once
    failed_at: int | None = None  # the position of an event that could not be decoded
    error: Exception | None = None  # why it could not


class LogReader:
    """``read(after, limit)``: up to ``limit`` decoded events with positions > ``after``."""

    def __init__(self, app: Labeling, read_ahead: bool = True) -> None:
        self.app = app
        self.read_ahead = read_ahead
        # One worker: only it decodes, so the id-text cache below needs no lock.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="projection-log")
        self._ahead: tuple[tuple[int, int], Future[LogBatch]] | None = None
        self._id_texts: dict[Any, str] = {}  # str(UUID) is slow, and streams repeat a lot

    def read(self, after: int, limit: int) -> LogBatch:
        key = (after, limit)
        if self._ahead is not None and self._ahead[0] == key:
            future = self._ahead[1]
        else:
            future = self._pool.submit(self._fetch, after, limit)
        self._ahead = None
        batch = future.result()
        if self.read_ahead and batch.full and batch.failed_at is None:
            following = (batch.events[-1].position, limit)
            self._ahead = (following, self._pool.submit(self._fetch, *following))
        return batch

    def close(self) -> None:
        self._ahead = None
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _fetch(self, after: int, limit: int) -> LogBatch:
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
                return LogBatch(events, False, n.id, e)
            stream = ids.get(event.originator_id)
            if stream is None:
                stream = ids[event.originator_id] = str(event.originator_id)
            events.append(LoggedEvent(n.id, event, stream, event.timestamp.isoformat()))
        return LogBatch(events, len(notifications) >= limit)
