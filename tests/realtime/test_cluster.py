"""Two nodes on one PostgreSQL store with Redis between them: people on different nodes see
each other as on one; Redis going away only delays; a killed node's clients move over."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realtime.conftest import converged_view, new_deployment, run
from tests.realtime.nodes import Deployment, Node, RedisServer
from tests.realtime.wsclient import LiveClient, create_box

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("realtime-cluster")]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, pg_url: str, shared_redis: str
         ) -> Iterator[tuple[Deployment, Node, Node]]:
    """Two nodes, the shared Redis under a random channel prefix."""
    deployment = new_deployment(tmp_path_factory.mktemp("pair"), pg_url, shared_redis)
    first, second = deployment.start_node(), deployment.start_node()
    yield deployment, first, second
    deployment.stop_all()


def test_two_nodes_see_each_others_events_presence_and_members(
        pair: tuple[Deployment, Node, Node]) -> None:
    deployment, one, two = pair
    image_id = deployment.image_ids[0]
    room = f"image:{image_id}"

    async def scenario() -> None:
        a = await LiveClient.connect(one.ws_url, deployment.tokens["ann1"], "a@1")
        b = await LiveClient.connect(two.ws_url, deployment.tokens["ann2"], "b@2")
        joined_a = await a.join(room)
        await asyncio.sleep(0.3)  # membership crosses over Redis
        joined_b = await b.join(room)
        assert joined_b["members"] == ["ann1", "ann2"]
        assert (await a.op("member_joined"))["user"] == "ann2"

        async def work(client: LiveClient, n: int) -> list[dict[str, object]]:
            return [await client.command(image_id, create_box(x=i)) for i in range(n)]

        acks_a, acks_b = await asyncio.gather(work(a, 10), work(b, 10))
        assert all(x["op"] == "ack" for x in acks_a + acks_b)
        last = max(int(x["position"]) for x in acks_a + acks_b)  # type: ignore[call-overload]
        for c, j in ((a, joined_a), (b, joined_b)):
            await c.wait_for(lambda m: m.get("op") == "event" and m["position"] == last,
                             c.index_of(j))
        assert [m["position"] for m in a.events(room)] == [m["position"]
                                                            for m in b.events(room)]
        await b.send({"op": "presence", "room": room, "cursor": {"x": 7, "y": 8}})
        assert (await a.op("presence", user="ann2"))["cursor"] == {"x": 7, "y": 8}
        await converged_view(a, joined_a, deployment, one, image_id)
        await converged_view(b, joined_b, deployment, two, image_id)
        await b.close()
        assert (await a.op("member_left", user="ann2"))["room"] == room
        await a.close()

    run(scenario())


def test_a_killed_node_leaves_the_other_working_and_its_clients_resume_there(
        tmp_path: Path, pg_url: str, shared_redis: str) -> None:
    # Its own pair: this test kills a node.
    deployment = new_deployment(tmp_path, pg_url, shared_redis)
    victim, survivor = deployment.start_node(), deployment.start_node()
    image_id = deployment.image_ids[1]
    room = f"image:{image_id}"
    try:
        async def scenario() -> None:
            stay = await LiveClient.connect(survivor.ws_url, deployment.tokens["ann1"], "stay")
            moved = await LiveClient.connect(victim.ws_url, deployment.tokens["ann2"], "moved")
            joined = await stay.join(room)
            joined_moved = await moved.join(room)
            await stay.op("member_joined", user="ann2")
            assert (await moved.command(image_id, create_box()))["op"] == "ack"
            await stay.op("event", since=stay.index_of(joined))
            await moved.op("event")
            seen = moved.view(joined_moved)

            await asyncio.to_thread(victim.kill)  # SIGKILL: no goodbye to anyone
            started = time.monotonic()
            acks = [await stay.command(image_id, create_box(x=10 + i)) for i in range(5)]
            assert all(a["op"] == "ack" for a in acks)
            assert await moved.closed() in (1006, 1011, 1012)
            # Its users are shown as gone once the node is presumed dead.
            await stay.op("member_left", user="ann2", timeout=20)
            assert time.monotonic() - started < 15
            # The moved client reconnects to the survivor and resumes where it was.
            back = await LiveClient.connect(survivor.ws_url, deployment.tokens["ann2"], "back")
            resumed = await back.join(room, after_position=seen.position)
            assert resumed["resumed"] is True and resumed["missed"] == 5
            await back.op("event", position=acks[-1]["position"])
            seen.apply_all(back.messages)
            await converged_view(stay, joined, deployment, survivor, image_id)
            assert seen.as_read_model() == stay.view(joined).as_read_model()
            await stay.close()
            await back.close()

        run(scenario())
    finally:
        deployment.stop_all()


@pytest.mark.slow
def test_redis_stopped_and_restarted_only_delays(tmp_path: Path, pg_url: str) -> None:
    redis = RedisServer()  # our own: the machine's shared Redis is never stopped
    redis.start()
    deployment = new_deployment(tmp_path, pg_url, redis.url)
    one, two = deployment.start_node(), deployment.start_node()
    image_id = deployment.image_ids[2]
    room = f"image:{image_id}"
    try:
        async def scenario() -> None:
            a = await LiveClient.connect(one.ws_url, deployment.tokens["ann1"], "a@1")
            b = await LiveClient.connect(two.ws_url, deployment.tokens["ann2"], "b@2")
            joined_a = await a.join(room)
            await asyncio.sleep(0.3)
            joined_b = await b.join(room)
            assert joined_b["members"] == ["ann1", "ann2"]

            await asyncio.to_thread(redis.stop)
            # Commands on node 1 still reach node 2's client (its log tail polls).
            acks = [await a.command(image_id, create_box(x=i)) for i in range(5)]
            assert all(x["op"] == "ack" for x in acks)
            await b.op("event", position=acks[-1]["position"], timeout=10)
            # Presence across nodes pauses while Redis is away...
            mark = len(b.messages)
            await a.send({"op": "presence", "room": room, "cursor": {"x": 1, "y": 1}})
            await asyncio.sleep(1.0)
            assert not any(m.get("op") == "presence" for m in b.messages[mark:])

            await asyncio.sleep(2.0)
            await asyncio.to_thread(redis.start)
            # ...and resumes once it is back (the buses reconnect with backoff).
            deadline = time.monotonic() + 20
            while True:
                mark = len(b.messages)
                await a.send({"op": "presence", "room": room, "cursor": {"x": 2, "y": 2}})
                await asyncio.sleep(0.5)
                if any(m.get("op") == "presence" for m in b.messages[mark:]):
                    break
                assert time.monotonic() < deadline, "presence did not resume"
            ack = await b.command(image_id, create_box(x=99))
            await a.op("event", position=ack["position"], timeout=5)
            await converged_view(a, joined_a, deployment, one, image_id)
            await converged_view(b, joined_b, deployment, two, image_id)
            # Membership converged again on both sides.
            c = await LiveClient.connect(one.ws_url, deployment.tokens["reviewer"], "c@1")
            joined_c = await c.join(room)
            assert joined_c["members"] == ["ann1", "ann2", "reviewer"]
            for client in (a, b, c):
                await client.close()

        run(scenario())
    finally:
        deployment.stop_all()
        redis.stop()
