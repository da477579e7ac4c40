"""Assist over the WebSocket: the server computes the proposal, a client cannot send one."""

from __future__ import annotations

import pytest

from tests.realtime.conftest import head, run
from tests.realtime.nodes import Deployment, Node
from tests.realtime.wsclient import LiveClient

pytestmark = pytest.mark.xdist_group("realtime-embedded-assist")

CLICKS = [[5, 30], [20, 12], [44, 25], [18, 60]]


def test_an_assist_is_recorded_with_the_servers_proposal_and_a_clients_is_refused(
        embedded: tuple[Deployment, Node]) -> None:
    deployment, node = embedded
    image_id = deployment.image_ids[0]

    async def scenario() -> None:
        client = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "ann1")
        assist = {"type": "assist", "mode": "extreme_points", "label": "cat", "points": CLICKS}
        before = head(deployment, node)
        refused = await client.command(image_id, {
            **assist, "proposal": {"x": 0, "y": 0, "w": 640, "h": 480}})
        assert refused["op"] == "error", refused
        assert refused["error"]["code"] == "validation", refused
        assert refused["error"]["details"]["field"] == "proposal", refused
        assert head(deployment, node) == before
        acked = await client.command(image_id, assist)
        assert acked["op"] == "ack" and acked["version"] == 3, acked
        await client.close()

    run(scenario())
