"""migrations/apply.py: ordered, recorded, idempotent, safe with several nodes at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from migrations.apply import apply_migrations, migration_files, split_statements
from tests.projections.conftest import Backends


def test_apply_is_idempotent(backends: Backends) -> None:
    db = backends.views()
    try:
        first = apply_migrations(db)
        assert first[0] == "0001_read_models"
        assert apply_migrations(db) == []
        rows = db.query("SELECT version, name FROM schema_version ORDER BY version")
        assert rows[0] == (1, "0001_read_models")
        for table in ("images", "annotations", "history", "annotator_metrics", "prelabel_audit",
                      "projects", "members", "users", "auth_tokens", "projection_tracking"):
            db.query(f"SELECT COUNT(*) FROM {table}")
    finally:
        db.close()


def test_nodes_starting_at_once_apply_each_file_once(backends: Backends) -> None:
    dbs = [backends.views() for _ in range(4)]
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(dbs))

    def start(db: object) -> None:
        try:
            barrier.wait()
            results.append(apply_migrations(db))  # type: ignore[arg-type]
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for db in dbs[1:]:
        db.close()
    assert not errors
    # Each file applied exactly once, by whichever node got to it first (with several files,
    # one node may apply the first and another the next).
    applied = sorted(name for r in results for name in r)
    assert applied == sorted(name for _, name, _ in migration_files())
    assert dbs[0].query("SELECT COUNT(*) FROM schema_version")[0][0] == len(migration_files())
    dbs[0].close()


def test_a_failing_migration_leaves_nothing(sqlite_backends: Backends, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (x INTEGER);\n")
    (folder / "0002_bad.sql").write_text("CREATE TABLE b (x INTEGER);\nNOT SQL;\n")
    db = sqlite_backends.views()
    with pytest.raises(Exception, match="syntax"):
        apply_migrations(db, folder)
    assert db.query("SELECT name FROM schema_version") == [("0001_ok",)]
    assert not db.query("SELECT name FROM sqlite_master WHERE name = 'b'")
    (folder / "0002_bad.sql").write_text("CREATE TABLE b (x INTEGER); -- fixed; really\n")
    assert apply_migrations(db, folder) == ["0002_bad"]
    db.close()


def test_split_statements_drops_comments() -> None:
    sql = "-- a; comment\nCREATE TABLE a (x TEXT); -- tail; too\n\nCREATE INDEX i ON a (x);\n"
    assert split_statements(sql) == ["CREATE TABLE a (x TEXT)", "CREATE INDEX i ON a (x)"]


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(ValueError, match="share version 1"):
        migration_files(tmp_path)


def test_connections_opening_a_new_sqlite_file_at_once_all_get_wal(tmp_path: Path) -> None:
    """Switching a new file to WAL races (SQLite says "database is locked" at once, without
    waiting); 45 of 200 rounds failed before ``_enter_wal_mode`` retried."""
    import sqlite3

    from projections.database import _enter_wal_mode

    for round_ in range(40):
        path = tmp_path / f"v{round_}.sqlite"
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def open_it(path: Path = path, errors: list[BaseException] = errors,
                    barrier: threading.Barrier = barrier) -> None:
            try:
                conn = sqlite3.connect(path, isolation_level=None, timeout=30)
                barrier.wait()
                _enter_wal_mode(conn)
                conn.close()
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
