"""``LiveCollaboration``: the realtime side of one node, wired and with a lifecycle.

    event log ──LogTail (thread)──▶ RoomHub (event loop) ──Outbox per connection──▶ clients
                    ▲                    ▲
      local commit ─┘   RedisBus ─ Cluster (head, presence, membership of other nodes)

The composition root builds one (``labelwright.bootstrap``) and registers ``committed`` as a
commit listener; the web app starts it in its lifespan (it needs the running event loop) and
stops it on shutdown. Without a Redis URL there is no bus: the log tail polls, which also
picks up commits of other processes on the same store (imports, workers).

Every ``RECHECK_SECONDS`` the credentials of every open connection are checked again (one
worker-thread hop for all of them; the checks are served from the authenticator's caches), so a
token revoked or a user disabled by any process loses its connections within that plus the
caches' lifetime; ``recheck_user`` does it at once for a change made through this process.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import uuid
from typing import Any

from domain.application import Labeling
from domain.command_pipeline import CommandPipeline, PositionLookup
from event_store.positions import log_head
from projections.read_models import ReadModels
from realtime.cluster import Cluster
from realtime.hub import RoomHub
from realtime.log_tail import LogTail, batch_for_outbox
from realtime.outbox import DEFAULT_LIMIT
from realtime.protocol import CLOSE_SERVICE_RESTART
from realtime.redis_bus import RedisBus
from realtime.room_feed import RoomFeed
from realtime.room_state import RoomState

log = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0


class LiveCollaboration:
    """Rooms, presence and fan-out for the WebSocket endpoint of one node."""

    def __init__(self, app: Labeling, pipeline: CommandPipeline, read: ReadModels,
                 positions: PositionLookup, *, redis_url: str | None = None,
                 redis_prefix: str = "labelwright", outbox_limit: int = DEFAULT_LIMIT) -> None:
        self.app = app
        self.pipeline = pipeline
        self.node_id = uuid.uuid4().hex[:12]
        self.outbox_limit = outbox_limit
        self.hub = RoomHub(pending_limit=max(outbox_limit, 1000))
        self.state = RoomState(app, positions, read)
        feed = RoomFeed(app, watched=self.hub.watched,
                        any_project_watched=self.hub.any_project_watched)
        self.tail = LogTail(app, feed, self.hub.deliver,
                            batch_size=batch_for_outbox(outbox_limit),
                            step_aside=pipeline.bulk_writing)
        self.redis_url = redis_url
        self.channel = f"{redis_prefix}:realtime"
        self.bus: RedisBus | None = None
        self.cluster: Cluster | None = None
        self.sessions: set[Any] = set()  # realtime.session.ClientSession, for shutdown
        self._conn_ids = itertools.count(1)
        self._recheck: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_lock = threading.Lock()
        self._head_pending = False
        self._committed = 0  # the newest position committed through this process

    @property
    def started(self) -> bool:
        return self._loop is not None

    def next_conn_id(self) -> int:
        return next(self._conn_ids)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start following the log (and the bus) on the running loop; idempotent."""
        with self._start_lock:
            if self._loop is not None:
                return
            self._loop = asyncio.get_running_loop()
        if self.redis_url:
            self.bus = RedisBus(self.redis_url, self.channel, self._on_bus_message,
                                self._on_bus_state)
            self.cluster = Cluster(self.node_id, self.hub, self.bus.publish, self.tail.wake)
            self.hub.cluster = self.cluster
            # Until the bus is up, other nodes' commits are only found by polling: poll fast.
            self.tail.fast_polling = True
        position = await asyncio.to_thread(log_head, self.app)
        self.hub.position = position
        self.tail.start(self._loop, position)
        self._recheck = asyncio.create_task(self._recheck_forever(), name="ws-credentials")
        if self.bus is not None and self.cluster is not None:
            await self.bus.start()
            await self.cluster.start()
        log.info("realtime: node %s following the event log from position %d (%s)",
                 self.node_id, position, "redis bus" if self.bus else "single node")

    async def stop(self) -> None:
        """Tell every client to reconnect elsewhere (1012), then stop the tail and the bus."""
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        for session in list(self.sessions):
            await session.close(CLOSE_SERVICE_RESTART, "service restart")
        if self.cluster is not None:
            await self.cluster.stop()
        if self.bus is not None:
            await self.bus.stop()
        await asyncio.to_thread(self.tail.stop)
        self._loop = None

    def close(self) -> None:
        """Synchronous last resort (``labelwright.bootstrap.shutdown``): stop the tail thread
        if the lifespan did not."""
        self.tail.stop()

    # -- credentials of open connections ----------------------------------------------------

    async def recheck_user(self, username: str) -> None:
        """Check the connections of ``username`` now (after revoking their tokens or disabling
        them through this process) and close those whose credentials no longer hold."""
        folded = username.casefold()
        await self._recheck_sessions([s for s in self.sessions
                                      if s.username.casefold() == folded])

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                await self._recheck_sessions(list(self.sessions))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("re-checking the connections' credentials failed")

    @staticmethod
    async def _recheck_sessions(sessions: list[Any]) -> None:
        sessions = [s for s in sessions if s.check_credentials is not None]
        if not sessions:
            return

        def check() -> list[tuple[Any, str]]:
            refused = []
            for session in sessions:
                try:
                    reason = session.check_credentials()
                except Exception:  # a store hiccup must not close everyone's connection
                    log.exception("checking the credentials of %s failed", session.username)
                    continue
                if reason is not None:
                    refused.append((session, reason))
            return refused

        for session, reason in await asyncio.to_thread(check):
            session.revoke(reason)

    # -- wake-ups -------------------------------------------------------------------------------

    def committed(self, position: int) -> None:
        """Commit listener (runs on the writer thread): read the log now, tell other nodes."""
        self._committed = max(self._committed, position)
        self.tail.wake(position)
        loop = self._loop
        if self.cluster is None or loop is None or self._head_pending:
            return
        # Coalesced: however many commits land before the loop runs this, one message goes
        # out, carrying the newest head.
        self._head_pending = True
        try:
            loop.call_soon_threadsafe(self._publish_head)
        except RuntimeError:  # loop closed: shutting down
            self._head_pending = False

    def _publish_head(self) -> None:
        self._head_pending = False
        if self.cluster is not None:
            self.cluster.head_advanced(self._committed)

    def _on_bus_message(self, message: dict[str, Any]) -> None:
        if self.cluster is not None:
            self.cluster.handle(message)

    def _on_bus_state(self, connected: bool) -> None:
        # While the bus is down nothing wakes the tail for other nodes' commits.
        self.tail.fast_polling = not connected
        if connected:
            self.tail.wake()
        if self.cluster is not None:
            self.cluster.bus_state(connected)
