"""Presence throttling: a cursor stream of any rate leaves a connection at ~10 Hz at most.

Presence is a *state* (where my cursor is now), not a log, so the throttle keeps the latest
value and sends it when the interval allows: intermediate positions are dropped, the last one
never is. A client that sends far more than a cursor ever needs is told ``rate_limited``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

MIN_INTERVAL = 0.1  # seconds between two presence messages of one connection in one room
FLOOD_PER_SECOND = 50  # more than this many presence messages a second is a flood


class PresenceThrottle:
    """Per connection and room: send now, or remember the latest and send it later."""

    def __init__(self, send: Callable[[Any, Any], None], loop: asyncio.AbstractEventLoop,
                 min_interval: float = MIN_INTERVAL) -> None:
        self._send = send
        self._loop = loop
        self._min_interval = min_interval
        self._last_sent = 0.0
        self._latest: tuple[Any, Any] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def offer(self, cursor: Any, selection: Any) -> None:
        now = time.monotonic()
        wait = self._last_sent + self._min_interval - now
        if wait <= 0 and self._timer is None:
            self._last_sent = now
            self._send(cursor, selection)
            return
        self._latest = (cursor, selection)
        if self._timer is None:
            self._timer = self._loop.call_later(max(wait, 0.0), self._flush)

    def _flush(self) -> None:
        self._timer = None
        if self._latest is not None:
            latest, self._latest = self._latest, None
            self._last_sent = time.monotonic()
            self._send(*latest)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._latest = None


class FloodGuard:
    """Counts a connection's presence messages per second; True while within the limit."""

    def __init__(self, per_second: int = FLOOD_PER_SECOND) -> None:
        self.per_second = per_second
        self._window = 0
        self._count = 0
        self.warned_in_window = False

    def allow(self) -> bool:
        window = int(time.monotonic())
        if window != self._window:
            self._window, self._count, self.warned_in_window = window, 0, False
        self._count += 1
        return self._count <= self.per_second
