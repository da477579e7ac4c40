"""The job metrics of ``labelwright.metrics``: a real pre-label job on the embedded queue
(planted-output ONNX model, one undecodable image) moves the shard, image and inference
counters; a job that cannot run counts as a failure by its code; the queue's depth is read
from the event log at scrape time."""

from __future__ import annotations

from uuid import UUID

from inference_workers.embedded_jobs import EmbeddedJobs
from inference_workers.job_queue import worker_name
from inference_workers.prelabel_job import LoadedModel, PrelabelWork, default_load_runner
from labelwright.metrics import Metrics
from tests.jobs.conftest import JobWorld
from tests.jobs.test_prelabel_job import queue_job, wait_finished


def observed_queue(world: JobWorld, metrics: Metrics) -> EmbeddedJobs:
    """The embedded queue, told about each shard from its first one on."""
    s = world.services
    load = default_load_runner("cpu", 1)
    queue = EmbeddedJobs(
        s.app, lambda slot: PrelabelWork(s.app, s.pipeline, s.images,
                                         LoadedModel(s.models, load), worker_name(slot)),
        s.settings.data_dir / "jobs", workers=1, poll=0.1)
    queue.observer = metrics
    queue.start()
    return queue


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_job_moves_the_shard_image_and_inference_counters(world: JobWorld) -> None:
    s = world.services
    broken = world.image_ids[3]
    s.images.path(s.app.image_added(UUID(broken)).sha256).write_bytes(b"\x89PNG broken")
    metrics = Metrics(s)  # its collector reads this process's job queue
    job_id = queue_job(world)
    assert sample(metrics, "labelwright_jobs_unfinished") == 1
    queue = observed_queue(world, metrics)
    try:
        assert wait_finished(world, job_id).state == "done"
    finally:
        queue.stop()
    n = len(world.image_ids)
    assert sample(metrics, "labelwright_job_shards_total", outcome="done") == 3  # 12 by 5
    assert sample(metrics, "labelwright_job_images_total", outcome="done") == n - 1
    assert sample(metrics, "labelwright_job_images_total", outcome="failed") == 1
    assert sample(metrics, "labelwright_model_inference_seconds_count") >= 3
    assert sample(metrics, "labelwright_model_inference_seconds_sum") > 0
    assert sample(metrics, "labelwright_jobs_unfinished") == 0


def test_a_job_that_cannot_run_counts_as_a_failure_by_code(world: JobWorld) -> None:
    s = world.services
    s.models.path(world.model.sha256).unlink()
    metrics = Metrics(s)
    job_id = queue_job(world)
    queue = observed_queue(world, metrics)
    try:
        assert wait_finished(world, job_id).state == "failed"
    finally:
        queue.stop()
    assert sample(metrics, "labelwright_job_failures_total", code="model_missing") == 1
    assert sample(metrics, "labelwright_job_shards_total", outcome="done") == 0
