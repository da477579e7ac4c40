"""Distributed jobs: ``labelwright worker`` processes sharing shards through Redis Streams.

A scale-out store (PostgreSQL events and read models, the data dir as shared storage for the
image and model files) and a private ``redis-server`` this test may kill and restart (it keeps
nothing on disk, like the deployment's). The model is a real conv net with random weights at
320x320 on noise images (~20 ms an image on one thread): inference is the work, and every image
gets a different number of pre-labels. What each image must get is computed in the test by
running the same model in-process over the same files (one thread, so the same numbers).

The faults: a worker SIGKILLed while it works on a shard (its entry goes idle and another worker
takes it over with XAUTOCLAIM after ``LABELWRIGHT_JOB_CLAIM_SECONDS``), and Redis restarted
empty in the middle of a job (the workers re-create the group and re-publish the pending
shards from the event log). Either way the job finishes and the log holds every expected
pre-label exactly once.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest
import redis
from PIL import Image as PILImage

from domain.job import Job
from inference_workers.prelabel_job import decode_image, plan_prelabels
from inference_workers.runners import load_runner
from labelwright.settings import Settings
from tests.jobs.conftest import JobWorld, assert_each_once, heavy_model, make_world, prelabel_events
from tests.realtime.nodes import BIN, RedisServer, postgres_available, postgres_database
from tests.required_services import unavailable

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

IMAGES = 60
SHARD = 2
CLAIM_SECONDS = 1


def noise_png(index: int) -> bytes:
    rng = np.random.default_rng(index)
    buf = io.BytesIO()
    PILImage.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def scaled_out(tmp_path: Path) -> Iterator[tuple[JobWorld, RedisServer, dict[str, str]]]:
    if not postgres_available():
        unavailable("PostgreSQL is not reachable")
    try:
        server = RedisServer()
        server.start()
    except (OSError, RuntimeError) as e:
        unavailable(f"cannot start a private redis-server: {e}")
    prefix = f"lwjobs-{uuid.uuid4().hex[:8]}"
    with postgres_database() as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url,
                            redis_url=server.url, redis_prefix=prefix, secret_key="jobs",
                            job_shard_size=SHARD)
        world = make_world(settings, tmp_path, images=IMAGES, image_bytes=noise_png,
                           model_path=heavy_model(tmp_path / "heavy.onnx", 320))
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
        env.update({"LABELWRIGHT_DATA_DIR": str(settings.data_dir),
                    "LABELWRIGHT_DATABASE_URL": url, "LABELWRIGHT_REDIS_URL": server.url,
                    "LABELWRIGHT_REDIS_PREFIX": prefix, "LABELWRIGHT_SECRET_KEY": "jobs",
                    "LABELWRIGHT_JOB_THREADS": "1",
                    "LABELWRIGHT_JOB_CLAIM_SECONDS": str(CLAIM_SECONDS),
                    # Job-only workers, as beside web nodes (this process projects).
                    "LABELWRIGHT_WORKER_PROJECTIONS": "0",
                    "OMP_NUM_THREADS": "1"})
        try:
            yield world, server, env
        finally:
            world.close()
            server.stop()


class Workers:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, n: int) -> None:
        """One after the other: processes creating the PostgreSQL recorder at the same
        instant can fail ("tuple concurrently updated": eventsourcing's CREATE OR REPLACE
        FUNCTION), which is not what these tests are about."""
        for i in range(n):
            log = open(self.logs / f"worker-{len(self.procs)}-{i}.log", "wb")  # noqa: SIM115
            self.procs.append(subprocess.Popen([str(BIN), "worker"], env=self.env, stdout=log,
                                               stderr=subprocess.STDOUT,
                                               start_new_session=True))
            log.close()
            wait_started(self)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()

    def logs_text(self, tail: int | None = None) -> str:
        """The workers' logs (each cut to its last ``tail`` characters, for messages)."""
        return "\n".join(f.read_text(errors="replace")[-tail if tail else 0:]
                         for f in sorted(self.logs.glob("worker-*.log")))


