"""The read-model database: SQLite (embedded) or PostgreSQL, behind one small interface.

SQL in this package is written once with ``?`` placeholders and portable types (TEXT, BIGINT,
DOUBLE PRECISION); ``ViewDatabase`` rewrites placeholders for psycopg. Each ``transaction()``
commits on success and rolls back on any exception, which is what lets a projection write its
rows and its tracking position atomically.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

_PLACEHOLDER = re.compile(r"\?")


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class _PgCursor:
    """Adapts a psycopg cursor to ``?`` placeholders."""

    def __init__(self, cursor: Any) -> None:
        self._c = cursor

    @staticmethod
    def _sql(sql: str) -> str:
        return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._c.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self._c.executemany(self._sql(sql), rows)

    def fetchone(self) -> Any:
        return self._c.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._c.fetchall())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._c)


class ViewDatabase:
    """Connections to the read-model database; ``dialect`` is ``"sqlite"`` or ``"postgres"``."""

    def __init__(self, dialect: str, target: str, pool_size: int = 8) -> None:
        self.dialect = dialect
        self.target = target
        self._local = threading.local()
        self._pool: Any = None
        if dialect == "postgres":
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(target, min_size=1, max_size=pool_size, open=True,
                                        kwargs={"autocommit": False})
        elif dialect != "sqlite":
            raise ValueError(f"unknown dialect {dialect!r}")
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self._sqlite_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @classmethod
    def sqlite(cls, path: str | Path) -> ViewDatabase:
        return cls("sqlite", str(path))

    @classmethod
    def postgres(cls, url: str, pool_size: int = 8) -> ViewDatabase:
        return cls("postgres", url, pool_size)

    def _sqlite_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.target, isolation_level=None, check_same_thread=False,
                                   timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            # Read models are rebuilt from the durable event log, so a crash that loses the
            # last view transaction only makes the projection redo it (tracking is in the same
            # transaction): NORMAL is safe here and saves an fsync per batch.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=OFF")
            # A projection batch writes megabytes; with the default (1000 pages) nearly every
            # batch commit ran a checkpoint with its fsyncs. 10000 pages (~40 MB of WAL)
            # checkpoints several batches at once and copies pages rewritten meanwhile once.
            conn.execute("PRAGMA wal_autocheckpoint=10000")
            self._local.conn = conn
            with self._lock:
                self._sqlite_conns.append(conn)
        return conn

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Cursor]:
        """A read-write transaction: commit on success, roll back on error.

        ``durable=False`` is for rows that are rebuilt from the event log anyway (projection
        batches, which carry their tracking position in the same transaction): on PostgreSQL
        the commit then does not wait for its WAL flush, so read models stop competing with
        the event store for fsyncs. A crash can lose such a commit, never half of one, and the
        projection simply re-applies those events.
        """
        if self.dialect == "sqlite":
            conn = self._sqlite_conn()
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                conn.rollback()
                raise
            else:
                conn.commit()
            finally:
                cur.close()
        else:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                if not durable:
                    cur.execute("SET LOCAL synchronous_commit = off")
                yield _PgCursor(cur)

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        """A read-only snapshot (one consistent view for several queries)."""
        if self.dialect == "sqlite":
            conn = self._sqlite_conn()
            cur = conn.cursor()
            cur.execute("BEGIN")
            try:
                yield cur
            finally:
                conn.rollback()
                cur.close()
        else:
            with self._pool.connection() as conn, conn.cursor() as cur:
                try:
                    yield _PgCursor(cur)
                finally:
                    conn.rollback()

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 1000) -> Iterator[Any]:
        """The rows of one query from one consistent snapshot, fetched ``size`` at a time.

        Memory stays bounded however large the result (exports of millions of rows).
        PostgreSQL uses a server-side cursor on a pooled connection; SQLite a connection of
        its own, because a half-consumed stream may be resumed from another thread (Starlette
        iterates sync generators in a thread pool) and must not share a transaction with
        whatever that thread's connection is doing. Close the iterator (or exhaust it) to
        release the connection.
        """
        if self.dialect == "sqlite":
            conn = sqlite3.connect(self.target, isolation_level=None, check_same_thread=False,
                                   timeout=30)
            try:
                conn.execute("BEGIN")
                cur = conn.execute(sql, params)
                while rows := cur.fetchmany(size):
                    yield from rows
            finally:
                conn.close()
        else:
            with self._pool.connection() as conn:
                try:
                    with conn.cursor(name="labelwright_stream") as cur:
                        cur.itersize = size
                        cur.execute(_PgCursor._sql(sql), params)
                        yield from cur
                finally:
                    conn.rollback()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.reading() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        with self._lock:
            for conn in self._sqlite_conns:
                with suppress(sqlite3.Error):
                    conn.close()
            self._sqlite_conns.clear()
