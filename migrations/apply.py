"""Apply the ordered SQL files of this folder to the read-model database.

Files are named ``NNNN_name.sql``; each one not yet recorded in ``schema_version`` runs in its
own transaction together with the row that records it, so a failed migration leaves nothing
half-applied. On PostgreSQL every migration transaction first takes a transaction-scoped
advisory lock: several nodes starting at once queue up behind one another, and each re-reads
``schema_version`` after getting the lock, so a file is applied exactly once. On SQLite
``BEGIN IMMEDIATE`` (see ``ViewDatabase.transaction``) already serialises writers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from projections.database import Cursor, ViewDatabase

MIGRATIONS_DIR = Path(__file__).resolve().parent
_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
# Arbitrary but fixed: the key every Labelwright node locks on while migrating.
ADVISORY_LOCK_KEY = 0x4C57_4D49  # "LWMI"

_SCHEMA_VERSION = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, Path]]:
    """``(version, name, path)`` of every migration file, in version order."""
    found: dict[int, tuple[int, str, Path]] = {}
    for path in directory.iterdir():
        match = _FILE.match(path.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations share version {version}: {path.name}")
        found[version] = (version, path.stem, path)
    return [found[v] for v in sorted(found)]


def split_statements(sql: str) -> list[str]:
    """The statements of a migration file: ``--`` comments dropped, split on ``;``."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _begin(cur: Cursor, db: ViewDatabase) -> set[int]:
    """Lock (PostgreSQL), make sure ``schema_version`` exists, return the applied versions."""
    if db.dialect == "postgres":
        cur.execute("SELECT pg_advisory_xact_lock(?)", (ADVISORY_LOCK_KEY,))
    cur.execute(_SCHEMA_VERSION)
    cur.execute("SELECT version FROM schema_version")
    return {int(row[0]) for row in cur.fetchall()}


def apply_migrations(db: ViewDatabase, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations in order; return the names applied (empty when up to date)."""
    applied_now: list[str] = []
    with db.transaction() as cur:
        done = _begin(cur, db)
    for version, name, path in migration_files(directory):
        if version in done:
            continue
        statements = split_statements(path.read_text(encoding="utf-8"))
        with db.transaction() as cur:
            # Another node may have applied it while we waited for the lock.
            if version in _begin(cur, db):
                continue
            for statement in statements:
                cur.execute(statement)
            cur.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, datetime.now(UTC).isoformat()),
            )
        applied_now.append(name)
    return applied_now
