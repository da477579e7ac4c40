"""Model evaluation benchmark (``GET /projects/{id}/evaluation``'s use case); prints JSON lines.

1,000 images (``--images``) with ~5 objects each (``--boxes``), recorded through the real write
side: a registered model, a pre-label job over every image whose job-aware pre-labels (5 per
image, the job's shards marked done) go through the command pipeline, then people's work on
each image: 3 pre-labels accepted, 1 moved (IoU ~0.6 with the proposal), 1 relabelled, 1 object
the model missed drawn by hand; one image in ten left untouched. The projections catch up,
then ``service_layer.model_evaluation.evaluate_model`` runs as of the head and as of a position
half-way (target <= 2 s at the head; best of ``--repeat`` runs, the first and the median
reported too, and the least CPU time of a run: on a busy machine wall time is mostly waiting),
with the COCOeval part timed on its own; then the same evaluation is asked over HTTP of the
real ASGI app (``model_evaluation_http``).

Usage: ``python benchmarks/model_evaluation.py [--images N] [--boxes K] [--postgres]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from domain.command_pipeline import Actor  # noqa: E402
from domain.commands import parse_command, parse_prelabel  # noqa: E402
from domain.job import Job  # noqa: E402
from event_store.positions import log_head  # noqa: E402
from inference_workers.evaluation import evaluate_task  # noqa: E402
from labelwright.bootstrap import bootstrap, shutdown  # noqa: E402
from labelwright.settings import Settings  # noqa: E402
from service_layer.model_evaluation import JudgedImage, evaluate_model  # noqa: E402

CLASSES = ["car", "person", "bicycle", "dog"]
W, H = 1280, 720
ADMIN = Actor("bench", is_admin=True)
TRUSTED = Actor("bench", is_admin=True, trusted=True)
TARGET_SECONDS = 2.0


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def random_box(rng: random.Random) -> dict[str, float]:
    w, h = rng.uniform(30, 250), rng.uniform(30, 250)
    return {"x": round(rng.uniform(0, W - w), 2), "y": round(rng.uniform(0, H - h), 2),
            "w": round(w, 2), "h": round(h, 2)}


def build(services: Any, images: int, boxes: int) -> tuple[str, str, int]:
    """The project, the model and the position half-way through people's work."""
    rng = random.Random(5)
    app, pipeline = services.app, services.pipeline
    project, _ = app.create_project("bench", [{"name": c} for c in CLASSES], ["box"],
                                    ADMIN.username)
    pid = str(project.id)
    model, _ = app.register_model(
        pid, ADMIN.username, name="det", version="1", task="detect", format="onnx",
        architecture=None, layout="yolov8", classes=CLASSES, input_size=[640, 640],
        sha256="0" * 64, size_bytes=1, file_name="det.onnx", details={})
    files = [{"file_name": f"frame_{i:06d}.jpg", "width": W, "height": H,
              "sha256": hashlib.sha256(f"{pid}/{i}".encode()).hexdigest(),
              "content_type": "image/jpeg"} for i in range(images)]
    ids = []
    for start in range(0, images, 500):
        added, _ = app.add_images(pid, files[start:start + 500], ADMIN.username)
        ids += [image.id for image, _ in added]
    job, _ = app.queue_job(pid, ADMIN.username, type="prelabel", model_id=str(model.id),
                           params={"threshold": 0.25}, image_ids=[str(i) for i in ids],
                           shard_size=64)
    proposals = []
    for image_id in ids:
        commands = []
        for _ in range(boxes):
            command = parse_prelabel({"type": "box", "label": rng.choice(CLASSES),
                                      "geometry": random_box(rng),
                                      "score": round(rng.uniform(0.25, 1.0), 3)}, "det", "1")
            commands.append(dataclasses.replace(command, model_id=str(model.id),
                                                job_id=str(job.id)))
        proposals.append((image_id, commands))
    results = [f.result(300) for f in pipeline.submit_many(proposals, TRUSTED)]

    def finish(j: Job) -> None:
        j.start("bench")
        for shard in range(j.shard_count):
            j.shard_done(shard, done=len(j.shard(shard)), failed=0, recorded=0, errors=[])
        j.finish({})

    app.change_job(str(job.id), finish)
    half = None
    futures: list[Any] = []
    for n, (result, (image_id, commands)) in enumerate(zip(results, proposals, strict=True)):
        if n == len(results) // 2:
            for f in futures:
                f.result(300)
            half = log_head(app)
        if n % 10 == 9:
            continue  # nobody looked at this one
        annotation_ids = [e["data"]["annotation_id"] for e in result.events]
        work: list[dict[str, Any]] = []
        for k, (annotation_id, command) in enumerate(zip(annotation_ids, commands, strict=True)):
            if k == 3:  # moved by a fifth of its width: IoU ~ 0.67
                g = dict(command.geometry)
                g["x"] = round(min(g["x"] + g["w"] / 5, W - g["w"]), 2)
                work.append({"type": "edit", "annotation_id": annotation_id,
                             "changes": {"geometry": g}})
            elif k == 4:
                label = CLASSES[(CLASSES.index(command.label) + 1) % len(CLASSES)]
                work.append({"type": "edit", "annotation_id": annotation_id,
                             "changes": {"label": label}})
            else:
                work.append({"type": "accept", "annotation_id": annotation_id})
        work.append({"type": "create", "annotation": {"type": "box", "label": "person",
                                                      "geometry": random_box(rng)}})
        futures.append(pipeline.submit(image_id, [parse_command(c) for c in work], ADMIN))
    for f in futures:
        f.result(300)
    assert half is not None
    return pid, str(model.id), half