def wait_started(workers: Workers, timeout: float = 60) -> None:
    """Until every worker says it runs jobs (its threads are reading the stream)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = sorted(workers.logs.glob("worker-*.log"))
        if len(logs) == len(workers.procs) and all(
                "worker running jobs" in f.read_text(errors="replace") for f in logs):
            return
        assert all(p.poll() is None for p in workers.procs), workers.logs_text(3000)
        time.sleep(0.1)
    raise AssertionError("the workers did not start:\n" + workers.logs_text(3000))


def expected_counts(world: JobWorld) -> dict[str, int]:
    """Each image's pre-labels, from the same model run here over the same files."""
    s = world.services
    runner = load_runner(world.model, s.models.path(world.model.sha256), device="cpu",
                         threads=1)
    schema = s.app.project(world.project_id).schema()
    out = {}
    for iid in world.image_ids:
        d = decode_image(s.app, s.images, world.project_id, iid)
        assert d.pixels is not None
        [predictions] = runner.predict([d.pixels], threshold=0.25, iou=0.45, max_per_image=300)
        out[iid] = len(plan_prelabels(predictions, model=world.model, job_id="x", image_id=iid,
                                      width=d.width, height=d.height, schema=schema).commands)
    return out


def wait_job(world: JobWorld, job_id: str, workers: Workers, timeout: float = 120) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = world.services.app.job(job_id)
        if job.finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job not finished: {world.services.app.job(job_id).describe()}\n"
                         f"{workers.logs_text(3000)}")


def check_exactly_once(world: JobWorld, job: Job, expected: dict[str, int]) -> None:
    assert job.state == "done", job.describe()
    events = prelabel_events(world.services, str(job.id))
    assert_each_once(events)
    got = Counter(str(e.originator_id) for e in events)
    assert {iid: got.get(iid, 0) for iid in world.image_ids} == expected
    assert job.recorded == sum(expected.values()) == len(events)
    assert (job.done, job.failed) == (IMAGES, 0)
    assert sorted(job.shards_done) == list(range(IMAGES // SHARD))


def queue(world: JobWorld) -> str:
    assert world.services.jobs is not None
    job = world.services.jobs.queue(world.project_id, "manager", {
        "type": "prelabel", "model_id": str(world.model.id), "images": "all"})
    return str(job.id)


def first_shard_done(world: JobWorld, job_id: str, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = world.services.app.job(job_id)
        if job.shards_done:
            return job
        time.sleep(0.01)
    raise AssertionError("no shard got done")


def started_by(world: JobWorld, job_id: str) -> int:
    """The pid of the worker that recorded JobStarted (``host:pid:slot``)."""
    for event in world.services.app.events.get(UUID(job_id)):
        if isinstance(event, Job.JobStarted):
            return int(event.worker.split(":")[1])
    raise AssertionError("no JobStarted")


def test_a_worker_killed_mid_job_loses_and_duplicates_nothing(
        scaled_out: tuple[JobWorld, RedisServer, dict[str, str]], tmp_path: Path) -> None:
    world, server, env = scaled_out
    expected = expected_counts(world)
    assert sum(expected.values()) > IMAGES  # the model finds things
    workers = Workers(env, tmp_path)
    r = redis.Redis.from_url(server.url, decode_responses=True)
    stream = f"{env['LABELWRIGHT_REDIS_PREFIX']}:jobs:shards"
    try:
        workers.start(2)
        wait_started(workers)
        job_id = queue(world)
        first_shard_done(world, job_id)
        victim = started_by(world, job_id)
        os.kill(victim, signal.SIGKILL)
        job = wait_job(world, job_id, workers)
    finally:
        workers.stop()
    check_exactly_once(world, job, expected)
    assert any(p.returncode == -signal.SIGKILL for p in workers.procs)
    assert "took over shard" in workers.logs_text() or job.state == "done"
    # The stream holds nothing more to do.
    assert r.xpending(stream, "workers")["pending"] == 0


def test_redis_restarted_empty_mid_job_the_job_still_finishes(
        scaled_out: tuple[JobWorld, RedisServer, dict[str, str]], tmp_path: Path) -> None:
    world, server, env = scaled_out
    expected = expected_counts(world)
    workers = Workers(env, tmp_path)
    try:
        workers.start(2)
        wait_started(workers)
        job_id = queue(world)
        first_shard_done(world, job_id)
        server.stop()  # everything Redis held is gone
        # Shards run fast: on a quick machine the workers may have (nearly) finished the job
        # before Redis went away; only shards neither done nor in a worker's hands (one each)
        # must be re-published.
        unfinished = len(world.services.app.job(job_id).pending_shards()) > 2
        time.sleep(0.5)
        server.start()
        job = wait_job(world, job_id, workers)
    finally:
        workers.stop()
    check_exactly_once(world, job, expected)
    if unfinished:
        assert "published job" in workers.logs_text()
