"""The image read model equals the Image aggregate replayed, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.projections.conftest import Stack


def check_against_replay(stack: Stack, images: list[Any]) -> None:
    app, read = stack.app, stack.read
    counts: dict[str, dict[str, int]] = {}
    for state in images:
        image = app.image(state.image_id)
        view = read.image_annotations(str(state.image_id))
        assert view is not None
        assert view["annotations"] == image.public_annotations()
        assert view["version"] == image.version
        meta = read.image(str(state.image_id))
        assert meta is not None
        assert (meta["status"], meta["version"], meta["annotation_count"], meta["project_id"],
                meta["file_name"], meta["width"], meta["height"], meta["sha256"]) == (
            image.status, image.version, len(image.annotations), image.project_id,
            image.file_name, image.width, image.height, image.sha256)
        assert view["position"] == meta["position"] == read.position_of(
            str(state.image_id), image.version)
        counts.setdefault(image.project_id, {})
        counts[image.project_id][image.status] = counts[image.project_id].get(
            image.status, 0) + 1
    for project_id, by_status in counts.items():
        project = read.project(project_id)
        assert project is not None
        assert {k: v for k, v in project["counts"].items() if v} == by_status
        assert project["image_count"] == sum(by_status.values())


def test_current_labels_equal_aggregate_replay(stack: Stack) -> None:
    work = stack.workload()
    work.setup()
    work.add_images(30)
    work.rounds(25)
    stack.runner.catch_up()
    assert work.errors == 0
    check_against_replay(stack, work.images)


def test_live_runner_follows_commands(stack: Stack) -> None:
    """The background thread, woken by commits, keeps the model equal while work goes on."""
    stack.runner.start()
    work = stack.workload(seed=3)
    work.setup()
    work.add_images(12)
    for _ in range(8):
        work.round()
        assert stack.read.wait_for(stack.head(), timeout=10)
    check_against_replay(stack, work.images)


def test_status_rules_follow_the_aggregate(stack: Stack) -> None:
    """new → in_progress on human work (not on pre-labels), submitted stays, reviews."""
    from domain.command_pipeline import Actor
    from domain.commands import parse_command, parse_prelabel

    work = stack.workload()
    work.setup(projects=1)
    work.add_images(1)
    iid = work.images[0].image_id
    run = stack.pipeline.execute

    def status() -> str:
        stack.runner.catch_up()
        image = stack.read.image(str(iid))
        assert image is not None
        assert image["status"] == stack.app.image(iid).status
        return str(image["status"])

    assert status() == "new"
    result = run(iid, [parse_prelabel({"type": "box", "label": "cat", "score": 0.5,
                                       "geometry": {"x": 1, "y": 1, "w": 5, "h": 5}},
                                      "m", "1")], Actor("mgr", trusted=True))
    prelabel = result.events[0]["data"]["annotation_id"]
    assert status() == "new"
    run(iid, [parse_command({"type": "submit"})], Actor("ann"))
    assert status() == "submitted"
    # Review holds: annotators are locked out; a reviewer's fix keeps the image submitted.
    run(iid, [parse_command({"type": "accept", "annotation_id": prelabel})], Actor("rui"))
    assert status() == "submitted"
    run(iid, [parse_command({"type": "review", "verdict": "reject"})], Actor("rui"))
    assert status() == "rejected"
    run(iid, [parse_command({"type": "assist", "mode": "extreme_points", "label": "cat",
                             "points": [[10, 20], [20, 10], [30, 20], [20, 30]]})],
        Actor("bob"))
    assert status() == "in_progress"
    run(iid, [parse_command({"type": "submit"})], Actor("bob"))
    run(iid, [parse_command({"type": "review", "verdict": "approve"})], Actor("rui"))
    assert status() == "approved"
    run(iid, [parse_command({"type": "reopen", "comment": "again"})], Actor("rui"))
    assert status() == "in_progress"
    run(iid, [parse_command({"type": "submit"})], Actor("bob"))
    run(iid, [parse_command({"type": "review", "verdict": "approve"})], Actor("rui"))
    assert status() == "approved"
    view = stack.read.image_annotations(str(iid))
    assert view is not None
    assert [a["source"] for a in view["annotations"]] == ["prelabel", "assist"]
    assert view["annotations"][0]["model"] == {"name": "m", "version": "1"}
    assert view["annotations"][0]["score"] == 0.5
    assert view["annotations"][0]["status"] == "accepted"
    assert view["annotations"][0]["revision"] == 2
    assert "model" not in view["annotations"][1]
