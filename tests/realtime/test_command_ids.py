"""Command ids over the WebSocket: authorised before the repeat lookup, scoped to the actor."""

from __future__ import annotations

import pytest

from tests.realtime.conftest import run
from tests.realtime.nodes import Deployment, Node
from tests.realtime.wsclient import LiveClient, create_box

pytestmark = pytest.mark.xdist_group("realtime-embedded-rooms")


def test_someone_elses_command_id_is_refused_over_the_websocket(
        embedded: tuple[Deployment, Node]) -> None:
    deployment, node = embedded
    image_id = deployment.image_ids[-1]

    async def scenario() -> None:
        owner = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "owner")
        other = await LiveClient.connect(node.ws_url, deployment.tokens["ann2"], "other")
        outsider = await LiveClient.connect(node.ws_url, deployment.tokens["outsider"], "out")
        command = create_box(command_id="ws-scoped-1")
        first = await owner.command(image_id, command)
        assert first["op"] == "ack", first
        refused = await outsider.command(image_id, command)
        assert refused["op"] == "error" and refused["error"]["code"] == "forbidden", refused
        taken = await other.command(image_id, command)
        assert taken["op"] == "error" and taken["error"]["code"] == "conflict", taken
        again = await owner.command(image_id, command)
        assert again["op"] == "ack" and again["position"] == first["position"], again
        for c in (owner, other, outsider):
            await c.close()

    run(scenario())
