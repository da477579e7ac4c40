"""No geometry the API accepts may stall the single writer thread: a command on another image
must not wait behind the worst polygon or mask edit (the IoU against the pre-label's
proposal is computed in the writer)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from domain import rle
from domain.command_pipeline import Actor
from domain.commands import parse_command, parse_prelabel
from tests.domain.conftest import World

SIZE = 10_000  # a 100 megapixel image


def star(n: int) -> list[list[float]]:
    """A regular star polygon with ~n**2/4 self-intersections (n = 300 took 41 s before)."""
    k = n // 2
    while math.gcd(n, k) != 1:
        k -= 1
    return [[5000 + 4000 * math.cos(2 * math.pi * i * k / n),
             5000 + 4000 * math.sin(2 * math.pi * i * k / n)] for i in range(n)]


def propose(world: World, image_id: Any, kind: str, geometry: dict[str, Any]) -> str:
    result = world.pipeline.execute(image_id, [parse_prelabel(
        {"type": kind, "label": "cat", "geometry": geometry, "score": 0.8}, "yolo", "1")],
        Actor("mgr", trusted=True))
    return str(result.events[0]["data"]["annotation_id"])


def point(i: int) -> dict[str, Any]:
    return {"type": "create", "annotation": {"type": "point", "label": "cat",
                                             "geometry": {"x": i, "y": 5}}}


def edit_beside_another_image(world: World, image_id: Any, annotation_id: str,
                              geometry: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Queue the edit, then a command on another (cached) image right behind it; how long
    that one took, and the edit's event."""
    other = world.add_image("f" * 64)
    world.run(point(1), image_id=other)  # both images are in the writer's cache now
    edit = world.pipeline.submit(image_id, [parse_command(
        {"type": "edit", "annotation_id": annotation_id, "changes": {"geometry": geometry}})],
        Actor("ann"))
    start = time.perf_counter()
    world.pipeline.submit(other, [parse_command(point(2))], Actor("bob")).result(30)
    waited = time.perf_counter() - start
    return waited, edit.result(30).events[0]


def test_a_10000_point_self_intersecting_edit_does_not_hold_up_other_images(world: World
                                                                            ) -> None:
    image_id = world.add_image("e" * 64, width=SIZE, height=SIZE)
    outline = [[5000 + 3000 * math.cos(a), 5000 + 3000 * math.sin(a)]
               for a in np.linspace(0, 2 * math.pi, 64, endpoint=False).tolist()]
    annotation_id = propose(world, image_id, "polygon", {"points": outline})
    waited, event = edit_beside_another_image(world, image_id, annotation_id,
                                              {"points": star(10_000)})
    assert event["type"] == "PrelabelEdited"
    assert 0.0 < event["data"]["iou"] < 1.0
    assert len(event["data"]["geometry"]["points"]) == 10_000
    # ~0.1 s here with the geometry's IoU and validation; the old repair of a self-
    # intersecting polygon never finished for 10,000 points (41 s for 300)
    assert waited < 1.0


def test_a_mask_edit_on_a_100_megapixel_image_does_not_hold_up_other_images(world: World
                                                                            ) -> None:
    image_id = world.add_image("d" * 64, width=SIZE, height=SIZE)
    # a disc: in each column it crosses, one run of 1s (RLE runs go down the columns)
    x = np.arange(2000, 8000)
    half = np.sqrt(3000.0**2 - (x - 5000.0) ** 2).astype(np.int64)
    bounds = np.stack((x * SIZE + 5000 - half, x * SIZE + 5000 + half), axis=1).ravel()
    disc = {"size": [SIZE, SIZE],
            "counts": rle.counts_from_runs(np.diff(np.concatenate(([0], bounds, [SIZE**2]))))}
    annotation_id = propose(world, image_id, "mask", {"rle": disc})
    # a ragged mask of ~400,000 runs: about as much as a 1 MiB command can carry
    runs = np.random.default_rng(0).integers(100, 400, 400_000)
    runs[-1] = SIZE * SIZE - int(runs[:-1].sum())
    edited = {"size": [SIZE, SIZE], "counts": rle.counts_from_runs(runs)}
    assert len(edited["counts"]) < 1024 * 1024
    waited, event = edit_beside_another_image(world, image_id, annotation_id, {"rle": edited})
    assert event["type"] == "PrelabelEdited"
    assert event["data"]["iou"] == round(rle.iou(edited, disc), 6)
    assert waited < 1.0  # ~0.1 s here
