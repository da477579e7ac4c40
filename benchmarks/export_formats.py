"""Export benchmarks for every format; prints one JSON line per format.

A project with 10,000 images and 100,000 boxes (``--images``, ``--boxes``). Recording that
many events through the pipeline takes far longer than an export, so — as in
``benchmarks/export_coco.py`` — the read-model rows (``images``, ``annotations``) are inserted
straight into the embedded SQLite views database, shaped as the ``image_labels`` projection
writes them (a tenth of the boxes are accepted pre-labels). Each export then runs in a fresh
subprocess (so the set-up's memory does not count), writes its document to a file and reports
its wall and CPU seconds, the RSS it had before exporting and how far the RSS rose above it
while exporting (sampled every 16 chunks), and the process's peak RSS (``ru_maxrss``; the
imports set most of it). Every format is measured ``--repeat`` times (default 3); the line
gives the medians and every run's wall time. CPU seconds are the steadier number on a shared
machine.

Targets: <= 3 s per format; memory flat (the RSS rises a few MB at most, whatever the
project's size). ``yolo+images`` is the YOLO zip with the image files
(``images=true``; ``--image-bytes`` per file, stored in the content-addressed store).

Usage: ``python benchmarks/export_formats.py [--images N] [--boxes M] [--repeat R]
[--formats yolo,voc,...] [--image-bytes B]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import sqlite3
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
from event_store.positions import log_head  # noqa: E402
from labelwright.bootstrap import bootstrap, shutdown  # noqa: E402
from labelwright.settings import Settings  # noqa: E402
from projections.export_splits import parse_split  # noqa: E402
from projections.exports import EXPORTERS, stream_export  # noqa: E402

CLASSES = ["car", "person", "bicycle", "dog"]
W, H = 1280, 720
ADMIN = Actor("bench", is_admin=True)
IMAGE_COLUMNS = ("image_id, project_id, file_name, width, height, sha256, content_type, status, "
                 "version, position, added_position, added_by, added_at, updated_at, "
                 "annotation_count, submitted_by")
ANNOTATION_COLUMNS = ("image_id, annotation_id, seq, type, label, geometry, source, model_name, "
                      "model_version, score, status, revision, created_by, updated_by, "
                      "updated_at")
SPLIT = "train:0.8,val:0.1,test:0.1"


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def random_box(rng: random.Random) -> dict[str, float]:
    w, h = rng.uniform(8, 300), rng.uniform(8, 300)
    return {"x": round(rng.uniform(0, W - w), 2), "y": round(rng.uniform(0, H - h), 2),
            "w": round(w, 2), "h": round(h, 2)}


def build(data_dir: Path, images: int, boxes: int, image_bytes: int = 0, *,
          prelabel_every: int = 10, seed: int = 3, name: str = "formats") -> str:
    """A project of ``images`` images and ``boxes`` boxes in the views database (the first box
    of every ``prelabel_every``-th image an accepted pre-label), and a file of ``image_bytes``
    bytes per image in the image store (0: no files; the rows only). Also the large scene of
    ``benchmarks/export_coco.py``."""
    services = bootstrap(Settings(data_dir=data_dir), background=False)
    try:
        project, _ = services.app.create_project(name, CLASSES, ["box"], ADMIN.username)
        services.runner.catch_up()
        pid = str(project.id)
        position = log_head(services.app)
        store = services.images
    finally:
        shutdown(services)
    rng = random.Random(seed)
    at = "2026-01-01T00:00:00+00:00"
    conn = sqlite3.connect(data_dir / "views.sqlite")
    conn.execute("PRAGMA synchronous=OFF")
    per_image, extra = divmod(boxes, images)
    image_rows: list[tuple[Any, ...]] = []
    annotation_rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        conn.executemany(f"INSERT INTO images ({IMAGE_COLUMNS}) VALUES ("
                         + ",".join("?" * 16) + ")", image_rows)
        conn.executemany(f"INSERT INTO annotations ({ANNOTATION_COLUMNS}) VALUES ("
                         + ",".join("?" * 15) + ")", annotation_rows)
        image_rows.clear()
        annotation_rows.clear()

    with conn:
        for i in range(images):
            image_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if image_bytes:
                content = i.to_bytes(8, "big") * max(1, image_bytes // 8)
                sha = hashlib.sha256(content).hexdigest()
                path = store.path(sha)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)  # no fsync: a benchmark's throwaway store
            else:
                sha = hashlib.sha256(image_id.encode()).hexdigest()
            count = per_image + (1 if i < extra else 0)
            position += 1 + count
            image_rows.append((
                image_id, pid, f"frame_{i:06d}.jpg", W, H, sha, "image/jpeg", "in_progress",
                1 + count, position, position - count, ADMIN.username, at, at, count, None))
            for k in range(count):
                prelabel = k == 0 and i % prelabel_every == 0
                annotation_rows.append((
                    image_id, str(uuid.UUID(int=rng.getrandbits(128), version=4)), 2 + k,
                    "box", CLASSES[k % len(CLASSES)], json.dumps(random_box(rng)),
                    "prelabel" if prelabel else "manual", "det" if prelabel else None,
                    "1" if prelabel else None, round(rng.random(), 3) if prelabel else None,
                    "accepted" if prelabel else "manual", 2 if prelabel else 1,
                    ADMIN.username, ADMIN.username, at))
            if len(annotation_rows) >= 50_000:
                flush()
        flush()
    conn.close()
    return pid


def child_export(data_dir: Path, project_id: str, fmt: str, out_path: Path) -> None:
    """Run in a fresh process: export once, report time and peak memory."""
    services = bootstrap(Settings(data_dir=data_dir), background=False, migrate=False)
    name, _, images = fmt.partition("+")
    try:
        project = services.read.project(project_id)
        assert project is not None
        rss_before = current_rss_mb()
        highest = rss_before
        t0, cpu0 = time.perf_counter(), time.process_time()
        size = 0
        with open(out_path, "wb") as out:
            for n, chunk in enumerate(stream_export(
                    services.read, services.app, project, name, None,
                    images=services.images if images else None, split=parse_split(SPLIT, 1))):
                out.write(chunk)
                size += len(chunk)
                if n % 16 == 0:
                    highest = max(highest, current_rss_mb())
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        highest = max(highest, current_rss_mb())
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        shutdown(services)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "bytes": size,
                      "rss_before_mb": rss_before, "rss_growth_mb": highest - rss_before,
                      "peak_rss_mb": peak}))


def current_rss_mb() -> float:
    """This process's resident memory now (ru_maxrss only knows the peak of its whole life,
    which the imports set before the export starts)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def medians(runs: list[dict[str, Any]]) -> Any:
    """``median(key, digits)`` over ``runs``."""
    def median(key: str, digits: int = 2) -> float:
        return round(statistics.median(r[key] for r in runs), digits)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--boxes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--image-bytes", type=int, default=4096)
    parser.add_argument("--formats", default=",".join([*EXPORTERS, "yolo+images"]))
    parser.add_argument("--child-export", nargs=4, metavar=("DATA_DIR", "PROJECT", "FORMAT",
                                                             "OUT"))
    args = parser.parse_args()
    if args.child_export:
        data_dir, project_id, fmt, out = args.child_export
        child_export(Path(data_dir), project_id, fmt, Path(out))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        t0 = time.perf_counter()
        pid = build(data_dir, args.images, args.boxes, args.image_bytes)
        setup = time.perf_counter() - t0
        for fmt in args.formats.split(","):
            runs = []
            for _ in range(args.repeat):
                out_path = Path(tmp) / "export.out"
                done = subprocess.run(
                    [sys.executable, __file__, "--child-export", str(data_dir), pid, fmt,
                     str(out_path)], check=True, capture_output=True, text=True)
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
                out_path.unlink()
            median = medians(runs)
            emit({"benchmark": "export_formats", "format": fmt, "images": args.images,
                  "boxes": args.boxes, "seconds": median("seconds"),
                  "cpu_seconds": median("cpu_seconds"),
                  "runs_seconds": [round(r["seconds"], 2) for r in runs],
                  "bytes": runs[-1]["bytes"], "rss_growth_mb": median("rss_growth_mb", 1),
                  "rss_before_export_mb": median("rss_before_mb", 1),
                  "peak_rss_mb": median("peak_rss_mb", 1),
                  "target_seconds": 3.0, "setup_seconds": round(setup, 1)})


if __name__ == "__main__":
    main()
