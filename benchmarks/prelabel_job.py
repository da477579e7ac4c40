"""A pre-label job against a bare ONNX Runtime loop, side by side; and the web API while a job
runs. One JSON line per measurement.

1. ``prelabel_job_vs_bare`` -- ``--images`` (500) photo stand-ins (``--size`` 640x480 JPEG)
   registered in an embedded data dir, and ``random_yolov8_onnx`` (a small real conv net,
   320x320, random weights) registered as a model. Alternately, ``--repeat`` times each:

   * the bare loop: for each batch of ``--batch`` images, read and decode the files from the
     image store (PIL), letterbox them (``letterbox_batch``) and ``session.run`` them -- no NMS,
     no mapping, nothing recorded; one ``InferenceSession`` with ``--threads`` intra-op threads;
   * the job: a fresh pre-label job over the same images (``JobService.queue``), its shards run
     by ``PrelabelWork`` (the code the worker threads run: decode on a prefetch thread, predict
     with the runner on the same number of threads and batch size, NMS and mapping, the
     class map, recording through the command pipeline, ``ShardDone``), timed from the first
     shard's start (the model already loaded, as the bare session is) to ``JobFinished``.

   Reported: the medians of images/s and their ratio (target >= 0.85), the pre-labels recorded
   per image, and the recording's cost two ways: ``record_wait`` (time the job's shards spent
   waiting for the pipeline after their last batch: what recording adds to the job's critical
   path) and ``recording_alone`` (the same number of images and pre-labels submitted to the
   pipeline with nothing else running: the writer's whole cost), each as a share of the job's
   time (target <= 5 %). Also ``strict_bare``: the bare loop over batches letterboxed before
   the clock starts (``benchmarks/inference_runner.py``'s baseline).
2. ``web_p99_during_job`` -- ``labelwright serve`` on that data dir (one job thread, the model on
   every core but one: ``LABELWRIGHT_JOB_THREADS`` default) while a client reads
   ``GET /projects/{id}``, ``GET /projects/{id}/images`` and ``GET /images/{id}/annotations``
   in a loop: latency percentiles with no job and during a job (target: p99 <= 50 ms).

Usage: ``python benchmarks/prelabel_job.py [--images 500] [--batch 8] [--threads 1]
[--repeat 3] [--size 640x480] [--threshold 0.9] [--skip-web | --web-only]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

from domain.command_pipeline import Actor  # noqa: E402
from domain.commands import ProposePrelabel  # noqa: E402
from inference_workers.letterbox import letterbox_batch  # noqa: E402
from inference_workers.prelabel_job import (  # noqa: E402
    LoadedModel,
    PrelabelWork,
    default_load_runner,
)
from labelwright.bootstrap import bootstrap, shutdown  # noqa: E402
from labelwright.settings import Settings  # noqa: E402
from service_layer.image_file_import import register_images  # noqa: E402
from tests.inference.model_factory import random_yolov8_onnx  # noqa: E402

NAMES = ["car", "person"]


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def photo(seed: int, width: int, height: int) -> bytes:
    """A JPEG stand-in for a photo: gradients, flat rectangles, a little noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([(xs * rng.uniform(0.1, 0.4) + ys * rng.uniform(0.1, 0.4)
                      + rng.uniform(0, 255)) % 256 for _ in range(3)], axis=-1)
    for _ in range(4):
        x0, y0 = rng.integers(0, width - 20), rng.integers(0, height - 20)
        base[y0:y0 + rng.integers(10, height // 3), x0:x0 + rng.integers(10, width // 3)] = \
            rng.uniform(0, 255, 3)
    base += rng.normal(0, 4, base.shape)
    buf = io.BytesIO()
    PILImage.fromarray(base.clip(0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def setup(folder: Path, count: int, width: int, height: int, shard: int) -> dict[str, Any]:
    from inference_workers.model_files import inspect_model
    from service_layer.model_registry import register_model

    settings = Settings(data_dir=folder / "data", secret_key="bench", job_shard_size=shard)
    services = bootstrap(settings, live=False, run_jobs=False)
    project, _ = services.app.create_project(
        "bench", [{"name": n} for n in NAMES], None, "bench")
    pid = str(project.id)
    for start in range(0, count, 100):
        register_images(services, pid, [(f"{i:05d}.jpg", photo(i, width, height))
                                        for i in range(start, min(count, start + 100))],
                        "bench")
    path = random_yolov8_onnx(folder / "random_yolov8.onnx", NAMES, (320, 320))
    model, _ = register_model(services.app, services.models, pid, weights=path, name="random",
                              version="1", actor="bench", max_bytes=1 << 30,
                              inspect=inspect_model)
    services.runner.catch_up()
    return {"settings": settings, "services": services, "project_id": pid, "model": model}


def files_of(services: Any, project_id: str) -> list[Path]:
    rows, _ = services.read.list_images(project_id, None, 100_000, None)
    return [services.images.path(services.app.image_added(UUID(str(r["id"]))).sha256)
            for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shard", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.9,
                        help="the job's threshold (0.9: ~16 pre-labels an image from this "
                        "random-weights net; 0.25 gives ~160)")
    parser.add_argument("--size", default="640x480", help="image WIDTHxHEIGHT")
    parser.add_argument("--skip-web", action="store_true")
    parser.add_argument("--web-only", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        world = setup(folder, args.images, width, height, args.shard)
        services, pid, model = world["services"], world["project_id"], world["model"]
        files = files_of(services, pid)
        if args.web_only:
            shutdown(services)
            web_latency(world["settings"], pid, str(model.id),
                        {"images": len(files), "threshold": args.threshold,
                         "cores": os.cpu_count()}, args.threshold)
            return
        common = {"model": "random_yolov8_onnx 320x320", "images": len(files),
                  "image_size": f"{width}x{height} JPEG", "batch": args.batch,
                  "threads": args.threads, "shard": args.shard, "repeat": args.repeat,
                  "threshold": args.threshold,
                  "cores": os.cpu_count()}

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        bare = ort.InferenceSession(str(services.models.path(model.sha256)),
                                    sess_options=options, providers=["CPUExecutionProvider"])
        input_name = bare.get_inputs()[0].name

        def bare_loop() -> float:
            start = time.perf_counter()
            for i in range(0, len(files), args.batch):
                pixels = []
                for f in files[i:i + args.batch]:
                    with PILImage.open(f) as im:
                        pixels.append(np.array(im.convert("RGB")))
                bare.run(None, {input_name: letterbox_batch(pixels, (320, 320))[0].numpy()})
            return len(files) / (time.perf_counter() - start)

        decoded = []
        for f in files:
            with PILImage.open(f) as im:
                decoded.append(np.array(im.convert("RGB")))
        strict = [letterbox_batch(decoded[i:i + args.batch], (320, 320))[0].numpy()
                  for i in range(0, len(decoded), args.batch)]
        del decoded

        def strict_loop() -> float:
            start = time.perf_counter()
            for batch in strict:
                bare.run(None, {input_name: batch})
            return len(files) / (time.perf_counter() - start)

        load = default_load_runner("cpu", args.threads)
        cache = LoadedModel(services.models, load)
        work = PrelabelWork(services.app, services.pipeline, services.images, cache, "bench")
        cache.get(model)  # loaded once, like the bare session
        runner = cache.get(model)
        runner.batch_size = args.batch  # type: ignore[misc]

        def job_run() -> dict[str, Any]:
            job = services.jobs.queue(pid, "bench", {"type": "prelabel", "images": "all",
                                                     "model_id": str(model.id),
                                                     "threshold": args.threshold})
            start = time.perf_counter()
            pending = job.pending_shards()  # in order, each decoding the next one's images
            reports = [work.run_shard(str(job.id), index,
                                      then=pending[k + 1] if k + 1 < len(pending) else None)
                       for k, index in enumerate(pending)]
            elapsed = time.perf_counter() - start
            finished = services.app.job(job.id)
            assert finished.state == "done", finished.describe()
            return {"rate": len(files) / elapsed, "seconds": elapsed,
                    "record_wait": sum(r.record_wait for r in reports),
                    "recorded": finished.recorded, "failed": finished.failed}

        bare_loop()
        strict_loop()
        bare_rates, strict_rates, jobs = [], [], []
        for _ in range(args.repeat):
            bare_rates.append(bare_loop())
            strict_rates.append(strict_loop())
            jobs.append(job_run())
        job_rates = [j["rate"] for j in jobs]
        median_job = statistics.median(job_rates)
        median_seconds = statistics.median(j["seconds"] for j in jobs)
        per_image = jobs[0]["recorded"] / len(files)

        # The writer's whole cost: the same number of images and pre-labels, alone.
        record_times = []
        sample = jobs[0]["recorded"]
        ids = [UUID(str(r["id"])) for r in services.read.list_images(pid, None, 100_000,
                                                                      None)[0]]
        for _ in range(args.repeat):
            tag = uuid.uuid4().hex[:8]
            each = max(1, round(sample / len(ids)))
            plans = [(iid, [ProposePrelabel(
                command_id=f"bench:{tag}:{iid}:{k}", base_version=None, annotation_type="box",
                label=NAMES[k % 2], geometry={"x": 10.0 + k, "y": 10.0, "w": 20.0, "h": 20.0},
                model_name="random", model_version="1", score=0.5, model_id=str(model.id),
                job_id=tag) for k in range(each)]) for iid in ids]
            start = time.perf_counter()
            futures = services.pipeline.submit_many(plans, Actor("bench", trusted=True))
            for f in futures:
                f.result(120)
            record_times.append(time.perf_counter() - start)
        recording_alone = statistics.median(record_times)

        emit({"benchmark": "prelabel_bare_onnxruntime", **common,
              "what": "decode files + letterbox + session.run",
              "images_per_s_median": round(statistics.median(bare_rates), 1),
              "images_per_s": [round(r, 1) for r in bare_rates]})
        emit({"benchmark": "prelabel_strict_bare", **common,
              "what": "session.run of batches letterboxed before the clock",
              "images_per_s_median": round(statistics.median(strict_rates), 1)})
        emit({"benchmark": "prelabel_job", **common,
              "images_per_s_median": round(median_job, 1),
              "images_per_s": [round(r, 1) for r in job_rates],
              "prelabels_per_image": round(per_image, 2),
              "failed": jobs[0]["failed"]})
        ratio = median_job / statistics.median(bare_rates)
        emit({"benchmark": "prelabel_job_vs_bare", **common, "ratio": round(ratio, 3),
              "ratio_vs_strict_bare": round(median_job / statistics.median(strict_rates), 3),
              "target": 0.85, "ok": ratio >= 0.85})
        wait_share = statistics.median(j["record_wait"] / j["seconds"] for j in jobs)
        alone_share = recording_alone / median_seconds
        emit({"benchmark": "prelabel_job_recording_share", **common,
              "record_wait_share": round(wait_share, 4),
              "recording_alone_s": round(recording_alone, 3),
              "recording_alone_share": round(alone_share, 4),
              "job_s_median": round(median_seconds, 2), "target": 0.05,
              "ok": max(wait_share, alone_share) <= 0.05})
        settings = world["settings"]
        shutdown(services)
        if not args.skip_web:
            web_latency(settings, pid, str(model.id), common, args.threshold)


def web_latency(settings: Settings, pid: str, model_id: str, common: dict[str, Any],
                threshold: float) -> None:
    import signal
    import subprocess

    from harness import BIN, free_port, request  # the other benchmarks' HTTP helpers

    services = bootstrap(settings, background=False, live=False)
    if services.app.find_user("bench-admin") is None:
        services.app.register_user("bench-admin", "bench-password", is_admin=True)
    token = services.tokens.issue("bench-admin")
    image_id = str(services.read.list_images(pid, None, 1, None)[0][0]["id"])
    shutdown(services)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
    env.update({"LABELWRIGHT_SECRET_KEY": "bench", "LABELWRIGHT_JOB_SHARD_SIZE": "64"})
    port = free_port()
    log = open(settings.data_dir / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(BIN), "serve", "--port", str(port), "--data-dir",
                             str(settings.data_dir)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 30
        while True:
            try:
                if request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        paths = [f"/api/v1/projects/{pid}", f"/api/v1/projects/{pid}/images?limit=50",
                 f"/api/v1/images/{image_id}/annotations"]

        def sample(seconds: float, stop: threading.Event | None = None) -> list[float]:
            out: list[float] = []
            end = time.perf_counter() + seconds
            while time.perf_counter() < end and not (stop and stop.is_set()):
                for p in paths:
                    t = time.perf_counter()
                    status, _ = request(port, "GET", p, token=token)
                    out.append((time.perf_counter() - t) * 1000)
                    assert status == 200, status
            return out

        sample(1.0)
        idle = sample(5.0)
        status, body = request(port, "POST", f"/api/v1/projects/{pid}/jobs",
                               {"type": "prelabel", "model_id": model_id, "images": "all",
                                "threshold": threshold},
                               token=token)
        assert status == 202, body
        job_id = body["job"]["id"]
        while request(port, "GET", f"/api/v1/jobs/{job_id}", token=token)[1]["job"][
                "state"] == "queued":
            time.sleep(0.05)
        finished = threading.Event()

        def watch() -> None:
            while request(port, "GET", f"/api/v1/jobs/{job_id}", token=token)[1]["job"][
                    "state"] == "running":
                time.sleep(0.25)
            finished.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        started = time.perf_counter()
        busy = sample(600.0, finished)  # only while the job runs
        job_seconds = time.perf_counter() - started

        def pct(values: list[float], q: float) -> float:
            return round(float(np.percentile(values, q)), 2)

        emit({"benchmark": "web_p99_during_job", **common,
              "job_threads": "default (cores - 1)", "requests_idle": len(idle),
              "requests_during_job": len(busy), "job_s": round(job_seconds, 1),
              "idle_ms": {"p50": pct(idle, 50), "p99": pct(idle, 99)},
              "during_job_ms": {"p50": pct(busy, 50), "p99": pct(busy, 99),
                                "max": pct(busy, 100)},
              "target_p99_ms": 50, "ok": pct(busy, 99) <= 50})
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


if __name__ == "__main__":
    main()
