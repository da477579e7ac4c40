"""Train jobs: a project's labels as of a position become a new model version with lineage.

Real parts throughout: the composition root on SQLite, synthetic shapes stored as PNGs, boxes
and tags recorded through the command pipeline as a person would, the embedded job queue
running the real ``TrainWork`` (torch, kornia), registration through the model registry, and
the runners loading the result. Tiny images and one or two epochs keep it fast.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from domain.command_pipeline import Actor
from domain.commands import parse_command
from domain.errors import DomainError, ValidationFailed
from event_store.positions import log_head
from inference_workers.architectures.classifier import TagClassifier
from inference_workers.synthetic_shapes import SHAPE_CLASSES, make_shapes
from inference_workers.train_job import TrainWork, trained_by
from labelwright.bootstrap import bootstrap, job_queue, shutdown
from labelwright.services import Services
from labelwright.settings import Settings
from service_layer.image_file_import import register_images
from service_layer.train_jobs import parse_train_request
from service_layer.training_set import TrainingSet, candidates_as_of, gather


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


class World:
    """A data dir with a shapes project (SHAPE_CLASSES) and its images."""

    def __init__(self, tmp: Path, images: int = 14, *, single: bool = False) -> None:
        self.services: Services = bootstrap(
            Settings(data_dir=tmp / "data", secret_key="train-tests", job_threads=1),
            live=False, run_jobs=False)
        app = self.services.app
        if app.find_user("manager") is None:
            app.register_user("manager", "password123")
        project, _ = app.create_project(f"shapes {uuid.uuid4().hex[:6]}", SHAPE_CLASSES, None,
                                        "manager")
        self.project_id = str(project.id)
        self.shapes = make_shapes(images, size=(64, 64), seed=5, max_shapes=1 if single else 2,
                                  min_size=12, max_size=32)
        rows = register_images(self.services, self.project_id,
                               [(f"s{i:03d}.png", _png(s.image))
                                for i, s in enumerate(self.shapes)], "manager")
        self.image_ids = [str(r["id"]) for r in rows]

    def label_boxes(self, indices: range | list[int]) -> None:
        for i in indices:
            shape = self.shapes[i]
            commands = [parse_command({"type": "create", "annotation": {
                "type": "box", "label": label,
                "geometry": dict(zip("xywh", box, strict=True))}})
                for box, label in zip(shape.boxes, shape.labels, strict=True)]
            self.services.pipeline.execute(UUID(self.image_ids[i]), commands, Actor("manager"))

    def tag(self, indices: range | list[int], label: str | None = None) -> None:
        for i in indices:
            tag = label or self.shapes[i].labels[0]
            self.services.pipeline.execute(UUID(self.image_ids[i]), [parse_command(
                {"type": "create", "annotation": {"type": "tag", "label": tag,
                                                  "geometry": {}}})], Actor("manager"))

    def queue(self, **body: Any) -> str:
        assert self.services.jobs is not None
        job = self.services.jobs.queue(self.project_id, "manager", {"type": "train", **body})
        return str(job.id)

    def run(self, job_id: str, timeout: float = 120.0) -> Any:
        s = self.services
        queue = job_queue(s.settings, s.app, s.pipeline, s.images, s.models, workers=1,
                          only={job_id})
        queue.start()
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                job = s.app.job(job_id)
                if job.finished:
                    return job
                time.sleep(0.05)
        finally:
            queue.stop()
        raise AssertionError(f"job not finished: {s.app.job(job_id).describe()}")

    def training_set(self, position: int, architecture: str = "centernet") -> TrainingSet:
        self.services.read.wait_for(position, 10)
        return gather(self.services.app,
                      candidates_as_of(self.services.read, self.project_id, position),
                      architecture, SHAPE_CLASSES)

    def close(self) -> None:
        shutdown(self.services)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


def test_a_train_job_registers_a_new_version_with_its_lineage(world: World) -> None:
    world.label_boxes(range(12))
    head = log_head(world.services.app)
    job_id = world.queue(architecture="centernet", name="shapes", epochs=2)
    queued = world.services.app.job(job_id).describe()
    assert queued["total"] == 12 and queued["params"]["position"] == head
    assert "image_versions" not in queued["params"]

    job = world.run(job_id)
    assert job.state == "done", job.describe()
    described = job.describe()
    assert [p["epoch"] for p in described["progress"]] == [1, 2]
    for entry in described["progress"]:
        assert set(entry) == {"epoch", "train_loss", "val_loss", "val_metric", "seconds"}
        assert entry["val_loss"] is not None and -1.0 <= entry["val_metric"] <= 1.0
    model = world.services.app.model(described["result"]["model_id"])
    assert (model.name, model.model_version, model.task) == ("shapes", "1", "detect")
    assert model.architecture == "centernet" and model.format == "state_dict"
    used = world.training_set(head).classes
    assert model.classes == used
    lineage = model.describe()["lineage"]
    assert lineage["job_id"] == job_id and lineage["project_id"] == world.project_id
    assert lineage["position"] == head and lineage["base_model_id"] is None
    assert lineage["training_images"] + lineage["validation_images"] == 12
    assert lineage["metrics"]["epochs_run"] == 2 and lineage["metrics"]["metric"] == "map50"
    assert lineage["hyperparameters"]["epochs"] == 2

    # The registered weights load with the runners (two epochs find little: the benchmark
    # measures quality).
    from inference_workers.runners import load_runner

    runner = load_runner(model, world.services.models.path(model.sha256), device="cpu")
    found = runner.predict([world.shapes[0].image], threshold=0.0, max_per_image=5)
    assert len(found) == 1 and all(p.type == "box" for p in found[0])

    # Another job of the same name, from this one: version 2, its base in the lineage.
    again = world.run(world.queue(architecture="centernet", name="shapes", epochs=1,
                                  base_model_id=str(model.id)))
    second = world.services.app.model(again.result["model_id"])
    assert second.model_version == "2" and second.lineage is not None
    assert second.lineage["base_model_id"] == str(model.id)


def test_the_same_position_gives_the_same_training_set_and_split(world: World) -> None:
    world.label_boxes(range(8))
    position = log_head(world.services.app)
    first = world.training_set(position)
    world.label_boxes(range(8, 12))  # later labels do not change the set as of position
    later = world.training_set(position)
    assert first == later
    assert first.split(0.2) == later.split(0.2)
    assert [e.image_id for e in first.examples] == sorted(world.image_ids[:8])
    assert len(world.training_set(log_head(world.services.app)).examples) == 12
    one = world.services.app.job(world.queue(architecture="centernet", name="a",
                                             position=position))
    two = world.services.app.job(world.queue(architecture="centernet", name="b",
                                             position=position))
    assert one.image_ids == two.image_ids == [e.image_id for e in first.examples]
    assert one.params["image_versions"] == two.params["image_versions"]
    train, held = first.split(0.2)
    assert held and train and not {e.image_id for e in held} & {e.image_id for e in train}


def test_the_same_position_trains_the_same_weights_on_the_cpu(world: World) -> None:
    world.label_boxes(range(10))
    position = log_head(world.services.app)
    first = world.run(world.queue(architecture="centernet", name="a", epochs=2))
    world.label_boxes(range(10, 14))  # labels after the position change nothing
    second = world.run(world.queue(architecture="centernet", name="b", epochs=2,
                                   position=position))
    a, b = (world.services.app.model(j.result["model_id"]) for j in (first, second))
    assert a.sha256 == b.sha256  # the same bytes: the same weights
    assert first.epochs() == [dict(e, seconds=f["seconds"])
                              for e, f in zip(second.epochs(), first.epochs(), strict=True)]


def test_a_rerun_train_job_registers_once(world: World) -> None:
    world.label_boxes(range(10))
    job_id = world.queue(architecture="centernet", name="once", epochs=1)
    s = world.services
    work = TrainWork(s.app, s.images, s.models, "test", device="cpu")
    # A worker that dies after registering, before the shard is recorded done:
    job = s.app.job(job_id)
    registered = work._train_and_register(job, lambda: False)
    assert s.app.job(job_id).state == "queued"
    # The job runs again: it finishes with the same model, training nothing.
    report = work.run_shard(job_id, 0)
    assert report.stopped is None
    job = s.app.job(job_id)
    assert job.state == "done" and job.result is not None
    assert job.result["model_id"] == str(registered.id)
    assert work.run_shard(job_id, 0).stopped == "done"
    assert [m.model_version for m in s.app.project_models(world.project_id)
            if m.name == "once"] == ["1"]
    assert trained_by(s.app, world.project_id, job_id) is not None


def test_a_cancelled_train_job_stops_between_batches_and_registers_nothing(
        world: World) -> None:
    world.label_boxes(range(12))
    job_id = world.queue(architecture="centernet", name="stopped", epochs=200)
    s = world.services
    queue = job_queue(s.settings, s.app, s.pipeline, s.images, s.models, workers=1,
                      only={job_id})
    queue.start()
    try:
        deadline = time.monotonic() + 60
        while not s.app.job(job_id).epochs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert s.app.job(job_id).epochs(), "no epoch finished"
        s.jobs.cancel(job_id, "manager")  # type: ignore[union-attr]
    finally:
        queue.stop()  # joins the worker: training stops before its next batch
    job = s.app.job(job_id)
    assert job.state == "cancelled" and len(job.epochs()) < 200
    assert not s.app.project_models(world.project_id)


def test_a_classifier_learns_tags_and_its_runner_predicts_tags(tmp_path: Path) -> None:
    world = World(tmp_path, images=12, single=True)
    try:
        world.tag(range(12))
        job = world.run(world.queue(architecture="classifier", name="tags", epochs=2,
                                    validation_fraction=0.3))
        assert job.state == "done", job.describe()
        model = world.services.app.model(job.result["model_id"])
        assert model.task == "classify" and model.architecture == "classifier"
        assert model.lineage is not None and model.lineage["metrics"]["metric"] == "accuracy"
        assert len(job.epochs()) == 2
        from inference_workers.runners import load_runner

        runner = load_runner(model, world.services.models.path(model.sha256), device="cpu")
        predictions = runner.predict([world.shapes[0].image], threshold=0.0)[0]
        assert [p.type for p in predictions] == ["tag"] * len(model.classes)
        assert sum(p.score for p in predictions) == pytest.approx(1.0, abs=1e-4)
        assert runner.embed([world.shapes[0].image]).shape == (1, 128)  # type: ignore[attr-defined]
        assert model.lineage["metrics"]["tensors_from_base"] == 0

        # A classifier can start from a detector of the project: its backbone fits.
        world.label_boxes(range(12))
        detector = world.run(world.queue(architecture="centernet", name="det", epochs=1))
        tuned = world.run(world.queue(architecture="classifier", name="tags", epochs=1,
                                      base_model_id=detector.result["model_id"]))
        second = world.services.app.model(tuned.result["model_id"])
        assert second.model_version == "2" and second.lineage is not None
        assert second.lineage["base_model_id"] == detector.result["model_id"]
        backbone = [k for k in TagClassifier(3).state_dict() if not k.startswith("head.")]
        assert second.lineage["metrics"]["tensors_from_base"] == len(backbone)
    finally:
        world.close()


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"architecture": "yolo", "name": "x"}, "architecture", "centernet, classifier"),
    ({"name": "x"}, "architecture", "architecture must be"),
    ({"architecture": "centernet"}, "name", "name is required"),
    ({"architecture": "centernet", "name": "  "}, "name", "name is required"),
    ({"architecture": "centernet", "name": "x", "epochs": 0}, "epochs", "1 to 500"),
    ({"architecture": "centernet", "name": "x", "epochs": 501}, "epochs", "1 to 500"),
    ({"architecture": "centernet", "name": "x", "epochs": 2.5}, "epochs", "whole number"),
    ({"architecture": "centernet", "name": "x", "validation_fraction": 0}, "validation_fraction",
     "above 0"),
    ({"architecture": "centernet", "name": "x", "validation_fraction": 0.6},
     "validation_fraction", "at most 0.5"),
    ({"architecture": "centernet", "name": "x", "position": -1}, "position", "non-negative"),
    ({"architecture": "centernet", "name": "x", "position": 10**9}, "position", "beyond"),
    ({"architecture": "centernet", "name": "x", "lr": 0.1}, "lr", "unexpected field"),
    ({"architecture": "centernet", "name": "x", "base_model_id": "nope"}, "base_model_id",
     "no model"),
    ({"architecture": "classifier", "name": "x"}, "position", "no labeled images"),
])
def test_bad_train_requests_are_refused_and_record_nothing(world: World, body: dict[str, Any],
                                                           field: str, words: str) -> None:
    world.label_boxes(range(4))
    before = log_head(world.services.app)
    with pytest.raises(ValidationFailed) as refused:
        world.queue(**body)
    assert refused.value.details["field"] == field
    assert words in refused.value.message
    assert log_head(world.services.app) == before


def test_train_requests_the_labels_cannot_serve_are_refused(world: World) -> None:
    app = world.services.app
    with pytest.raises(ValidationFailed, match="no labeled images to train on"):
        world.queue(architecture="centernet", name="x")
    world.tag([0, 1, 2], "circle")
    with pytest.raises(ValidationFailed, match="at least 2 classes"):
        world.queue(architecture="classifier", name="x")
    world.label_boxes([3])
    with pytest.raises(ValidationFailed, match="at least 2"):
        world.queue(architecture="centernet", name="x")
    # A base model of another architecture is refused.
    world.label_boxes([4, 5, 6])
    world.tag([3], "rectangle")
    classifier = world.run(world.queue(architecture="classifier", name="c", epochs=1))
    before = log_head(app)
    with pytest.raises(ValidationFailed, match="can start from a built-in centernet"):
        world.queue(architecture="centernet", name="x",
                    base_model_id=classifier.result["model_id"])
    assert log_head(app) == before


def test_a_base_model_of_another_project_is_refused(world: World, tmp_path: Path) -> None:
    world.label_boxes(range(4))
    other, _ = world.services.app.create_project("other", SHAPE_CLASSES, None, "manager")
    with pytest.raises(DomainError):
        world.services.jobs.queue(str(other.id), "manager",  # type: ignore[union-attr]
                                  {"type": "train", "architecture": "centernet", "name": "x"})
    done = world.run(world.queue(architecture="centernet", name="d", epochs=1))
    assert done.state == "done"
    with pytest.raises(ValidationFailed, match="no model"):
        world.services.jobs.queue(  # type: ignore[union-attr]
            str(other.id), "manager", {"type": "train", "architecture": "centernet",
                                       "name": "x", "base_model_id": done.result["model_id"]})


def test_labelwright_train_runs_the_job_and_registers_the_version(tmp_path: Path) -> None:
    import json
    import os
    import subprocess

    from tests.realtime.nodes import BIN

    world = World(tmp_path, images=8)
    world.label_boxes(range(8))
    pid = world.project_id
    world.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
    env.update({"LABELWRIGHT_DATA_DIR": str(tmp_path / "data"),
                "LABELWRIGHT_SECRET_KEY": "train-tests", "LABELWRIGHT_JOB_THREADS": "1"})

    def labelwright(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True,
                              timeout=180)

    done = labelwright("train", pid, "--architecture", "centernet", "--name", "cli",
                       "--epochs", "1")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["state"] == "done" and job["type"] == "train" and len(job["progress"]) == 1
    assert job["result"]["name"] == "cli" and job["result"]["version"] == "1"
    assert "training" in done.stderr  # the progress bar
    detached = labelwright("train", pid, "--architecture", "centernet", "--name", "cli",
                           "--position", str(job["params"]["position"]), "--detach")
    assert detached.returncode == 0, detached.stderr
    assert json.loads(detached.stdout)["state"] == "queued"
    refused = labelwright("train", pid, "--architecture", "centernet", "--name", "cli",
                          "--epochs", "0")
    assert refused.returncode != 0 and "epochs" in refused.stderr


_FIELDS = ["type", "architecture", "name", "base_model_id", "position", "epochs",
           "validation_fraction", "seed"]
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 600),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
                    st.sampled_from(["centernet", "classifier", "x"]), st.lists(st.integers()))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(_FIELDS), _VALUES))
def test_any_train_request_is_checked_or_refused_with_a_field(world: World,
                                                              body: dict[str, Any]) -> None:
    assert world.services.jobs is not None
    try:
        parsed = parse_train_request(world.services.jobs, world.project_id, body)
    except ValidationFailed as e:
        assert e.details["field"] and e.message
        return
    assert parsed["architecture"] in ("centernet", "classifier")
    assert 1 <= parsed["epochs"] <= 500 and 0 < parsed["validation_fraction"] <= 0.5
    assert 0 <= parsed["position"] <= log_head(world.services.app)


def test_a_long_train_shard_stays_with_its_redis_consumer(world: World) -> None:
    """Training for many claim periods: the consumer training keeps its entry claimed, so the
    other consumer never takes it over (every epoch is recorded once, one version)."""
    import dataclasses
    import shutil

    from eventsourcing.utils import get_topic

    from domain.job import Job
    from tests.realtime.nodes import RedisServer

    if shutil.which("redis-server") is None:
        from tests.required_services import unavailable

        unavailable("redis-server is not installed")
    server = RedisServer()
    server.start()
    s = world.services
    settings = dataclasses.replace(s.settings, redis_url=server.url, job_claim_seconds=0.3,
                                   redis_prefix=f"t{uuid.uuid4().hex[:6]}")
    queue = job_queue(settings, s.app, s.pipeline, s.images, s.models, workers=2)
    try:
        world.label_boxes(range(12))
        job_id = world.queue(architecture="centernet", name="long", epochs=6)
        queue.start()
        queue.publish(s.app.job(job_id))
        deadline = time.monotonic() + 120
        while not s.app.job(job_id).finished and time.monotonic() < deadline:
            time.sleep(0.1)
        job = s.app.job(job_id)
        assert job.state == "done", job.describe()
        assert job.epochs()[-1]["seconds"] > 3 * 0.3  # it trained for many claim periods
    finally:
        queue.stop()
        server.stop()
    topic = get_topic(Job.TrainingProgress)
    recorded = [e for e in s.app.recorder.select_events(UUID(job_id)) if e.topic == topic]
    assert len(recorded) == len(job.epochs())  # no second consumer started it again
    assert [m.name for m in s.app.project_models(world.project_id)] == ["long"]
