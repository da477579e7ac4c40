"""Read-your-writes for HTTP reads: ``?min_position=P`` answers once the read models hold P.

A wait holds no thread (``projections.position_waiters``), is refused at once when P is beyond
the head of the log (it could only time out), and each user may have only a few waits open at
a time, so nobody can park thousands of requests on the server.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

WAIT_SECONDS = 5.0
WAITS_PER_USER = 8


class WaitBudget:
    """How many ``min_position`` waits each user has open (in this process)."""

    def __init__(self, per_user: int = WAITS_PER_USER) -> None:
        self.per_user = per_user
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, who: str) -> Iterator[bool]:
        """Yields False (and holds nothing) when ``who`` already has ``per_user`` waits."""
        with self._lock:
            if self._open[who] >= self.per_user:
                allowed = False
            else:
                self._open[who] += 1
                allowed = True
        try:
            yield allowed
        finally:
            if allowed:
                with self._lock:
                    self._open[who] -= 1
                    if self._open[who] <= 0:
                        del self._open[who]
