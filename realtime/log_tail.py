"""The log tail: this node's one reader of the event log for the rooms.

A thread reads the events after the last position in position order, decodes each event
once, turns it into room messages (``RoomFeed``) and hands each batch to the asyncio hub with
``loop.call_soon_threadsafe``. Reading the log, not listening to the command handler, is what
makes events written by any process (HTTP, imports, workers, other nodes) reach the rooms.

It wakes on a local commit (``app.commit_listeners``), on "head advanced" from another node
(Redis), and otherwise polls, so a lost wake-up only delays delivery. On PostgreSQL the event
store serialises writers with a table lock, so ids become visible in commit order and reading
``id > last`` never skips a late commit. Ids may have gaps (a rolled-back insert burns a
sequence value): the tail never waits for a particular id, it takes whatever comes after.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.application import Labeling
from event_store.log_follower import LogFollower
from event_store.positions import log_head
from event_store.table import EventTable
from realtime.room_feed import RoomFeed, RoomMessage

log = logging.getLogger(__name__)

BATCH_SIZE = 500
POLL_INTERVAL = 0.25  # seconds, when nothing wakes the tail
FAST_POLL_INTERVAL = 0.05  # while other nodes cannot wake us (Redis down)
# Batches handed to the loop but not yet delivered. Two keep the tail reading while the loop
# delivers, and bound a burst: the writers of the connections run between deliveries, so a
# client that keeps up never holds more than two batches (see ``batch_for_outbox``).
MAX_BATCHES_IN_FLIGHT = 2


def batch_for_outbox(outbox_limit: int) -> int:
    """A read size that a client keeping up can always absorb: two batches in flight, and up
    to two messages per event (its image room and its project room), with room to spare."""
    return max(1, min(BATCH_SIZE, outbox_limit // 5))

Deliver = Callable[[list[RoomMessage], int], None]


class LogTail(LogFollower):
    """Follows the event log from a thread and feeds ``deliver(messages, position)`` on the
    event loop, in position order."""

    thread_name = "log-tail"

    def __init__(self, app: Labeling, feed: RoomFeed, deliver: Deliver, *,
                 batch_size: int = BATCH_SIZE, poll_interval: float = POLL_INTERVAL,
                 step_aside: Callable[[], bool] | None = None) -> None:
        """``step_aside``: see ``LogFollower``."""
        super().__init__(poll_interval, step_aside)
        self.app = app
        self.feed = feed
        self.deliver = deliver
        self.events = EventTable(app.recorder)
        self.batch_size = batch_size
        self.fast_polling = False
        self._position = 0
        # Bounds how far the tail may run ahead of a busy event loop: memory stays flat and
        # the loop is never buried under callbacks.
        self._in_flight = threading.BoundedSemaphore(MAX_BATCHES_IN_FLIGHT)
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def position(self) -> int:
        """The last position read (and handed to the loop)."""
        return self._position

    def start(self, loop: asyncio.AbstractEventLoop, position: int | None = None) -> None:
        """Follow the log from ``position`` (default: the current head) on."""
        if self._thread is not None:
            return
        self._loop = loop
        self._position = log_head(self.app) if position is None else position
        self._launch()

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)

    def wake(self, position: int | None = None) -> None:
        """Thread-safe: look at the log now (``position``: the head someone committed)."""
        if position is None or position > self._position:
            self._wakeup.set()

    def _idle_interval(self) -> float:
        return FAST_POLL_INTERVAL if self.fast_polling else self.poll_interval

    def _follow_step(self) -> bool:
        if self.feed.any_project_watched():
            rows = self._events("{position} > ? ORDER BY {position} LIMIT ?",
                                [self._position, self.batch_size])
            if not rows:
                return False
            last = rows[-1][0]
        else:
            # Nobody watches a project room, so only the events of watched image rooms make
            # messages: read the positions and stream ids first, and the events themselves
            # (the payloads, most of what a batch weighs) only for those rooms. An import of
            # 100,000 labels nobody watches then costs the tail a few small reads.
            heads = self.events.select(
                "SELECT {position}, originator_id FROM {table} WHERE {position} > ? "
                "ORDER BY {position} LIMIT ?", (self._position, self.batch_size))
            if not heads:
                return False
            last = heads[-1][0]
            wanted = [position for position, stream in heads
                      if self.feed.wants(self._uuid(stream))]
            rows = []
            for at in range(0, len(wanted), 500):
                part = wanted[at:at + 500]
                rows += self._events(
                    f"{{position}} IN ({', '.join('?' * len(part))}) ORDER BY {{position}}",
                    part)
        to_event = self.app.mapper.to_domain_event
        messages: list[RoomMessage] = []
        wants = self.feed.wants
        for position, raw_id, version, topic, state in rows:
            stream = self._uuid(raw_id)
            if not wants(stream):
                continue
            try:
                event: Any = to_event(StoredEvent(
                    originator_id=stream, originator_version=version, topic=topic,
                    state=state if type(state) is bytes else bytes(state)))
            except Exception:
                # An event this code cannot read (a newer schema?): skip it rather than stop
                # every room; clients of that image will see a gap in versions and re-join.
                log.exception("log tail: cannot decode the event at position %d", position)
                continue
            messages.extend(self.feed.messages(position, event))
        self._position = last
        if messages:
            self._hand_over(messages, self._position)
        return True

    def _events(self, where: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self.events.select(
            "SELECT {position}, originator_id, originator_version, topic, state FROM {table} "
            "WHERE " + where, params)

    @staticmethod
    def _uuid(raw_id: Any) -> UUID:
        """A stream id as the table holds it (PostgreSQL: a UUID; SQLite: hex text)."""
        return raw_id if isinstance(raw_id, UUID) else UUID(raw_id)

    def _hand_over(self, messages: list[RoomMessage], position: int) -> None:
        assert self._loop is not None
        while not self._in_flight.acquire(timeout=0.5):
            if self._stopping.is_set():
                return

        def deliver() -> None:
            try:
                self.deliver(messages, position)
            finally:
                self._in_flight.release()

        try:
            self._loop.call_soon_threadsafe(deliver)
        except RuntimeError:  # the loop is closed: we are shutting down
            self._in_flight.release()