def timed(fn: Any, repeat: int) -> tuple[list[float], list[float], Any]:
    """Wall and CPU seconds of each run (CPU time shows the cost on a busy machine too)."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu, result


def bench(images: int, boxes: int, repeat: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=database_url)
        services = bootstrap(settings, background=False)
        try:
            t0 = time.perf_counter()
            pid, model_id, half = build(services, images, boxes)
            setup = time.perf_counter() - t0
            services.runner.catch_up()
            scoring: list[float] = []

            def score(images: Sequence[JudgedImage], classes: Sequence[str], task: str,
                      threshold: float) -> dict[str, Any]:
                s0 = time.perf_counter()
                out = evaluate_task(images, classes, task, threshold)
                scoring.append(time.perf_counter() - s0)
                return out

            store = "postgresql" if database_url else "sqlite"
            for name, position in (("head", None), ("half_way", half)):
                scoring.clear()
                times, cpu, result = timed(lambda p=position: evaluate_model(
                    services.app, services.read, score, pid, model_id, p), repeat)
                emit({"benchmark": "model_evaluation", "store": store, "as_of": name,
                      "images": images, "boxes_per_image": boxes,
                      "evaluated_images": result["images"],
                      "seconds": round(min(times), 3),
                      "median_seconds": round(statistics.median(times), 3),
                      "first_seconds": round(times[0], 3),
                      "cpu_seconds": round(min(cpu), 3),
                      "cocoeval_seconds": round(min(scoring), 3),
                      "map50": result["map50"], "map50_95": result["map50_95"],
                      "target_seconds": TARGET_SECONDS, "runs": repeat,
                      "setup_seconds": round(setup, 1)})
            http_times = http_answers(services, pid, model_id, repeat)
            emit({"benchmark": "model_evaluation_http", "store": store, "as_of": "head",
                  "images": images, "seconds": round(min(http_times), 3),
                  "median_seconds": round(statistics.median(http_times), 3),
                  "target_seconds": TARGET_SECONDS, "runs": repeat})
        finally:
            shutdown(services)


def http_answers(services: Any, pid: str, model_id: str, repeat: int,
                 route: str = "evaluation") -> list[float]:
    """Seconds until ``GET /projects/{id}/<route>`` (the evaluation, or another route taking
    ``model_id``) answers, through the real ASGI app."""
    import warnings

    from web.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's TestClient nudges towards httpx2
        from starlette.testclient import TestClient

    services.app.register_user("bench", "bench-password-1", is_admin=True)
    token = services.tokens.issue("bench")
    services.runner.catch_up()  # no runner thread here: the reads must have the new user
    times = []
    with TestClient(create_app(services)) as client:
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = client.get(f"/api/v1/projects/{pid}/{route}", params={"model_id": model_id},
                           headers={"Authorization": f"Bearer {token}"})
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--boxes", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", action="store_true",
                        help="also on the local PostgreSQL (127.0.0.1:5432)")
    args = parser.parse_args()
    bench(args.images, args.boxes, args.repeat, None)
    if args.postgres:
        from benchmarks.harness import postgres_database

        with postgres_database() as url:
            bench(args.images, args.boxes, args.repeat, url)


if __name__ == "__main__":
    main()
