"""Blind spots and label suspects benchmark (``GET /projects/{id}/blind_spots`` and
``/label_suspects``' use cases); prints JSON lines.

The workspace of ``benchmarks/model_evaluation.py`` (its ``build``): 1,000 images
(``--images``) of 1280x720 with 5 job-aware pre-labels each (``--boxes``) recorded through the
real write side, then people's work on nine images in ten (3 accepted, 1 moved, 1 relabelled,
1 object drawn by hand). Timed, best of ``--repeat`` (the median, first run and least CPU time
reported too):

* ``blind_spots_finder``: ``inference_workers.blind_spots.inspect_task`` alone, on the judged
  images (matching, scores, suspects);
* ``blind_spots``: the whole use case, gathering (the same as the evaluation's) included, as of
  the head; ``label_suspects`` likewise;
* ``blind_spots_http``: the answer over the real ASGI app.

Target: well under a second for 1,000 images. Usage:
``python benchmarks/blind_spots.py [--images N] [--boxes K] [--postgres]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.model_evaluation import build, http_answers, timed  # noqa: E402
from inference_workers.blind_spots import inspect_task  # noqa: E402
from labelwright.bootstrap import bootstrap, shutdown  # noqa: E402
from labelwright.settings import Settings  # noqa: E402
from service_layer.blind_spots import blind_spots, label_suspects  # noqa: E402
from service_layer.model_evaluation import gather_judgement  # noqa: E402

TARGET_SECONDS = 1.0


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def figures(name: str, store: str, images: int, times: list[float], cpu: list[float] | None,
            **extra: Any) -> dict[str, Any]:
    return {"benchmark": name, "store": store, "images": images,
            "seconds": round(min(times), 4), "median_seconds": round(statistics.median(times), 4),
            "first_seconds": round(times[0], 4),
            **({"cpu_seconds": round(min(cpu), 4)} if cpu else {}),
            "target_seconds": TARGET_SECONDS, "runs": len(times), **extra}


def bench(images: int, boxes: int, repeat: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        services = bootstrap(Settings(data_dir=Path(tmp), database_url=database_url),
                             background=False)
        try:
            t0 = time.perf_counter()
            pid, model_id, _ = build(services, images, boxes)
            setup = time.perf_counter() - t0
            services.runner.catch_up()
            store = "postgresql" if database_url else "sqlite"
            app, read = services.app, services.read

            judged = gather_judgement(app, read, pid, model_id)
            classes = [c["name"] for c in judged.project.classes]
            times, cpu, found = timed(lambda: inspect_task(
                judged.images, classes, judged.model.task, judged.threshold), repeat)
            emit(figures("blind_spots_finder", store, images, times, cpu,
                         judged_images=len(judged.images), boxes_per_image=boxes,
                         suspects=len(found["suspects"]), setup_seconds=round(setup, 1)))

            times, cpu, result = timed(lambda: blind_spots(app, read, inspect_task, pid,
                                                           model_id), repeat)
            emit(figures("blind_spots", store, images, times, cpu,
                         judged_images=result["images_judged"],
                         disagreeing=result["disagreeing"],
                         worst_score=result["images"][0]["score"] if result["images"] else None))
            times, cpu, result = timed(lambda: label_suspects(app, read, inspect_task, pid,
                                                              model_id), repeat)
            emit(figures("label_suspects", store, images, times, cpu,
                         suspects=result["total"]))
            times = http_answers(services, pid, model_id, repeat, "blind_spots")
            emit(figures("blind_spots_http", store, images, times, None))
        finally:
            shutdown(services)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--boxes", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
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
