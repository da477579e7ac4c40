"""Score jobs: per-image probabilities, uncertainty and embeddings, recorded once per shard.

Real parts throughout: the composition root (SQLite, and PostgreSQL when it is reachable), real
models (an ONNX classifier whose logits follow the image's mean colour, with a feature-map
output; the shipped CenterNet demo model on synthetic shapes), ONNX Runtime and torch, images
decoded from the image store, the embedded job queue. The only stand-ins are workers that
"die" before recording or that record a shard a second time (by overriding ``_record``).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from domain.errors import ValidationFailed
from domain.image_scores import ScoredShard, decode_embedding
from inference_workers.detection_tta import (
    AUGMENTATIONS,
    localisation_stability,
    matched_ious,
)
from inference_workers.embedded_jobs import EmbeddedJobs
from inference_workers.job_queue import worker_name
from inference_workers.job_work import JobWork
from inference_workers.prelabel_job import LoadedModel, ShardReport, default_load_runner
from inference_workers.score_job import NOT_FINITE, ScoreWork
from labelwright.settings import Settings
from tests.inference.model_factory import (
    feature_classifier_onnx,
    feature_classifier_weights,
    semantic_onnx,
)
from tests.jobs.conftest import NAMES, JobWorld, make_world, register_model
from tests.realtime.nodes import postgres_available, postgres_database
from tests.required_services import unavailable

CLASSES = 3


def classifier(tmp: Path, **kw: Any) -> Path:
    return feature_classifier_onnx(tmp / "classifier.onnx", NAMES, (64, 64), **kw)


def expected_probabilities(index: int) -> np.ndarray:
    """The classifier's softmax on ``conftest.png(index)``: a solid colour (its mean)."""
    color = np.array([index % 256, (index // 256) % 256, 77], dtype=np.float64) / 255.0
    logits = color @ feature_classifier_weights(CLASSES).double().numpy() * 10.0
    e = np.exp(logits - logits.max())
    return e / e.sum()


def make_work(world: JobWorld) -> Any:
    s = world.services
    load = default_load_runner("cpu", 1)
    return lambda slot: JobWork(s.app, {"score": ScoreWork(
        s.app, s.images, LoadedModel(s.models, load), worker_name(slot))})


def run_job(world: JobWorld, body: dict[str, Any], timeout: float = 60.0) -> Any:
    s = world.services
    assert s.jobs is not None
    job = s.jobs.queue(world.project_id, "manager", {"type": "score", **body})
    queue = EmbeddedJobs(s.app, make_work(world), s.settings.data_dir / "jobs", workers=1,
                         poll=0.1)
    queue.start()
    try:
        deadline = time.monotonic() + timeout
        while not s.app.job(str(job.id)).finished:
            assert time.monotonic() < deadline, s.app.job(str(job.id)).describe()
            time.sleep(0.05)
    finally:
        queue.stop()
    return s.app.job(str(job.id))


def scored_events(world: JobWorld, job_id: str | None = None) -> list[Any]:
    topic = ScoredShard.ShardScored.__module__ + ":" + ScoredShard.ShardScored.__qualname__
    out = []
    for n in world.services.app.recorder.select_notifications(start=1, limit=1_000_000,
                                                               topics=[topic]):
        event = world.services.app.mapper.to_domain_event(n)
        if job_id is None or event.job_id == job_id:
            out.append(event)
    return out


def scores_by_image(world: JobWorld, job_id: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for event in scored_events(world, job_id):
        for score in event.scores:
            assert score["image_id"] not in out, "an image was scored twice"
            out[score["image_id"]] = score
    return out


def settings_for(tmp: Path, url: str | None = None) -> Settings:
    return Settings(data_dir=tmp / "data", secret_key="score-tests", job_shard_size=5,
                    database_url=url)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[JobWorld]:
    w = make_world(settings_for(tmp_path), tmp_path, model_path=classifier(tmp_path))
    yield w
    w.close()


def check_classifier_job(world: JobWorld, job: Any) -> None:
    n = len(world.image_ids)
    assert job.state == "done", job.describe()
    assert job.result == {"images": n, "failed": 0, "embedding_dims": 8, "aggregate": "max",
                          "tta": False}
    assert sorted(job.shards_done) == [0, 1, 2]
    events = scored_events(world, str(job.id))
    assert sorted(e.shard for e in events) == [0, 1, 2]
    assert {e.model_id for e in events} == {str(world.model.id)}
    scores = scores_by_image(world, str(job.id))
    assert set(scores) == set(world.image_ids)
    for index, image_id in enumerate(world.image_ids):
        score = scores[image_id]
        p = expected_probabilities(index)
        assert score["probabilities"] == pytest.approx(p.tolist(), abs=1e-5)
        top = np.sort(p)[::-1]
        u = score["uncertainty"]
        assert u["least_confidence"] == pytest.approx(1 - top[0], abs=1e-5)
        assert u["margin"] == pytest.approx(1 - (top[0] - top[1]), abs=1e-5)
        entropy = -(p * np.log(p)).sum() / np.log(CLASSES)
        assert u["entropy"] == pytest.approx(entropy, abs=1e-5)
        assert u["stability"] is None and score["boxes"] == 0
        assert score["dims"] == 8
        embedding = decode_embedding(score["embedding"])
        assert embedding.shape == (8,) and np.isfinite(embedding).all()


def test_a_score_job_records_each_images_scores_once(world: JobWorld) -> None:
    job = run_job(world, {"model_id": str(world.model.id)})  # images: all by default
    check_classifier_job(world, job)


def test_a_score_job_on_postgresql(tmp_path: Path) -> None:
    if not postgres_available():
        unavailable("PostgreSQL is not reachable")
    with postgres_database() as url:
        w = make_world(settings_for(tmp_path, url), tmp_path, model_path=classifier(tmp_path))
        try:
            check_classifier_job(w, run_job(w, {"model_id": str(w.model.id)}))
        finally:
            w.close()


def test_a_flat_features_output_is_the_embedding(tmp_path: Path) -> None:
    w = make_world(settings_for(tmp_path), tmp_path, images=3,
                   model_path=classifier(tmp_path, features=5, feature_map=False))
    try:
        job = run_job(w, {"model_id": str(w.model.id), "images": w.image_ids[:2]})
        assert job.state == "done" and job.result["embedding_dims"] == 5
        assert set(scores_by_image(w, str(job.id))) == set(w.image_ids[:2])
    finally:
        w.close()


class DiesBeforeRecording(ScoreWork):
    def _record(self, job_id: str, report: ShardReport, scores: Any, aggregate: str) -> None:
        raise RuntimeError("the worker died after scoring, before recording")


class RecordsTwice(ScoreWork):
    """Two workers raced for the shard: the other one recorded it first."""

    def _record(self, job_id: str, report: ShardReport, scores: Any, aggregate: str) -> None:
        super()._record(job_id, report, scores, aggregate)
        super()._record(job_id, report, scores, aggregate)


def test_a_shard_run_again_is_recorded_once(world: JobWorld) -> None:
    s = world.services
    assert s.jobs is not None
    job_id = str(s.jobs.queue(world.project_id, "manager",
                              {"type": "score", "model_id": str(world.model.id)}).id)
    load = default_load_runner("cpu", 1)
    dying = DiesBeforeRecording(s.app, s.images, LoadedModel(s.models, load), "a")
    with pytest.raises(RuntimeError):
        dying.run_shard(job_id, 0)
    assert scored_events(world, job_id) == [] and s.app.job(job_id).shards_done == []
    racing = RecordsTwice(s.app, s.images, LoadedModel(s.models, load), "b")
    report = racing.run_shard(job_id, 0)
    assert (report.done, report.failed) == (5, 0)
    assert len(scored_events(world, job_id)) == 1
    job = s.app.job(job_id)
    assert job.shards_done == [0] and job.done == 5
    head = s.app.recorder.max_notification_id()
    assert racing.run_shard(job_id, 0).stopped == "already done"
    assert s.app.recorder.max_notification_id() == head
    for shard in (1, 2):
        racing.run_shard(job_id, shard)
    job = s.app.job(job_id)
    assert job.state == "done" and job.done == len(world.image_ids)
    assert len(scores_by_image(world, job_id)) == len(world.image_ids)


def test_nan_outputs_fail_those_images_and_record_the_rest(tmp_path: Path) -> None:
    # png(i) has red i/255: images 0..5 have a mean red below 5.5/255 and NaN logits.
    w = make_world(settings_for(tmp_path), tmp_path,
                   model_path=classifier(tmp_path, nan_below=5.5 / 255))
    try:
        job = run_job(w, {"model_id": str(w.model.id)})
        assert job.state == "done" and (job.done, job.failed) == (6, 6)
        assert {e["image_id"] for e in job.errors} == set(w.image_ids[:6])
        assert all(e["message"] == NOT_FINITE for e in job.errors)
        scores = scores_by_image(w, str(job.id))
        assert set(scores) == set(w.image_ids[6:])
        for score in scores.values():
            assert np.isfinite(score["probabilities"]).all()
    finally:
        w.close()


def test_an_undecodable_image_fails_alone(world: JobWorld) -> None:
    s = world.services
    broken = world.image_ids[3]
    s.images.path(s.app.image_added(UUID(broken)).sha256).write_bytes(b"x")
    job = run_job(world, {"model_id": str(world.model.id)})
    assert job.state == "done" and (job.done, job.failed) == (11, 1)
    assert job.errors[0]["image_id"] == broken and "decoded" in job.errors[0]["message"]
    assert broken not in scores_by_image(world, str(job.id))


def test_what_a_score_request_may_not_be(world: JobWorld, tmp_path: Path) -> None:
    s = world.services
    assert s.jobs is not None
    model_id = str(world.model.id)
    sam, _ = s.app.register_model(
        world.project_id, "manager", name="sam", version="1", task="interactive",
        format="onnx", architecture=None, layout="generic", classes=[], input_size=None,
        sha256="0" * 64, size_bytes=1, file_name="m.onnx", details={})
    semantic = register_model(s, world.project_id, semantic_onnx(
        tmp_path / "semantic.onnx", NAMES, (64, 64), [(0, 0, 32, 32, 0)]), name="semantic")
    head = s.app.recorder.max_notification_id()
    jobs_before = len(s.app.project_jobs(world.project_id))

    def refused(body: dict[str, Any]) -> ValidationFailed:
        with pytest.raises(ValidationFailed) as e:
            s.jobs.queue(world.project_id, "manager",  # type: ignore[union-attr]
                         {"type": "score", **body})
        return e.value

    assert refused({"model_id": "nope"}).details["field"] == "model_id"
    assert refused({}).details["field"] == "model_id"
    assert "assists" in refused({"model_id": str(sam.id)}).message
    assert "semantic" in refused({"model_id": str(semantic.id)}).message
    assert refused({"model_id": model_id, "threshold": 0.5}).details["field"] == "threshold"
    assert refused({"model_id": model_id, "aggregate": "median"}).details == {
        "field": "aggregate", "allowed": ["max", "mean", "sum"]}
    assert refused({"model_id": model_id, "tta": "yes"}).details["field"] == "tta"
    assert refused({"model_id": model_id, "images": "some"}).details["field"] == "images"
    assert refused({"model_id": model_id, "images": ["x"]}).details["field"] == "images[0]"
    assert s.app.recorder.max_notification_id() == head
    assert len(s.app.project_jobs(world.project_id)) == jobs_before


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.integers() | st.text(),
                       min_size=1, max_size=3))
@settings(max_examples=25, deadline=None)
def test_any_unknown_field_is_refused(fields: dict[str, Any]) -> None:
    from service_layer.score_jobs import SCORE_FIELDS, parse_score_request

    body = {"type": "score", "model_id": "m", **fields}
    unknown = sorted(set(body) - SCORE_FIELDS)
    if not unknown:
        return
    with pytest.raises(ValidationFailed) as e:
        parse_score_request(body)
    assert e.value.details["field"] == unknown[0]


def test_a_model_that_cannot_be_scored_fails_the_job_as_unsupported(world: JobWorld,
                                                                     tmp_path: Path) -> None:
    s = world.services
    semantic = register_model(s, world.project_id, semantic_onnx(
        tmp_path / "semantic.onnx", NAMES, (64, 64), [(0, 0, 32, 32, 0)]), name="semantic")
    # Queued around the request's check (as an older worker's job could be).
    job, _ = s.app.queue_job(world.project_id, "manager", type="score",
                             model_id=str(semantic.id), params={"aggregate": "max"},
                             image_ids=world.image_ids[:2], shard_size=5)
    queue = EmbeddedJobs(s.app, make_work(world), s.settings.data_dir / "jobs", workers=1,
                         poll=0.1)
    queue.start()
    try:
        deadline = time.monotonic() + 30
        while not s.app.job(str(job.id)).finished:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        queue.stop()
    failed = s.app.job(str(job.id))
    assert failed.state == "failed" and failed.error["code"] == "unsupported"
    assert "semantic" in failed.error["message"]
    assert scored_events(world, str(job.id)) == []


# -- the demo detector on synthetic shapes ----------------------------------------------------


def shapes_png(index: int) -> bytes:
    from inference_workers.synthetic_shapes import make_shapes

    image = make_shapes(1, (320, 320), seed=1000 + index, max_shapes=4)[0].image
    buf = io.BytesIO()
    PILImage.fromarray(image).save(buf, "PNG")
    return buf.getvalue()


def demo_model_path() -> Path:
    return Path(str(resources.files("inference_workers") / "demo_model"
                    / "shapes-centernet.safetensors"))


@pytest.fixture
def shapes_world(tmp_path: Path) -> Iterator[JobWorld]:
    from inference_workers.model_files import inspect_model
    from service_layer.model_registry import register_model as register

    w = make_world(settings_for(tmp_path), tmp_path, images=6, image_bytes=shapes_png)
    folder = resources.files("inference_workers") / "demo_model"
    model, _ = register(w.services.app, w.services.models, w.project_id,
                        weights=demo_model_path(), file_name="shapes-centernet.safetensors",
                        classes=("classes.txt", (folder / "classes.txt").read_bytes()),
                        name="shapes", version="1", architecture="centernet", actor="manager",
                        max_bytes=w.services.settings.max_model_bytes, inspect=inspect_model)
    w.extra["demo"] = model
    yield w
    w.close()


def test_the_demo_detector_scores_shapes_with_embeddings_and_stability(
        shapes_world: JobWorld) -> None:
    w = shapes_world
    model = w.extra["demo"]
    job = run_job(w, {"model_id": str(model.id), "aggregate": "mean"})
    assert job.state == "done", job.describe()
    width = model.details["width"]
    assert job.result == {"images": 6, "failed": 0, "embedding_dims": 8 * width,
                          "aggregate": "mean", "tta": True}
    scores = scores_by_image(w, str(job.id))
    assert set(scores) == set(w.image_ids)
    for score in scores.values():
        assert score["dims"] == 8 * width
        assert decode_embedding(score["embedding"]).shape == (8 * width,)
        assert len(score["probabilities"]) == 3 and score["boxes"] >= 1
        assert max(score["probabilities"]) >= 0.25  # a trained model finds the shapes
        u = score["uncertainty"]
        assert 0.0 <= u["stability"] <= 1.0
        for key in ("least_confidence", "margin", "entropy"):
            assert 0.0 <= u[key] <= 1.0
    # Without TTA: no stability, the same probabilities (the same model, the same images).
    plain = run_job(w, {"model_id": str(model.id), "aggregate": "mean", "tta": False})
    again = scores_by_image(w, str(plain.id))
    for image_id, score in again.items():
        assert score["uncertainty"]["stability"] is None
        assert score["probabilities"] == pytest.approx(scores[image_id]["probabilities"])


# -- the pieces ---------------------------------------------------------------------------------


boxes = st.lists(st.tuples(st.floats(0, 200), st.floats(0, 200), st.floats(1, 80),
                           st.floats(1, 80)), max_size=6).map(
    lambda bs: np.array([[x, y, x + w, y + h] for x, y, w, h in bs],
                        dtype=np.float64).reshape(-1, 4))


@given(boxes, st.lists(boxes, min_size=1, max_size=2))
@settings(max_examples=60, deadline=None)
def test_stability_is_between_0_and_1(reference: np.ndarray, augmented: list[np.ndarray]
                                      ) -> None:
    assert 0.0 <= localisation_stability(reference, augmented) <= 1.0
    assert localisation_stability(reference, [reference]) == pytest.approx(0.0, abs=1e-9)


def test_unmatched_boxes_count_zero() -> None:
    a = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], dtype=np.float64)
    b = np.array([[0, 0, 10, 10], [100, 100, 110, 110], [0, 0, 10, 5]], dtype=np.float64)
    assert sorted(matched_ious(a, b)) == [0.0, 0.0, 0.0, 1.0]
    assert localisation_stability(a, [b]) == pytest.approx(0.75)
    assert localisation_stability(np.zeros((0, 4)), [np.zeros((0, 4))]) == 0.0


