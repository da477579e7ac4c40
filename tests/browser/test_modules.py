"""The front end's pure modules, run in the browser against the server's own rules: COCO RLE
decoding (against pycocotools) and the event reducer that keeps a page's labels in step
(against the server's state after the same events)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from tests.browser.lab import DemoServer, log_in

pytestmark = pytest.mark.browser


def coco_rle(mask: np.ndarray) -> dict[str, Any]:
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode()}


def masks() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = [np.zeros((5, 7), np.uint8), np.ones((4, 3), np.uint8)]
    one = np.zeros((9, 11), np.uint8)
    one[8, 10] = 1
    out.append(one)
    for h, w in [(30, 40), (64, 48), (200, 300), (1, 50), (50, 1)]:
        out.append((rng.random((h, w)) > rng.uniform(0.2, 0.9)).astype(np.uint8))
    blob = np.zeros((480, 640), np.uint8)
    yy, xx = np.mgrid[:480, :640]
    blob[(yy - 200) ** 2 + (xx - 300) ** 2 < 150**2] = 1  # long runs: multi-character values
    out.append(blob)
    return out


def test_rle_decoding_matches_pycocotools(server: DemoServer, new_context: Any) -> None:
    page = new_context().new_page()
    log_in(page, server.base, "ana")
    cases = masks()
    decoded = page.evaluate("""async (rles) => {
      const { decodeMask } = await import('/static/js/rle.js');
      return rles.map((rle) => { const m = decodeMask(rle);
        return { x: m.x, y: m.y, w: m.w, h: m.h, area: m.area, bits: Array.from(m.bits) }; });
    }""", [coco_rle(m) for m in cases])
    for mask, got in zip(cases, decoded, strict=True):
        assert got["area"] == int(mask.sum())
        full = np.zeros_like(mask)
        if got["area"]:
            bits = np.array(got["bits"], np.uint8).reshape(got["h"], got["w"])
            full[got["y"]:got["y"] + got["h"], got["x"]:got["x"] + got["w"]] = bits
            ys, xs = np.nonzero(mask)
            assert (got["x"], got["y"]) == (xs.min(), ys.min())  # the tight bounding box
        assert np.array_equal(full, mask)


def random_work(server: DemoServer, image_id: str, seed: int) -> None:
    """A random mix of every kind of command on one image, by two people."""
    rng = random.Random(seed)
    ana, arjun = server.api("ana"), server.api("arjun")
    position = 0
    for _ in range(40):
        api = rng.choice([ana, arjun])
        # Read what the last command did (the read model may lag a moment otherwise).
        labels = api.labels(image_id, min_position=position)["annotations"]
        proposed = [a for a in labels if a["status"] == "proposed"]
        kind = rng.choice(["create", "create", "edit", "label", "delete", "accept"])
        x, y = rng.uniform(0, 500), rng.uniform(0, 400)
        if kind == "create" or not labels:
            kind = rng.choice(["box", "point"])
            geometry = {"x": x, "y": y, "w": 40, "h": 30} if kind == "box" else {"x": x, "y": y}
            position = api.command(image_id, {"type": "create", "annotation": {
                "type": kind, "label": rng.choice(["cup", "cat"]), "geometry": geometry}}
            )["position"]
            continue
        target = rng.choice(proposed if kind == "accept" and proposed else labels)
        command: dict[str, Any] | None = None
        if kind == "accept" and target["status"] == "proposed":
            command = {"type": "accept", "annotation_id": target["id"]}
        elif kind == "delete":
            command = {"type": "delete", "annotation_id": target["id"]}
        elif kind == "label":
            command = {"type": "edit", "annotation_id": target["id"],
                       "changes": {"label": rng.choice(["cup", "cat", "flag"])}}
        elif target["type"] == "box":
            command = {"type": "edit", "annotation_id": target["id"],
                       "changes": {"geometry": {"x": x, "y": y, "w": 55, "h": 25}}}
        if command is not None:
            position = api.command(image_id, command)["position"]
    ana.command(image_id, {"type": "submit"})
    server.api("rui").command(image_id, {"type": "review", "verdict": "reject",
                                         "comment": "again"})


@pytest.mark.parametrize("seed", [1, 2])
def test_event_reducer_agrees_with_the_server(server: DemoServer, new_context: Any,
                                              seed: int) -> None:
    image = server.new_image([
        {"type": "box", "label": "cup", "score": 0.5 + i / 20,
         "geometry": {"x": 30 * i, "y": 20, "w": 25, "h": 25}} for i in range(6)])
    random_work(server, image["id"], seed)
    server.api("admin").settled()
    page = new_context().new_page()
    log_in(page, server.base, "ana")
    replayed = page.evaluate("""async (id) => {
      const { ImageLabels } = await import('/static/js/image_labels.js');
      const { allHistory } = await import('/static/js/api.js');
      const labels = new ImageLabels(id);
      for (const e of await allHistory(id)) {
        const ok = labels.applyEvent({ version: e.version, position: e.position,
          event: { type: e.type, actor: e.actor, at: e.at, command_id: e.command_id,
                   data: e.data } });
        if (!ok) throw new Error(`gap at version ${e.version}`);
      }
      return { version: labels.version, status: labels.status, annotations: [...labels.values()] };
    }""", image["id"])
    admin = server.api("admin")
    current = admin.labels(image["id"])
    assert replayed["version"] == current["version"]
    assert replayed["status"] == admin.get(f"/images/{image['id']}")["status"] == "rejected"
    key = lambda a: a["id"]  # noqa: E731
    assert sorted(replayed["annotations"], key=key) == sorted(current["annotations"], key=key)
