"""Keeps the read models caught up with the event log, and rebuilds them.

One background thread reads the notification log in position order, decodes each event once
(``LogReader``), and hands the batch to every projection. A batch is applied in ONE
view-database transaction that holds, for each projection, its rows AND its row in
``projection_tracking``; inside it the runner first re-reads (on PostgreSQL: locks) the
tracking rows and applies a projection only if its position is the one the batch starts
after. So a crash mid-batch rolls everything back (nothing skipped, nothing counted twice),
and several processes running a runner against one view database (scale-out nodes, a CLI
rebuild beside a server) never apply an event twice: the loser of the race sees the moved
position, drops its batch and adopts the winner's position. Each projection runs inside its
own savepoint, so one that fails is rolled back alone while the others commit (one commit per
batch instead of one per projection matters on SQLite, where commits trigger checkpoints).

Positions are notification ids. On PostgreSQL they can have gaps (a rolled-back insert burns a
sequence value), so the runner never waits for a particular id: it processes, in order,
whatever ``select_notifications`` returns after its position. The event store serialises its
writers with a table lock, so ids become visible in commit order and a late commit can never
appear below a position already passed.

A projection that fails on a batch of several events retries at once with half the batch,
so it converges on the failing event and applies everything before it; a single failing
event is retried with exponential backoff (logged each time) and never skipped. The other
projections carry on meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from domain.application import Labeling
from event_store.log_follower import LogFollower
from event_store.log_reader import LoggedEvent, LogReader
from event_store.positions import log_head
from projections.annotator_metrics import AnnotatorMetrics
from projections.assist_audit import AssistAudit
from projections.database import IdleCheckpoint, ViewDatabase
from projections.image_history import ImageHistory
from projections.image_labels import ImageLabels
from projections.image_scores import ImageScores
from projections.position_waiters import PositionWaiters
from projections.prelabel_audit import PrelabelAudit
from projections.project_directory import ProjectDirectory
from projections.projection import Projection
from projections.work_queue import WorkQueueView

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
POLL_INTERVAL = 0.1
MAX_BACKOFF = 30.0


def all_projections() -> list[Projection]:
    """The read models the service serves, in the order they are applied."""
    return [ImageLabels(), ImageHistory(), AnnotatorMetrics(), PrelabelAudit(),
            ProjectDirectory(), AssistAudit(), ImageScores(), WorkQueueView()]


@dataclass(eq=False)
class _State:
    projection: Projection
    batch_limit: int
    position: int = 0
    failures: int = 0
    retry_at: float = 0.0


class ProjectionFailed(RuntimeError):
    """A projection could not apply a batch (raised by the synchronous methods only)."""


class ProjectionRunner(LogFollower):
    """Runs projections over the event log: in the background, to the head, or from zero."""

    thread_name = "projection-runner"

    def __init__(self, app: Labeling, db: ViewDatabase,
                 projections: Sequence[Projection] | None = None, *,
                 batch_size: int = BATCH_SIZE, poll_interval: float = POLL_INTERVAL,
                 step_aside: Callable[[], bool] | None = None,
                 on_idle: Callable[[], None] | None = None,
                 checkpoint_interval: float | None = None) -> None:
        """``step_aside``: see ``LogFollower``; ``min_position`` reads wait the lag out.

        Whenever the background thread finds nothing to do it truncates the SQLite view
        database's WAL if it wrote since (at most every ``checkpoint_interval`` seconds, by
        default ``CHECKPOINT_INTERVAL``; ``projections.database.IdleCheckpoint``), then calls
        ``on_idle`` (the composition root checkpoints the event store there: no new events
        means its writer is idle)."""
        super().__init__(poll_interval, step_aside)
        self.checkpoints = IdleCheckpoint(db.checkpoint, checkpoint_interval)
        self._on_idle = on_idle
        self.app = app
        self.db = db
        self.projections = list(projections) if projections is not None else all_projections()
        names = [p.name for p in self.projections]
        if len(set(names)) != len(names):
            raise ValueError(f"projection names must be unique: {names}")
        self.batch_size = batch_size
        self._states = [_State(p, batch_size) for p in self.projections]
        self._for_update = " FOR UPDATE" if db.dialect == "postgres" else ""
        self._positions_changed = threading.Condition()
        self._waiters = PositionWaiters()  # async min_position waits (web requests)
        self._work = threading.RLock()  # one batch at a time per process
        self._ready = False
        self._reader = LogReader(app)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is None:
            self._launch()

    def wake(self, position: int | None = None) -> None:
        """Called after a local commit (``app.commit_listeners``): look at the log now."""
        self._wakeup.set()

    # -- positions ------------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The position every projection has reached."""
        with self._positions_changed:
            return min((s.position for s in self._states), default=0)

    def positions(self) -> dict[str, int]:
        with self._positions_changed:
            return {s.projection.name: s.position for s in self._states}

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until every projection has reached ``position``; False on timeout."""
        self._ensure_ready()
        with self._positions_changed:
            return self._positions_changed.wait_for(
                lambda: min((s.position for s in self._states), default=0) >= position,
                timeout,
            )

    async def reached(self, position: int, timeout: float) -> bool:
        """Like ``wait_for``, on an event loop and without holding a thread while waiting."""
        if not self._ready:
            await asyncio.to_thread(self._ensure_ready)
        return await self._waiters.wait(position, timeout)

    def _positions_moved(self) -> None:
        """Tell every waiter; the caller holds ``_positions_changed``."""
        self._positions_changed.notify_all()
        self._waiters.reached(min((s.position for s in self._states), default=0))

    def status(self) -> dict[str, Any]:
        """``{"head", "projections": [{"name", "position", "lag"}]}`` (lag in events)."""
        self._ensure_ready()
        stored = dict(self.db.query("SELECT name, position FROM projection_tracking"))
        head = log_head(self.app)
        out = []
        for s in self._states:
            position = int(stored.get(s.projection.name, s.position))
            out.append({"name": s.projection.name, "position": position,
                        "lag": max(head - position, 0)})
        return {"head": head, "projections": out}

    # -- synchronous work -----------------------------------------------------------------------

    def catch_up(self) -> int:
        """Apply everything up to the current head now; returns the position reached.

        Raises ``ProjectionFailed`` if a projection fails (the background thread retries
        instead).
        """
        self._ensure_ready()
        head = log_head(self.app)
        while self.position < head:
            if not self._step(synchronous=True):
                break
        return self.position

    def rebuild(self, name: str | None = None) -> int:
        """Empty one projection (or all) and replay it from position 0 up to the head."""
        self._ensure_ready()
        targets = [s for s in self._states if name is None or s.projection.name == name]
        if not targets:
            raise ValueError(f"no projection named {name!r}; there are "
                             f"{', '.join(p.name for p in self.projections)}")
        with self._work:
            # Tables and tracking reset in one transaction: a crash leaves either the old
            # read model or an empty one at position 0, never an empty one at an old position.
            with self.db.transaction() as cur:
                for s in targets:
                    s.projection.reset(cur, self.db.dialect)
                    cur.execute("UPDATE projection_tracking SET position = 0 WHERE name = ?",
                                (s.projection.name,))
            with self._positions_changed:
                for s in targets:
                    s.position = 0
                    s.failures = 0
                    s.retry_at = 0.0
                    s.batch_limit = self.batch_size
                self._positions_moved()
        started = time.perf_counter()
        position = self.catch_up()
        log.info("rebuilt %s to position %d in %.1f s", name or "all projections", position,
                 time.perf_counter() - started)
        return position

    # -- the work loop --------------------------------------------------------------------------

    def _follow_step(self) -> bool:
        self._ensure_ready()
        progressed = self._step(synchronous=False)
        if not progressed:  # idle: the housekeeping that must not slow a busy writer
            if self.db.dialect == "sqlite":
                self.checkpoints.idle()
            if self._on_idle is not None:
                self._on_idle()
        return progressed

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        with self._work:
            if self._ready:
                return
            with self.db.transaction() as cur:
                cur.executemany(
                    "INSERT INTO projection_tracking (name, position) VALUES (?, 0) "
                    "ON CONFLICT (name) DO NOTHING",
                    [(p.name,) for p in self.projections])
            self._refresh_positions()
            self._ready = True

    def _refresh_positions(self) -> None:
        """Adopt the stored positions (another process may have moved or reset them)."""
        stored = dict(self.db.query("SELECT name, position FROM projection_tracking"))
        with self._positions_changed:
            for s in self._states:
                s.position = int(stored.get(s.projection.name, 0))
            self._positions_moved()

    def _step(self, synchronous: bool) -> bool:
        """Apply one batch to every projection that is due; True if anything moved."""
        with self._work:
            self._refresh_positions()
            now = time.monotonic()
            due = [s for s in self._states if synchronous or s.retry_at <= now]
            groups: dict[int, list[_State]] = {}
            for s in due:
                groups.setdefault(s.position, []).append(s)
            progressed = False
            for start, group in sorted(groups.items()):
                batch = self._reader.read(start, min(s.batch_limit for s in group))
                if batch.events:
                    progressed |= self._apply(group, start, batch.events, synchronous)
                if batch.failed_at is not None:
                    assert batch.error is not None
                    for s in group:
                        if s.position < batch.failed_at:
                            self._failed(s, batch.failed_at, batch.failed_at, batch.error,
                                         synchronous, 1)
            return progressed

    def _apply(self, group: list[_State], start: int, events: list[LoggedEvent],
               synchronous: bool) -> bool:
        """Apply one batch to a group of projections that are all at ``start``.

        One transaction for the group (one commit per batch, not one per projection), each
        projection inside its own savepoint: a projection that fails is rolled back to it,
        alone, and the others still commit their rows with their tracking rows.
        """
        last = events[-1].position
        names = [s.projection.name for s in group]
        done: list[_State] = []
        failed: list[tuple[_State, Exception]] = []
        try:
            with self.db.transaction(durable=False) as cur:
                cur.execute(f"SELECT name, position FROM projection_tracking WHERE name IN "
                            f"({', '.join('?' * len(names))}){self._for_update}", names)
                stored = {name: int(position) for name, position in cur.fetchall()}
                for s in group:
                    if stored.get(s.projection.name) != start:
                        continue  # moved by another process: adopt below
                    cur.execute("SAVEPOINT projection")
                    try:
                        s.projection.apply(cur, events)
                        cur.execute("UPDATE projection_tracking SET position = ? WHERE name = ?",
                                    (last, s.projection.name))
                    except Exception as e:
                        cur.execute("ROLLBACK TO SAVEPOINT projection")
                        failed.append((s, e))
                    else:
                        done.append(s)
                    cur.execute("RELEASE SAVEPOINT projection")
        except Exception as e:
            # The commit itself (or the database) failed: nothing of this batch was stored.
            for s in group:
                self._failed(s, events[0].position, last, e, synchronous, len(events))
            return len(events) > 1
        self.checkpoints.wrote()
        moved = False
        with self._positions_changed:
            for s in group:
                if s in done:
                    s.position = last
                elif s.projection.name in stored and stored[s.projection.name] != start:
                    # Someone else (another process) moved it: adopt theirs, fetch from there.
                    s.position = stored[s.projection.name]
                    moved = True
            self._positions_moved()
        for s in done:
            s.failures = 0
            s.batch_limit = min(self.batch_size, s.batch_limit * 2)
        for s, error in failed:
            self._failed(s, events[0].position, last, error, synchronous, len(events))
        # A failed batch of several events is retried at once, in halves: that is progress.
        return bool(done) or moved or (bool(failed) and len(events) > 1)

    def _failed(self, s: _State, first: int, last: int, error: Exception, synchronous: bool,
                batch_len: int) -> None:
        """Record a failed batch. A batch of several events is split in half and retried at
        once, so the projection converges on the failing event and applies everything before
        it; a single failing event is retried with exponential backoff (and, for the
        synchronous methods, raised)."""
        if batch_len > 1:
            s.batch_limit = max(1, batch_len // 2)
            s.retry_at = 0.0
            log.warning("projection %s failed on positions %d..%d (%s); retrying in smaller "
                        "batches", s.projection.name, first, last, error)
            return
        s.failures += 1
        delay = min(MAX_BACKOFF, 0.1 * 2 ** min(s.failures, 16))
        s.retry_at = time.monotonic() + delay
        s.batch_limit = 1
        log.error("projection %s failed on position %d (attempt %d, retrying in %.1f s)",
                  s.projection.name, first, s.failures, delay, exc_info=error)
        if synchronous:
            raise ProjectionFailed(
                f"projection {s.projection.name} failed on position {first}: {error}"
            ) from error
