"""Review holds over the WebSocket: an annotator's command on a submitted or approved image
gets an ``error`` with code ``locked`` (nothing recorded, the room sees nothing); a reviewer's
``reopen`` is an event every client in the room applies."""

from __future__ import annotations

import pytest

from tests.realtime.conftest import converged_view, head, run
from tests.realtime.nodes import Deployment, Node
from tests.realtime.wsclient import LiveClient, create_box, edit_box

pytestmark = pytest.mark.xdist_group("realtime-embedded-review-holds")


def test_locked_over_the_socket_and_reopen_reaches_the_room(
        embedded: tuple[Deployment, Node]) -> None:
    deployment, node = embedded
    image_id = deployment.image_ids[0]
    room = f"image:{image_id}"

    async def scenario() -> None:
        ann = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "ann")
        rev = await LiveClient.connect(node.ws_url, deployment.tokens["reviewer"], "rev")
        joined = await ann.join(room)
        await rev.join(room)
        made = await ann.command(image_id, create_box())
        assert made["op"] == "ack", made
        box = await ann.wait_for(lambda m: m.get("op") == "event" and m.get("room") == room
                                 and m["event"]["type"] == "AnnotationCreated")
        box_id = box["event"]["data"]["annotation_id"]
        assert (await ann.command(image_id, {"type": "submit"}))["op"] == "ack"
        before = head(deployment, node)
        for command in (create_box(x=30), edit_box(box_id, 20), {"type": "submit"},
                        {"type": "delete", "annotation_id": box_id}):
            reply = await ann.command(image_id, command)
            assert reply["op"] == "error", reply
            assert reply["error"]["code"] == "locked", reply
            assert reply["error"]["details"]["status"] == "submitted"
        assert head(deployment, node) == before
        reply = await ann.command(image_id, {"type": "reopen"})
        assert reply["error"]["code"] == "forbidden"
        reopened = await rev.command(image_id, {"type": "reopen", "comment": "one more box"})
        assert reopened["op"] == "ack", reopened
        event = await ann.wait_for(lambda m: m.get("op") == "event" and m.get("room") == room
                                   and m["event"]["type"] == "ImageReopened")
        assert event["event"]["actor"] == "reviewer"
        assert event["event"]["data"] == {"comment": "one more box"}
        assert (await ann.command(image_id, create_box(x=40)))["op"] == "ack"
        await converged_view(ann, joined, deployment, node, image_id)
        assert ann.view(joined).status == "in_progress"
        for c in (ann, rev):
            await c.close()

    run(scenario())
