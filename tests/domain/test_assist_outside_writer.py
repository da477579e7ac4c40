"""Assist engines run outside the command writer (issue 8, part 3).

A learned engine takes seconds; the single writer of a process must never wait for one. The
pipeline prepares an assist (runs its engine) before queueing the request, which then carries
the proposal; the aggregate only validates and records it, with the same events as before.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from domain import geometry as g
from domain.assist import AssistRequest
from domain.command_pipeline import Actor
from domain.commands import Assist, parse_command
from domain.errors import Forbidden, ValidationFailed
from tests.domain.conftest import World

BOX = {"x": 10, "y": 10, "w": 20, "h": 20}
WRITER = "command-writer"


class SlowEngine:
    """A stand-in for a learned model: two seconds per call, a box around the first click."""

    def __init__(self, seconds: float = 2.0) -> None:
        self.seconds = seconds
        self.threads: list[str] = []
        self.calls = 0

    def propose(self, request: AssistRequest) -> g.Geometry:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        time.sleep(self.seconds)
        x, y, _ = request.points[0]
        return g.Box(x - 5, y - 5, 10, 10)


class SpyEngine:
    """Extreme points, remembering the thread it ran on."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def propose(self, request: AssistRequest) -> g.Geometry:
        self.threads.append(threading.current_thread().name)
        return g.box_from_extreme_points([(x, y) for x, y, _ in request.points],
                                         request.image.width, request.image.height)


def _clicks(label: str = "cat", **extra: Any) -> Assist:
    command = parse_command({"type": "assist", "mode": "clicks", "label": label,
                             "points": [[40, 30, 1]], **extra})
    assert isinstance(command, Assist)
    return command


def _create(**extra: Any) -> Any:
    return parse_command({"type": "create", "annotation": {"type": "box", "label": "cat",
                                                           "geometry": BOX}, **extra})


def test_a_slow_engine_on_one_image_does_not_delay_a_command_on_another(world: World) -> None:
    slow = SlowEngine()
    world.pipeline.assist.register("clicks", slow)
    other = world.add_image("b" * 64)
    tag = {"type": "create", "annotation": {"type": "tag", "label": "dog", "geometry": {}}}
    world.run(tag, image_id=other)  # both images known to the writer
    world.run(tag)
    assisting = world.pipeline.submit(world.image_id, [_clicks()], Actor("ann"))
    time.sleep(0.05)  # the engine is running now
    started = time.monotonic()
    plain = world.pipeline.execute(other, [_create()], Actor("ann"), timeout=5)
    took = time.monotonic() - started
    assert took < 0.5, f"a plain command on another image waited {took:.2f} s for a model"
    assert plain.version == 3 and not assisting.done()
    result = assisting.result(10)
    assert [e["type"] for e in result.events] == ["AssistClicked", "AnnotationCreated"]
    clicked, created = (e["data"] for e in result.events)
    assert clicked["mode"] == "clicks" and clicked["points"] == [[40, 30, 1]]
    assert created["geometry"] == {"x": 35.0, "y": 25.0, "w": 10.0, "h": 10.0}
    assert created["source"] == "assist" and created["annotation_id"] == clicked[
        "annotation_id"]
    assert slow.calls == 1 and WRITER not in slow.threads


def test_requests_for_the_image_being_prepared_keep_their_order(world: World) -> None:
    world.pipeline.assist.register("clicks", SlowEngine(0.5))
    first = world.pipeline.submit(world.image_id, [_clicks()], Actor("ann"))
    # Conditional on the assist's two events (versions 2 and 3) being there first.
    second = world.pipeline.submit(world.image_id, [_create(base_version=3)], Actor("ann"))
    third = world.pipeline.submit(world.image_id, [_clicks()], Actor("bob"))
    fourth = world.pipeline.submit(world.image_id, [_create()], Actor("bob"))
    versions = [f.result(10).version for f in (first, second, third, fourth)]
    assert versions == [3, 4, 6, 7]


def test_cheap_engines_run_in_place_on_a_cached_image_and_never_in_the_writer(
        world: World) -> None:
    spy = SpyEngine()
    world.pipeline.assist.register("extreme_points", spy, inline=True)
    points = [[5, 30], [20, 12], [44, 25], [18, 60]]
    raw = {"type": "assist", "mode": "extreme_points", "label": "dog", "points": points}
    cold = world.run(raw)  # not cached yet: prepared on a worker (it reads the store)
    # The writer caches the image a moment after it answers; once it has, the cheap engine
    # runs on the caller's thread, with no hop.
    deadline = time.monotonic() + 5
    while world.image_id not in world.pipeline._cache and time.monotonic() < deadline:
        time.sleep(0.01)
    warm = world.run(raw)
    assert spy.threads[0].startswith("command-models")
    assert spy.threads[1] == threading.current_thread().name
    assert not any(t == "command-writer" for t in spy.threads)
    for result in (cold, warm):
        assert result.events[1]["data"]["geometry"] == {"x": 5.0, "y": 12.0, "w": 39.0,
                                                        "h": 48.0}


