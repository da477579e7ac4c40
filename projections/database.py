"""The read-model database: SQLite (embedded) or PostgreSQL, behind one small interface.

SQL in this package is written once with ``?`` placeholders and portable types (TEXT, BIGINT,
DOUBLE PRECISION); ``ViewDatabase`` rewrites placeholders for psycopg. Each ``transaction()``
commits on success and rolls back on any exception, which is what lets a projection write its
rows and its tracking position atomically.

The same class serves the auth store (``labelwright.bootstrap.auth_database``: its own SQLite
file, or its own schema on PostgreSQL), which is not a read model and is never rebuilt.

SQLite files grow their write-ahead log while a writer is busy and keep that size afterwards
(a 2,000-image import left a 40 MB ``views.sqlite-wal``). ``IdleCheckpoint`` truncates it once
the writer is idle, at most every ``CHECKPOINT_INTERVAL`` seconds (``checkpoint_wal``).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\?")
CHECKPOINT_INTERVAL = 5.0  # seconds: the most often an idle writer's WAL is truncated
# How long a checkpoint waits for readers still on the WAL before leaving it to the next one.
CHECKPOINT_BUSY_MS = 200


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


def _enter_wal_mode(conn: sqlite3.Connection, patience: float = 30.0) -> None:
    """Switch a connection's database to WAL. Changing the journal mode needs the database to
    itself, and SQLite answers "database is locked" at once (its busy timeout does not apply)
    when another connection opens the same new file at that instant (a server and a worker
    started together): try again for a while."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class ViewDatabase:
    """Connections to the read-model database; ``dialect`` is ``"sqlite"`` or ``"postgres"``."""

    def __init__(self, dialect: str, target: str, pool_size: int = 8, *,
                 synchronous: str = "NORMAL", search_path: str | None = None) -> None:
        """``synchronous``: SQLite's setting (``NORMAL`` for read models, which are redone
        from the log; ``FULL`` for what is not). ``search_path``: the PostgreSQL schema the
        unqualified table names of this database live in (the auth store's own schema)."""
        self.dialect = dialect
        self.target = target
        self.search_path = search_path
        self._synchronous = synchronous
        self._local = threading.local()
        self._pool: Any = None
        if dialect == "postgres":
            from psycopg_pool import ConnectionPool

            kwargs: dict[str, Any] = {"autocommit": False}
            if search_path is not None:
                kwargs["options"] = f"-c search_path={search_path}"
            self._pool = ConnectionPool(target, min_size=1, max_size=pool_size, open=True,
                                        kwargs=kwargs)
        elif dialect != "sqlite":
            raise ValueError(f"unknown dialect {dialect!r}")
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self._sqlite_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @classmethod
    def sqlite(cls, path: str | Path, *, synchronous: str = "NORMAL") -> ViewDatabase:
        return cls("sqlite", str(path), synchronous=synchronous)

    @classmethod
    def postgres(cls, url: str, pool_size: int = 8, *, search_path: str | None = None
                 ) -> ViewDatabase:
        return cls("postgres", url, pool_size, search_path=search_path)

    def _sqlite_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.target, isolation_level=None, check_same_thread=False,
                                   timeout=30)
            _enter_wal_mode(conn)
            # Read models are rebuilt from the durable event log, so a crash that loses the
            # last view transaction only makes the projection redo it (tracking is in the same
            # transaction): NORMAL is safe here and saves an fsync per batch. (The auth store
            # asks for FULL: its rows exist nowhere else.)
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
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

    def checkpoint(self) -> bool:
        """Truncate the SQLite WAL (``checkpoint_wal``); PostgreSQL: nothing to do."""
        return self.dialect == "sqlite" and checkpoint_wal(self.target)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        with self._lock:
            for conn in self._sqlite_conns:
                with suppress(sqlite3.Error):
                    conn.close()
            self._sqlite_conns.clear()


def checkpoint_wal(path: str | Path) -> bool:
    """Copy the WAL of the SQLite database at ``path`` into it and truncate the WAL to zero
    bytes; True if that happened. Never waits long: a PASSIVE checkpoint first (no locks
    waited for), then TRUNCATE, which gives up after ``CHECKPOINT_BUSY_MS`` if a writer is
    busy or a reader still uses the WAL (the next idle moment tries again). Runs on a
    connection of its own, so no caller's transaction is involved."""
    if not Path(path).is_file():  # connect() would create it
        return False
    try:
        conn = sqlite3.connect(str(path), isolation_level=None,
                               timeout=CHECKPOINT_BUSY_MS / 1000)
    except sqlite3.Error:
        return False
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return int(busy) == 0
    except sqlite3.Error as e:  # SQLITE_BUSY/LOCKED: the next idle moment tries again
        log.debug("checkpoint of %s skipped: %s", path, e)
        return False
    finally:
        conn.close()


class IdleCheckpoint:
    """Runs ``checkpoint`` when its writer is idle, if the writer wrote since the last one and
    at most every ``interval`` seconds.

    The writer calls ``wrote()`` after a commit (any thread); whoever notices that the writer
    is idle calls ``idle()`` (the projection runner's thread, whenever a step finds nothing to
    do), which is where the checkpoint runs. A write racing a checkpoint marks it due again.
    """

    def __init__(self, checkpoint: Callable[[], object], interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``interval``: seconds, ``CHECKPOINT_INTERVAL`` (as it is now) if None."""
        self._checkpoint = checkpoint
        self.interval = CHECKPOINT_INTERVAL if interval is None else interval
        self._clock = clock
        self._dirty = False
        self._last = clock()
        self.runs = 0  # checkpoints run (tests)

    def wrote(self, *_: object) -> None:
        """A commit happened (signature fits ``Labeling.commit_listeners`` too)."""
        self._dirty = True

    def idle(self) -> None:
        if not self._dirty or self._clock() - self._last < self.interval:
            return
        self._dirty = False  # before: a commit during the checkpoint makes it due again
        self._last = self._clock()
        try:
            self._checkpoint()
        except Exception:  # a checkpoint is housekeeping: never stop the caller for it
            log.exception("WAL checkpoint failed")
        self.runs += 1
