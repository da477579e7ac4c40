"""A write side and read models on real SQLite files, or on a fresh PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.application import Labeling
from domain.command_pipeline import CommandPipeline
from event_store.positions import EventPositions, log_head
from migrations.apply import apply_migrations
from projections.database import ViewDatabase
from projections.read_models import ReadModels
from projections.runner import ProjectionRunner
from tests.projections.workload import Workload, event_store_env, postgres_env
from tests.required_services import unavailable

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except Exception:
        return False


_PG = postgres_available()


class Stack:
    """Event store + command pipeline + view database + runner + read models."""

    def __init__(self, env: dict[str, str], views: ViewDatabase, url: str | None = None,
                 **runner_options: Any) -> None:
        self.env = env
        self.url = url
        self.app = Labeling(env=env)
        self.pipeline = CommandPipeline(self.app, EventPositions(self.app))
        self.db = views
        apply_migrations(self.db)
        self.runner = ProjectionRunner(self.app, self.db, **runner_options)
        self.app.commit_listeners.append(self.runner.wake)
        self.read = ReadModels(self.db, self.runner)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def head(self) -> int:
        return log_head(self.app)

    def workload(self, seed: int = 7) -> Workload:
        return Workload(self.app, self.pipeline, seed)

    def close(self) -> None:
        self.runner.stop()
        self.pipeline.stop()
        self.db.close()
        self.app.close()


class Backends:
    """Makes stacks on one backend; on PostgreSQL every stack shares one fresh database."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind = kind
        self.tmp = tmp
        self.stacks: list[Stack] = []
        self.dbname: str | None = None
        if kind == "postgres":
            import psycopg

            self.dbname = f"lw_test_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {self.dbname}")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{self.dbname}"

    def env(self) -> dict[str, str]:
        if self.kind == "postgres":
            assert self.dbname is not None
            return postgres_env(self.dbname)
        return event_store_env(str(self.tmp / "events.sqlite"))

    def views(self) -> ViewDatabase:
        if self.kind == "postgres":
            return ViewDatabase.postgres(self.url, pool_size=4)
        return ViewDatabase.sqlite(self.tmp / "views.sqlite")

    def stack(self, **runner_options: Any) -> Stack:
        s = Stack(self.env(), self.views(), self.url if self.kind == "postgres" else None,
                  **runner_options)
        self.stacks.append(s)
        return s

    def close(self) -> None:
        for s in self.stacks:
            s.close()
        if self.dbname is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backends(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backends]:
    if request.param == "postgres" and not _PG:
        unavailable("PostgreSQL is not reachable at 127.0.0.1:5432")
    b = Backends(request.param, tmp_path)
    yield b
    b.close()


@pytest.fixture()
def stack(backends: Backends) -> Stack:
    return backends.stack(poll_interval=0.02)


@pytest.fixture()
def sqlite_backends(tmp_path: Path) -> Iterator[Backends]:
    b = Backends("sqlite", tmp_path)
    yield b
    b.close()


@pytest.fixture()
def pg_backends(tmp_path: Path) -> Iterator[Backends]:
    if not _PG:
        unavailable("PostgreSQL is not reachable at 127.0.0.1:5432")
    b = Backends("postgres", tmp_path)
    yield b
    b.close()


def dump(db: ViewDatabase, tables: tuple[str, ...]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``tables``, in a canonical order (for byte-for-byte comparisons)."""
    out = {}
    for table in tables:
        rows = db.query(f"SELECT * FROM {table}")
        out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out
