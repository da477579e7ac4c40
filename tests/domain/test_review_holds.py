"""Review holds (issue 12, defect 3): a submitted or approved image is read-only to annotators
until a reviewer or manager reopens it (``ImageReopened``); a refusal records nothing."""

from __future__ import annotations

from typing import Any

import pytest

from domain.command_pipeline import Actor
from domain.commands import parse_command
from domain.errors import Forbidden, Locked, ValidationFailed
from tests.domain.conftest import World

BOX = {"x": 10, "y": 10, "w": 20, "h": 15}


def _annotator_commands(world: World, manual: str, prelabel: str) -> dict[str, dict[str, Any]]:
    """One command of each kind an annotator sends, all valid on an editable image."""
    return {
        "create": {"type": "create", "annotation": {"type": "box", "label": "cat",
                                                     "geometry": BOX}},
        "edit": {"type": "edit", "annotation_id": manual, "changes": {"label": "dog"}},
        "delete": {"type": "delete", "annotation_id": manual},
        "accept": {"type": "accept", "annotation_id": prelabel},
        "reject pre-label": {"type": "delete", "annotation_id": prelabel},
        "assist": {"type": "assist", "mode": "extreme_points", "label": "cat",
                   "points": [[20, 30], [30, 20], [45, 32], [31, 40]]},
        "submit": {"type": "submit"},
    }


def _setup(world: World) -> tuple[str, str]:
    manual = world.run({"type": "create", "annotation": {"type": "box", "label": "cat",
                                                          "geometry": BOX}})
    prelabel = world.propose({"x": 50, "y": 40, "w": 20, "h": 20})
    return str(manual.events[0]["data"]["annotation_id"]), prelabel


@pytest.mark.parametrize("verdict", [None, "approve"])
def test_every_annotator_command_on_a_held_image_is_locked_and_records_nothing(
        world: World, verdict: str | None) -> None:
    manual, prelabel = _setup(world)
    world.run({"type": "submit"})
    if verdict is not None:
        world.run({"type": "review", "verdict": verdict}, user="rui")
    status = "submitted" if verdict is None else "approved"
    head = world.head()
    version = world.app.image(world.image_id).version
    for kind, raw in _annotator_commands(world, manual, prelabel).items():
        for user in ("ann", "bob"):  # the submitter and any other annotator
            with pytest.raises(Locked) as refused:
                world.run(raw, user=user)
            assert refused.value.code == "locked", kind
            assert refused.value.details == {"status": status,
                                             "reopen_by": ["reviewer", "manager"]}
            assert "reviewer or manager must reopen it" in refused.value.message
    # A batch is refused whole, even with a command id.
    with pytest.raises(Locked):
        world.pipeline.execute(world.image_id, [
            parse_command({"type": "create", "command_id": "c-1", "annotation": {
                "type": "tag", "label": "dog", "geometry": {}}}),
            parse_command({"type": "submit"})], Actor("ann"))
    assert world.head() == head
    image = world.app.image(world.image_id)
    assert image.version == version and image.status == status


def test_a_repeated_command_id_from_before_the_submission_is_answered_not_refused(
        world: World) -> None:
    first = world.run({"type": "create", "command_id": "draw-1", "annotation": {
        "type": "box", "label": "cat", "geometry": BOX}})
    world.run({"type": "submit"})
    again = world.run({"type": "create", "command_id": "draw-1", "annotation": {
        "type": "box", "label": "cat", "geometry": BOX}})  # an outbox retry after an outage
    assert again.to_json() == first.to_json()


@pytest.mark.parametrize("user", ["rui", "mgr", "root"])
def test_reviewers_managers_and_admins_reopen(world: World, user: str) -> None:
    if user == "root":
        world.app.register_user("root", "password123", is_admin=True)
    actor = Actor(user, is_admin=user == "root")
    world.run({"type": "submit"})
    world.run({"type": "review", "verdict": "approve"}, user="rui")
    result = world.pipeline.execute(world.image_id, [parse_command(
        {"type": "reopen", "comment": "the tail light is a car part"})], actor)
    [event] = result.events
    assert event["type"] == "ImageReopened" and event["actor"] == user
    assert event["data"] == {"comment": "the tail light is a car part"}
    assert world.app.image(world.image_id).status == "in_progress"
    # Editable again: the annotator fixes it and submits again.
    world.run({"type": "create", "annotation": {"type": "box", "label": "dog", "geometry": BOX}})
    world.run({"type": "submit"})
    assert world.app.image(world.image_id).status == "submitted"


def test_a_submitted_image_can_be_reopened_without_a_verdict(world: World) -> None:
    world.run({"type": "submit"})
    world.run({"type": "reopen"}, user="rui")
    assert world.app.image(world.image_id).status == "in_progress"
    world.run({"type": "create", "annotation": {"type": "box", "label": "dog", "geometry": BOX}})


def test_annotators_cannot_reopen_and_nothing_else_is_reopened(world: World) -> None:
    world.run({"type": "submit"})
    head = world.head()
    with pytest.raises(Forbidden, match="reopen command needs the reviewer role"):
        world.run({"type": "reopen"}, user="ann")
    world.run({"type": "review", "verdict": "reject", "comment": "missing dog"}, user="rui")
    head = world.head()
    for status_maker in (None, "edit"):
        if status_maker == "edit":
            world.run({"type": "create", "annotation": {"type": "tag", "label": "cat",
                                                         "geometry": {}}})
            head = world.head()
        with pytest.raises(ValidationFailed, match="only a submitted or approved image"):
            world.run({"type": "reopen"}, user="rui")
        assert world.head() == head
    fresh = world.add_image("f" * 64)
    with pytest.raises(ValidationFailed, match="this one is new"):
        world.run({"type": "reopen"}, user="rui", image_id=fresh)


def test_a_rejected_image_stays_editable_for_annotators(world: World) -> None:
    world.run({"type": "submit"})
    world.run({"type": "review", "verdict": "reject", "comment": "missing dog"}, user="rui")
    world.run({"type": "create", "annotation": {"type": "box", "label": "dog", "geometry": BOX}})
    assert world.app.image(world.image_id).status == "in_progress"


def test_reviewers_may_still_fix_a_submitted_image_and_trusted_jobs_still_propose(
        world: World) -> None:
    world.run({"type": "submit"})
    world.run({"type": "create", "annotation": {"type": "box", "label": "dog", "geometry": BOX}},
              user="rui")
    world.propose({"x": 1, "y": 1, "w": 5, "h": 5})  # a pre-label job, acting for a manager
    image = world.app.image(world.image_id)
    assert image.status == "submitted" and len(image.annotations) == 2


def test_reopen_comment_is_checked_like_a_review_comment(world: World) -> None:
    with pytest.raises(ValidationFailed, match="comment must be a string"):
        parse_command({"type": "reopen", "comment": 5})
    with pytest.raises(ValidationFailed, match="unexpected field 'verdict'"):
        parse_command({"type": "reopen", "verdict": "approve"})
    with pytest.raises(ValidationFailed, match="at most 4000"):
        parse_command({"type": "reopen", "comment": "x" * 4001})
