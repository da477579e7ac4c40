"""Rate limit of failed logins per (username, client address).

Password guessing is the threat, so only failures count and a success clears the slate. The
state is in-process: behind a load balancer each node limits on its own, which still caps a
guesser at ``limit`` x nodes per minute.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

MAX_KEYS = 100_000  # bounds memory under a spray of made-up usernames


class LoginThrottle:
    """At most ``limit`` failed attempts per key in any ``window`` seconds."""

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(username: str, client: str) -> tuple[str, str]:
        return (username.casefold(), client)

    def retry_after(self, key: tuple[str, str]) -> float | None:
        """Seconds until another attempt is allowed, or None if one is allowed now."""
        now = time.monotonic()
        with self._lock:
            times = self._failures.get(key)
            if times is None:
                return None
            while times and times[0] <= now - self.window:
                times.popleft()
            if not times:
                del self._failures[key]
                return None
            if len(times) < self.limit:
                return None
            return max(0.0, times[0] + self.window - now)

    def failed(self, key: tuple[str, str]) -> None:
        with self._lock:
            times = self._failures.setdefault(key, deque())
            times.append(time.monotonic())
            self._failures.move_to_end(key)
            while len(times) > self.limit:
                times.popleft()
            while len(self._failures) > MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)
