"""Queries of the work queue over the ``work_queue`` and ``image_labels`` read models: the
images a person could be handed next, tier by tier, and the leases they hold.

An image is *free* for a person when nobody else holds a lease on it now (none, ended, or
``expires_at`` passed) and they did not skip it in the last lease period. Every query uses
an index on the project (and the status, for the pool), so ``queue/next`` stays a few
milliseconds whatever the project's size; the authoritative check is the lease stream's
(``domain.work_queue``), made by the service before it records a lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections.database import ViewDatabase
from projections.row_set import chunks

_FREE = ("(l.username IS NULL OR l.username = ? OR l.expires_at <= ?) "
         "AND (l.skipped_by IS NULL OR l.skipped_by <> ? OR l.skipped_until <= ?)")
_NOT_ASSIGNED_TO_OTHERS = ("NOT EXISTS (SELECT 1 FROM queue_assignments x WHERE "
                           "x.project_id = i.project_id AND x.image_id = i.image_id "
                           "AND x.username <> ?)")


Candidate = tuple[str, int]
"""An image id and its version as the read model saw it when it picked the image."""


def _in(values: Sequence[str]) -> str:
    return ", ".join("?" * len(values))


class QueueReads:
    """The candidate queries; ``now`` is seconds since the epoch."""

    def __init__(self, db: ViewDatabase) -> None:
        self.db = db

    @staticmethod
    def _free(username: str, now: float) -> list[Any]:
        return [username, now, username, now]

    def held(self, project_id: str, username: str, now: float) -> list[str]:
        """Images ``username`` holds a lease on now, newest lease first."""
        rows = self.db.query(
            "SELECT image_id FROM queue_leases WHERE project_id = ? AND username = ? "
            "AND expires_at > ? ORDER BY granted_at DESC", (project_id, username, now))
        return [r[0] for r in rows]

    def overview(self, project_id: str, now: float
                 ) -> tuple[list[tuple[str, str, float]], list[tuple[str, list[str]]], list[str]]:
        """Who holds what: active leases ``(image_id, username, expires_at)`` soonest
        expiry first, each person's assignment in order, and the priority list."""
        leases = [(r[0], r[1], float(r[2])) for r in self.db.query(
            "SELECT image_id, username, expires_at FROM queue_leases WHERE project_id = ? "
            "AND username IS NOT NULL AND expires_at > ? ORDER BY expires_at, image_id",
            (project_id, now))]
        assignments: dict[str, list[str]] = {}
        for username, image_id in self.db.query(
                "SELECT username, image_id FROM queue_assignments WHERE project_id = ? "
                "ORDER BY username, seq", (project_id,)):
            assignments.setdefault(username, []).append(image_id)
        priority = [r[0] for r in self.db.query(
            "SELECT image_id FROM queue_priority WHERE project_id = ? ORDER BY seq",
            (project_id,))]
        return leases, list(assignments.items()), priority

    def assigned(self, project_id: str, username: str, statuses: Sequence[str], now: float,
                 limit: int) -> list[Candidate]:
        """Images assigned to ``username``, in the order the manager gave."""
        rows = self.db.query(
            "SELECT a.image_id, i.version FROM queue_assignments a "
            "JOIN images i ON i.image_id = a.image_id "
            "LEFT JOIN queue_leases l ON l.image_id = a.image_id "
            f"WHERE a.project_id = ? AND a.username = ? AND i.status IN ({_in(statuses)}) "
            f"AND {_FREE} ORDER BY a.seq LIMIT ?",
            (project_id, username, *statuses, *self._free(username, now), limit))
        return [(r[0], int(r[1])) for r in rows]

    def returned(self, project_id: str, username: str, now: float, limit: int
                 ) -> list[Candidate]:
        """Rejected (or reopened, or half-fixed) images ``username`` submitted: their fixes
        go back to them first."""
        rows = self.db.query(
            "SELECT i.image_id, i.version FROM images i "
            "LEFT JOIN queue_leases l ON l.image_id = i.image_id "
            "WHERE i.project_id = ? AND i.status IN ('rejected', 'in_progress') "
            "AND i.submitted_by = ? "
            f"AND {_FREE} ORDER BY i.added_position, i.image_id LIMIT ?",
            (project_id, username, *self._free(username, now), limit))
        return [(r[0], int(r[1])) for r in rows]

    def prioritised(self, project_id: str, username: str, statuses: Sequence[str],
                    now: float, limit: int) -> list[Candidate]:
        """The project's priority images, in the order they were queued."""
        rows = self.db.query(
            "SELECT p.image_id, i.version FROM queue_priority p "
            "JOIN images i ON i.image_id = p.image_id "
            "LEFT JOIN queue_leases l ON l.image_id = p.image_id "
            f"WHERE p.project_id = ? AND i.status IN ({_in(statuses)}) AND {_FREE} "
            "ORDER BY p.seq LIMIT ?",
            (project_id, *statuses, *self._free(username, now), limit))
        return [(r[0], int(r[1])) for r in rows]

    def pool(self, project_id: str, username: str, status: str, now: float, limit: int,
             after: int = -1) -> list[tuple[str, int, int]]:
        """``(image_id, version, added_position)`` of the project's images of ``status`` in
        the order they were added, after ``after``; images assigned to someone else are left
        to them."""
        rows = self.db.query(
            "SELECT i.image_id, i.version, i.added_position FROM images i "
            "LEFT JOIN queue_leases l ON l.image_id = i.image_id "
            "WHERE i.project_id = ? AND i.status = ? AND i.added_position > ? "
            f"AND {_FREE} AND {_NOT_ASSIGNED_TO_OTHERS} "
            "ORDER BY i.added_position, i.image_id LIMIT ?",
            (project_id, status, after, *self._free(username, now), username, limit))
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    def free_among(self, project_id: str, username: str, status: str, now: float,
                   image_ids: Sequence[str]) -> dict[str, int]:
        """Which of ``image_ids`` are free images of ``status`` (for a ranked order), with
        their versions."""
        found: dict[str, int] = {}
        for part in chunks(list(image_ids)):
            rows = self.db.query(
                "SELECT i.image_id, i.version FROM images i "
                "LEFT JOIN queue_leases l ON l.image_id = i.image_id "
                f"WHERE i.image_id IN ({_in(part)}) AND i.project_id = ? AND i.status = ? "
                f"AND {_FREE} AND {_NOT_ASSIGNED_TO_OTHERS}",
                (*part, project_id, status, *self._free(username, now), username))
            found.update((r[0], int(r[1])) for r in rows)
        return found

    def project_of(self, image_ids: Sequence[str]) -> dict[str, str]:
        """The project of each of ``image_ids`` the image read model knows."""
        out: dict[str, str] = {}
        for part in chunks(list(image_ids)):
            rows = self.db.query(
                f"SELECT image_id, project_id FROM images WHERE image_id IN ({_in(part)})",
                part)
            out.update((r[0], r[1]) for r in rows)
        return out

    def status_of(self, image_id: str) -> str | None:
        rows = self.db.query("SELECT status FROM images WHERE image_id = ?", (image_id,))
        return rows[0][0] if rows else None
