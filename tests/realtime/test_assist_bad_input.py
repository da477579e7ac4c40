"""Bad assists over the WebSocket: the same refusals as over HTTP (the command path is
shared), each with its code and field, nothing recorded. Only engines every install has are
used here (the node is another process)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.realtime.conftest import head, run
from tests.realtime.nodes import Deployment, Node
from tests.realtime.wsclient import LiveClient

pytestmark = pytest.mark.xdist_group("realtime-embedded-assist-bad-input")

EXTREME = [[5, 30], [20, 12], [44, 25], [18, 60]]


def _models_and_a_tiny_image(deployment: Deployment) -> dict[str, str]:
    spec: dict[str, Any] = {"version": "1", "format": "onnx", "architecture": None,
                            "layout": "generic", "input_size": None, "sha256": "0" * 64,
                            "size_bytes": 1, "file_name": "m.onnx", "details": {}}
    with deployment.services(background=False) as s:
        detector, _ = s.app.register_model(deployment.project_id, "admin", name="det",
                                           task="detect", classes=["cat"], **spec)
        foreign, _ = s.app.register_model(deployment.other_project_id, "admin", name="sam",
                                          task="interactive", classes=[], **spec)
        added, _ = s.app.add_images(deployment.project_id, [{
            "file_name": "dot.png", "width": 1, "height": 1, "sha256": "d" * 64,
            "content_type": "image/png"}], "admin")
    return {"detector": str(detector.id), "foreign": str(foreign.id),
            "tiny": str(added[0][0].id)}


def test_bad_assists_are_refused_over_the_websocket(embedded: tuple[Deployment, Node]) -> None:
    deployment, node = embedded
    image_id = deployment.image_ids[1]
    ids = _models_and_a_tiny_image(deployment)

    async def scenario() -> None:
        client = await LiveClient.connect(node.ws_url, deployment.tokens["ann1"], "ann1")
        made = await client.command(image_id, {"type": "create", "annotation": {
            "type": "box", "label": "cat", "geometry": {"x": 1, "y": 1, "w": 5, "h": 5},
            "id": "manual-1"}})
        assert made["op"] == "ack", made
        manual = "manual-1"
        assist = {"type": "assist", "mode": "extreme_points", "label": "cat",
                  "points": EXTREME}
        cases: list[tuple[str, dict[str, Any], str, str]] = [
            (image_id, {"points": [*EXTREME[:3], [18, 600]]}, "validation", "points[3]"),
            (image_id, {"points": EXTREME[:3]}, "validation", "points"),
            (image_id, {"points": [[5, 30, 1]] * 10_000}, "validation", "points"),
            (image_id, {"output": "circle"}, "validation", "output"),
            (image_id, {"model_id": ids["detector"]}, "validation", "model_id"),
            (image_id, {"model_id": ids["foreign"]}, "not_found", "model_id"),
            (image_id, {"mode": "clicks", "points": [[5, 5, 1]], "annotation_id": manual},
             "validation", "annotation_id"),
            (ids["tiny"], {"points": [[0, 0.5], [0.5, 0], [1, 0.5], [0.5, 1]]}, "validation",
             "image_id"),
        ]
        before = head(deployment, node)
        for target, fields, code, field in cases:
            answer = await client.command(target, {**assist, **fields})
            assert answer["op"] == "error", (fields, answer)
            assert answer["error"]["code"] == code, (fields, answer)
            assert answer["error"]["details"]["field"] == field, (fields, answer)
        assert head(deployment, node) == before
        # (a box: these images have no file, and a shape needs the pixels)
        good = await client.command(image_id, assist)
        assert good["op"] == "ack", good
        await client.close()

    run(scenario())
