"""A real ``labelwright serve`` for the interop tests (the client tests' server: its own data
dir, the demo's admin login), on the embedded SQLite store and on PostgreSQL: an export as of
a position replays the log, and both stores must give the same bytes for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.conftest import LiveServer, start_server
from tests.realtime.nodes import postgres_available, postgres_database
from tests.required_services import unavailable

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=STORES)
def live(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("interop")
    if request.param == "sqlite":
        server = start_server(root)
        try:
            yield server
        finally:
            server.deployment.stop_all()
        return
    if not postgres_available():
        unavailable("PostgreSQL is not reachable")
    with postgres_database() as url:
        server = start_server(root, database_url=url)
        try:
            yield server
        finally:
            server.deployment.stop_all()
