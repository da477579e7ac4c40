"""One vs two ``labelwright worker`` processes sharing a pre-label job over Redis Streams.

A scale-out store (a fresh PostgreSQL database, the data dir as shared storage) with
``--images`` small JPEGs (320x240, so decoding is cheap) and ``random_yolov8_onnx`` at 320x320
(a real conv net with random weights; at ``--threshold`` 0.9 it proposes ~16 boxes an image):
inference is the bottleneck. Each worker runs one job thread whose model gets
``--threads`` intra-op threads (``LABELWRIGHT_JOB_THREADS``; ``OMP_NUM_THREADS`` the same), and
with ``--pin`` each worker process is bound to its own core (``taskset -c i``; the writer and
decode threads of a worker share its core). The workers are started and warmed up (a small job
that makes each load the model), then a job over every image is queued and timed from
``JobQueued`` to ``JobFinished`` (the events' timestamps), ``--repeat`` times; the medians of
images/s for 1 and 2 workers and their ratio are printed (target >= 1.6x), one JSON line each.

Usage: ``python benchmarks/redis_workers.py [--images 400] [--threads 1] [--shard 16]
[--repeat 3] [--imgsz 320] [--threshold 0.9] [--pin]``. Needs PostgreSQL (127.0.0.1:5432) and Redis
(``LABELWRIGHT_TEST_REDIS``, default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness import BIN, postgres_database  # noqa: E402
from prelabel_job import NAMES, photo  # noqa: E402

from labelwright.bootstrap import bootstrap, shutdown  # noqa: E402
from labelwright.settings import Settings  # noqa: E402
from service_layer.image_file_import import register_images  # noqa: E402
from tests.inference.model_factory import random_yolov8_onnx  # noqa: E402

REDIS_URL = os.environ.get("LABELWRIGHT_TEST_REDIS", "redis://127.0.0.1:6379/0")


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def start_workers(n: int, env: dict[str, str], folder: Path, pin: bool
                  ) -> list[subprocess.Popen[bytes]]:
    """One after the other: processes creating the PostgreSQL recorder at the same instant
    can fail ("tuple concurrently updated", eventsourcing's CREATE OR REPLACE FUNCTION)."""
    procs = []
    cores = os.cpu_count() or 1
    for i in range(n):
        cmd = [str(BIN), "worker"]
        if pin:
            cmd = ["taskset", "-c", str(i % cores), *cmd]
        path = folder / f"worker-{n}-{i}.log"
        log = open(path, "wb")  # noqa: SIM115
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        procs.append(proc)
        deadline = time.monotonic() + 60
        while "worker running jobs" not in path.read_text():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("a worker did not start:\n" + path.read_text()[-2000:])
            time.sleep(0.1)
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        p.wait(30)


def run_job(services: Any, pid: str, model_id: str, body: dict[str, Any]) -> float:
    """Queue a job and wait for it; its images/s between JobQueued and JobFinished."""
    job = services.jobs.queue(pid, "bench", {"type": "prelabel", "model_id": model_id, **body})
    deadline = time.monotonic() + 600
    while True:
        done = services.app.job(job.id)
        if done.finished:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"job did not finish: {done.describe()}")
        time.sleep(0.05)
    assert done.state == "done", done.describe()
    assert done.finished_at is not None
    return done.total / (done.finished_at - done.created_on).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shard", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--imgsz", type=int, default=320, help="the model's input size")
    parser.add_argument("--pin", action="store_true", help="bind each worker to its own core")
    parser.add_argument("--worker-projections", action="store_true",
                        help="the workers project too (default: job-only workers, "
                        "LABELWRIGHT_WORKER_PROJECTIONS=0, as beside web nodes)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, postgres_database() as url:
        folder = Path(tmp)
        prefix = f"lwbench-{uuid.uuid4().hex[:8]}"
        settings = Settings(data_dir=folder / "data", database_url=url, redis_url=REDIS_URL,
                            redis_prefix=prefix, secret_key="bench",
                            job_shard_size=args.shard)
        services = bootstrap(settings, live=False, run_jobs=False)
        try:
            project, _ = services.app.create_project(
                "bench", [{"name": n} for n in NAMES], None, "bench")
            pid = str(project.id)
            for start in range(0, args.images, 100):
                register_images(services, pid, [
                    (f"{i:05d}.jpg", photo(i, 320, 240))
                    for i in range(start, min(args.images, start + 100))], "bench")
            from inference_workers.model_files import inspect_model
            from service_layer.model_registry import register_model

            path = random_yolov8_onnx(folder / "random.onnx", NAMES, (args.imgsz, args.imgsz))
            model, _ = register_model(services.app, services.models, pid, weights=path,
                                      name="random", version="1", actor="bench",
                                      max_bytes=1 << 30, inspect=inspect_model)
            services.runner.catch_up()
            ids = [str(r["id"]) for r in services.read.list_images(pid, None, 100_000,
                                                                    None)[0]]
            # This process only queues: the workers project (and jobs list their images, so
            # queueing does not wait for a read model).
            services.runner.stop()
            env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
            env.update({"LABELWRIGHT_DATA_DIR": str(settings.data_dir),
                        "LABELWRIGHT_DATABASE_URL": url, "LABELWRIGHT_REDIS_URL": REDIS_URL,
                        "LABELWRIGHT_REDIS_PREFIX": prefix, "LABELWRIGHT_SECRET_KEY": "bench",
                        "LABELWRIGHT_JOB_THREADS": str(args.threads),
                        "OMP_NUM_THREADS": str(args.threads),
                        "LABELWRIGHT_WORKER_PROJECTIONS": "1" if args.worker_projections
                        else "0"})
            rates: dict[int, list[float]] = {}
            for workers in (1, 2):
                procs = start_workers(workers, env, folder, args.pin)
                try:
                    # Warm-up: shards enough for every worker to load the model.
                    run_job(services, pid, str(model.id),
                            {"images": ids[:args.shard * 4 * workers],
                             "threshold": args.threshold})
                    rates[workers] = [run_job(services, pid, str(model.id),
                                              {"images": ids, "threshold": args.threshold})
                                      for _ in range(args.repeat)]
                finally:
                    stop_workers(procs)
            common = {"model": f"random_yolov8_onnx {args.imgsz}x{args.imgsz}",
                      "images": args.images,
                      "image_size": "320x240 JPEG", "shard": args.shard,
                      "threads_per_worker": args.threads, "pinned": args.pin,
                      "worker_projections": args.worker_projections,
                      "threshold": args.threshold, "cores": os.cpu_count(),
                      "store": "PostgreSQL + Redis Streams", "repeat": args.repeat}
            for workers, values in rates.items():
                emit({"benchmark": f"redis_workers_{workers}", **common,
                      "images_per_s_median": round(statistics.median(values), 1),
                      "images_per_s": [round(v, 1) for v in values]})
            speedup = statistics.median(rates[2]) / statistics.median(rates[1])
            emit({"benchmark": "redis_workers_speedup", **common,
                  "speedup": round(speedup, 3), "target": 1.6, "ok": speedup >= 1.6})
        finally:
            shutdown(services)


if __name__ == "__main__":
    main()
