"""Fixtures for the realtime tests: real ``labelwright serve`` nodes and real WebSocket clients.

Single-node tests run on the embedded store (SQLite in a temporary data dir). Multi-node tests
run on a fresh PostgreSQL database per module and Redis: the shared server with a random
channel prefix, or a private ``redis-server`` when the test stops and restarts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realtime.nodes import (
    SHARED_REDIS_URL,
    Deployment,
    Node,
    postgres_available,
    postgres_database,
    redis_available,
)
from tests.realtime.wsclient import LiveClient, Message, read_model_part
from tests.required_services import unavailable


def run(coroutine: Coroutine[Any, Any, Any], timeout: float = 120.0) -> Any:
    """Run one test scenario on a fresh event loop, with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Node]]:
    """One embedded node (SQLite) for a module; tests use their own images."""
    deployment = Deployment(tmp_path_factory.mktemp("rt") / "data")
    deployment.seed(images=12)
    node = deployment.start_node()
    yield deployment, node
    deployment.stop_all()


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if not postgres_available():
        unavailable("PostgreSQL is not reachable")
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def shared_redis() -> str:
    if not redis_available():
        unavailable("Redis is not reachable at " + SHARED_REDIS_URL)
    return SHARED_REDIS_URL


def new_deployment(root: Path, database_url: str | None, redis_url: str | None,
                   images: int = 6) -> Deployment:
    deployment = Deployment(root / "data", database_url=database_url, redis_url=redis_url)
    deployment.seed(images=images)
    return deployment


def head(deployment: Deployment, node: Node) -> int:
    from tests.realtime.nodes import http_json

    status, body = http_json(node.port, "GET", "/api/v1/projections",
                             deployment.tokens["admin"])
    assert status == 200, body
    return int(body["head"])


async def converged_view(client: LiveClient, joined: Message, deployment: Deployment,
                         node: Node, image_id: str, timeout: float = 15.0) -> None:
    """Assert the client's fold of ``joined`` + events equals the labels read model, once
    the client has received the image's last event."""
    body = await asyncio.to_thread(deployment.annotations, node, image_id,
                                   head(deployment, node))
    room = f"image:{image_id}"
    if body["position"] > joined["position"]:
        await client.wait_for(lambda m: m.get("op") == "event" and m.get("room") == room
                              and m["position"] >= body["position"],
                              client.index_of(joined), timeout)
    view = client.view(joined)
    assert view.as_read_model() == read_model_part(body), (client.name, view.position,
                                                           body["position"])
