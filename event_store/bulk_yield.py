"""Background readers of the log stepping aside for a bulk write, within a budget.

Python runs one thread at a time. Every SQLite statement step and most system calls the
command writer makes let another thread in for up to a switch interval, so an import with the
projection runner and the realtime log tail catching up beside it ran at half speed on two
cores. A reader therefore asks, before each batch, whether a bulk write is under way in its
process (``CommandPipeline.bulk_writing``) and waits while it is, within a token bucket: at
most ``max_wait`` seconds at a stretch and, over time, at most ``share`` of the time. A short
import (2,000 images, a third of a second) runs alone and the readers catch up right after
it; a long one (or a script sending imports back to back) still leaves the readers at least
half of the time, so read models and rooms keep moving, only more slowly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_WAIT = 0.5  # seconds at a stretch
SHARE = 0.5  # of the time, in the long run
POLL = 0.005


class BulkWriteYield:
    """``wait(stopping)``: step aside while ``bulk_writing()``, within the budget. One per
    reader thread (not thread-safe)."""

    def __init__(self, bulk_writing: Callable[[], bool] | None, max_wait: float = MAX_WAIT,
                 share: float = SHARE) -> None:
        self.bulk_writing = bulk_writing
        self.max_wait = max_wait
        self.share = share
        self._budget = max_wait
        self._refilled = time.monotonic()

    def wait(self, stopping: threading.Event) -> float:
        """Wait while a bulk write is under way and budget is left; the seconds waited."""
        if self.bulk_writing is None:
            return 0.0
        now = time.monotonic()
        self._budget = min(self.max_wait, self._budget + (now - self._refilled) * self.share)
        self._refilled = now
        started = now
        while self._budget > 0 and self.bulk_writing():
            if stopping.wait(min(POLL, self._budget)):
                break
            now = time.monotonic()
            self._budget -= now - self._refilled
            self._refilled = now
        return time.monotonic() - started
