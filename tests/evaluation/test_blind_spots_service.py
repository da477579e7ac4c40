"""Blind spots and label suspects of a real pre-label job, on SQLite and PostgreSQL.

The model is the jobs tests' planted-output YOLOv8 ONNX model run by ONNX Runtime through the
real job code (``PrelabelWork``): on every 64x64 image it proposes a cat (15, 15, 10x10, score
0.9) and a dog (34, 36, 12x8, score 0.8). People then accept, correct and add labels; what the
model missed, invented and confused is worked out by hand below.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.command_pipeline import Actor
from domain.commands import parse_command
from domain.errors import NotFound, ValidationFailed
from event_store.positions import log_head
from inference_workers.blind_spots import inspect_task
from inference_workers.evaluation import evaluate_task
from inference_workers.prelabel_job import LoadedModel, PrelabelWork, default_load_runner
from labelwright.settings import Settings
from service_layer.blind_spots import blind_spots, label_suspects
from service_layer.model_evaluation import evaluate_model
from tests.jobs.conftest import JobWorld, make_world, register_model
from tests.web.conftest import pg_database_url  # noqa: F401 (a fixture)

FAR_CAT = {"x": 46, "y": 2, "w": 10, "h": 10}  # where the model sees nothing at all


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobWorld]:
    url = request.getfixturevalue("pg_database_url") if request.param == "postgres" else None
    w = make_world(Settings(data_dir=tmp_path / "data", secret_key="blind-spot-tests",
                            job_shard_size=3, database_url=url), tmp_path, images=8)
    yield w
    w.close()


def run_job(world: JobWorld) -> str:
    s = world.services
    assert s.jobs is not None
    job_id = str(s.jobs.queue(world.project_id, "manager", {
        "type": "prelabel", "model_id": str(world.model.id), "images": "all"}).id)
    work = PrelabelWork(s.app, s.pipeline, s.images,
                        LoadedModel(s.models, default_load_runner("cpu", 1)), "test")
    for shard in range(3):
        work.run_shard(job_id, shard)
    return job_id


def people_work(world: JobWorld) -> dict[str, str]:
    """What people made of the pre-labels; returns who is who."""
    s = world.services
    annotator = Actor("annotator")

    def act(image_id: str, *commands: dict[str, object]) -> None:
        s.pipeline.execute(UUID(image_id), [parse_command(c) for c in commands], annotator)

    def prelabel(image_id: str, label: str) -> str:
        image = s.app.image(UUID(image_id))
        return next(a["id"] for a in image.annotations.values() if a["label"] == label)

    def create(image_id: str, label: str, geometry: dict[str, Any]) -> None:
        act(image_id, {"type": "create", "annotation": {"type": "box", "label": label,
                                                        "geometry": geometry}})

    agree, confused, invented, missed, extra_cats = world.image_ids[:5]
    act(agree, {"type": "accept", "annotation_id": prelabel(agree, "cat")},
        {"type": "accept", "annotation_id": prelabel(agree, "dog")})
    # The "dog" is a cat: the model confused them.
    act(confused, {"type": "accept", "annotation_id": prelabel(confused, "cat")},
        {"type": "edit", "annotation_id": prelabel(confused, "dog"), "changes": {"label": "cat"}})
    # No dog where the model put one, and a dog elsewhere it did not see.
    act(invented, {"type": "accept", "annotation_id": prelabel(invented, "cat")},
        {"type": "delete", "annotation_id": prelabel(invented, "dog")})
    create(invented, "dog", {"x": 2, "y": 40, "w": 10, "h": 10})
    # A cat where the model sees nothing at all, although it finds cats everywhere else.
    act(missed, {"type": "accept", "annotation_id": prelabel(missed, "cat")},
        {"type": "accept", "annotation_id": prelabel(missed, "dog")})
    create(missed, "cat", FAR_CAT)
    act(extra_cats, {"type": "accept", "annotation_id": prelabel(extra_cats, "cat")},
        {"type": "delete", "annotation_id": prelabel(extra_cats, "dog")})
    s.runner.catch_up()
    # The other three images: nobody looked at them.
    return {"agree": agree, "confused": confused, "invented": invented, "missed": missed,
            "no_dog": extra_cats}


def test_the_worst_images_and_the_suspect_labels_of_a_real_job(world: JobWorld) -> None:
    s = world.services
    job_id = run_job(world)
    before_people = log_head(s.app)
    who = people_work(world)
    pid, model_id = world.project_id, str(world.model.id)

    found = blind_spots(s.app, s.read, inspect_task, pid, model_id)
    assert found["job"] == job_id and found["kind"] == "bbox" and found["threshold"] == 0.25
    assert (found["images_judged"], found["images_excluded"]) == (5, 3)
    rows = [(r["image_id"], r["missed"], r["false_positives"], r["confused"], r["score"],
             r["suspects"]) for r in found["images"]]
    assert rows[:2] == [
        (who["invented"], 1, 1, 0, pytest.approx(1.8), 0),  # the dog it missed, the one it made up
        (who["missed"], 1, 0, 0, 1.0, 1),
    ]
    assert sorted(rows[2:]) == sorted([  # a tie: by image id
        (who["confused"], 0, 0, 1, pytest.approx(0.8), 1),
        (who["no_dog"], 0, 1, 0, pytest.approx(0.8), 0)])
    assert found["disagreeing"] == 4

    # The same judgement as the evaluation's confusions.
    evaluation = evaluate_model(s.app, s.read, evaluate_task, pid, model_id)
    cells: Counter[str] = Counter()
    for c in evaluation["confusion"]:
        key = ("false_positives" if c["label"] is None else "missed" if c["predicted"] is None
               else "confused" if c["label"] != c["predicted"] else "right")
        cells[key] += c["count"]
    for key in ("missed", "false_positives", "confused"):
        assert sum(r[key] for r in found["images"]) == cells[key]

    suspects = label_suspects(s.app, s.read, inspect_task, pid, model_id)
    # Cats: 7 labels, the model's 0.9 cat on 5 of them (t_cat = 4.5 / 7); dogs: 3 labels,
    # its 0.8 dog on 2 (t_dog = 1.6 / 3 = 0.53), so its 0.8 dog on the "cat" is confident.
    by_reason = {x["reason"]: x for x in suspects["suspects"]}
    assert suspects["total"] == 2
    other = by_reason["other_class"]
    assert (other["image_id"], other["label"], other["predicted"], other["confidence"]) == (
        who["confused"], "cat", "dog", 0.8)
    assert other["threshold"] == pytest.approx(1.6 / 3, abs=1e-6)
    labels = s.app.image(UUID(who["confused"])).annotations
    assert labels[other["annotation_id"]]["status"] == "edited"  # the corrected pre-label
    nothing = by_reason["nothing_found"]
    assert (nothing["image_id"], nothing["label"], nothing["predicted"]) == (
        who["missed"], "cat", None)
    assert nothing["confidence"] == pytest.approx(5 / 6)  # the other cats it found
    far = s.app.image(UUID(who["missed"])).annotations[nothing["annotation_id"]]
    assert far["geometry"] == {k: float(v) for k, v in FAR_CAT.items()}

    # Limits cut the lists, worst first.
    assert [r["image_id"] for r in blind_spots(s.app, s.read, inspect_task, pid, model_id,
                                               limit=1)["images"]] == [who["invented"]]
    assert len(label_suspects(s.app, s.read, inspect_task, pid, model_id,
                              limit=1)["suspects"]) == 1
    # As of before anyone looked, nothing is judged; a stricter threshold drops the dogs.
    assert blind_spots(s.app, s.read, inspect_task, pid, model_id, before_people)["images"] == []
    strict = blind_spots(s.app, s.read, inspect_task, pid, model_id, threshold=0.85)
    assert {r["image_id"]: r["missed"] for r in strict["images"]} == {
        who["agree"]: 1, who["confused"]: 1, who["invented"]: 1, who["missed"]: 2}


def test_bad_requests_are_refused_clearly(world: JobWorld, tmp_path: Path) -> None:
    from tests.inference.model_factory import yolov8_onnx
    from tests.jobs.conftest import NAMES, PLANTED

    s = world.services
    pid, model_id = world.project_id, str(world.model.id)
    idle = register_model(s, pid, yolov8_onnx(tmp_path / "idle.onnx", NAMES, (64, 64),
                                               PLANTED[:1]), version="9")
    for use_case in (blind_spots, label_suspects):
        with pytest.raises(ValidationFailed, match="has not predicted anything in this "
                           "project yet: run a pre-label job") as never:
            use_case(s.app, s.read, inspect_task, pid, str(idle.id))
        assert never.value.details == {"field": "model_id"}
        for limit in (0, 1001, -3, True, 2.5):
            with pytest.raises(ValidationFailed) as bad:
                use_case(s.app, s.read, inspect_task, pid, model_id, limit=limit)
            assert bad.value.details == {"field": "limit"}
        with pytest.raises(ValidationFailed) as beyond:
            use_case(s.app, s.read, inspect_task, pid, model_id, log_head(s.app) + 1)
        assert beyond.value.details["field"] == "position"
        with pytest.raises(NotFound):
            use_case(s.app, s.read, inspect_task, pid, "no-such-model")
        other, _ = s.app.create_project("other", [{"name": "cat"}], None, "manager")
        with pytest.raises(NotFound) as elsewhere:
            use_case(s.app, s.read, inspect_task, str(other.id), model_id)
        assert elsewhere.value.details == {"field": "model_id"}
