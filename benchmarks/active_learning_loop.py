"""The active-learning loop run through the product, strategy against random; JSON lines.

The digits benchmark (``selection_label_efficiency.py``) measures the strategies alone; this
one runs the loop the product exists for, end to end, on a detection project of synthetic
shapes (``inference_workers.synthetic_shapes``, 256x256 circles, rectangles and triangles):

1. a pool of ``--pool`` unlabeled images in a project; ``--initial`` of them, drawn at random,
   labeled (their shapes recorded as manual boxes through the command pipeline, as a person
   would draw them);
2. each round: a ``train`` job (built-in CenterNet, ``--epochs``; from round 2 on it starts from
   the previous round's model, ``base_model_id``) on the labels as of now; the new model's
   mAP@0.5 on a held-out set drawn from another seed (COCOeval, as ``labelwright evaluate``);
   a ``score`` job over the project's images with that model; then
   ``service_layer.selection.select_images`` (the use case behind ``GET .../selection``) picks
   the next ``--batch`` images not yet labeled, which are labeled;
3. the same from the same initial labels with ``random`` instead of the strategy.

Prints one JSON line per (strategy, round): labeled images and held-out mAP@0.5, and a summary
line per strategy. Jobs run on the embedded job queue with the product's settings. One seed
(``--seed``): each round trains a detector, so several seeds take a long while; read it as one
sample, not a median.

Usage: ``python benchmarks/active_learning_loop.py [--strategies margin,random] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

from domain.command_pipeline import Actor  # noqa: E402
from domain.commands import parse_command  # noqa: E402
from event_store.positions import log_head  # noqa: E402
from inference_workers.evaluation import evaluate_task  # noqa: E402
from inference_workers.runners import load_runner  # noqa: E402
from inference_workers.synthetic_shapes import SHAPE_CLASSES, ShapesImage, make_shapes  # noqa: E402
from labelwright.bootstrap import bootstrap, job_queue, shutdown  # noqa: E402
from labelwright.services import Services  # noqa: E402
from labelwright.settings import Settings  # noqa: E402
from service_layer.image_file_import import register_images  # noqa: E402
from service_layer.model_evaluation import JudgedImage  # noqa: E402
from service_layer.selection import select_images  # noqa: E402

HELD_OUT_SEED = 10_000


def _png(pixels: Any) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def label(services: Services, image_id: str, shape: ShapesImage) -> None:
    """Record the image's shapes as manual boxes (a person drawing them)."""
    commands = [parse_command({"type": "create", "annotation": {
        "type": "box", "label": name, "geometry": dict(zip("xywh", box, strict=True))}})
        for box, name in zip(shape.boxes, shape.labels, strict=True)]
    services.pipeline.execute(UUID(image_id), commands, Actor("bench", is_admin=True))


def run_job(services: Services, project_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Queue a job and run it on this process's embedded queue until it ends."""
    assert services.jobs is not None
    job = services.jobs.queue(project_id, "bench", body)
    job_id = str(job.id)
    runner = job_queue(services.settings, services.app, services.pipeline, services.images,
                       services.models, workers=1, only={job_id})
    runner.start()
    try:
        while not services.app.job(job_id).finished:
            time.sleep(0.2)
    finally:
        runner.stop()
    done = services.app.job(job_id)
    if done.state != "done":
        raise SystemExit(json.dumps({"benchmark": "active_learning_loop",
                                     "error": done.describe()}))
    return done.describe()


def held_out_map50(services: Services, model_id: str, held_out: list[ShapesImage]) -> float:
    model = services.app.model(model_id)
    runner = load_runner(model, services.models.path(model.sha256), device="cpu")
    found = runner.predict([s.image for s in held_out], threshold=0.01, max_per_image=100)
    judged = [JudgedImage(
        256, 256,
        [{"type": "box", "label": name, "geometry": dict(zip("xywh", box, strict=True)),
          "status": "manual"} for box, name in zip(s.boxes, s.labels, strict=True)],
        [{"type": p.type, "label": p.label, "geometry": p.geometry, "score": p.score}
         for p in predictions])
        for s, predictions in zip(held_out, found, strict=True)]
    return float(evaluate_task(judged, SHAPE_CLASSES, "detect", 0.0)["map50"])


def loop(strategy: str, args: argparse.Namespace, pool: list[ShapesImage],
         held_out: list[ShapesImage]) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", secret_key="bench",
                            job_threads=args.threads)
        services = bootstrap(settings, live=False, run_jobs=False)
        try:
            return _loop(services, strategy, args, pool, held_out)
        finally:
            shutdown(services)


def _loop(services: Services, strategy: str, args: argparse.Namespace,
          pool: list[ShapesImage], held_out: list[ShapesImage]) -> list[dict[str, Any]]:
    app = services.app
    app.register_user("bench", "password123", is_admin=True)
    project, _ = app.create_project("shapes", SHAPE_CLASSES, None, "bench")
    pid = str(project.id)
    rows = register_images(services, pid, [(f"s{i:04d}.png", _png(s.image))
                                           for i, s in enumerate(pool)], "bench")
    ids = [str(r["id"]) for r in rows]
    truth = dict(zip(ids, pool, strict=True))
    first = np.random.default_rng(args.seed).choice(len(ids), args.initial, replace=False)
    for i in first:
        label(services, ids[i], pool[i])
    labeled = len(first)
    base: str | None = None
    curve: list[dict[str, Any]] = []
    for round_ in range(1, args.rounds + 1):
        started = time.perf_counter()
        body: dict[str, Any] = {"type": "train", "architecture": "centernet",
                                "name": f"al-{strategy}", "epochs": args.epochs}
        if base is not None:
            body["base_model_id"] = base
        trained = run_job(services, pid, body)
        assert trained["result"] is not None
        base = str(trained["result"]["model_id"])
        map50 = held_out_map50(services, base, held_out)
        train_seconds = time.perf_counter() - started
        point = {"benchmark": "active_learning_loop", "strategy": strategy, "round": round_,
                 "labeled": labeled, "held_out_map50": round(map50, 4),
                 "train_seconds": round(train_seconds, 1)}
        if round_ < args.rounds:
            scored_at = time.perf_counter()
            run_job(services, pid, {"type": "score", "model_id": base, "images": "all"})
            services.read.wait_for(log_head(app), 30.0)
            point["score_seconds"] = round(time.perf_counter() - scored_at, 1)
            picked = select_images(app, services.read, pid, base, strategy, args.batch,
                                   "new", args.seed + round_)
            for entry in picked["images"]:
                label(services, entry["image_id"], truth[entry["image_id"]])
            labeled += len(picked["images"])
        print(json.dumps(point), flush=True)
        curve.append(point)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="margin,random")
    parser.add_argument("--pool", type=int, default=400)
    parser.add_argument("--initial", type=int, default=40)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--held-out", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    pool = make_shapes(args.pool, seed=args.seed)
    held_out = make_shapes(args.held_out, seed=HELD_OUT_SEED)
    summary: dict[str, Any] = {}
    for strategy in [s.strip() for s in args.strategies.split(",") if s.strip()]:
        started = time.perf_counter()
        curve = loop(strategy, args, pool, held_out)
        summary[strategy] = {"curve": [(p["labeled"], p["held_out_map50"]) for p in curve],
                             "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps({"benchmark": "active_learning_loop", "summary": summary,
                      "pool": args.pool, "epochs": args.epochs, "seed": args.seed,
                      "load_average": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
