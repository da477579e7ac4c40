"""``labelwright prelabel`` and ``labelwright worker`` end to end, as subprocesses on an
embedded data dir with no server running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings
from tests.jobs.conftest import assert_each_once, make_world, prelabel_events
from tests.realtime.nodes import BIN

IMAGES = 7


@pytest.fixture
def data(tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = Settings(data_dir=tmp_path / "data", secret_key="cli")
    world = make_world(settings, tmp_path, images=IMAGES)
    info = {"settings": settings, "project_id": world.project_id,
            "model_id": str(world.model.id)}
    world.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
    env.update({"LABELWRIGHT_DATA_DIR": str(settings.data_dir),
                "LABELWRIGHT_SECRET_KEY": "cli", "LABELWRIGHT_JOB_THREADS": "1"})
    yield {**info, "env": env}


def labelwright(data: dict[str, Any], *args: str, timeout: float = 120
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], env=data["env"], capture_output=True, text=True,
                          timeout=timeout)


def test_prelabel_runs_the_job_itself_with_no_server(data: dict[str, Any]) -> None:
    done = labelwright(data, "prelabel", data["project_id"], "--model", data["model_id"],
                       "--images", "all", "--threshold", "0.5")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["state"] == "done" and job["params"]["threshold"] == 0.5
    assert (job["total"], job["done"], job["recorded"]) == (IMAGES, IMAGES, 2 * IMAGES)
    assert f"job {job['id']} queued" in done.stderr
    assert job["created_by"] == "cli"
    services = bootstrap(data["settings"], background=False, live=False)
    try:
        events = prelabel_events(services, job["id"])
        assert_each_once(events)
        assert len(events) == 2 * IMAGES and {e.actor for e in events} == {"cli"}
    finally:
        shutdown(services)
    # Every image has pre-labels now but is still new: "unlabeled" takes them all again,
    # and the new job records its own.
    again = labelwright(data, "prelabel", data["project_id"], "--model", data["model_id"],
                        "--quiet")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["total"] == IMAGES


def test_a_detached_job_is_run_by_a_worker(data: dict[str, Any]) -> None:
    queued = labelwright(data, "prelabel", data["project_id"], "--model", data["model_id"],
                         "--images", "all", "--detach")
    assert queued.returncode == 0, queued.stderr
    job = json.loads(queued.stdout)
    assert job["state"] == "queued"
    with socket.socket() as probe:  # a free port for the worker's metrics endpoint
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**data["env"], "LABELWRIGHT_WORKER_METRICS_BIND": f"127.0.0.1:{port}"}
    worker = subprocess.Popen([str(BIN), "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        services = bootstrap(data["settings"], background=False, live=False)
        try:
            deadline = time.monotonic() + 60
            while not services.app.job(job["id"]).finished:
                assert time.monotonic() < deadline, "the worker did not run the job"
                assert worker.poll() is None
                time.sleep(0.1)
            finished = services.app.job(job["id"])
            assert finished.state == "done" and finished.recorded == 2 * IMAGES
            assert len(prelabel_events(services, job["id"])) == 2 * IMAGES
            # The worker's own metrics: its shards, images and model calls.
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                text = r.read().decode()
            samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for family in text_string_to_metric_families(text)
                       for s in family.samples}
            assert samples[("labelwright_job_images_total", (("outcome", "done"),))] == IMAGES
            assert samples[("labelwright_model_inference_seconds_count", ())] >= 1
        finally:
            shutdown(services)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0


def test_a_worker_refuses_a_malformed_metrics_address(data: dict[str, Any]) -> None:
    env = {**data["env"], "LABELWRIGHT_WORKER_METRICS_BIND": "9101"}
    done = subprocess.run([str(BIN), "worker"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "LABELWRIGHT_WORKER_METRICS_BIND must be host:port, not '9101'" in done.stderr


def test_prelabel_refuses_clearly(data: dict[str, Any]) -> None:
    wrong = labelwright(data, "prelabel", data["project_id"], "--model", "nope")
    assert wrong.returncode == 2 and "error: no model 'nope' in this project" in wrong.stderr
    bad = labelwright(data, "prelabel", data["project_id"], "--model", data["model_id"],
                      "--threshold", "7")
    assert bad.returncode == 2 and "threshold must be a number between 0 and 1" in bad.stderr


def test_a_worker_logs_one_json_line_per_job_step_without_secrets(tmp_path: Path) -> None:
    # A job queued by a user (with a password and an API token) in shards of 6: the worker's
    # line for shard 0 names 5 of its 6 images, the one for shard 1 both of its own.
    secret_key = "worker-log-secret-key-0123456789"
    settings = Settings(data_dir=tmp_path / "data", secret_key=secret_key, job_shard_size=6)
    world = make_world(settings, tmp_path, images=8)
    try:
        token = world.services.tokens.issue("manager", "api", "ci")
        assert world.services.jobs is not None
        job = world.services.jobs.queue(world.project_id, "manager", {
            "type": "prelabel", "model_id": str(world.model.id), "images": "all"})
        job_id, image_ids = str(job.id), list(job.image_ids)
    finally:
        world.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
    env.update({"LABELWRIGHT_DATA_DIR": str(settings.data_dir),
                "LABELWRIGHT_SECRET_KEY": secret_key, "LABELWRIGHT_JOB_THREADS": "1",
                "LABELWRIGHT_LOG_FORMAT": "json"})
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen([str(BIN), "worker"], env=env, stdout=log_file,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            services = bootstrap(settings, background=False, live=False)
            try:
                deadline = time.monotonic() + 60
                while not services.app.job(job_id).finished:
                    assert time.monotonic() < deadline, "the worker did not run the job"
                    assert worker.poll() is None
                    time.sleep(0.1)
                assert services.app.job(job_id).state == "done"
            finally:
                shutdown(services)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    steps = sorted((line for line in lines if line.get("job_id") == job_id),
                   key=lambda line: line["shard"])
    assert [(s["shard"], s["outcome"]) for s in steps] == [(0, "done"), (1, "done")]
    for step, images in zip(steps, (image_ids[:6], image_ids[6:]), strict=True):
        assert step["logger"] == "inference_workers.job_queue" and step["level"] == "INFO"
        assert (step["job_type"], step["user"], step["project_id"]) == (
            "prelabel", "manager", world.project_id)
        assert step["image_count"] == len(images) and step["image_ids"] == images[:5]
        assert (step["images"], step["failed"], step["recorded"]) == (
            len(images), 0, 2 * len(images))
        assert isinstance(step["duration_ms"], float) and step["duration_ms"] > 0
        assert f"shard {step['shard']} user=manager" in step["message"]
    for secret in (token, "password123", secret_key):
        assert secret not in text
    assert "lw_" not in text
