"""Rebuild of every read model from the event log (SQLite event store and view database).

Builds a log of about 100k events through the real write side (2,000 images, people working
on 100 images at a time with ~40 commands each: creates, edits, pre-labels accepted, edited
and rejected, assists, submissions, reviews), then times ``ProjectionRunner.rebuild()`` of all
projections from position 0 to the head, in a process set up like ``labelwright projections
rebuild`` (``tune_garbage_collector``). Prints one JSON line with the median and best of the
timed rebuilds; besides the wall-clock rate it gives the CPU seconds of the median rebuild and
the load average, since a number taken on a busy shared machine says little without them.

    .venv/bin/python benchmarks/projection_rebuild.py [--images 2000] [--per-image 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import emit  # noqa: E402

from domain.application import Labeling  # noqa: E402
from event_store.positions import log_head  # noqa: E402
from labelwright.bootstrap import tune_garbage_collector  # noqa: E402
from migrations.apply import apply_migrations  # noqa: E402
from projections.database import ViewDatabase  # noqa: E402
from projections.runner import ProjectionRunner  # noqa: E402
from tests.projections.workload import Workload, event_store_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--per-image", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3, help="rebuilds timed")
    parser.add_argument("--default-gc", action="store_true",
                        help="keep Python's default collector thresholds (for comparison)")
    args = parser.parse_args()
    if not args.default_gc:
        tune_garbage_collector()
    tmp = Path(tempfile.mkdtemp(prefix="lw-bench-projections-"))
    app = Labeling(env=event_store_env(str(tmp / "events.sqlite")))
    work = Workload(app, seed=11)
    work.setup()
    work.add_images(args.images)
    work.sessions(args.per_image)
    work.pipeline.stop()
    events = log_head(app)
    db = ViewDatabase.sqlite(tmp / "views.sqlite")
    apply_migrations(db)
    runner = ProjectionRunner(app, db)
    runs: list[tuple[float, float]] = []
    for _ in range(args.repeat):
        started, cpu = time.perf_counter(), time.process_time()
        runner.rebuild()
        runs.append((time.perf_counter() - started, time.process_time() - cpu))
    runs.sort()
    median, median_cpu = runs[len(runs) // 2]
    # cpu_seconds and the load average help read a number taken on a shared machine.
    emit(benchmark="projection_rebuild", backend="sqlite", events=events,
         seconds=round(median, 3), events_per_s=round(events / median),
         best_events_per_s=round(events / runs[0][0]), runs=len(runs),
         cpu_seconds=round(median_cpu, 3), load_avg=round(os.getloadavg()[0], 2),
         cpus=os.cpu_count(), gc="default" if args.default_gc else "tuned")
    db.close()
    app.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
