"""Rooms on one node: shared order, presence, every writer's events, conflicts, resume,
back-pressure, project dashboards, graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest
import websockets

from tests.realtime.conftest import converged_view, run
from tests.realtime.nodes import Deployment, Node, http_json
from tests.realtime.wsclient import LiveClient, create_box, edit_box

pytestmark = pytest.mark.xdist_group("realtime-embedded-rooms")


def test_two_clients_see_the_same_events_in_the_same_order_and_each_other(
        embedded: tuple[Deployment, Node]) -> None:
    deployment, node = embedded
    image_id = deployment.image_ids[0]
    room = f"image:{image_id}"

    async def scenario() -> None:
        a = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "a")
        b = await LiveClient.connect(node.ws_url, deployment.tokens["ann2"], "b")
        joined_a = await a.join(room)
        joined_b = await b.join(room)
        assert joined_b["members"] == ["ann1", "ann2"]
        assert (await a.op("member_joined"))["user"] == "ann2"

        async def work(client: LiveClient, n: int) -> list[int]:
            acks = [await client.command(image_id, create_box(x=5 + i)) for i in range(n)]
            assert all(ack["op"] == "ack" for ack in acks), acks
            return [ack["position"] for ack in acks]

        mine_a, mine_b = await asyncio.gather(work(a, 15), work(b, 15))
        last = max(mine_a + mine_b)
        for c, j in ((a, joined_a), (b, joined_b)):
            await c.wait_for(lambda m: m.get("op") == "event" and m["position"] == last,
                             c.index_of(j))
        order_a = [m["position"] for m in a.events(room)]
        assert order_a == [m["position"] for m in b.events(room)]
        assert sorted(mine_a + mine_b) == order_a  # all of them, in position order

        await a.send({"op": "presence", "room": room, "cursor": {"x": 3, "y": 4},
                      "selection": [a.events(room)[0]["event"]["data"]["annotation_id"]]})
        seen = await b.op("presence", user="ann1")
        assert seen["cursor"] == {"x": 3, "y": 4} and len(seen["selection"]) == 1
        await converged_view(a, joined_a, deployment, node, image_id)
        await converged_view(b, joined_b, deployment, node, image_id)
        await b.close()
        assert (await a.op("member_left"))["user"] == "ann2"
        await a.close()

    run(scenario())


def test_http_commands_and_other_processes_reach_the_room(embedded: tuple[Deployment, Node]
                                                          ) -> None:
    deployment, node = embedded
    image_id = deployment.image_ids[1]
    room = f"image:{image_id}"

    async def scenario() -> None:
        watcher = await LiveClient.connect(node.ws_url, deployment.tokens["reviewer"], "w")
        joined = await watcher.join(room)
        status, result = await asyncio.to_thread(
            http_json, node.port, "POST", f"/api/v1/images/{image_id}/commands",
            deployment.tokens["ann1"], create_box(label="dog"))
        assert status == 200, result
        event = await watcher.op("event", position=result["position"])
        assert event["event"]["type"] == "AnnotationCreated" and event["event"]["actor"] == "ann1"

        def from_another_process() -> int:
            from domain.command_pipeline import Actor
            from domain.commands import parse_command

            with deployment.services() as services:
                command = parse_command(create_box(label="cat", x=50))
                done = services.pipeline.execute(
                    __import__("uuid").UUID(image_id), [command], Actor("ann2"))
                return done.position

        position = await asyncio.to_thread(from_another_process)
        event = await watcher.op("event", position=position, timeout=10)
        assert event["event"]["actor"] == "ann2"
        await converged_view(watcher, joined, deployment, node, image_id)
        await watcher.close()

    run(scenario())


def test_the_same_annotation_from_the_same_base_gives_one_ack_and_one_conflict(
        embedded: tuple[Deployment, Node]) -> None:
    deployment, node = embedded
    image_id = deployment.image_ids[2]
    room = f"image:{image_id}"

    async def scenario() -> None:
        a = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "a")
        b = await LiveClient.connect(node.ws_url, deployment.tokens["ann2"], "b")
        joined = await a.join(room)
        await b.join(room)
        created = await a.command(image_id, create_box())
        event = await a.op("event", position=created["position"])
        annotation_id = event["event"]["data"]["annotation_id"]
        replies = await asyncio.gather(
            a.command(image_id, edit_box(annotation_id, 100, base_revision=1)),
            b.command(image_id, edit_box(annotation_id, 200, base_revision=1)))
        ops = sorted(r["op"] for r in replies)
        assert ops == ["ack", "error"], replies
        ack = next(r for r in replies if r["op"] == "ack")
        conflict = next(r for r in replies if r["op"] == "error")
        assert conflict["error"]["code"] == "conflict"
        current = conflict["error"]["details"]["current"]
        assert current["revision"] == 2 and current["id"] == annotation_id
        assert conflict["error"]["details"]["version"] == ack["version"]
        # The same command_id twice: one event, the same answer.
        again = [await a.command(image_id, create_box(command_id="once")) for _ in range(2)]
        assert again[0]["op"] == "ack" and again[0]["position"] == again[1]["position"]
        await converged_view(a, joined, deployment, node, image_id)
        creates = [m for m in a.events(room) if m["event"]["command_id"] == "once"]
        assert len(creates) == 1
        await a.close()
        await b.close()

    run(scenario())


def test_a_client_that_drops_off_resumes_with_exactly_the_missed_events(
        embedded: tuple[Deployment, Node]) -> None:
    deployment, node = embedded
    image_id = deployment.image_ids[3]
    room = f"image:{image_id}"

    async def scenario() -> None:
        writer = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "writer")
        laptop = await LiveClient.connect(node.ws_url, deployment.tokens["ann2"], "laptop")
        joined = await laptop.join(room)
        for i in range(5):
            assert (await writer.command(image_id, create_box(x=i)))["op"] == "ack"
        await laptop.wait_for(lambda m: len(laptop.events(room)) == 5, timeout=10)
        view = laptop.view(joined)
        laptop.abort()  # Wi-Fi gone, no closing handshake
        acks = [await writer.command(image_id, create_box(x=20 + i)) for i in range(12)]
        back = await LiveClient.connect(node.ws_url, deployment.tokens["ann2"], "back")
        resumed = await back.join(room, after_position=view.position)
        assert resumed["resumed"] is True and resumed["missed"] == 12, resumed
        assert resumed["position"] == acks[-1]["position"]
        ack = await writer.command(image_id, create_box(x=90))  # and live after that
        await back.op("event", position=ack["position"])
        missed = back.events(room)
        assert [m["position"] for m in missed] == [a["position"] for a in acks] + [
            ack["position"]]
        view.apply_all(back.messages)
        body = await asyncio.to_thread(deployment.annotations, node, image_id,
                                       ack["position"])
        assert view.as_read_model() == {k: body[k] for k in ("version", "position",
                                                             "annotations")}
        # Resuming from the newest position: nothing missed, just live.
        again = await LiveClient.connect(node.ws_url, deployment.tokens["ann2"], "again")
        nothing = await again.join(room, after_position=ack["position"])
        assert nothing["missed"] == 0 and nothing["version"] == body["version"]
        beyond = await again.join(room, after_position=10**9)
        assert beyond["error"]["code"] == "validation"
        for c in (writer, back, again):
            await c.close()

    run(scenario())


def test_the_project_room_follows_image_status_and_counts(embedded: tuple[Deployment, Node]
                                                          ) -> None:
    deployment, node = embedded
    image_id = deployment.image_ids[5]

    async def scenario() -> None:
        manager = await LiveClient.connect(node.ws_url, deployment.tokens["manager"], "m")
        joined = await manager.join(f"project:{deployment.project_id}")
        counts = dict(joined["counts"])
        ann = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "a")
        first = await ann.command(image_id, create_box())
        await ann.command(image_id, create_box())  # a count change, no status change
        submitted = await ann.command(image_id, {"type": "submit"})
        assert submitted["op"] == "ack"
        await manager.op("image_changed", position=submitted["position"])
        changes = [m for m in manager.messages if m["op"] == "image_changed"]
        mine = [m for m in changes if m["image_id"] == image_id]
        assert [(m["previous_status"], m["status"], m["annotation_count"]) for m in mine][
            -3:] == [("new", "in_progress", 1), ("in_progress", "in_progress", 2),
                     ("in_progress", "submitted", 2)]
        assert mine[-3]["position"] == first["position"]
        for m in changes:
            if m["previous_status"] is not None:
                counts[m["previous_status"]] -= 1
            counts[m["status"]] += 1
        status, project = await asyncio.to_thread(
            http_json, node.port, "GET",
            f"/api/v1/projects/{deployment.project_id}?min_position={submitted['position']}",
            deployment.tokens["manager"])
        assert status == 200 and project["counts"] == counts
        await manager.close()
        await ann.close()

    run(scenario())


@pytest.mark.slow
def test_a_dead_connection_is_removed_within_30_seconds(embedded: tuple[Deployment, Node]
                                                        ) -> None:
    deployment, node = embedded
    room = f"image:{deployment.image_ids[6]}"

    async def scenario() -> None:
        watcher = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "w")
        await watcher.join(room)
        # A peer that vanished without a trace: it never answers the server's pings.
        ghost = await websockets.connect(f"{node.ws_url}?token={deployment.tokens['ann2']}",
                                         ping_interval=None)
        await ghost.send(json.dumps({"op": "join", "room": room}))
        await watcher.op("member_joined", user="ann2")
        ghost.transport.pause_reading()  # stops reading: pings go unanswered
        started = time.monotonic()
        await watcher.op("member_left", user="ann2", timeout=40)
        assert time.monotonic() - started <= 30
        ghost.transport.abort()
        await watcher.close()

    run(scenario(), timeout=60)


def test_a_stopping_node_tells_its_clients_to_reconnect(embedded: tuple[Deployment, Node]
                                                        ) -> None:
    deployment, _ = embedded
    node = deployment.start_node()  # a second node on the same embedded store
    try:
        async def scenario() -> None:
            client = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "c")
            await client.join(f"image:{deployment.image_ids[7]}")
            await asyncio.to_thread(node.stop, signal.SIGTERM)
            assert await client.closed() == 1012

        run(scenario())
    finally:
        node.kill()
