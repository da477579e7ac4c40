"""Pre-label jobs in one process: what a job records, exactly once, and how it ends.

Real parts throughout: the composition root on SQLite, a planted-output ONNX model run by ONNX
Runtime, images decoded from the image store, the command pipeline recording. The only
stand-ins are a runner wrapper that sleeps (to cancel a job while it runs) and a worker that
"dies" between recording a shard and marking it done (by raising there).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.command_pipeline import Actor
from domain.commands import CreateAnnotation
from domain.errors import Conflict, ValidationFailed
from inference_workers.embedded_jobs import EmbeddedJobs
from inference_workers.job_queue import worker_name
from inference_workers.model_api import Prediction, RGBImage, Runner
from inference_workers.prelabel_job import (
    LoadedModel,
    PrelabelWork,
    ShardReport,
    default_load_runner,
)
from labelwright.settings import Settings
from tests.jobs.conftest import (
    EXPECTED,
    JobWorld,
    assert_each_once,
    make_world,
    prelabel_events,
)


def run_embedded(world: JobWorld, *, workers: int = 1, poll: float = 0.1,
                 load: Any = None) -> EmbeddedJobs:
    s = world.services
    load = load or default_load_runner("cpu", 1)
    queue = EmbeddedJobs(
        s.app, lambda slot: PrelabelWork(s.app, s.pipeline, s.images,
                                         LoadedModel(s.models, load), worker_name(slot)),
        s.settings.data_dir / "jobs", workers=workers, poll=poll)
    queue.start()
    return queue


def wait_finished(world: JobWorld, job_id: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = world.services.app.job(job_id)
        if job.finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job not finished: {world.services.app.job(job_id).describe()}")


def queue_job(world: JobWorld, **body: Any) -> str:
    assert world.services.jobs is not None
    job = world.services.jobs.queue(world.project_id, "manager", {
        "type": "prelabel", "model_id": str(world.model.id), "images": "all", **body})
    return str(job.id)


def test_a_job_records_the_expected_prelabels_once(world: JobWorld) -> None:
    job_id = queue_job(world)
    queue = run_embedded(world)
    try:
        job = wait_finished(world, job_id)
    finally:
        queue.stop()
    n = len(world.image_ids)
    assert job.state == "done"
    assert (job.total, job.done, job.failed, job.recorded, job.dropped) == (n, n, 0, 2 * n, n)
    assert job.result == {"images": n, "failed": 0, "recorded": 2 * n, "dropped": n}
    assert sorted(job.shards_done) == [0, 1, 2]  # 12 images in shards of 5
    events = prelabel_events(world.services, job_id)
    assert_each_once(events)
    per_image = Counter(str(e.originator_id) for e in events)
    assert per_image == {iid: 2 for iid in world.image_ids}
    for e in events:
        geometry, score = EXPECTED[e.label]
        assert e.annotation_type == "box" and e.geometry == geometry
        assert e.score == pytest.approx(score, abs=1e-6)
        assert e.model == {"name": "planted", "version": "1", "id": str(world.model.id),
                           "job": job_id}
        assert e.actor == "manager" and e.command_id.startswith(f"job:{job_id}:")
    # The annotations read like any pre-label, with the model's id and the job.
    image = world.services.app.image(UUID(world.image_ids[0]))
    labels = sorted((a["label"], a["status"], a["model"]["job"])
                    for a in image.annotations.values())
    assert labels == [("cat", "proposed", job_id), ("dog", "proposed", job_id)]


class DiesBeforeShardDone(PrelabelWork):
    def _mark_done(self, job_id: str, report: ShardReport) -> None:
        raise RuntimeError("the worker died after recording, before ShardDone")


def test_running_a_shard_again_records_nothing_new(world: JobWorld) -> None:
    s = world.services
    job_id = queue_job(world)
    load = default_load_runner("cpu", 1)
    dying = DiesBeforeShardDone(s.app, s.pipeline, s.images, LoadedModel(s.models, load), "a")
    with pytest.raises(RuntimeError):
        dying.run_shard(job_id, 0)
    first = prelabel_events(s, job_id)
    assert len(first) == 10 and s.app.job(job_id).shards_done == []
    # Another worker takes the shard over: every pre-label is already in the log.
    work = PrelabelWork(s.app, s.pipeline, s.images, LoadedModel(s.models, load), "b")
    report = work.run_shard(job_id, 0)
    assert (report.done, report.recorded, report.failed) == (5, 10, 0)
    assert len(prelabel_events(s, job_id)) == 10
    job = s.app.job(job_id)
    assert job.shards_done == [0] and job.recorded == 10
    # A third time, the shard is done: nothing happens at all.
    again = work.run_shard(job_id, 0)
    assert again.stopped == "already done" and again.done == 0
    head = s.app.recorder.max_notification_id()
    assert len(prelabel_events(s, job_id)) == 10
    assert s.app.recorder.max_notification_id() == head


def test_unlabeled_means_status_new(world: JobWorld) -> None:
    s = world.services
    worked, prelabelled = world.image_ids[0], world.image_ids[1]
    s.pipeline.submit(UUID(worked), [CreateAnnotation(
        command_id=None, base_version=None, annotation_id=None, annotation_type="box",
        label="cat", geometry={"x": 1, "y": 1, "w": 5, "h": 5})],
        Actor("annotator")).result(10)
    # A job over one image: pre-labels alone leave it new.
    assert s.jobs is not None
    first = s.jobs.queue(world.project_id, "manager", {
        "type": "prelabel", "model_id": str(world.model.id), "images": [prelabelled]})
    assert first.image_ids == [prelabelled]
    queue = run_embedded(world)
    try:
        wait_finished(world, str(first.id))
        job_id = queue_job(world, images="unlabeled")
        job = wait_finished(world, job_id)
    finally:
        queue.stop()
    assert worked not in job.image_ids and prelabelled in job.image_ids
    assert job.image_ids == world.image_ids[1:]
    assert job.recorded == 2 * (len(world.image_ids) - 1)


class SlowRunner:
    """A real runner that takes a while per batch (so a job can be cancelled meanwhile)."""

    def __init__(self, runner: Runner, seconds: float) -> None:
        self.runner = runner
        self.seconds = seconds
        self.batch_size = 1

    def predict(self, images: list[RGBImage], *, threshold: float = 0.25, iou: float = 0.45,
                max_per_image: int = 300) -> list[list[Prediction]]:
        time.sleep(self.seconds)
        return self.runner.predict(images, threshold=threshold, iou=iou,
                                   max_per_image=max_per_image)


def slow_load(seconds: float) -> Any:
    real = default_load_runner("cpu", 1)
    return lambda model, path: SlowRunner(real(model, path), seconds)


def test_cancel_stops_a_running_job_and_keeps_what_it_recorded(tmp_path: Path) -> None:
    world = make_world(Settings(data_dir=tmp_path / "data", secret_key="x", job_shard_size=2),
                       tmp_path, images=20)
    try:
        s = world.services
        assert s.jobs is not None
        job_id = queue_job(world)
        queue = run_embedded(world, load=slow_load(0.05))
        try:
            deadline = time.monotonic() + 20
            while s.app.job(job_id).done < 2:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            cancelled = s.jobs.cancel(job_id, "manager")
            assert cancelled.state == "cancelled"
            time.sleep(0.5)  # the worker notices before its next batch
            recorded_after_cancel = len(prelabel_events(s, job_id))
            time.sleep(0.5)
            assert len(prelabel_events(s, job_id)) == recorded_after_cancel  # it stopped
        finally:
            queue.stop()
        job = s.app.job(job_id)
        assert job.state == "cancelled" and job.finished_at is not None
        assert 2 <= job.done < 20
        events = prelabel_events(s, job_id)
        assert_each_once(events)
        # What was recorded stays: the shards marked done, plus what the shard in flight had
        # recorded when it noticed (at most its 2 images of 2 pre-labels: it stops before the
        # next batch, so nothing after it).
        assert job.recorded <= len(events) <= job.recorded + 2 * 2
        with pytest.raises(Conflict, match="already done"):
            _done_job_cancel(world)
    finally:
        world.close()


def _done_job_cancel(world: JobWorld) -> None:
    """Cancelling a job that is done is a conflict."""
    job_id = queue_job(world, images=[world.image_ids[0]])
    queue = run_embedded(world)
    try:
        wait_finished(world, job_id)
    finally:
        queue.stop()
    assert world.services.jobs is not None
    world.services.jobs.cancel(job_id, "manager")


def test_a_bad_image_file_fails_alone(world: JobWorld) -> None:
    s = world.services
    broken = world.image_ids[3]
    path = s.images.path(s.app.image_added(UUID(broken)).sha256)
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not a PNG any more")
    job_id = queue_job(world)
    queue = run_embedded(world)
    try:
        job = wait_finished(world, job_id)
    finally:
        queue.stop()
    n = len(world.image_ids)
    assert job.state == "done"
    assert (job.done, job.failed, job.recorded) == (n - 1, 1, 2 * (n - 1))
    assert job.errors[0]["image_id"] == broken
    assert "could not be decoded" in job.errors[0]["message"]
    assert broken not in {str(e.originator_id) for e in prelabel_events(s, job_id)}


def test_missing_weights_fail_the_job_with_a_clear_error(world: JobWorld) -> None:
    s = world.services
    s.models.path(world.model.sha256).unlink()
    job_id = queue_job(world)
    queue = run_embedded(world)
    try:
        job = wait_finished(world, job_id)
    finally:
        queue.stop()
    assert job.state == "failed"
    assert job.error["code"] == "model_missing" and "missing" in job.error["message"]
    assert prelabel_events(s, job_id) == []


def test_what_a_job_request_may_not_be(world: JobWorld) -> None:
    s = world.services
    assert s.jobs is not None
    model_id = str(world.model.id)

    def refused(body: dict[str, Any]) -> ValidationFailed:
        with pytest.raises(ValidationFailed) as e:
            s.jobs.queue(world.project_id, "manager", body)  # type: ignore[union-attr]
        return e.value

    # Score jobs have their own checks (tests/jobs/test_score_job.py).
    assert refused({"type": "score", "model_id": model_id, "threshold": 0.5}
                   ).details["field"] == "threshold"
    # Train jobs too (tests/jobs/test_train_job.py).
    assert refused({"type": "train", "model_id": model_id}).details["field"] == "model_id"
    assert refused({"type": "prelabel", "model_id": "nope"}).details["field"] == "model_id"
    assert refused({"type": "prelabel"}).details["field"] == "model_id"
    assert refused({"type": "prelabel", "model_id": model_id, "threshold": 2}
                   ).details["field"] == "threshold"
    assert refused({"type": "prelabel", "model_id": model_id, "images": "some"}
                   ).details["field"] == "images"
    assert refused({"type": "prelabel", "model_id": model_id, "images": ["x"]}
                   ).details["field"] == "images[0]"
    assert refused({"type": "prelabel", "model_id": model_id, "max_per_image": 0}
                   ).details["field"] == "max_per_image"
    assert refused({"type": "prelabel", "model_id": model_id, "extra": 1}
                   ).details["field"] == "extra"
    s.app.change_model(model_id, lambda m: m.retire("manager"))
    with pytest.raises(Conflict, match="retired"):
        s.jobs.queue(world.project_id, "manager", {"type": "prelabel", "model_id": model_id})


def test_two_processes_on_one_data_dir_take_the_job_once(world: JobWorld) -> None:
    """Two embedded queues (as a server and the CLI would be): the lock file gives the job to
    one of them; the other finds it taken, then finished."""
    job_id = queue_job(world, images="all")
    first, second = run_embedded(world), run_embedded(world)
    try:
        job = wait_finished(world, job_id)
    finally:
        first.stop()
        second.stop()
    assert job.state == "done" and job.recorded == 2 * len(world.image_ids)
    events = prelabel_events(world.services, job_id)
    assert_each_once(events)
    assert len(events) == 2 * len(world.image_ids)
    assert not (world.services.settings.data_dir / "jobs" / f"{job_id}.lock").exists()


def test_a_job_queued_elsewhere_is_found_in_the_log(world: JobWorld) -> None:
    """A queue that was running before the job was queued by another process (no wake-up
    reaches it) finds the job at its next look at the log."""
    queue = run_embedded(world, poll=0.2)
    try:
        time.sleep(0.3)
        job, _ = world.services.app.queue_job(  # not through JobService: nobody is told
            world.project_id, "manager", type="prelabel", model_id=str(world.model.id),
            params={"threshold": 0.25}, image_ids=world.image_ids[:4], shard_size=2)
        done = wait_finished(world, str(job.id))
    finally:
        queue.stop()
    assert done.state == "done" and done.recorded == 8


def test_a_model_retired_after_its_job_was_queued_still_runs_it(world: JobWorld) -> None:
    """Retiring means "runs no new job": a job already queued (or running) goes on."""
    job_id = queue_job(world)
    world.services.app.change_model(str(world.model.id), lambda m: m.retire("manager"))
    queue = run_embedded(world)
    try:
        job = wait_finished(world, job_id)
    finally:
        queue.stop()
    assert job.state == "done" and job.recorded == 2 * len(world.image_ids)


class Broken(PrelabelWork):
    def _predict_and_submit(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in the worker")


def test_a_shard_that_keeps_failing_fails_its_job(world: JobWorld,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from inference_workers.job_queue import MAX_SHARD_ATTEMPTS, work_on_shard

    s = world.services
    job_id = queue_job(world)
    work = Broken(s.app, s.pipeline, s.images,
                  LoadedModel(s.models, default_load_runner("cpu", 1)), "w")
    with caplog.at_level(logging.INFO, logger="inference_workers.job_queue"):
        for _ in range(MAX_SHARD_ATTEMPTS - 1):  # retried: the store may come back
            with pytest.raises(RuntimeError):
                work_on_shard(s.app, work, job_id, 0, lambda: False)
            assert not s.app.job(job_id).finished
        assert work_on_shard(s.app, work, job_id, 0, lambda: False) is None
    job = s.app.job(job_id)
    assert job.state == "failed" and job.error["code"] == "worker_error"
    assert "a bug in the worker" in job.error["message"]
    # One step line per attempt: retried ones "error", the last "failed", each with the
    # job's type, user and images.
    steps = [r.__dict__ for r in caplog.records if r.__dict__.get("job_id") == job_id]
    assert [(r["outcome"], r.get("attempt"), r.get("code")) for r in steps] == [
        *(("error", n, None) for n in range(1, MAX_SHARD_ATTEMPTS)),
        ("failed", None, "worker_error")]
    for r in steps:
        assert (r["shard"], r["job_type"], r["user"], r["image_count"]) == (
            0, "prelabel", "manager", 5)
        assert r["image_ids"] == world.image_ids[:5] and r["duration_ms"] >= 0
