"""Pins the eventsourcing behaviour the write model relies on (domain.eventsourcing_adapters).

If one of these fails after an upgrade of the library, the command writer's rollback, its
direct inserts or its hand-made snapshots may be wrong: fix the adapter, not the test.
"""

from __future__ import annotations

import copy

import pytest
from eventsourcing.persistence import IntegrityError

from domain import eventsourcing_adapters as adapters
from domain.commands import parse_command
from domain.image import Image
from tests.domain.conftest import World

BOX = {"x": 10, "y": 10, "w": 20, "h": 20}


def _create(label: str = "cat") -> object:
    return parse_command({"type": "create", "annotation": {"type": "box", "label": label,
                                                           "geometry": BOX}})


def test_the_library_is_the_release_the_adapters_were_verified_with() -> None:
    found = adapters.library_version()
    assert found == adapters.VERIFIED_WITH, (
        f"eventsourcing {found} is installed; the adapters in domain/eventsourcing_adapters.py "
        f"were verified with {adapters.VERIFIED_WITH}. Re-verify (this file's tests must pass): "
        "1. an aggregate's whole state, pending events included, is its instance __dict__ "
        "(Checkpoint); 2. recorder.insert_events returns one notification id per event, in "
        "order, and raises IntegrityError storing nothing on a taken version (insert_events); "
        "3. Aggregate.Snapshot.take + snapshots.put is what the repository loads from "
        "(take_snapshot). Then set VERIFIED_WITH.")


def test_a_checkpoint_restores_version_pending_events_and_state(world: World) -> None:
    image = world.app.image(world.image_id)
    schema = world.app.project(world.project_id).schema()
    image.decide(_create(), "ann", schema)  # type: ignore[arg-type]
    assert "__slots__" not in vars(type(image))
    before = (image.version, list(image.pending_events), dict(image.annotations),
              {k: copy.copy(v) for k, v in vars(image).items()})
    checkpoint = adapters.Checkpoint(image)
    image.decide(_create("dog"), "ann", schema)  # type: ignore[arg-type]
    with pytest.raises(KeyError):  # a trigger_event that fails halfway through its apply
        image.trigger_event(Image.AnnotationDeleted, annotation_id="nope", actor="ann",
                            command_id="c-fail")
    assert "c-fail" in image.command_log  # it changed state before failing
    assert image.version == before[0] + 1 and len(image.pending_events) == 2
    checkpoint.restore()
    assert (image.version, list(image.pending_events), dict(image.annotations)) == before[:3]
    assert vars(image) == before[3]
    pending = image.collect_events()
    assert [type(e).__name__ for e in pending] == ["AnnotationCreated"]
    assert pending[0].originator_version == before[0]


def test_insert_events_returns_one_position_per_event_in_order(world: World) -> None:
    other = world.add_image("b" * 64)
    schema = world.app.project(world.project_id).schema()
    first, second = world.app.image(world.image_id), world.app.image(other)
    events = []
    for image in (first, second, first):  # two streams, interleaved
        image.decide(_create(), "ann", schema)  # type: ignore[arg-type]
        events.extend(image.collect_events())
    head = world.head()
    positions = adapters.insert_events(world.app, events)
    assert positions == list(range(head + 1, head + 1 + len(events)))
    stored = list(world.app.recorder.select_notifications(start=head + 1, limit=10))
    assert [(n.id, n.originator_id, n.originator_version) for n in stored] == [
        (p, e.originator_id, e.originator_version) for p, e in zip(positions, events,
                                                                    strict=True)]
    # A taken (stream, version) refuses the whole batch: nothing of it is stored.
    fresh = world.app.image(other)
    fresh.decide(_create(), "ann", schema)  # type: ignore[arg-type]
    stale = world.app.image(world.image_id, version=2)
    stale.decide(_create(), "ann", schema)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        adapters.insert_events(world.app, [*fresh.collect_events(), *stale.collect_events()])
    assert world.head() == positions[-1]


def test_a_hand_made_snapshot_loads_back_equal_through_the_repository(world: World) -> None:
    for i in range(3):
        world.run({"type": "create", "annotation": {"type": "point", "label": "cat",
                                                    "geometry": {"x": i, "y": 1}}})
    image = world.app.image(world.image_id)
    assert adapters.take_snapshot(world.app, image)
    assert world.app.snapshots is not None
    (snapshot,) = world.app.snapshots.get(world.image_id, desc=True, limit=1)
    assert snapshot.originator_version == image.version == 4
    assert snapshot.mutate(None) == image
    # The repository starts from it: events after it replay on top, and the state is equal
    # to a replay of the whole stream.
    world.run({"type": "submit"})
    loaded = world.app.repository.get(world.image_id)
    replayed = None
    for event in world.app.events.get(world.image_id):
        replayed = event.mutate(replayed)
    assert loaded == replayed and loaded.version == 5 and loaded.status == "submitted"
    assert world.app.image(world.image_id, version=4) == image


def test_no_snapshot_store_means_no_snapshot(world: World) -> None:
    class NoSnapshots:
        snapshots = None

    image = world.app.image(world.image_id)
    assert adapters.take_snapshot(NoSnapshots(), image) is False  # type: ignore[arg-type]
