"""Tokens live in an auth store of their own, not among the rebuildable read models.

An upgrade from a version that kept them in the read-model table ``auth_tokens`` moves them
(nobody is logged out, revoked tokens stay revoked); wiping or rebuilding the read models
leaves every token working; CLI processes build no live collaboration.
"""

from __future__ import annotations

import io
import sqlite3
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import labelwright.bootstrap as bootstrap_module
from domain.tokens import new_token, token_hash
from labelwright.bootstrap import bootstrap, shutdown
from labelwright.cli import main
from labelwright.settings import Settings
from migrations.apply import TOKEN_COLUMNS
from projections.database import ViewDatabase
from tests.required_services import unavailable
from tests.web.conftest import PG_ADMIN_URL, Site, _pg_available, sqlite_settings

# The token table as versions before the auth store created it among the read models
# (migrations/0001_read_models.sql).
LEGACY_TABLE = """CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
)"""


@contextmanager
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own (these tests drop the auth schema)."""
    if not _pg_available():
        unavailable("PostgreSQL is not reachable at " + PG_ADMIN_URL)
    import psycopg

    name = f"lw_auth_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield sqlite_settings(tmp_path / "data")
        return
    with pg_database() as url:
        yield Settings(data_dir=tmp_path / "data", database_url=url)


def _tables(db: ViewDatabase) -> set[str]:
    if db.dialect == "sqlite":
        return {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {r[0] for r in db.query("SELECT tablename FROM pg_tables WHERE schemaname = ?",
                                   (db.search_path or "public",))}


def _make_legacy(settings: Settings, rows: list[tuple[Any, ...]]) -> None:
    """Turn the stores into what an older version left: tokens among the read models, no
    auth store."""
    if settings.embedded:
        for suffix in ("", "-wal", "-shm"):
            (settings.data_dir / f"auth.sqlite{suffix}").unlink(missing_ok=True)
        with sqlite3.connect(settings.data_dir / "views.sqlite") as conn:
            conn.execute(LEGACY_TABLE)
            conn.executemany(f"INSERT INTO auth_tokens ({TOKEN_COLUMNS}) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return
    import psycopg

    assert settings.database_url is not None
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA labelwright_auth CASCADE")
        conn.execute(LEGACY_TABLE)
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO auth_tokens ({TOKEN_COLUMNS}) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)


def _me(site: Site, token: str) -> int:
    return site.get("/me", None, headers={"Authorization": f"Bearer {token}"}).status_code


def test_an_upgrade_moves_the_tokens_and_logs_nobody_out(settings: Settings) -> None:
    site = Site(settings)  # registers the users (events) and creates the stores
    site.close()
    now = datetime.now(UTC).isoformat()
    login, api, revoked = new_token(), new_token(), new_token()
    rows = [(token_hash(login), "annotator", "login", None, now, now, 0),
            (token_hash(api), "manager", "api", "ci job", now, now, 0),
            (token_hash(revoked), "reviewer", "login", None, now, now, 1)]
    _make_legacy(settings, rows)

    site = Site(settings, create_users=False)
    try:
        assert _me(site, login) == 200
        assert _me(site, api) == 200
        assert _me(site, revoked) == 401
        auth, views = site.services.tokens.db, site.services.read.db
        assert "auth_tokens" in _tables(auth)
        assert "auth_tokens" not in _tables(views)  # moved, and gone from the read models
        moved = auth.query(f"SELECT {TOKEN_COLUMNS} FROM auth_tokens WHERE token_hash IN "
                           "(?, ?, ?)", tuple(r[0] for r in rows))
        assert sorted(tuple(r) for r in moved) == sorted(rows)
        # Revocation works on moved tokens as on new ones.
        assert site.services.tokens.revoke_user("manager") == 1
        assert _me(site, api) == 401
    finally:
        site.close()

    site = Site(settings, create_users=False)  # a second start finds nothing to move
    try:
        assert _me(site, login) == 200
        assert _me(site, api) == 401
    finally:
        site.close()


def test_wiping_or_rebuilding_the_read_models_keeps_every_token(settings: Settings) -> None:
    site = Site(settings)
    try:
        pid = site.new_project()
        site.new_image(pid)
        site.settle()
        tokens = dict(site.tokens)
        site.services.runner.rebuild()
        assert all(_me(site, t) == 200 for t in tokens.values())
    finally:
        site.close()
    # Wipe the read models: the SQLite file, or every table of the public schema.
    if settings.embedded:
        for suffix in ("", "-wal", "-shm"):
            (settings.data_dir / f"views.sqlite{suffix}").unlink(missing_ok=True)
    else:
        import psycopg

        assert settings.database_url is not None
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            names = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT LIKE 'labelwright\\_%'")]  # the event store's
            conn.execute("DROP TABLE " + ", ".join(f'"{n}"' for n in names))
    site = Site(settings, create_users=False)
    site.tokens = tokens  # the tokens issued before the wipe
    try:
        site.settle()
        for user, token in tokens.items():
            assert _me(site, token) == 200, user
        assert site.ok(site.get(f"/projects/{pid}/images"))["images"]
    finally:
        site.close()


def test_the_embedded_auth_store_is_a_private_file(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path / "data")
    services = bootstrap(settings, live=False)
    try:
        services.tokens.issue("someone")
    finally:
        shutdown(services)
    path = settings.data_dir / "auth.sqlite"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM auth_tokens").fetchone() == (1,)
        versions = conn.execute("SELECT name FROM schema_version").fetchall()
    assert versions == [("0001_auth_tokens",)]


def test_cli_commands_build_no_live_collaboration(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("a CLI command built live collaboration")

    data = str(tmp_path / "data")
    monkeypatch.setattr(bootstrap_module, "LiveCollaboration", refuse)
    monkeypatch.setattr("sys.stdin", io.StringIO("password123\n"))
    assert main(["user", "add", "alice", "--admin", "--password-stdin", "--data-dir", data]) == 0
    assert main(["token", "create", "alice", "--data-dir", data]) == 0
    assert main(["projections", "status", "--data-dir", data]) == 0
    assert main(["migrate", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert "user alice added" in out and "applied: nothing (up to date)" in out
    services = bootstrap(Settings(data_dir=Path(data)), background=False, live=False)
    try:
        assert services.live is None
    finally:
        shutdown(services)


def test_migrate_brings_both_stores_up_to_date(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--data-dir", str(tmp_path / "data")]) == 0
    applied = capsys.readouterr().out
    assert "0001_read_models" in applied and "auth/0001_auth_tokens" in applied
