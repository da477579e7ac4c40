"""What per-object attributes cost the writer and the labels read model (SQLite).

Three runs of the same work on fresh stores: 20 images x 500 box creates sent as batches of 100
commands (one atomic ``{"commands": [...]}`` each), then 5,000 edits in batches of 100;
``plain`` without attributes, ``with_attributes`` with four values on every create and an
attribute-only edit (each also records an AnnotationAttributesSet), ``geometry_and_attributes``
edits that change both. Prints commands/s of the writer and the time the ``image_labels``
projection takes to catch up from 0.

    .venv/bin/python benchmarks/attribute_commands.py [--images 20] [--per-image 500]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from typing import Any

from harness import emit

from domain.application import Labeling
from domain.command_pipeline import Actor, CommandPipeline
from domain.commands import parse_command
from event_store.positions import EventPositions
from migrations.apply import apply_migrations
from projections.database import ViewDatabase
from projections.runner import ProjectionRunner

DEFINITIONS = [
    {"name": "occluded", "type": "checkbox", "default": False},
    {"name": "colour", "type": "select", "values": ["red", "green", "blue"]},
    {"name": "note", "type": "text"},
    {"name": "age", "type": "number"},
]
BATCH = 100


def _box(rng: random.Random) -> dict[str, float]:
    return {"x": rng.uniform(0, 900), "y": rng.uniform(0, 700), "w": 50, "h": 40}


def run(variant: str, images: int, per_image: int) -> dict[str, Any]:
    tmp = tempfile.mkdtemp()
    app = Labeling(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": f"{tmp}/events.sqlite"})
    project, _ = app.create_project("bench", ["car"], None, "mgr",
                                    attributes=DEFINITIONS if variant != "plain" else None)
    added, _ = app.add_images(str(project.id), [
        {"file_name": f"{i}.png", "width": 1000, "height": 800, "sha256": f"{i:064x}",
         "content_type": "image/png"} for i in range(images)], "mgr")
    pipeline = CommandPipeline(app, EventPositions(app))
    rng = random.Random(1)
    actor = Actor("mgr", trusted=True)
    values = {"occluded": True, "colour": "blue", "note": "behind the tree", "age": 3}
    ids: dict[Any, list[str]] = {}
    start = time.perf_counter()
    for image, _ in added:
        for _ in range(per_image // BATCH):
            raws = [{"type": "create", "annotation": {
                "type": "box", "label": "car", "geometry": _box(rng),
                **({"attributes": values} if variant != "plain" else {})}}
                for _ in range(BATCH)]
            result = pipeline.execute(image.id, [parse_command(r) for r in raws], actor)
            ids.setdefault(image.id, []).extend(
                e["data"]["annotation_id"] for e in result.events
                if e["type"] == "AnnotationCreated")
    created_s = time.perf_counter() - start
    start = time.perf_counter()
    for image, _ in added:
        targets = rng.sample(ids[image.id], min(BATCH, len(ids[image.id])))
        changes: list[dict[str, Any]]
        if variant == "plain":
            changes = [{"geometry": _box(rng)} for _ in targets]
        elif variant == "with_attributes":
            changes = [{"attributes": {"colour": rng.choice(["red", "green"])}}
                       for _ in targets]
        else:
            changes = [{"geometry": _box(rng), "attributes": {"age": rng.randint(0, 9)}}
                       for _ in targets]
        raws = [{"type": "edit", "annotation_id": t, "changes": c}
                for t, c in zip(targets, changes, strict=True)]
        pipeline.execute(image.id, [parse_command(r) for r in raws], actor)
    edited_s = time.perf_counter() - start
    pipeline.stop()
    edits = images * min(BATCH, per_image)
    views = ViewDatabase.sqlite(f"{tmp}/views.sqlite")
    apply_migrations(views)
    runner = ProjectionRunner(app, views)
    start = time.perf_counter()
    runner.catch_up()
    catch_up_s = round(time.perf_counter() - start, 3)
    views.close()
    return {"variant": variant, "creates": images * per_image,
            "creates_per_s": round(images * per_image / created_s),
            "edits": edits, "edits_per_s": round(edits / edited_s),
            "catch_up_all_projections_s": catch_up_s}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--per-image", type=int, default=500)
    args = parser.parse_args()
    for variant in ("plain", "with_attributes", "geometry_and_attributes"):
        emit(benchmark="attribute_commands", images=args.images, **run(
            variant, args.images, args.per_image))


if __name__ == "__main__":
    main()
