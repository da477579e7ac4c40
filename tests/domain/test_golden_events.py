"""Events stored by released versions must keep loading (topics, field names, encodings).

Every ``tests/golden/events-v*.jsonl`` (one per released schema, never regenerated; written
by ``tests/golden/make_golden.py``) is replayed by every later version of the code to the
state its ``.expected.json`` recorded. An event whose shape changed (``class_version`` and an
``upcast_vN_vN+1``, docs/operations.md "Changing an event") must still load from the older
files, and load in the new shape. Since events-v3 every event type of the code has a stored
event in some golden file, and a new type fails here until the next events-vN holds one.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.application import Labeling
from domain.image import Image
from domain.project import Project
from tests.golden.make_golden import aggregate_state, persisted_event_classes

GOLDEN = Path(__file__).parent.parent / "golden"


@pytest.fixture()
def app(tmp_path: Path) -> Labeling:
    return Labeling(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(tmp_path / "events.sqlite")})


def _stored(row: dict) -> StoredEvent:
    return StoredEvent(originator_id=UUID(row["originator_id"]),
                       originator_version=row["originator_version"], topic=row["topic"],
                       state=base64.b64decode(row["state"]))


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (GOLDEN / f"{name}.jsonl").read_text().splitlines()]


RELEASES = sorted((p.name.removesuffix(".jsonl") for p in GOLDEN.glob("events-v*.jsonl")),
                  key=lambda name: int(name.removeprefix("events-v")))


def test_there_is_a_golden_file_per_release() -> None:
    assert RELEASES[:3] == ["events-v1", "events-v2", "events-v3"]
    numbers = [int(name.removeprefix("events-v")) for name in RELEASES]
    assert numbers == list(range(1, len(RELEASES) + 1)), "one golden file per release, no gaps"
    for name in RELEASES:
        assert (GOLDEN / f"{name}.expected.json").is_file()


def _assert_state(aggregate: object, expected: dict) -> None:
    """Every key of the recorded state holds (keys added to ``aggregate_state`` for later
    golden files are not compared)."""
    found = aggregate_state(aggregate)
    assert found["aggregate"] == expected["aggregate"]
    missing = sorted(set(expected["state"]) - set(found["state"]))
    assert not missing, f"{expected['aggregate']} state no longer has {missing}"
    assert {k: found["state"][k] for k in expected["state"]} == expected["state"]


def test_every_event_type_has_a_golden_event() -> None:
    """A stored event of every event type of the current code, and a snapshot of every
    snapshotted aggregate, is in some golden file (so its stored shape is pinned)."""
    topics: set[str] = set()
    snapshots: set[str] = set()
    for name in RELEASES:
        for row in _rows(name):
            if row.get("snapshot"):
                snapshots.add(json.loads(base64.b64decode(row["state"]))["topic"])
            else:
                topics.add(row["topic"])
    classes = persisted_event_classes()
    assert {Image.AssistEdited, Project.JobAttached} <= set(classes)
    assert Image.Event not in classes and Image.Created not in classes
    missing = sorted({get_topic(c) for c in classes} - topics)
    missing += sorted(f"a snapshot of {get_topic(a)}" for a in Labeling.snapshotting_intervals
                      if get_topic(a) not in snapshots)
    assert not missing, (
        f"no golden stored event of {', '.join(missing)}: add a step that records it to "
        f"tests/golden/make_golden.py and write events-v{len(RELEASES) + 1} with `python -m "
        f"tests.golden.make_golden tests/golden/events-v{len(RELEASES) + 1}.jsonl` (never "
        "rewrite an existing golden file)")


@pytest.mark.parametrize("name", RELEASES)
def test_golden_events_replay_to_the_recorded_state(app: Labeling, name: str) -> None:
    rows = _rows(name)
    expected = json.loads((GOLDEN / f"{name}.expected.json").read_text())
    streams: dict[UUID, list] = {}
    snapshots = []
    for row in rows:
        event = app.mapper.to_domain_event(_stored(row))
        if row.get("snapshot"):
            snapshots.append(event)
        else:
            streams.setdefault(event.originator_id, []).append(event)
    image = project = None
    replayed = {}
    for stream_id, events in streams.items():
        aggregate = None
        for event in events:
            aggregate = event.mutate(aggregate)
        replayed[str(stream_id)] = aggregate
        if isinstance(aggregate, Image) and image is None:  # the first image added
            image = aggregate
        if isinstance(aggregate, Project):
            project = aggregate
    assert image is not None and project is not None
    assert image.public_annotations() == expected["image"]
    assert image.status == expected["status"]
    assert {"name": project.name, "classes": project.classes,
            "members": project.members} == expected["project"]
    assert snapshots and all(isinstance(s, Snapshot) for s in snapshots)
    image_snapshots = [s for s in snapshots if s.originator_id == image.id]
    assert len(image_snapshots) == 1
    assert image_snapshots[0].mutate(None).public_annotations() == expected["image"]
    if "aggregates" in expected:  # since v3: every aggregate's state, snapshots' too
        assert sorted(replayed) == sorted(expected["aggregates"])
        for stream_id, aggregate in replayed.items():
            _assert_state(aggregate, expected["aggregates"][stream_id])
        for snapshot in snapshots:
            _assert_state(snapshot.mutate(None),
                          expected["aggregates"][str(snapshot.originator_id)])


@pytest.mark.parametrize("name", RELEASES)
def test_golden_events_load_into_a_store_and_replay(app: Labeling, name: str) -> None:
    rows = _rows(name)
    app.recorder.insert_events([_stored(r) for r in rows if not r.get("snapshot")])
    image_id = next(UUID(r["originator_id"]) for r in rows if r["topic"].endswith("ImageAdded"))
    expected = json.loads((GOLDEN / f"{name}.expected.json").read_text())
    assert app.image(image_id).public_annotations() == expected["image"]
    assert app.image(image_id, version=1).annotations == {}
    for stream_id, state in expected.get("aggregates", {}).items():  # since v3
        _assert_state(app.repository.get(UUID(stream_id)), state)


@pytest.mark.parametrize("name", RELEASES)
def test_assist_clicks_of_every_release_load_in_the_current_shape(app: Labeling,
                                                                   name: str) -> None:
    """AssistClicked v1 (events-v1: no ``output``, no ``model_id``) is upcast to v2 as it
    loads; v2 events are stored with ``class_version`` 2 and load unchanged."""
    rows = _rows(name)
    clicks = [r for r in rows if r["topic"] == "domain.image:Image.AssistClicked"]
    assert clicks
    for row in clicks:
        stored_shape = json.loads(base64.b64decode(row["state"]))
        event = app.mapper.to_domain_event(_stored(row))
        assert isinstance(event, Image.AssistClicked)
        assert {"output", "model_id"} <= set(vars(event))  # history rows show both
        assert "class_version" not in vars(event)
        if "output" not in stored_shape:  # stored at v1, before issue 10
            assert stored_shape.get("class_version", 1) == 1
            assert (event.output, event.model_id) == ("box", None)
        else:
            assert (event.output, event.model_id) == (stored_shape["output"],
                                                      stored_shape["model_id"])
    # The current code stores version 2.
    stored = app.mapper.to_stored_event(event)
    assert json.loads(stored.state)["class_version"] == Image.AssistClicked.class_version == 2
