"""Projection ``work_queue``: who holds which image now, and each project's assignments and
priority images (``domain.work_queue``), so ``queue/next`` picks its candidates with a few
indexed queries instead of reading lease streams.

A lease row follows its ``ImageLease`` stream, and the image's own events renew or end it the
way ``ImageLease.held_until`` says: an event by the holder after the grant moves
``expires_at`` to that event's time plus the lease's length; ``ImageSubmitted`` or
``ReviewRecorded`` after the grant ends it (``username`` NULL). Queue settings are rare (a
statement per event); lease rows are loaded once per batch for every image the batch touches.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.work_queue import ENDING_EVENTS, ImageLease, WorkQueue
from event_store.log_reader import LoggedEvent
from projections.database import Cursor
from projections.image_events import IMAGE_EVENTS, is_image_event
from projections.projection import Projection
from projections.row_set import RowSet

LEASE_COLUMNS = ("image_id", "project_id", "username", "granted_at", "expires_at", "seconds",
                 "skipped_by", "skipped_until")
_LEASE_EVENTS = frozenset({ImageLease.LeaseOpened, ImageLease.ImageLeased,
                           ImageLease.LeaseReleased})
_QUEUE_EVENTS = frozenset({WorkQueue.ImagesAssigned, WorkQueue.PriorityQueued,
                           WorkQueue.PriorityCleared})


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


class WorkQueueView(Projection):
    """Leases held now (with renewals), assignments and priority lists."""

    name = "work_queue"
    tables = ("queue_leases", "queue_assignments", "queue_priority")

    def apply(self, cur: Cursor, events: Sequence[LoggedEvent]) -> None:
        leases = RowSet("queue_leases", ("image_id",), LEASE_COLUMNS,
                        fixed=("project_id",))
        touched: list[str] = []
        relevant: list[LoggedEvent] = []
        for le in events:
            kind = type(le.event)
            if kind in _LEASE_EVENTS:
                touched.append(le.event.image_id)
            elif kind in _QUEUE_EVENTS:
                self._queue_event(cur, le)
                continue
            elif (kind in IMAGE_EVENTS or is_image_event(le.event)) and \
                    kind.__name__ != "ImageAdded":
                touched.append(le.stream)
            else:
                continue
            relevant.append(le)
        if not relevant:
            return
        leases.load(cur, touched)
        for le in relevant:
            e = le.event
            kind = type(e)
            if kind is ImageLease.LeaseOpened:
                leases.add(e.image_id, {
                    "image_id": e.image_id, "project_id": e.project_id, "username": None,
                    "granted_at": 0.0, "expires_at": 0.0, "seconds": 0, "skipped_by": None,
                    "skipped_until": None})
                continue
            key = e.image_id if kind in _LEASE_EVENTS else le.stream
            row = leases.get(key)
            if row is None:
                if kind in _LEASE_EVENTS:
                    raise LookupError(f"{kind.__name__} of an unknown lease on {key}")
                continue  # an image nobody ever took from the queue
            if kind is ImageLease.ImageLeased:
                row.update(username=e.username, granted_at=e.timestamp.timestamp(),
                           expires_at=_epoch(e.expires_at), seconds=e.seconds)
            elif kind is ImageLease.LeaseReleased:
                row.update(username=None, skipped_by=e.username,
                           skipped_until=_epoch(e.skipped_until))
            else:
                at = e.timestamp.timestamp()
                if row["username"] is None or at < row["granted_at"]:
                    continue
                if kind.__name__ in ENDING_EVENTS:
                    row["username"] = None
                elif e.actor == row["username"]:
                    row["expires_at"] = max(row["expires_at"], at + row["seconds"])
                else:
                    continue
            leases.changed(key)
        leases.flush(cur)

    def _queue_event(self, cur: Cursor, le: LoggedEvent) -> None:
        e = le.event
        project_id = self._project_of(le)
        if type(e) is WorkQueue.ImagesAssigned:
            cur.execute("DELETE FROM queue_assignments WHERE project_id = ? AND username = ?",
                        (project_id, e.username))
            cur.executemany("INSERT INTO queue_assignments (project_id, username, seq, image_id) "
                            "VALUES (?, ?, ?, ?)",
                            [(project_id, e.username, i, iid)
                             for i, iid in enumerate(e.image_ids)])
        elif type(e) is WorkQueue.PriorityQueued:
            cur.execute("SELECT COALESCE(MAX(seq), -1) FROM queue_priority WHERE project_id = ?",
                        (project_id,))
            row = cur.fetchone()
            start = int(row[0]) + 1 if row is not None else 0
            cur.executemany("INSERT INTO queue_priority (project_id, seq, image_id) "
                            "VALUES (?, ?, ?)",
                            [(project_id, start + i, iid) for i, iid in enumerate(e.image_ids)])
        else:
            cur.execute("DELETE FROM queue_priority WHERE project_id = ?", (project_id,))

    @staticmethod
    def _project_of(le: LoggedEvent) -> str:
        project_id: str = le.event.project_id
        return project_id