def test_augmented_boxes_map_back_to_the_original_frame() -> None:
    """A box drawn on a canvas, augmented by kornia and found again by thresholding, maps back
    onto itself."""
    from inference_workers.detection_tta import augment

    image = np.full((120, 160, 3), 255, dtype=np.uint8)
    image[30:70, 20:60] = 0  # the box x 20..60, y 30..70
    box = np.array([[20, 30, 60, 70]], dtype=np.float64)
    for augmentation in AUGMENTATIONS:
        changed = augment([image], augmentation)[0]
        dark = np.argwhere(changed[..., 0] < 57)  # under the grey 114 border's half
        y0, x0 = dark.min(axis=0)
        y1, x1 = dark.max(axis=0) + 1
        back = augmentation.boxes_back(np.array([[x0, y0, x1, y1]], dtype=np.float64),
                                       image.shape[:2])
        assert np.abs(back - box).max() <= 1.5, (augmentation.name, back)


def test_a_classifier_runner_with_probabilities_is_scored_through_the_adapter() -> None:
    """The built-in tag classifier's runner has ``probabilities`` and ``embed``, no ``score``."""
    import torch

    from inference_workers.score_job import image_score, scorer_of

    classifier_module = pytest.importorskip("inference_workers.architectures.classifier")
    torch.manual_seed(0)
    runner = classifier_module.TagClassifierRunner(
        classifier_module.TagClassifier(3, width=4), ["a", "b", "c"], (64, 64),
        torch.device("cpu"))
    scorer = scorer_of(runner)
    assert scorer is not None and scorer_of(object()) is None
    images = [np.full((48, 64, 3), i * 40, dtype=np.uint8) for i in range(3)]
    raws = scorer.score(images)
    assert len(raws) == 3
    for raw in raws:
        assert raw.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
        assert raw.boxes is None and raw.embedding is not None and raw.embedding.shape == (32,)
        score = image_score("x", raw, "max", None)
        assert score.dims == 32 and score.boxes == 0
        assert score.uncertainty["stability"] is None


