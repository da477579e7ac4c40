"""Apply the ordered SQL files of this folder to the read-model database.

Files are named ``NNNN_name.sql``; each one not yet recorded in ``schema_version`` runs in its
own transaction together with the row that records it, so a failed migration leaves nothing
half-applied. On PostgreSQL every migration transaction first takes a transaction-scoped
advisory lock: several nodes starting at once queue up behind one another, and each re-reads
``schema_version`` after getting the lock, so a file is applied exactly once. On SQLite
``BEGIN IMMEDIATE`` (see ``ViewDatabase.transaction``) already serialises writers.

The auth store (login and API tokens) is not a read model and has migrations of its own in
``migrations/auth/`` (``apply_auth_migrations``), recorded in its own ``schema_version``: in
``DATA_DIR/auth.sqlite``, or in the PostgreSQL schema ``labelwright_auth`` that its
connections use as their search path. ``move_legacy_tokens`` moves the tokens of an older
version, which kept them in the read-model table ``auth_tokens``, into it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from projections.database import Cursor, ViewDatabase

MIGRATIONS_DIR = Path(__file__).resolve().parent
AUTH_MIGRATIONS_DIR = MIGRATIONS_DIR / "auth"
AUTH_SCHEMA = "labelwright_auth"  # PostgreSQL: where the auth store's tables live
TOKEN_COLUMNS = "token_hash, username, kind, name, created_at, last_used_at, revoked"
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


def _begin(cur: Cursor, db: ViewDatabase, prelude: Sequence[str] = ()) -> set[int]:
    """Lock (PostgreSQL), run ``prelude``, make sure ``schema_version`` exists, return the
    applied versions."""
    if db.dialect == "postgres":
        cur.execute("SELECT pg_advisory_xact_lock(?)", (ADVISORY_LOCK_KEY,))
    for statement in prelude:
        cur.execute(statement)
    cur.execute(_SCHEMA_VERSION)
    cur.execute("SELECT version FROM schema_version")
    return {int(row[0]) for row in cur.fetchall()}


def apply_migrations(db: ViewDatabase, directory: Path = MIGRATIONS_DIR, *,
                     prelude: Sequence[str] = ()) -> list[str]:
    """Apply pending migrations in order; return the names applied (empty when up to date).
    ``prelude`` runs first, under the lock (the auth store creates its schema there)."""
    applied_now: list[str] = []
    with db.transaction() as cur:
        done = _begin(cur, db, prelude)
    for version, name, path in migration_files(directory):
        if version in done:
            continue
        statements = split_statements(path.read_text(encoding="utf-8"))
        with db.transaction() as cur:
            # Another node may have applied it while we waited for the lock.
            if version in _begin(cur, db, prelude):
                continue
            for statement in statements:
                cur.execute(statement)
            cur.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, datetime.now(UTC).isoformat()),
            )
        applied_now.append(name)
    return applied_now


def apply_auth_migrations(db: ViewDatabase) -> list[str]:
    """Bring the auth store (``db``: ``labelwright.bootstrap.auth_database``) up to date."""
    prelude: tuple[str, ...] = ()
    if db.dialect == "postgres":
        if db.search_path != AUTH_SCHEMA:
            raise ValueError(f"the auth store's connections must use search_path {AUTH_SCHEMA}")
        prelude = (f"CREATE SCHEMA IF NOT EXISTS {AUTH_SCHEMA}",)
    return [f"auth/{name}" for name in
            apply_migrations(db, AUTH_MIGRATIONS_DIR, prelude=prelude)]


def move_legacy_tokens(views: ViewDatabase, auth: ViewDatabase) -> int:
    """Move the tokens an older version kept in the read-model table ``auth_tokens`` into the
    auth store, then drop that table; returns how many rows were copied (0 once done).

    Nobody is logged out by the upgrade: every token keeps its hash, kind, times and revoked
    flag. On PostgreSQL the table is locked first (under the migration lock), so a node that
    starts beside us waits and then finds nothing to move. A crash between the copy and the
    drop copies again on the next start; rows already in the auth store are kept as they are.
    """
    with views.transaction() as cur:
        if views.dialect == "postgres":
            cur.execute("SELECT pg_advisory_xact_lock(?)", (ADVISORY_LOCK_KEY,))
            cur.execute("SELECT to_regclass('auth_tokens')")
            row = cur.fetchone()
            if row is None or row[0] is None:
                return 0
            cur.execute("LOCK TABLE auth_tokens IN ACCESS EXCLUSIVE MODE")
        else:
            cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                        "AND name = 'auth_tokens'")
            if cur.fetchone() is None:
                return 0
        cur.execute(f"SELECT {TOKEN_COLUMNS} FROM auth_tokens")
        rows = [tuple(r) for r in cur.fetchall()]
        if rows:
            with auth.transaction() as into:
                into.executemany(
                    f"INSERT INTO auth_tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (token_hash) DO NOTHING", rows)
        cur.execute("DROP TABLE auth_tokens")
    return len(rows)
