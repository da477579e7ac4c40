"""A background thread that follows the event log: the projection runner and the realtime
log tail are both one.

The thread takes a step (read on from its position) for as long as steps make progress, then
waits for a wake-up (a local commit, a "head advanced" from another node) or the poll
interval, so a lost wake-up only delays it. Before each step it lets a bulk write of its
process pass (``event_store.bulk_yield``). A step that fails (the store is unreachable, say)
is logged and retried a second later: the follower only lags, it never stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from event_store.bulk_yield import BulkWriteYield

log = logging.getLogger(__name__)

RETRY_AFTER_ERROR = 1.0  # seconds


class LogFollower:
    """Subclasses implement ``_follow_step() -> bool`` (True if it made progress) and may
    override ``_idle_interval()``; they call ``_launch()`` from their ``start``."""

    thread_name = "log-follower"

    def __init__(self, poll_interval: float, step_aside: Callable[[], bool] | None) -> None:
        """``step_aside``: while it answers True (a bulk write such as an import is under
        way in this process) the follower waits before each step, within the budget of
        ``event_store.bulk_yield``; interactive commands never trigger it."""
        self.poll_interval = poll_interval
        self._yield = BulkWriteYield(step_aside)
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _launch(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._wakeup.set()
        self._thread.join(timeout)
        self._thread = None

    def _follow_step(self) -> bool:
        raise NotImplementedError

    def _idle_interval(self) -> float:
        return self.poll_interval

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            self._yield.wait(self._stopping)
            try:
                progressed = self._follow_step()
            except Exception:
                log.exception("%s: reading the event log failed; retrying", self.thread_name)
                self._stopping.wait(RETRY_AFTER_ERROR)
                continue
            if not progressed:
                self._wakeup.wait(self._idle_interval())
