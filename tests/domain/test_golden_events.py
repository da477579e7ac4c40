"""Events stored by released versions must keep loading (topics, field names, encodings)."""

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


@pytest.mark.parametrize("name", ["events-v1"])
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


def test_golden_events_load_into_a_store_and_replay(app: Labeling) -> None:
    rows = [json.loads(line) for line in (GOLDEN / "events-v1.jsonl").read_text().splitlines()]
    app.recorder.insert_events([_stored(r) for r in rows if not r.get("snapshot")])
    image_id = next(UUID(r["originator_id"]) for r in rows if r["topic"].endswith("ImageAdded"))
    expected = json.loads((GOLDEN / "events-v1.expected.json").read_text())
    assert app.image(image_id).public_annotations() == expected["image"]
    assert app.image(image_id, version=1).annotations == {}
