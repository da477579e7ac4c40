"""The assist_audit read model: live equals a rebuild in any batch size, and its metrics."""

from __future__ import annotations

from typing import Any

from domain import geometry as g
from domain.assist import AssistRequest
from domain.command_pipeline import Actor
from domain.commands import parse_command
from tests.projections.conftest import Backends, Stack, dump
from tests.projections.workload import ANNOTATORS

TABLES = ("assist_audit", "assist_images")


class AroundClicks:
    """A real little engine: the box around the positive clicks, 4 px of margin."""

    def propose(self, request: AssistRequest) -> g.Geometry:
        xs = [x for x, _, s in request.previous + request.points if s > 0]
        ys = [y for _, y, s in request.previous + request.points if s > 0]
        return g.Box(min(xs) - 4, min(ys) - 4, max(xs) - min(xs) + 8, max(ys) - min(ys) + 8)


def _assist_work(stack: Stack) -> None:
    stack.pipeline.assist.register("clicks", AroundClicks())
    work = stack.workload(seed=3)
    work.setup()
    work.add_images(4)
    user = Actor(ANNOTATORS[0])

    def run(image: Any, raw: dict[str, Any]) -> list[dict[str, Any]]:
        return stack.pipeline.execute(image.image_id, [parse_command(raw)], user).events

    for n, image in enumerate(work.images):
        clicks = {"type": "assist", "mode": "clicks", "label": "car", "points": [[20, 20, 1]]}
        kept = run(image, clicks)[1]["data"]["annotation_id"]
        run(image, {**clicks, "points": [[30, 30, 1], [5, 5, -1]], "annotation_id": kept})
        run(image, {"type": "assist", "mode": "extreme_points", "label": "car",
                    "points": [[10, 20], [20, 10], [30, 20], [20, 30]]})
        edited = run(image, clicks)[1]["data"]["annotation_id"]
        run(image, {"type": "edit", "annotation_id": edited, "changes": {
            "geometry": {"x": 16, "y": 16, "w": 8, "h": 4 + n}}})
        rejected = run(image, clicks)[1]["data"]["annotation_id"]
        run(image, {"type": "delete", "annotation_id": rejected})


def test_live_equals_a_rebuild_in_any_batch_size(backends: Backends) -> None:
    stack = backends.stack()
    stack.runner.start()
    _assist_work(stack)
    assert stack.read.wait_for(stack.head(), timeout=20)
    stack.runner.stop()
    live = dump(stack.db, TABLES)
    assert len(live["assist_audit"]) == 4 * 4
    for batch_size in (1, 5000):
        other = backends.stack(batch_size=batch_size)
        other.runner.rebuild("assist_audit")
        assert dump(other.db, TABLES) == live


def test_the_metrics_of_a_project(backends: Backends) -> None:
    stack = backends.stack()
    _assist_work(stack)
    stack.runner.catch_up()
    rows = stack.db.query("SELECT DISTINCT project_id FROM assist_audit")
    groups = [g for (pid,) in rows for g in stack.read.assist_metrics(pid)]
    clicks = [g for g in groups if g["mode"] == "clicks"]
    assert sum(g["proposals"] for g in clicks) == 12
    assert all(g["engine"] == "built-in" for g in groups)
    for group in clicks:
        n = group["proposals"] // 3
        assert (group["accepted"], group["edited"], group["rejected"]) == (n, n, n)
        assert group["clicks_per_accepted"] == 3.0  # 1 click, then 2 more refining it
        assert group["acceptance_rate"] == 1 / 3
        assert 0 < group["mean_iou_edited"] < 1
    extreme = [g for g in groups if g["mode"] == "extreme_points"]
    assert sum(g["accepted"] for g in extreme) == 4
    assert all(g["clicks_per_accepted"] == 4.0 for g in extreme)
