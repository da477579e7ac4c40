"""Rows of one table that a batch touches: loaded once, changed in memory, written once.

Projections apply thousands of events per transaction. Reading and writing a row per event
would cost a statement each; instead a projection names the keys its batch refers to, loads
them with a few ``IN (...)`` queries, applies every event to plain dicts, and ``flush`` writes
the net result with one ``executemany`` per kind of change. Because only the net effect is
written, the outcome does not depend on how the log was cut into batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import Any

from projections.database import Cursor

Row = dict[str, Any]
_CHUNK = 400  # keys per IN (...) query: well below every placeholder limit


def chunks(items: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class RowSet:
    """A batch's working copy of some rows of ``table``, keyed by its primary key.

    A key is the value of the key column, or a tuple of values when the key has several
    columns. ``columns`` lists every column, key columns included; ``fixed`` names those
    that never change once inserted.
    """

    def __init__(self, table: str, key: tuple[str, ...], columns: tuple[str, ...],
                 fixed: tuple[str, ...] = ()) -> None:
        self.table = table
        self.key = key
        self.columns = columns
        # Columns never changed after the insert are left out of UPDATEs: less to write, and
        # indexes on them are not rewritten.
        values = tuple(c for c in columns if c not in key and c not in fixed)
        if not values:
            raise ValueError("a RowSet table needs a column besides its key")
        self._rows: dict[Any, Row | None] = {}  # None: known to be absent
        self._stored: set[Any] = set()  # keys that exist in the database
        self._dirty: dict[Any, None] = {}  # ordered set of keys to write
        self._key_at = tuple(columns.index(c) for c in key)
        self._insert_values = itemgetter(*columns)
        self._update_values = itemgetter(*values, *key)
        where = " AND ".join(f"{c} = ?" for c in key)
        self._select = f"SELECT {', '.join(columns)} FROM {table} WHERE "
        names = [f"k{i}" for i in range(len(key))]
        self._select_join = (
            f"WITH wanted ({', '.join(names)}) AS (VALUES {{values}}) "
            f"SELECT {', '.join('t.' + c for c in columns)} FROM wanted JOIN {table} t ON "
            + " AND ".join(f"t.{c} = wanted.{n}" for c, n in zip(key, names, strict=True)))
        self._delete = f"DELETE FROM {table} WHERE {where}"
        self._update = f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in values)} WHERE {where}"
        self._insert = (f"INSERT INTO {table} ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' * len(columns))})")

    def load(self, cur: Cursor, keys: Iterable[Any]) -> None:
        """Read the rows of ``keys`` not yet known; the others are remembered as absent."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._rows]
        if not wanted:
            return
        single = len(self.key) == 1
        columns = self.columns
        for part in chunks(wanted):
            if single:
                sql = self._select + f"{self.key[0]} IN ({', '.join('?' * len(part))})"
                params: list[Any] = part
            else:
                # Not "(a, b) IN (VALUES ...)": SQLite answers that with a full table scan.
                # Joining a VALUES list uses the primary key on SQLite and PostgreSQL alike.
                one = "(" + ", ".join("?" * len(self.key)) + ")"
                sql = self._select_join.format(values=", ".join([one] * len(part)))
                params = [v for k in part for v in k]
            cur.execute(sql, params)
            for row in cur.fetchall():
                key = row[self._key_at[0]] if single else tuple(row[i] for i in self._key_at)
                self._rows[key] = dict(zip(columns, row, strict=True))
                self._stored.add(key)
        for key in wanted:
            self._rows.setdefault(key, None)

    def get(self, key: Any) -> Row | None:
        """The row (to change in place; then call :meth:`changed`), or None if absent."""
        try:
            return self._rows[key]
        except KeyError:
            raise KeyError(f"{self.table} row {key!r} was not loaded") from None

    def add(self, key: Any, row: Row) -> Row:
        """Insert ``row`` under ``key`` (replacing a row of the same key)."""
        self._rows[key] = row
        self._dirty[key] = None
        return row

    def changed(self, key: Any) -> None:
        self._dirty[key] = None

    def remove(self, key: Any) -> None:
        self._rows[key] = None
        self._dirty[key] = None

    def flush(self, cur: Cursor) -> None:
        """Write the net changes: deletes, then updates of stored rows, then inserts."""
        deletes: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        inserts: list[tuple[Any, ...]] = []
        stored = self._stored
        for key in self._dirty:
            row = self._rows[key]
            if row is None:
                if key in stored:
                    deletes.append(key if isinstance(key, tuple) else (key,))
                    stored.discard(key)
            elif key in stored:
                updates.append(self._update_values(row))
            else:
                inserts.append(self._insert_values(row))
                stored.add(key)
        if deletes:
            cur.executemany(self._delete, deletes)
        if updates:
            cur.executemany(self._update, updates)
        if inserts:
            cur.executemany(self._insert, inserts)
        self._dirty.clear()
