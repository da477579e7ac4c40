"""A real ``labelwright serve`` for the client tests: its own data dir, the demo's logins.

The server is a subprocess on a free port (``tests.realtime.nodes``), seeded in-process
through the real composition root with the admin of ``labelwright demo`` (``admin`` /
``admin-demo-pw``, the login docs/client.md uses) and a manager, ``maria``. Jobs run on the
server's embedded job thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.realtime.nodes import Deployment, Node

ADMIN = ("admin", "admin-demo-pw")
MANAGER = ("maria", "maria-demo-pw")


@dataclass
class LiveServer:
    deployment: Deployment
    node: Node

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.node.port}"


def start_server(root: Path, env: dict[str, str] | None = None,
                 database_url: str | None = None) -> LiveServer:
    """A seeded ``labelwright serve`` on ``root/data`` (SQLite, or ``database_url``)."""
    from argon2 import PasswordHasher

    import domain.user

    domain.user._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    deployment = Deployment(data_dir=root / "data", database_url=database_url)
    with deployment.services(background=False) as services:
        for name, password in (ADMIN, MANAGER):
            if services.app.find_user(name) is None:
                services.app.register_user(name, password, is_admin=name == "admin")
    node = deployment.start_node(env={"LABELWRIGHT_JOB_THREADS": "1",
                                      "LABELWRIGHT_JOB_SHARD_SIZE": "2", **(env or {})})
    return LiveServer(deployment, node)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("client"))
    try:
        yield server
    finally:
        server.deployment.stop_all()
