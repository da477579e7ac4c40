"""A score job over synthetic shapes with the shipped demo CenterNet, through the real service.

``--images`` (2,000) synthetic-shape images of ``--size`` (320) px
(``inference_workers.synthetic_shapes``, PNG) are registered in a fresh embedded data dir
(SQLite), the demo model (``inference_workers/demo_model``) is registered as the demo does
(``labelwright.demo_shapes``), and the composition root's own job queue
(``bootstrap.job_queue``: ``EmbeddedJobs``, ``JobWork`` -> ``ScoreWork``) runs a score job
queued through ``JobService``, once without and once with test-time augmentation. Timed from
the request to ``JobFinished`` (model loading, decoding, inference, TTA, recording included).

One JSON line per run: ``{"benchmark": "score_job", "tta", "images", "seconds",
"images_per_s", "failed", "embedding_dims", "workers", "threads", "target_s": 60,
"load_average"}``, after one ``score_bare_model`` line: the runner's ``score`` alone on 400
decoded images with the same threads (the ceiling on this machine, at its current load).

Usage: ``python benchmarks/score_job.py [--images 2000] [--size 320] [--workers 1]
[--threads N] [--no-tta-only | --tta-only]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image as PILImage  # noqa: E402

from inference_workers.synthetic_shapes import make_shapes  # noqa: E402
from labelwright.bootstrap import bootstrap, job_queue, shutdown  # noqa: E402
from labelwright.settings import Settings  # noqa: E402

BARE_IMAGES = 400


def images(n: int, size: int) -> list[tuple[str, bytes]]:
    out = []
    for i, shapes in enumerate(make_shapes(n, (size, size), seed=424242, max_shapes=5)):
        buf = io.BytesIO()
        PILImage.fromarray(shapes.image).save(buf, format="PNG", compress_level=1)
        out.append((f"shapes-{i:05d}.png", buf.getvalue()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--tta-only", action="store_true")
    which.add_argument("--no-tta-only", action="store_true")
    args = parser.parse_args()

    from inference_workers.job_queue import default_threads
    from inference_workers.model_files import inspect_model
    from service_layer.image_file_import import register_images
    from service_layer.model_registry import register_model

    threads = args.threads or default_threads()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", secret_key="bench",
                            job_threads=threads, job_workers=args.workers)
        services = bootstrap(settings, live=False, run_jobs=False)
        try:
            app = services.app
            app.register_user("manager", "password123", is_admin=True)
            project, _ = app.create_project("score bench", [{"name": "circle"},
                                                            {"name": "rectangle"},
                                                            {"name": "triangle"}],
                                            ["box"], "manager")
            pid = str(project.id)
            register_images(services, pid, images(args.images, args.size), "manager")
            folder = resources.files("inference_workers") / "demo_model"
            weights = Path(str(folder / "shapes-centernet.safetensors"))
            model, _ = register_model(
                app, services.models, pid, weights=weights, file_name=weights.name,
                classes=("classes.txt", (folder / "classes.txt").read_bytes()),
                name="shapes-centernet", version="1", architecture="centernet",
                actor="manager", max_bytes=settings.max_model_bytes, inspect=inspect_model)
            services.runner.catch_up()
            print(json.dumps(bare(model, services.models, args, threads)), flush=True)
            queue = job_queue(settings, app, services.pipeline, services.images,
                              services.models, workers=args.workers)
            queue.start()
            try:
                runs = [False, True]
                if args.tta_only:
                    runs = [True]
                elif args.no_tta_only:
                    runs = [False]
                for tta in runs:
                    print(json.dumps(run(services, pid, str(model.id), tta, args, threads)),
                          flush=True)
            finally:
                queue.stop()
        finally:
            shutdown(services)


def bare(model: Any, store: Any, args: argparse.Namespace, threads: int) -> dict[str, Any]:
    """The ceiling: the runner's ``score`` alone on ``BARE_IMAGES`` images already decoded, in
    batches of its batch size, on the job's threads (no TTA, nothing read or recorded)."""
    from inference_workers.runners import load_runner

    runner = load_runner(model, store.path(model.sha256), device="cpu", threads=threads)
    pixels = [s.image for s in make_shapes(BARE_IMAGES, (args.size, args.size), seed=7)]
    runner.score(pixels[:8])  # warm up  # type: ignore[attr-defined]
    started = time.perf_counter()
    for start in range(0, len(pixels), runner.batch_size):
        runner.score(pixels[start:start + runner.batch_size])  # type: ignore[attr-defined]
    seconds = time.perf_counter() - started
    return {"benchmark": "score_bare_model", "images": len(pixels),
            "images_per_s": round(len(pixels) / seconds, 1), "threads": threads,
            "load_average": os.getloadavg()[0]}


def run(services: Any, pid: str, model_id: str, tta: bool, args: argparse.Namespace,
        threads: int) -> dict[str, Any]:
    started = time.perf_counter()
    job = services.jobs.queue(pid, "manager", {"type": "score", "model_id": model_id,
                                               "images": "all", "tta": tta})
    while not (current := services.app.job(str(job.id))).finished:
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    result = current.result or {}
    return {"benchmark": "score_job", "tta": tta, "state": current.state,
            "images": current.done, "failed": current.failed,
            "seconds": round(seconds, 2), "images_per_s": round(current.done / seconds, 1),
            "embedding_dims": result.get("embedding_dims"), "workers": args.workers,
            "threads": threads, "cpus": os.cpu_count(), "size": args.size, "target_s": 60,
            "load_average": os.getloadavg()[0]}


if __name__ == "__main__":
    main()
