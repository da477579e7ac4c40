"""Restoring a pre-label (the UI's undo of an accept or a reject): it is proposed again, as the
model made it, through the command pipeline on real SQLite (issue 12, defect 5)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.command_pipeline import Actor
from domain.commands import parse_command
from domain.errors import Conflict, NotFound, ValidationFailed
from tests.domain.conftest import World

BOX = {"x": 10, "y": 10, "w": 20, "h": 10}


def labels_of(world: World, version: int | None = None) -> dict[str, dict[str, Any]]:
    image = world.app.image(world.image_id, version=version)
    return {a["id"]: a for a in image.public_annotations()}


def test_restore_a_rejected_prelabel_brings_back_the_models_proposal(world: World) -> None:
    a = world.propose(BOX, label="cat", score=0.8)
    before = labels_of(world)[a]
    world.run({"type": "edit", "annotation_id": a,
               "changes": {"label": "dog", "geometry": {"x": 0, "y": 0, "w": 5, "h": 5}}})
    world.run({"type": "delete", "annotation_id": a})
    assert a not in labels_of(world)
    result = world.run({"type": "restore", "annotation_id": a}, user="bob")
    [event] = result.events
    assert event["type"] == "PrelabelRestored"
    assert event["data"]["undone"] == "rejected" and event["data"]["undone_by"] == "ann"
    restored = labels_of(world)[a]
    assert restored["status"] == "proposed" and restored["source"] == "prelabel"
    assert restored["label"] == "cat" and restored["geometry"] == BOX  # the model's, not ann's
    assert restored["model"] == before["model"] and restored["score"] == 0.8
    assert restored["created_by"] == before["created_by"] and restored["updated_by"] == "bob"
    assert restored["revision"] == 3  # proposed 1, edited 2, restored 3 (a stale 2 conflicts)
    # The same id lives on: it can be accepted, and rejected again.
    world.run({"type": "accept", "annotation_id": a, "base_revision": 3})
    assert labels_of(world)[a]["status"] == "accepted"
    # Replaying to any version gives the same states as then.
    assert a not in labels_of(world, version=result.version - 1)
    assert labels_of(world, version=result.version)[a]["status"] == "proposed"


def test_restore_an_accepted_prelabel_keeps_its_place(world: World) -> None:
    a = world.propose(BOX)
    b = world.propose({"x": 40, "y": 40, "w": 10, "h": 10})
    world.run({"type": "accept", "annotation_id": a})
    result = world.run({"type": "restore", "annotation_id": a, "base_revision": 2})
    assert result.events[0]["data"]["undone"] == "accepted"
    anns = labels_of(world)
    assert list(anns) == [a, b]
    assert anns[a]["status"] == "proposed" and anns[a]["revision"] == 3


def test_restore_twice_and_stale_restore_are_refused(world: World) -> None:
    a = world.propose(BOX)
    world.run({"type": "accept", "annotation_id": a})
    with pytest.raises(Conflict):
        world.run({"type": "restore", "annotation_id": a, "base_revision": 1})
    world.run({"type": "restore", "annotation_id": a})
    head = world.head()
    with pytest.raises(ValidationFailed, match="this one is proposed"):
        world.run({"type": "restore", "annotation_id": a})
    assert world.head() == head


@pytest.mark.parametrize("case", ["manual", "deleted manual", "unknown", "edited"])
def test_only_accepted_or_rejected_prelabels_can_be_restored(world: World, case: str) -> None:
    if case in ("manual", "deleted manual"):
        created = world.run({"type": "create", "annotation": {"type": "box", "label": "cat",
                                                               "geometry": BOX}})
        target = created.events[0]["data"]["annotation_id"]
        if case == "deleted manual":
            world.run({"type": "delete", "annotation_id": target})
    elif case == "edited":
        target = world.propose(BOX)
        world.run({"type": "edit", "annotation_id": target, "changes": {"label": "dog"}})
    else:
        target = "no-such-annotation"
    head = world.head()
    expected = {"manual": ValidationFailed, "deleted manual": Conflict, "unknown": NotFound,
                "edited": ValidationFailed}[case]
    with pytest.raises(expected):
        world.run({"type": "restore", "annotation_id": target})
    assert world.head() == head  # nothing recorded


def test_restore_in_a_batch_after_the_reject(world: World) -> None:
    """Reject and restore atomically (and a failing batch restores nothing)."""
    a = world.propose(BOX)
    result = world.pipeline.execute(world.image_id, [
        parse_command({"type": "delete", "annotation_id": a}),
        parse_command({"type": "restore", "annotation_id": a}),
        parse_command({"type": "accept", "annotation_id": a}),
    ], Actor("ann"))
    assert [e["type"] for e in result.events] == ["PrelabelRejected", "PrelabelRestored",
                                                  "PrelabelAccepted"]
    assert labels_of(world)[a]["status"] == "accepted"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.fixed_dictionaries({"type": st.just("restore")}, optional={
    "annotation_id": st.one_of(st.none(), st.integers(), st.text(max_size=3), st.just("")),
    "base_revision": st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=2),
                               st.booleans()),
    "extra": st.integers(),
}))
def test_bad_restore_commands_are_refused_as_they_arrive(raw: dict[str, Any]) -> None:
    from domain.commands import RestorePrelabel

    try:
        command = parse_command(raw)
    except ValidationFailed as e:
        assert e.details["field"] in ("annotation_id", "base_revision", "extra")
    else:
        assert isinstance(command, RestorePrelabel) and command.annotation_id