def test_a_planted_onnx_detector_is_scored_with_tta(tmp_path: Path) -> None:
    """The conftest's planted YOLOv8 model finds the same boxes whatever the image: on the
    mirrored copy they land mirrored in the original frame, so nothing is found again there."""
    from tests.jobs.conftest import PLANTED

    w = make_world(settings_for(tmp_path), tmp_path, images=4)
    try:
        job = run_job(w, {"model_id": str(w.model.id), "aggregate": "sum"})
        assert job.state == "done" and job.result == {
            "images": 4, "failed": 0, "embedding_dims": 0, "aggregate": "sum", "tta": True}
        for score in scores_by_image(w, str(job.id)).values():
            assert score["probabilities"] == pytest.approx([p[5] for p in PLANTED])
            assert score["boxes"] == 3 and score["embedding"] is None and score["dims"] == 0
            u = score["uncertainty"]
            confidences = np.array([p[5] for p in PLANTED])
            assert u["least_confidence"] == pytest.approx(float((1 - confidences).sum()))
            assert u["margin"] == pytest.approx(float((1 - np.abs(2 * confidences - 1)).sum()))
            assert 0.5 < u["stability"] <= 1.0  # the flip alone contributes six zeros of twelve
    finally:
        w.close()


def test_torchscript_and_seg_runners_score_their_boxes(tmp_path: Path) -> None:
    from inference_workers.model_files import inspect_model
    from inference_workers.runners import load_runner
    from tests.inference.model_factory import torchscript_yolov8, yolov8_seg_onnx
    from tests.jobs.conftest import PLANTED

    image = np.full((64, 64, 3), 90, dtype=np.uint8)
    for path in (torchscript_yolov8(tmp_path / "m.torchscript", NAMES, (64, 64), PLANTED),
                 yolov8_seg_onnx(tmp_path / "seg.onnx", NAMES, (64, 64), PLANTED)):
        spec = inspect_model(path, path.name)
        runner = load_runner(spec, path, device="cpu", threads=1)
        (raw,) = runner.score([image])  # type: ignore[attr-defined]
        assert raw.probabilities.tolist() == pytest.approx([p[5] for p in PLANTED])
        assert sorted(raw.box_classes.tolist()) == [0, 1, 2] and raw.embedding is None
        cat = raw.boxes[raw.box_classes.tolist().index(0)]
        assert cat.tolist() == pytest.approx([15.0, 15.0, 25.0, 25.0], abs=1e-4)


def test_a_cancelled_score_job_records_nothing_more(world: JobWorld) -> None:
    s = world.services
    assert s.jobs is not None
    job_id = str(s.jobs.queue(world.project_id, "manager",
                              {"type": "score", "model_id": str(world.model.id)}).id)
    work = ScoreWork(s.app, s.images, LoadedModel(s.models, default_load_runner("cpu", 1)), "a")
    work.run_shard(job_id, 0, then=1)  # shard 1 starts decoding ahead
    s.jobs.cancel(job_id, "manager")
    report = work.run_shard(job_id, 1)
    assert report.stopped == "cancelled" and report.done == 0
    work.close()
    assert [e.shard for e in scored_events(world, job_id)] == [0]
    assert s.app.job(job_id).state == "cancelled"
    # A worker stopping mid-shard leaves it for another: nothing recorded, not done.
    other = str(s.jobs.queue(world.project_id, "manager",
                             {"type": "score", "model_id": str(world.model.id)}).id)
    stopped = work.run_shard(other, 0, should_stop=lambda: True)
    assert stopped.stopped == "worker stopping"
    assert scored_events(world, other) == [] and s.app.job(other).shards_done == []
