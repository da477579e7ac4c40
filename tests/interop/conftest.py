"""A real ``labelwright serve`` for the interop tests (the client tests' server: its own data
dir, the demo's admin login)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.conftest import LiveServer, start_server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("interop"))
    try:
        yield server
    finally:
        server.deployment.stop_all()
