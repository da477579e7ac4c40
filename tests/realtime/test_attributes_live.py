"""Per-object attributes over the WebSocket: a command with attributes is acknowledged, the
room gets AnnotationAttributesSet with the whole dict and the revision, a refused value is an
`error` op naming the field, and both a fresh join's state and a client's fold of the events
equal the labels read model (attributes included)."""

from __future__ import annotations

import pytest

from tests.realtime.conftest import converged_view, run
from tests.realtime.nodes import Deployment, Node, http_json
from tests.realtime.wsclient import LiveClient, create_box

pytestmark = pytest.mark.xdist_group("realtime-embedded-rooms")

DEFINITIONS = [{"name": "occluded", "type": "checkbox"},
               {"name": "colour", "type": "select", "values": ["red", "blue"],
                "classes": ["cat"]}]


def test_attributes_reach_the_room_and_the_joined_state(embedded: tuple[Deployment, Node]
                                                        ) -> None:
    deployment, node = embedded
    image_id = deployment.image_ids[-2]
    status, body = http_json(node.port, "PATCH", f"/api/v1/projects/{deployment.project_id}",
                             deployment.tokens["manager"], {"attributes": DEFINITIONS})
    assert status == 200, body
    room = f"image:{image_id}"

    async def scenario() -> None:
        ann = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "ann")
        watcher = await LiveClient.connect(node.ws_url, deployment.tokens["ann2"], "watcher")
        joined = await watcher.join(room)
        await ann.join(room)
        ack = await ann.command(image_id, create_box(x=5))
        assert ack["op"] == "ack", ack
        made = await watcher.op("event", room=room)
        aid = made["event"]["data"]["annotation_id"]
        box = {"type": "create", "annotation": {
            "type": "box", "label": "cat", "geometry": {"x": 50, "y": 5, "w": 10, "h": 10},
            "attributes": {"colour": "red"}}}
        assert (await ann.command(image_id, box))["op"] == "ack"
        edit = {"type": "edit", "annotation_id": aid, "base_revision": 1,
                "changes": {"attributes": {"occluded": True}}}
        assert (await ann.command(image_id, edit))["op"] == "ack"
        refused = await ann.command(image_id, {
            "type": "edit", "annotation_id": aid,
            "changes": {"attributes": {"colour": "green"}}})
        assert refused["op"] == "error" and refused["error"]["code"] == "validation", refused
        set_event = await watcher.wait_for(
            lambda m: m.get("op") == "event" and m["event"]["type"] == "AnnotationAttributesSet"
            and m["event"]["data"]["annotation_id"] == aid)
        assert set_event["event"]["data"] == {"annotation_id": aid,
                                              "attributes": {"occluded": True}, "revision": 2}
        await converged_view(watcher, joined, deployment, node, image_id)
        late = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "late")
        state = await late.join(room)
        mine = {a["id"]: a for a in state["annotations"]}
        assert mine[aid]["attributes"] == {"occluded": True}
        assert mine[aid]["revision"] == 2
        assert {"colour": "red"} in [a["attributes"] for a in state["annotations"]]
        for c in (ann, watcher, late):
            await c.close()

    run(scenario())
