"""Assist proposals in any output, refined with more clicks, and tracked like pre-labels.

The engine here is a real one written for the test (a disk around each positive click, minus
a disk around each negative one), registered on the pipeline's registry the way the
composition root registers GrabCut or SAM.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from domain import geometry as g
from domain import rle
from domain.assist import AssistRequest
from domain.command_pipeline import Actor
from domain.commands import Assist, parse_command
from domain.errors import Conflict, NotFound, ValidationFailed
from tests.domain.conftest import World

RADIUS = 6
EXTREME = [[5, 30], [20, 12], [44, 25], [18, 60]]


class DiskEngine:
    """Clicks → a mask: disks of ``RADIUS`` px around the positive clicks (the proposal's
    earlier ones too), less disks around the negative ones. Remembers what it was asked."""

    def __init__(self) -> None:
        self.requests: list[AssistRequest] = []

    def propose(self, request: AssistRequest) -> g.Geometry:
        self.requests.append(request)
        h, w = request.image.height, request.image.width
        ys, xs = np.mgrid[0:h, 0:w]
        keep = np.zeros((h, w), dtype=np.bool_)
        skip = 4 if request.started_with == "extreme_points" else 0
        clicks = (request.previous + request.points)[skip:]
        for sign in (1, -1):
            for x, y, s in clicks:
                if s == sign:
                    disk = (xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2 <= RADIUS ** 2
                    keep = keep | disk if sign > 0 else keep & ~disk
        return g.Mask(rle.encode(keep))


@pytest.fixture()
def disks(world: World) -> DiskEngine:
    engine = DiskEngine()
    world.pipeline.assist.register("clicks", engine)
    return engine


def _assist(world: World, points: list[list[float]], user: str = "ann", **extra: Any
            ) -> list[dict[str, Any]]:
    raw = {"type": "assist", "mode": "clicks", "label": "cat", "points": points, **extra}
    return world.run(raw, user=user).events


def _mask_area(geometry: dict[str, Any]) -> int:
    return rle.area(geometry["rle"])


def test_clicks_become_a_mask_and_a_later_click_refines_the_same_proposal(
        world: World, disks: DiskEngine) -> None:
    clicked, created = _assist(world, [[30, 30, 1]], output="mask")
    assert clicked["type"] == "AssistClicked" and created["type"] == "AnnotationCreated"
    assert clicked["data"]["output"] == "mask" and clicked["data"]["model_id"] is None
    aid = created["data"]["annotation_id"]
    assert created["data"]["annotation_type"] == "mask" and created["data"]["source"] == "assist"
    one = _mask_area(created["data"]["geometry"])
    events = _assist(world, [[60, 30, 1]], annotation_id=aid)  # output: the proposal's own
    assert [e["type"] for e in events] == ["AssistClicked", "AnnotationEdited"]
    assert events[0]["data"]["annotation_id"] == aid
    assert events[0]["data"]["points"] == [[60, 30, 1]]  # only this command's clicks
    assert _mask_area(events[1]["data"]["geometry"]) == 2 * one
    last = disks.requests[-1]
    assert last.previous == ((30.0, 30.0, 1),) and last.started_with == "clicks"
    assert last.output == "mask"
    # A negative click on the first disk takes it away again.
    _assist(world, [[30, 30, -1]], annotation_id=aid)
    image = world.app.image(world.image_id)
    ann = image.annotations[aid]
    assert ann["revision"] == 3 and ann["status"] == "manual" and ann["source"] == "assist"
    assert _mask_area(ann["geometry"]) == one
    proposal = image.assist_proposal(aid)
    assert proposal is not None
    assert proposal["clicks"] == [[30, 30, 1], [60, 30, 1], [30, 30, -1]]
    assert proposal["geometry"] == ann["geometry"]


def test_an_extreme_points_box_is_refined_with_clicks(world: World, disks: DiskEngine) -> None:
    events = world.run({"type": "assist", "mode": "extreme_points", "label": "dog",
                        "points": EXTREME}).events
    aid = events[1]["data"]["annotation_id"]
    refined = _assist(world, [[25, 35, 1]], annotation_id=aid)
    request = disks.requests[-1]
    assert request.started_with == "extreme_points" and len(request.previous) == 4
    assert request.output == "box"  # the proposal's; the disk's box is answered
    assert refined[1]["data"]["geometry"] == {"x": 19.0, "y": 29.0, "w": 12.0, "h": 12.0}
    assert refined[1]["data"]["label"] == "cat"  # the refinement's label replaces "dog"


@pytest.mark.parametrize(("output", "kind", "check"), [
    ("box", "box", lambda geo: geo == {"x": 5.0, "y": 12.0, "w": 39.0, "h": 48.0}),
    ("polygon", "polygon", lambda geo: geo["points"] == [[5, 12], [44, 12], [44, 60], [5, 60]]),
    ("mask", "mask", lambda geo: _mask_area(geo) == 39 * 48),
])
def test_the_built_in_extreme_points_answer_in_each_output(
        world: World, output: str, kind: str, check: Any) -> None:
    events = world.run({"type": "assist", "mode": "extreme_points", "label": "cat",
                        "points": EXTREME, "output": output}).events
    assert events[1]["data"]["annotation_type"] == kind
    assert check(events[1]["data"]["geometry"]), events[1]["data"]["geometry"]


def test_editing_and_deleting_a_proposal_are_tracked_with_its_iou(
        world: World, disks: DiskEngine) -> None:
    aid = _assist(world, [[30, 30, 1]], output="box")[1]["data"]["annotation_id"]
    _assist(world, [[42, 30, 1]], annotation_id=aid)  # the proposal: x 24..48, y 24..36
    edited = world.run({"type": "edit", "annotation_id": aid,
                        "changes": {"geometry": {"x": 24, "y": 24, "w": 12, "h": 12}}}).events
    assert [e["type"] for e in edited] == ["AnnotationEdited", "AssistEdited"]
    assert edited[1]["data"] == {"annotation_id": aid, "iou": 0.5}
    # The IoU is always against the engine's last proposal, not the previous edit.
    relabelled = world.run({"type": "edit", "annotation_id": aid,
                            "changes": {"label": "dog"}}).events
    assert relabelled[1]["data"]["iou"] == 0.5
    deleted = world.run({"type": "delete", "annotation_id": aid}).events
    assert [e["type"] for e in deleted] == ["AssistRejected", "AnnotationDeleted"]
    # A manual annotation's edits and deletion stay as they were.
    made = world.run({"type": "create", "annotation": {
        "type": "box", "label": "cat", "geometry": {"x": 1, "y": 1, "w": 5, "h": 5}}}).events
    mid = made[0]["data"]["annotation_id"]
    assert [e["type"] for e in world.run({"type": "edit", "annotation_id": mid, "changes": {
        "label": "dog"}}).events] == ["AnnotationEdited"]
    assert [e["type"] for e in world.run({"type": "delete", "annotation_id": mid}).events] == [
        "AnnotationDeleted"]


def test_replay_gives_the_state_the_writer_had(world: World, disks: DiskEngine) -> None:
    aid = _assist(world, [[30, 30, 1]], output="mask")[1]["data"]["annotation_id"]
    _assist(world, [[40, 30, 1]], annotation_id=aid)
    world.run({"type": "edit", "annotation_id": aid, "changes": {"label": "dog"}})
    cached = world.pipeline._cache[world.image_id]
    replayed = world.app.image(world.image_id)
    assert replayed.annotations == cached.annotations
    assert replayed.proposals == cached.proposals
    assert replayed.version == cached.version


def test_a_proposal_refined_meanwhile_is_a_conflict(world: World, disks: DiskEngine) -> None:
    aid = _assist(world, [[30, 30, 1]])[1]["data"]["annotation_id"]
    stale = world.pipeline.prepare(world.image_id, [parse_command({
        "type": "assist", "mode": "clicks", "label": "cat", "points": [[50, 30, 1]],
        "annotation_id": aid})], Actor("ann"))
    _assist(world, [[40, 30, 1]], user="bob", annotation_id=aid)
    head = world.head()
    with pytest.raises(Conflict):
        world.pipeline.execute(world.image_id, stale, Actor("ann"))
    assert world.head() == head


@pytest.mark.parametrize(("raw", "field"), [
    ({"mode": "clicks", "points": [[30, 30, 1]], "annotation_id": "manual"}, "annotation_id"),
    ({"mode": "clicks", "points": [[30, 30, 1]], "annotation_id": "prelabel"}, "annotation_id"),
    ({"mode": "box", "points": [[1, 1], [9, 9]], "annotation_id": "assist"}, "mode"),
    ({"mode": "clicks", "points": [[30, 30, 1]], "annotation_id": "assist", "output": "mask"},
     "output"),
    ({"mode": "clicks", "points": [[30, 30, 1]] * 100, "annotation_id": "assist"}, "points"),
    ({"mode": "clicks", "points": [[130, 30, 1]]}, "points[0]"),
    ({"mode": "clicks", "points": [[30, 30, -1]]}, "points"),
    ({"mode": "extreme_points", "points": [[5, 30], [20, 12], [44, 25]]}, "points"),
    ({"mode": "extreme_points", "points": [[5, 30], [20, 12], [44, 25], [18, -9]]},
     "points[3]"),
    ({"mode": "box", "points": [[10, 10], [10, 40]]}, "points"),
    ({"mode": "box", "points": [[10, 10], [20, 20], [30, 30]]}, "points"),
    ({"mode": "clicks", "points": [[30, 30, 1]], "output": "circle"}, "output"),
    ({"mode": "clicks", "points": [[30, 30, 1]], "model_id": "nonsense"}, "model_id"),
])
def test_bad_assists_are_refused_and_record_nothing(
        world: World, disks: DiskEngine, raw: dict[str, Any], field: str) -> None:
    world.pipeline.assist.register("box", disks)
    aid = _assist(world, [[30, 30, 1]] * 100)[1]["data"]["annotation_id"]
    _assist(world, [[30, 30, 1]] * 60, annotation_id=aid)  # 160 clicks: 40 more at most
    ids = {
        "assist": aid,
        "manual": world.run({"type": "create", "annotation": {"type": "box", "label": "cat",
            "geometry": {"x": 1, "y": 1, "w": 5, "h": 5}}}).events[0]["data"]["annotation_id"],
        "prelabel": world.propose({"x": 2, "y": 2, "w": 5, "h": 5}),
    }
    raw = dict(raw)
    if "annotation_id" in raw:
        raw["annotation_id"] = ids[raw["annotation_id"]]
    head = world.head()
    with pytest.raises((ValidationFailed, NotFound)) as e:
        _assist(world, **{"points": raw.pop("points"), **raw})
    assert e.value.details["field"] == field, e.value
    assert world.head() == head


def test_a_click_on_a_tiny_image_is_refused(world: World, disks: DiskEngine) -> None:
    tiny = world.add_image("d" * 64, width=1, height=1)
    head = world.head()
    for raw in ({"mode": "clicks", "points": [[0.5, 0.5, 1]]},
                {"mode": "extreme_points", "points": [[0, 0.5], [0.5, 0], [1, 0.5], [0.5, 1]]}):
        with pytest.raises(ValidationFailed) as e:
            world.run({"type": "assist", "label": "cat", **raw}, image_id=tiny)
        assert e.value.details["field"] == "image_id" and "1x1" in str(e.value)
    assert world.head() == head
    assert disks.requests == []


def test_an_unknown_annotation_is_not_found(world: World, disks: DiskEngine) -> None:
    with pytest.raises(NotFound) as e:
        _assist(world, [[30, 30, 1]], annotation_id="nope")
    assert e.value.details["field"] == "annotation_id"


def test_a_refinement_prepares_from_the_store_when_the_image_is_not_cached(
        world: World, disks: DiskEngine) -> None:
    aid = _assist(world, [[30, 30, 1]])[1]["data"]["annotation_id"]
    world.pipeline._cache.clear()
    command = parse_command({"type": "assist", "mode": "clicks", "label": "cat",
                             "points": [[40, 30, 1]], "annotation_id": aid})
    prepared = world.pipeline.prepare(world.image_id, [command], Actor("ann"))[0]
    assert isinstance(prepared, Assist) and prepared.proposal is not None
    assert prepared.proposal.previous == ((30.0, 30.0, 1),)
    assert prepared.proposal.result().to_json() == {"x": 24.0, "y": 24.0, "w": 22.0,
                                                    "h": 12.0}
