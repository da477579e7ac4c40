"""A connection's bounded queue of outgoing messages, and the task that writes them.

Room fan-out only appends here and never awaits a socket, so one slow client cannot slow a
room: its queue fills instead, and the hub drops its backlog (``resync``) when it overflows.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

DEFAULT_LIMIT = 1000


class Outbox:
    """FIFO of encoded messages for one connection.

    Room traffic (events, presence, membership) is *droppable*: at most ``limit`` of it waits,
    and ``put`` answers False instead of growing further. Replies to the client's own requests
    (acks, errors, joined) are not dropped, but they too stop at ``hard_limit``, which only a
    client that floods requests without reading its answers can reach.
    """

    def __init__(self, send: Callable[[str], Awaitable[None]], limit: int = DEFAULT_LIMIT,
                 hard_limit: int | None = None) -> None:
        self._send = send
        self.limit = limit
        self.hard_limit = hard_limit or 4 * limit
        self._queue: deque[tuple[str, bool]] = deque()
        self._droppable = 0
        self._ready = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, text: str, droppable: bool = True) -> bool:
        """Queue ``text``; False (and nothing queued) if the queue is full for its kind."""
        if self._closed:
            return True  # the connection is going away; nothing to deliver to
        if droppable:
            if self._droppable >= self.limit:
                return False
            self._droppable += 1
        elif len(self._queue) >= self.hard_limit:
            return False
        self._queue.append((text, droppable))
        self._ready.set()
        return True

    def put_all(self, texts: list[str]) -> bool:
        """Queue a reply of several messages (a join's answer) whole, or not at all."""
        if len(self._queue) + len(texts) > self.hard_limit:
            return False
        if not self._closed and texts:
            self._queue.extend((text, False) for text in texts)
            self._ready.set()
        return True

    def drop_backlog(self) -> int:
        """Forget every droppable message not yet written; returns how many."""
        dropped = self._droppable
        if dropped:
            self._queue = deque(item for item in self._queue if not item[1])
            self._droppable = 0
        return dropped

    def close(self) -> None:
        """Stop after the messages already queued are written."""
        self._closed = True
        self._ready.set()

    async def run(self) -> None:
        """Write queued messages in order until closed (or the socket fails)."""
        while True:
            while not self._queue:
                if self._closed:
                    return
                self._ready.clear()
                await self._ready.wait()
            text, droppable = self._queue.popleft()  # drop_backlog may replace the deque
            if droppable:
                self._droppable -= 1
            await self._send(text)
