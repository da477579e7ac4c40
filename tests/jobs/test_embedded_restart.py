"""A server SIGKILLed in the middle of a job, then started again: the job resumes from its first
unfinished shard and the log holds every expected pre-label exactly once (embedded SQLite, the
job run by the server's own job thread; the lock file of the dead server's job is released by
the operating system)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from labelwright.settings import Settings
from tests.jobs.conftest import heavy_model, make_world
from tests.jobs.test_redis_workers import (
    check_exactly_once,
    expected_counts,
    first_shard_done,
    noise_png,
    queue,
)
from tests.realtime.nodes import Deployment

pytestmark = pytest.mark.slow

IMAGES = 60  # as test_redis_workers.check_exactly_once expects, in shards of 2


def test_a_server_killed_mid_job_resumes_it_after_a_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_key="realtime-tests",
                        job_shard_size=2)
    world = make_world(settings, tmp_path, images=IMAGES, image_bytes=noise_png,
                       model_path=heavy_model(tmp_path / "heavy.onnx", 320))
    deployment = Deployment(data_dir=settings.data_dir)
    env = {"LABELWRIGHT_JOB_THREADS": "1", "OMP_NUM_THREADS": "1"}
    try:
        expected = expected_counts(world)
        node = deployment.start_node(env=env)
        job_id = queue(world)  # the running server finds it in the log within its poll
        first_shard_done(world, job_id)
        node.kill()
        left = world.services.app.job(job_id)
        assert left.state == "running" and left.pending_shards(), left.describe()
        deployment.start_node(env=env)
        deadline = time.monotonic() + 120
        while not world.services.app.job(job_id).finished:
            assert time.monotonic() < deadline, world.services.app.job(job_id).describe()
            time.sleep(0.1)
        check_exactly_once(world, world.services.app.job(job_id), expected)
    finally:
        deployment.stop_all()
        world.close()
