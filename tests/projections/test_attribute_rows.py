"""Per-object attributes in the read models, on SQLite and PostgreSQL: the annotations'
``attributes`` column equals the Image aggregate replayed after every kind of command that
sets, keeps or drops values (create with defaults, attribute-only and combined edits, accept,
restore of accepted and rejected pre-labels, delete), and a rebuild from position 0 (in any
batch size) gives the same rows; the projects table carries the definitions."""

from __future__ import annotations

import random
from typing import Any

import pytest

from domain.command_pipeline import Actor
from domain.commands import parse_command, parse_prelabel
from projections.runner import all_projections
from tests.projections.conftest import Backends, Stack, dump
from tests.projections.test_image_labels import check_against_replay

TABLES = ("annotations", "images", "projects")
DEFINITIONS: list[dict[str, Any]] = [
    {"name": "occluded", "type": "checkbox", "default": False},
    {"name": "colour", "type": "select", "values": ["red", "blue"], "classes": ["car"]},
    {"name": "note", "type": "text"},
    {"name": "age", "type": "number"},
]
BOX = {"x": 2, "y": 2, "w": 20, "h": 10}


class _Image:
    def __init__(self, image_id: Any) -> None:
        self.image_id = image_id


def _values(rng: random.Random, label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rng.random() < 0.5:
        out["occluded"] = rng.random() < 0.5
    if label == "car" and rng.random() < 0.5:
        out["colour"] = rng.choice(["red", "blue", None])
    if rng.random() < 0.3:
        out["note"] = rng.choice(["x", "ünïcode", None])
    if rng.random() < 0.3:
        out["age"] = rng.choice([1, 2.5, -3, None])
    return out


def attribute_work(stack: Stack, seed: int = 1, steps: int = 60) -> list[_Image]:
    app, run = stack.app, stack.pipeline.execute
    app.register_user("mgr", "password123", is_admin=True)
    project, _ = app.create_project("attrs", ["car", "person"], None, "mgr",
                                    attributes=DEFINITIONS)
    added, _ = app.add_images(str(project.id), [
        {"file_name": f"{i}.png", "width": 100, "height": 80, "sha256": f"{i:064x}",
         "content_type": "image/png"} for i in range(3)], "mgr")
    images = [img.id for img, _ in added]
    rng = random.Random(seed)
    me = Actor("mgr", trusted=True)
    for _ in range(steps):
        iid = rng.choice(images)
        image = app.image(iid)
        anns = list(image.annotations.values())
        kept = [k for k in image.rejected if k not in image.annotations]
        roll = rng.random()
        if roll < 0.2 or not anns:
            label = rng.choice(["car", "person"])
            cmd = {"type": "create", "annotation": {"type": "box", "label": label,
                                                    "geometry": BOX,
                                                    "attributes": _values(rng, label)}}
        elif roll < 0.3:
            run(iid, [parse_prelabel({"type": "box", "label": "car", "geometry": BOX,
                                      "score": 0.5}, "m", "1")], me)
            continue
        elif roll < 0.6:
            a = rng.choice(anns)
            changes: dict[str, Any] = {"attributes": _values(rng, a["label"])}
            if rng.random() < 0.3:
                changes["geometry"] = {**BOX, "x": rng.randint(0, 50)}
            cmd = {"type": "edit", "annotation_id": a["id"], "changes": changes,
                   "base_revision": a["revision"]}
        elif roll < 0.7 and any(a["status"] == "proposed" for a in anns):
            a = rng.choice([a for a in anns if a["status"] == "proposed"])
            cmd = {"type": "accept", "annotation_id": a["id"]}
        elif roll < 0.8 and (kept or any(a["status"] == "accepted" for a in anns)):
            target = rng.choice(kept or [a["id"] for a in anns if a["status"] == "accepted"])
            cmd = {"type": "restore", "annotation_id": target}
        else:
            cmd = {"type": "delete", "annotation_id": rng.choice(anns)["id"]}
        run(iid, [parse_command(cmd)], me)
    # The definitions change too; the values already recorded stay.
    app.update_project(str(project.id), "mgr", {"attributes": DEFINITIONS[:1]})
    return [_Image(i) for i in images]


def test_attribute_column_equals_replay_and_rebuild(stack: Stack) -> None:
    images = attribute_work(stack)
    stack.runner.catch_up()
    check_against_replay(stack, images)
    live = dump(stack.db, TABLES)
    assert any(row for row in live["annotations"] if "occluded" in str(row))
    project = stack.read.project(str(stack.app.image(images[0].image_id).project_id))
    assert project is not None and project["attributes"] == DEFINITIONS[:1]
    assert stack.runner.rebuild() == stack.head()
    assert dump(stack.db, TABLES) == live


@pytest.mark.parametrize("batch_size", [1, 5000])
def test_batch_boundaries_do_not_change_the_column(backends: Backends,
                                                   batch_size: int) -> None:
    stack = backends.stack()
    attribute_work(stack, seed=2, steps=40)
    stack.runner.catch_up()
    live = dump(stack.db, tuple(t for p in all_projections() for t in p.tables))
    other = backends.stack(batch_size=batch_size)
    other.runner.rebuild()
    assert dump(other.db, tuple(t for p in all_projections() for t in p.tables)) == live