def test_refusals_keep_their_order_and_outsiders_run_no_model(world: World) -> None:
    slow = SlowEngine(0.01)
    world.pipeline.assist.register("clicks", slow)
    # The label is checked before the engine's answer is used, as when the engine ran inside
    # the decision; with no engine for the mode, the label error still comes first.
    with pytest.raises(ValidationFailed) as e:
        world.run({"type": "assist", "mode": "box", "label": "cow", "points": [[1, 2]]})
    assert e.value.details["field"] == "label"
    with pytest.raises(ValidationFailed) as e:
        world.run({"type": "assist", "mode": "box", "label": "cat", "points": [[1, 2]]})
    assert e.value.details["field"] == "mode"
    world.app.register_user("eve", "password123")
    head = world.head()
    with pytest.raises(Forbidden):
        world.pipeline.execute(world.image_id, [_clicks()], Actor("eve"))
    assert slow.calls == 0 and world.head() == head


def test_an_engine_error_fails_the_whole_batch(world: World) -> None:
    head = world.head()
    bad = parse_command({"type": "assist", "mode": "extreme_points", "label": "cat",
                         "points": [[1, 1]]})
    with pytest.raises(ValidationFailed) as e:
        world.pipeline.execute(world.image_id, [_create(), bad], Actor("ann"))
    assert e.value.details["field"] == "points"
    assert world.head() == head
    assert world.app.image(world.image_id).annotations == {}


def test_a_repeated_assist_is_answered_with_the_first_result(world: World) -> None:
    raw = {"type": "assist", "mode": "extreme_points", "label": "dog", "command_id": "a-1",
           "points": [[5, 30], [20, 12], [44, 25], [18, 60]]}
    first = world.run(raw)
    head = world.head()
    again = world.run(raw)
    assert again.repeated and again.to_json() == first.to_json() and world.head() == head


def test_prepare_alone_is_a_preview_that_records_nothing(world: World) -> None:
    head = world.head()
    command = parse_command({"type": "assist", "mode": "extreme_points", "label": "dog",
                             "points": [[5, 30], [20, 12], [44, 25], [18, 60]]})
    prepared = world.pipeline.prepare(world.image_id, [command], Actor("ann"))[0]
    assert isinstance(prepared, Assist) and prepared.proposal is not None
    assert prepared.proposal.result().to_json() == {"x": 5.0, "y": 12.0, "w": 39.0, "h": 48.0}
    assert world.head() == head
    world.app.register_user("eve", "password123")
    with pytest.raises(Forbidden):
        world.pipeline.prepare(world.image_id, [command], Actor("eve"))


def test_a_proposal_cannot_come_from_a_client() -> None:
    with pytest.raises(ValidationFailed) as e:
        parse_command({"type": "assist", "mode": "extreme_points", "label": "cat",
                       "points": [[1, 1]], "proposal": BOX})
    assert e.value.details["field"] == "proposal"
    assert _clicks().proposal is None


def test_an_unprepared_assist_never_reaches_an_engine_in_the_aggregate(world: World) -> None:
    image = world.app.image(world.image_id)
    schema = world.app.project(world.project_id).schema()
    with pytest.raises(RuntimeError, match="without a proposal"):
        image.decide(_clicks(), "ann", schema)
    assert image.collect_events() == []


def test_only_the_api_modes_can_be_registered(world: World) -> None:
    with pytest.raises(ValueError, match="magic"):
        world.pipeline.assist.register("magic", SpyEngine())


def test_the_stored_events_are_those_of_the_golden_assist(world: World) -> None:
    """Same topics, same fields in the same order, same values (but time and ids) as the
    assist in tests/golden/events-v1.jsonl, recorded when the engine ran in the writer (plus
    the fields issue 10 appended)."""
    golden_dir = Path(__file__).parent.parent / "golden"
    rows = [json.loads(line) for line in (golden_dir / "events-v1.jsonl").read_text()
            .splitlines()]
    at = next(i for i, r in enumerate(rows) if r["topic"].endswith("AssistClicked"))
    image_id = world.add_image("c" * 64, width=64, height=48)  # the golden image's size
    world.run({"type": "assist", "mode": "extreme_points", "label": "cat",
               "points": [[5, 10], [10, 5], [15, 10], [10, 20]]}, image_id=image_id)
    stored = list(world.app.recorder.select_events(image_id))[-2:]

    def shape(topic: str, state: bytes) -> tuple[str, list[tuple[str, Any]]]:
        fields = json.loads(state)
        fields.pop("timestamp")
        fields["annotation_id"] = "-"
        return topic, list(fields.items())

    # Issue 10 appended AssistClicked's output and model_id (their defaults: what every
    # stored assist was); the golden fields stay the same, in the same order.
    golden = [shape(r["topic"], base64.b64decode(r["state"])) for r in rows[at:at + 2]]
    # Issue 14 made AssistClicked class_version 2 (its upcaster fills those two into old
    # events), which the library stores as the last field of a new event.
    golden[0][1].extend([("output", "box"), ("model_id", None), ("class_version", 2)])
    assert [shape(s.topic, s.state) for s in stored] == golden
