"""COCO export benchmarks; prints one JSON line per measurement.

1. ``export_coco`` — 2,000 images / 6,000 boxes recorded through the real write side
   (``add_images`` + the command pipeline) and projected (``runner.catch_up``); times only
   ``stream_export`` consumed to the end (target <= 0.3 s; best of ``--repeat`` runs, median
   and first run reported too). Also ``export_labelwright`` (the lossless format, same rows)
   and ``export_coco_as_of``: the COCO export as of the head position, which replays every
   image from the event store instead of reading the read model.
2. ``export_coco_large`` — 100,000 images / 1,000,000 boxes. Recording that many events through
   the pipeline takes far longer than the export, so the read-model rows (``images``,
   ``annotations``) are inserted straight into the embedded SQLite views database, shaped
   exactly as the ``image_labels`` projection writes them. The export then runs in a fresh
   subprocess (so the set-up's memory does not count), writes the document to a file and
   reports its seconds and peak RSS (``ru_maxrss``; target <= 300 MB), plus the RSS it had
   before exporting. The parent checks the document with pycocotools-compatible counts.

Usage: ``python benchmarks/export_coco.py [--skip-large] [--large-images N --large-boxes M]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
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

from domain.command_pipeline import Actor  # noqa: E402
from domain.commands import parse_command, parse_prelabel  # noqa: E402
from event_store.positions import log_head  # noqa: E402
from labelwright.bootstrap import bootstrap, shutdown  # noqa: E402
from labelwright.settings import Settings  # noqa: E402
from projections.exports import stream_export  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: its neighbours
from export_formats import build  # noqa: E402

CLASSES = ["car", "person", "bicycle", "dog"]
W, H = 1280, 720
ADMIN = Actor("bench", is_admin=True)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def consume(chunks: Any) -> int:
    return sum(len(chunk) for chunk in chunks)


def image_files(count: int, salt: str) -> list[dict[str, Any]]:
    return [{"file_name": f"frame_{i:06d}.jpg", "width": W, "height": H,
             "sha256": hashlib.sha256(f"{salt}/{i}".encode()).hexdigest(),
             "content_type": "image/jpeg"} for i in range(count)]


def random_box(rng: random.Random) -> dict[str, float]:
    w, h = rng.uniform(8, 300), rng.uniform(8, 300)
    return {"x": round(rng.uniform(0, W - w), 2), "y": round(rng.uniform(0, H - h), 2),
            "w": round(w, 2), "h": round(h, 2)}


# ------------------------------------------------------------------------------------------
# 1. through the real write side
# ------------------------------------------------------------------------------------------


def bench_pipeline(images: int, boxes: int, repeat: int) -> None:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        services = bootstrap(Settings(data_dir=Path(tmp)), background=False)
        try:
            project, _ = services.app.create_project("bench", CLASSES, ["box"], ADMIN.username)
            pid = str(project.id)
            started = time.perf_counter()
            ids = []
            files = image_files(images, pid)
            for start in range(0, images, 500):
                added, _ = services.app.add_images(pid, files[start:start + 500],
                                                   ADMIN.username)
                ids += [image.id for image, _ in added]
            futures = []
            trusted = Actor(ADMIN.username, is_admin=True, trusted=True)
            for n in range(boxes):
                image_id = ids[n % images]
                label = CLASSES[n % len(CLASSES)]
                if n % 10 == 0:  # some pre-labels, accepted later
                    command = parse_prelabel({"type": "box", "label": label,
                                              "geometry": random_box(rng),
                                              "score": round(rng.random(), 3)}, "det", "1")
                    futures.append(services.pipeline.submit(image_id, [command], trusted))
                else:
                    futures.append(services.pipeline.submit(image_id, [parse_command(
                        {"type": "create", "annotation": {"type": "box", "label": label,
                                                          "geometry": random_box(rng)}})],
                        ADMIN))
            results = [f.result(120) for f in futures]
            accepts = [services.pipeline.submit(uuid.UUID(r.image_id), [parse_command(
                {"type": "accept", "annotation_id": r.events[-1]["data"]["annotation_id"]})],
                ADMIN) for n, r in enumerate(results) if n % 10 == 0]
            for f in accepts:
                f.result(120)
            recorded = time.perf_counter() - started
            services.runner.catch_up()
            project_dict = services.read.project(pid)
            assert project_dict is not None
            times = []
            size = 0
            for _ in range(repeat):
                t0 = time.perf_counter()
                size = consume(stream_export(services.read, services.app, project_dict, "coco",
                                             None))
                times.append(time.perf_counter() - t0)
            emit({"benchmark": "export_coco", "images": images, "boxes": boxes,
                  "seconds": round(min(times), 4), "median_seconds":
                  round(statistics.median(times), 4), "first_seconds": round(times[0], 4),
                  "bytes": size, "runs": repeat, "target_seconds": 0.3,
                  "setup_seconds": round(recorded, 2)})
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                size = consume(stream_export(services.read, services.app, project_dict,
                                             "labelwright", None))
                times.append(time.perf_counter() - t0)
            emit({"benchmark": "export_labelwright", "images": images, "boxes": boxes,
                  "seconds": round(min(times), 4), "bytes": size, "runs": repeat})
            head = log_head(services.app)
            t0 = time.perf_counter()
            as_of_size = consume(stream_export(services.read, services.app, project_dict,
                                               "coco", head))
            emit({"benchmark": "export_coco_as_of", "images": images, "boxes": boxes,
                  "seconds": round(time.perf_counter() - t0, 4), "bytes": as_of_size})
        finally:
            shutdown(services)


# ------------------------------------------------------------------------------------------
# 2. a large project, read-model rows inserted directly
# ------------------------------------------------------------------------------------------


def build_large(data_dir: Path, images: int, boxes: int) -> str:
    """A project with ``images`` images and ``boxes`` boxes in the views database (a third of
    the images' first box an accepted pre-label), inserted as the ``image_labels`` projection
    writes its rows: ``export_formats.build``, with no image files."""
    return build(data_dir, images, boxes, prelabel_every=3, seed=2, name="large")


def child_export(data_dir: Path, project_id: str, out_path: Path) -> None:
    """Run in a fresh process: export and report time and peak memory."""
    services = bootstrap(Settings(data_dir=data_dir), background=False, migrate=False)
    try:
        project = services.read.project(project_id)
        assert project is not None
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        size = 0
        with open(out_path, "wb") as out:
            for chunk in stream_export(services.read, services.app, project, "coco", None):
                out.write(chunk)
                size += len(chunk)
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        shutdown(services)
    print(json.dumps({"seconds": seconds, "bytes": size, "rss_before_mb": rss_before / 1024,
                      "peak_rss_mb": peak / 1024}))


def bench_large(images: int, boxes: int, verify: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        t0 = time.perf_counter()
        pid = build_large(data_dir, images, boxes)
        setup = time.perf_counter() - t0
        out_path = Path(tmp) / "export.json"
        done = subprocess.run(
            [sys.executable, __file__, "--child-export", str(data_dir), pid, str(out_path)],
            check=True, capture_output=True, text=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        record = {"benchmark": "export_coco_large", "images": images, "boxes": boxes,
                  "seconds": round(result["seconds"], 2), "bytes": result["bytes"],
                  "peak_rss_mb": round(result["peak_rss_mb"], 1),
                  "rss_before_export_mb": round(result["rss_before_mb"], 1),
                  "target_rss_mb": 300, "setup_seconds": round(setup, 1)}
        if verify:
            import orjson

            doc = orjson.loads(out_path.read_bytes())
            record["verified"] = (len(doc["images"]) == images
                                  and len(doc["annotations"]) == boxes
                                  and doc["annotations"][-1]["id"] == boxes)
            del doc
        emit(record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--boxes", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--large-images", type=int, default=100_000)
    parser.add_argument("--large-boxes", type=int, default=1_000_000)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--child-export", nargs=3, metavar=("DATA_DIR", "PROJECT", "OUT"))
    args = parser.parse_args()
    if args.child_export:
        data_dir, project_id, out = args.child_export
        child_export(Path(data_dir), project_id, Path(out))
        return
    bench_pipeline(args.images, args.boxes, args.repeat)
    if not args.skip_large:
        bench_large(args.large_images, args.large_boxes, not args.no_verify)


if __name__ == "__main__":
    main()
