"""Waiting, on an event loop, for the read models to reach a position.

Read-your-writes (``?min_position=P``) makes a request wait until every projection has
applied P. A thread per waiting request would let a dozen such requests exhaust the server's
thread pool and stall everyone (measured: ``GET /me`` went from 2 ms to 9.6 s under twelve
far-ahead waits), so a wait here is an ``asyncio`` future: it costs a few hundred bytes, and
the runner's thread resolves it, through the future's own loop, when the position arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading


class PositionWaiters:
    """Futures waiting for a position, released in position order as it advances."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._reached = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._heap)

    async def wait(self, position: int, timeout: float) -> bool:
        """True once ``reached`` was called with ``position`` or more; False on timeout."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._reached >= position:
                return True
            heapq.heappush(self._heap, (position, next(self._order), loop, future))
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            if not future.done():
                future.cancel()  # ``reached`` skips it; the heap drops it when it passes

    def reached(self, position: int) -> None:
        """The read models are at ``position`` now (it goes back on a rebuild): release every
        wait for it or less. Callers publish positions in order (the runner holds its lock)."""
        released = []
        with self._lock:
            self._reached = position
            while self._heap and self._heap[0][0] <= position:
                released.append(heapq.heappop(self._heap))
            if len(self._heap) > 64 and sum(f.done() for *_, f in self._heap) * 2 > len(
                    self._heap):
                # Timed-out waits for positions that never came: drop them now and then.
                self._heap = [w for w in self._heap if not w[3].done()]
                heapq.heapify(self._heap)
        for _, _, loop, future in released:
            if not future.done():
                # A closed loop (RuntimeError) has nobody waiting any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_release, future)


def _release(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
