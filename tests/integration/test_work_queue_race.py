"""Two people pressing "next" at once never get the same image, on real ``labelwright serve``
processes (one node on SQLite; two nodes sharing PostgreSQL, one annotator on each); and a
lease acknowledged before a SIGKILL is still held after the restart (it is in the log)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realtime.nodes import Deployment, Node, http_json, postgres_database
from tests.required_services import unavailable
from tests.web.conftest import _pg_available

ROUNDS = 15


def ask(node: Node, deployment: Deployment, user: str, body: Any = None) -> tuple[int, Any]:
    return http_json(node.port, "POST", f"/api/v1/projects/{deployment.project_id}/queue/next",
                     deployment.tokens[user], body if body is not None else {})


def submit(node: Node, deployment: Deployment, user: str, image_id: str) -> None:
    status, body = http_json(node.port, "POST", f"/api/v1/images/{image_id}/commands",
                             deployment.tokens[user], {"type": "submit"})
    assert status == 200, body


def race(deployment: Deployment, nodes: list[Node], users: list[str]) -> list[list[str]]:
    """``ROUNDS`` rounds: every user asks at the same moment, then submits what they got."""
    rounds: list[list[str]] = []
    for _ in range(ROUNDS):
        barrier = threading.Barrier(len(users))
        got: dict[str, Any] = {}

        def take(user: str, node: Node, barrier: threading.Barrier = barrier,
                 got: dict[str, Any] = got) -> None:
            barrier.wait()
            got[user] = ask(node, deployment, user)

        threads = [threading.Thread(target=take, args=(u, n))
                   for u, n in zip(users, nodes, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for user in users:
            assert got[user][0] == 200, got[user]
        images = [got[u][1]["image"]["id"] for u in users]
        assert len(set(images)) == len(images), f"two people got the same image: {got}"
        rounds.append(images)
        for user, node, image_id in zip(users, nodes, images, strict=True):
            submit(node, deployment, user, image_id)
    return rounds


def _check(deployment: Deployment, rounds: list[list[str]], users: int) -> None:
    handed = [i for r in rounds for i in r]
    assert len(handed) == len(set(handed)) == ROUNDS * users  # nobody ever got one twice
    assert set(handed) <= set(deployment.image_ids)


def test_two_annotators_racing_on_one_sqlite_node(tmp_path: Path) -> None:
    deployment = Deployment(data_dir=tmp_path / "data")
    deployment.seed(images=ROUNDS * 2 + 2)
    node = deployment.start_node()
    try:
        rounds = race(deployment, [node, node], ["ann1", "ann2"])
        _check(deployment, rounds, 2)
        # Two images are left: one each, then nothing.
        assert ask(node, deployment, "ann1")[0] == 200
        assert ask(node, deployment, "ann2")[0] == 200
        assert ask(node, deployment, "ann3")[0] == 204
    finally:
        deployment.stop_all()


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not _pg_available():
        unavailable("PostgreSQL is not reachable")
    with postgres_database() as url:
        yield url


@pytest.mark.postgres
def test_three_annotators_racing_on_two_postgres_nodes(tmp_path: Path, pg_url: str) -> None:
    deployment = Deployment(data_dir=tmp_path / "data", database_url=pg_url)
    deployment.seed(images=ROUNDS * 3)
    a, b = deployment.start_node(), deployment.start_node()
    try:
        rounds = race(deployment, [a, b, b], ["ann1", "ann2", "ann3"])
        _check(deployment, rounds, 3)
        assert ask(a, deployment, "ann1")[0] == 204
    finally:
        deployment.stop_all()


def test_a_lease_acknowledged_before_sigkill_survives_the_restart(tmp_path: Path) -> None:
    deployment = Deployment(data_dir=tmp_path / "data")
    deployment.seed(images=3)
    node = deployment.start_node()
    status, first = ask(node, deployment, "ann1")
    assert status == 200
    node.kill()  # acknowledged, then SIGKILL: no clean shutdown
    node = deployment.start_node()
    try:
        status, again = ask(node, deployment, "ann1")
        assert status == 200
        assert again["image"]["id"] == first["image"]["id"]
        status, other = ask(node, deployment, "ann2")
        assert status == 200 and other["image"]["id"] != first["image"]["id"]
    finally:
        deployment.stop_all()
