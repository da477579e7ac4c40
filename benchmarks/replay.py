"""State of an image at version N (the QA replay read), SQLite event store.

A 200-event image: median time of `app.image(id, version=N)` over random N, with the
application's snapshots (every 100 events) in place.

    .venv/bin/python benchmarks/replay.py
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time

from harness import emit

from domain.application import Labeling
from domain.command_pipeline import Actor, CommandPipeline
from domain.commands import parse_command
from event_store.positions import EventPositions


def main() -> None:
    tmp = tempfile.mkdtemp()
    app = Labeling(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": f"{tmp}/events.sqlite"})
    project, _ = app.create_project("bench", ["car"], None, "mgr")
    added, _ = app.add_images(str(project.id), [{"file_name": "a.png", "width": 1000,
                                                 "height": 800, "sha256": "f" * 64,
                                                 "content_type": "image/png"}], "mgr")
    image_id = added[0][0].id
    pipeline = CommandPipeline(app, EventPositions(app))
    rng = random.Random(1)
    ids: list[str] = []
    for _ in range(199):
        if ids and rng.random() < 0.6:
            raw = {"type": "edit", "annotation_id": rng.choice(ids), "changes": {"geometry": {
                "x": rng.uniform(0, 900), "y": rng.uniform(0, 700), "w": 50, "h": 40}}}
        else:
            raw = {"type": "create", "annotation": {"type": "box", "label": "car", "geometry": {
                "x": rng.uniform(0, 900), "y": rng.uniform(0, 700), "w": 50, "h": 40}}}
        result = pipeline.execute(image_id, [parse_command(raw)], Actor("mgr"))
        if raw["type"] == "create":
            ids.append(result.events[0]["data"]["annotation_id"])
    pipeline.stop()
    assert app.image(image_id).version == 200
    times = []
    for _ in range(300):
        n = rng.randint(1, 200)
        t = time.perf_counter()
        app.image(image_id, version=n)
        times.append(time.perf_counter() - t)
    worst = []
    for n in (99, 199, 200):
        t = time.perf_counter()
        app.image(image_id, version=n)
        worst.append(round((time.perf_counter() - t) * 1000, 2))
    emit(benchmark="state_at_version", events=200, p50_ms=round(statistics.median(times) * 1000, 2),
         p95_ms=round(sorted(times)[int(len(times) * 0.95)] * 1000, 2), ms_at_99_199_200=worst)


if __name__ == "__main__":
    main()
