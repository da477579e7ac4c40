"""The Image aggregate's decisions, driven through the command pipeline on real SQLite."""

from __future__ import annotations

import pytest

from domain.errors import Conflict, Forbidden, Locked, NotFound, ValidationFailed
from tests.domain.conftest import World

BOX = {"x": 10, "y": 10, "w": 20, "h": 10}


def test_create_each_geometry_type_and_read_it_back(world: World) -> None:
    geometries = {
        "box": BOX, "polygon": {"points": [[1, 1], [30, 2], [10, 40]]},
        "mask": {"rle": {"size": [80, 100], "counts": [0, 5, 7995]}},
        "point": {"x": 3, "y": 4}, "tag": {},
    }
    for kind, geometry in geometries.items():
        result = world.run({"type": "create", "annotation": {"type": kind, "label": "cat",
                                                              "geometry": geometry}})
        assert result.events[0]["type"] == "AnnotationCreated"
    image = world.app.image(world.image_id)
    assert [a["type"] for a in image.public_annotations()] == list(geometries)
    assert all(a["status"] == "manual" and a["revision"] == 1
               for a in image.public_annotations())
    assert image.status == "in_progress"


def test_prelabel_life_cycle_records_distinct_events(world: World) -> None:
    a, b, c = (world.propose(BOX, score=s) for s in (0.9, 0.6, 0.3))
    assert world.app.image(world.image_id).status == "new"
    assert world.run({"type": "accept", "annotation_id": a}).events[0]["type"] == \
        "PrelabelAccepted"
    edited = world.run({"type": "edit", "annotation_id": b,
                        "changes": {"geometry": {"x": 10, "y": 10, "w": 10, "h": 10}}})
    assert edited.events[0]["type"] == "PrelabelEdited"
    assert edited.events[0]["data"]["iou"] == pytest.approx(0.5)
    assert world.run({"type": "delete", "annotation_id": c}).events[0]["type"] == \
        "PrelabelRejected"
    anns = {x["id"]: x for x in world.app.image(world.image_id).public_annotations()}
    assert anns[a]["status"] == "accepted" and anns[a]["revision"] == 2
    assert anns[b]["status"] == "edited" and anns[b]["model"] == {"name": "yolo", "version": "1"}
    assert c not in anns


def test_stale_base_revision_is_a_conflict_with_the_current_annotation(world: World) -> None:
    created = world.run({"type": "create", "annotation": {"type": "box", "label": "cat",
                                                           "geometry": BOX}})
    aid = created.events[0]["data"]["annotation_id"]
    world.run({"type": "edit", "annotation_id": aid, "changes": {"label": "dog"},
               "base_revision": 1})
    head = world.head()
    with pytest.raises(Conflict) as e:
        world.run({"type": "edit", "annotation_id": aid, "changes": {"label": "cat"},
                   "base_revision": 1}, user="bob")
    assert e.value.details["current"]["label"] == "dog"
    assert e.value.details["current"]["revision"] == 2
    assert world.head() == head
    world.run({"type": "delete", "annotation_id": aid})
    with pytest.raises(Conflict) as e:
        world.run({"type": "edit", "annotation_id": aid, "changes": {"label": "cat"}})
    assert e.value.details["current"] is None


def test_stale_base_version_is_a_conflict(world: World) -> None:
    with pytest.raises(Conflict) as e:
        world.run({"type": "submit", "base_version": 7})
    assert e.value.details["version"] == 1


@pytest.mark.parametrize("raw, error", [
    ({"type": "create", "annotation": {"type": "box", "label": "cow", "geometry": BOX}},
     ValidationFailed),
    ({"type": "create", "annotation": {"type": "box", "label": "old", "geometry": BOX}},
     ValidationFailed),
    ({"type": "create", "annotation": {"type": "box", "label": "cat",
                                       "geometry": {"x": 90, "y": 10, "w": 20, "h": 10}}},
     ValidationFailed),
    ({"type": "edit", "annotation_id": "nope", "changes": {"label": "cat"}}, NotFound),
    ({"type": "review", "verdict": "approve"}, Forbidden),
    ({"type": "submit", "base_version": 99}, Conflict),
    ({"type": "assist", "mode": "clicks", "label": "cat", "points": [[1, 2, 1]]},
     ValidationFailed),
])
def test_refused_commands_record_nothing(world: World, raw: dict, error: type) -> None:
    head = world.head()
    with pytest.raises(error):
        world.run(raw)
    assert world.head() == head


def test_non_member_is_forbidden(world: World) -> None:
    world.app.register_user("eve", "password123")
    with pytest.raises(Forbidden):
        world.run({"type": "submit"}, user="eve")


def test_extreme_points_assist_makes_the_tight_box(world: World) -> None:
    result = world.run({"type": "assist", "mode": "extreme_points", "label": "dog",
                        "points": [[5, 30], [20, 12], [44, 25], [18, 60]]})
    assert [e["type"] for e in result.events] == ["AssistClicked", "AnnotationCreated"]
    created = result.events[1]["data"]
    assert created["geometry"] == {"x": 5.0, "y": 12.0, "w": 39.0, "h": 48.0}
    assert created["source"] == "assist"
    assert result.events[0]["data"]["points"] == [[5, 30, 1], [20, 12, 1], [44, 25, 1],
                                                   [18, 60, 1]]


def test_submit_and_review_flow(world: World) -> None:
    world.run({"type": "submit"})
    with pytest.raises(Locked):  # review holds: a submitted image is read-only to annotators
        world.run({"type": "submit"})
    world.run({"type": "review", "verdict": "reject", "comment": "missing dog"}, user="rui")
    assert world.app.image(world.image_id).status == "rejected"
    world.run({"type": "create", "annotation": {"type": "box", "label": "dog", "geometry": BOX}})
    assert world.app.image(world.image_id).status == "in_progress"
    world.run({"type": "submit"})
    world.run({"type": "review", "verdict": "approve"}, user="rui")
    assert world.app.image(world.image_id).status == "approved"


def test_batch_is_atomic(world: World) -> None:
    from domain.command_pipeline import Actor
    from domain.commands import parse_command

    head = world.head()
    good = parse_command({"type": "create", "annotation": {"type": "box", "label": "cat",
                                                            "geometry": BOX}})
    bad = parse_command({"type": "edit", "annotation_id": "missing", "changes": {"label": "x"}})
    with pytest.raises(NotFound):
        world.pipeline.execute(world.image_id, [good, bad], Actor("ann"))
    assert world.head() == head
    assert world.app.image(world.image_id).annotations == {}
    result = world.pipeline.execute(world.image_id, [good, good.__class__(
        command_id=None, base_version=None, annotation_type="point", label="dog",
        geometry={"x": 1, "y": 1})], Actor("ann"))
    assert result.version == 3 and len(result.events) == 2


def test_replay_to_any_version(world: World) -> None:
    ids = [world.run({"type": "create", "annotation": {"type": "point", "label": "cat",
                                                        "geometry": {"x": i, "y": i}}})
           for i in range(5)]
    assert ids[-1].version == 6
    for v in range(1, 7):
        assert len(world.app.image(world.image_id, version=v).annotations) == v - 1
