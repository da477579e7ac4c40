"""A real pre-label job, people's work, then the evaluation, with the figures worked out by hand.

The model is the jobs tests' planted-output YOLOv8 ONNX model run by ONNX Runtime through the
real job code (``PrelabelWork``): on every 64x64 image it proposes a cat (15, 15, 10x10, score
0.9) and a dog (34, 36, 12x8, score 0.8).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from domain.command_pipeline import Actor
from domain.commands import parse_command
from event_store.positions import log_head
from inference_workers.evaluation import evaluate_task
from inference_workers.prelabel_job import LoadedModel, PrelabelWork, default_load_runner
from labelwright.settings import Settings
from service_layer.model_evaluation import evaluate_model
from tests.jobs.conftest import JobWorld, make_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[JobWorld]:
    w = make_world(Settings(data_dir=tmp_path / "data", secret_key="evaluation-tests",
                            job_shard_size=3), tmp_path, images=6)
    yield w
    w.close()


def test_a_job_judged_against_what_people_made_of_it(world: JobWorld) -> None:
    s = world.services
    assert s.jobs is not None
    job_id = str(s.jobs.queue(world.project_id, "manager", {
        "type": "prelabel", "model_id": str(world.model.id), "images": "all"}).id)
    work = PrelabelWork(s.app, s.pipeline, s.images,
                        LoadedModel(s.models, default_load_runner("cpu", 1)), "test")
    for shard in (0, 1):
        work.run_shard(job_id, shard)
    before_people = log_head(s.app)

    annotator = Actor("annotator")

    def act(image_id: str, *commands: dict[str, object]) -> None:
        s.pipeline.execute(UUID(image_id), [parse_command(c) for c in commands], annotator)

    def prelabel(image_id: str, label: str) -> str:
        image = s.app.image(UUID(image_id))
        return next(a["id"] for a in image.annotations.values() if a["label"] == label)

    first, second, third = world.image_ids[:3]  # the other three: nobody looks at them
    act(first, {"type": "accept", "annotation_id": prelabel(first, "cat")},
        {"type": "accept", "annotation_id": prelabel(first, "dog")})
    act(second, {"type": "accept", "annotation_id": prelabel(second, "cat")},
        {"type": "edit", "annotation_id": prelabel(second, "dog"), "changes": {"label": "cat"}})
    act(third, {"type": "accept", "annotation_id": prelabel(third, "cat")},
        {"type": "delete", "annotation_id": prelabel(third, "dog")},
        {"type": "create", "annotation": {"type": "box", "label": "dog",
                                          "geometry": {"x": 2, "y": 40, "w": 10, "h": 10}}})
    s.runner.catch_up()

    result = evaluate_model(s.app, s.read, evaluate_task, world.project_id, str(world.model.id))
    assert result["job"] == job_id and result["threshold"] == 0.25 and result["kind"] == "bbox"
    assert result["images"] == 3 and result["images_excluded"] == 3
    figures = {c["label"]: c for c in result["per_class"]}
    # cat: 4 labelled, the 3 cat proposals all right: recall 3/4 at precision 1 -> AP 76/101.
    assert (figures["cat"]["tp"], figures["cat"]["fp"], figures["cat"]["fn"]) == (3, 0, 1)
    assert figures["cat"]["ap50"] == pytest.approx(76 / 101, abs=1e-6)
    # dog: 2 labelled; 3 proposals scored alike: right, then taken for a cat, then rejected.
    assert (figures["dog"]["tp"], figures["dog"]["fp"], figures["dog"]["fn"]) == (1, 2, 1)
    assert figures["dog"]["ap50"] == pytest.approx(51 / 101, abs=1e-6)
    assert result["map50"] == pytest.approx((76 / 101 + 51 / 101) / 2, abs=1e-6)
    assert {(c["label"], c["predicted"]): c["count"] for c in result["confusion"]} == {
        ("cat", "cat"): 3, ("cat", "dog"): 1, ("dog", "dog"): 1, ("dog", None): 1,
        (None, "dog"): 1}

    before = evaluate_model(s.app, s.read, evaluate_task, world.project_id,
                            str(world.model.id), before_people)
    assert before["images"] == 0 and before["images_excluded"] == 6
