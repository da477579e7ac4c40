"""Events stored by released versions must keep loading (topics, field names, encodings).

Every ``tests/golden/events-v*.jsonl`` (one per released schema, never regenerated; written
by ``tests/golden/make_golden.py``) is replayed by every later version of the code to the
state its ``.expected.json`` recorded. An event whose shape changed (``class_version`` and an
``upcast_vN_vN+1``, docs/operations.md "Changing an event") must still load from the older
files, and load in the new shape.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent

from domain.application import Labeling
from domain.image import Image
from domain.project import Project

GOLDEN = Path(__file__).parent.parent / "golden"


@pytest.fixture()
def app(tmp_path: Path) -> Labeling:
    return Labeling(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(tmp_path / "events.sqlite")})


def _stored(row: dict) -> StoredEvent:
    return StoredEvent(originator_id=UUID(row["originator_id"]),
                       originator_version=row["originator_version"], topic=row["topic"],
                       state=base64.b64decode(row["state"]))


RELEASES = sorted(p.name.removesuffix(".jsonl") for p in GOLDEN.glob("events-v*.jsonl"))


def test_there_is_a_golden_file_per_release() -> None:
    assert RELEASES[:2] == ["events-v1", "events-v2"]
    for name in RELEASES:
        assert (GOLDEN / f"{name}.expected.json").is_file()


@pytest.mark.parametrize("name", RELEASES)
def test_golden_events_replay_to_the_recorded_state(app: Labeling, name: str) -> None:
    rows = [json.loads(line) for line in (GOLDEN / f"{name}.jsonl").read_text().splitlines()]
    expected = json.loads((GOLDEN / f"{name}.expected.json").read_text())
    streams: dict[UUID, list] = {}
    snapshot = None
    for row in rows:
        event = app.mapper.to_domain_event(_stored(row))
        if row.get("snapshot"):
            snapshot = event
        else:
            streams.setdefault(event.originator_id, []).append(event)
    image = project = None
    for events in streams.values():
        aggregate = None
        for event in events:
            aggregate = event.mutate(aggregate)
        if isinstance(aggregate, Image):
            image = aggregate
        if isinstance(aggregate, Project):
            project = aggregate
    assert image is not None and project is not None
    assert image.public_annotations() == expected["image"]
    assert image.status == expected["status"]
    assert {"name": project.name, "classes": project.classes,
            "members": project.members} == expected["project"]
    assert isinstance(snapshot, Snapshot)
    restored = snapshot.mutate(None)
    assert restored.public_annotations() == expected["image"]


@pytest.mark.parametrize("name", RELEASES)
def test_golden_events_load_into_a_store_and_replay(app: Labeling, name: str) -> None:
    rows = [json.loads(line) for line in (GOLDEN / f"{name}.jsonl").read_text().splitlines()]
    app.recorder.insert_events([_stored(r) for r in rows if not r.get("snapshot")])
    image_id = next(UUID(r["originator_id"]) for r in rows if r["topic"].endswith("ImageAdded"))
    expected = json.loads((GOLDEN / f"{name}.expected.json").read_text())
    assert app.image(image_id).public_annotations() == expected["image"]
    assert app.image(image_id, version=1).annotations == {}


@pytest.mark.parametrize("name", RELEASES)
def test_assist_clicks_of_every_release_load_in_the_current_shape(app: Labeling,
                                                                   name: str) -> None:
    """AssistClicked v1 (events-v1: no ``output``, no ``model_id``) is upcast to v2 as it
    loads; v2 events are stored with ``class_version`` 2 and load unchanged."""
    rows = [json.loads(line) for line in (GOLDEN / f"{name}.jsonl").read_text().splitlines()]
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
