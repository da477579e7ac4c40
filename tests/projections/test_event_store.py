"""The PostgreSQL recorder's batch insert (``event_store.postgres_recorder``): positions in
insert order, all-or-nothing on a clash, and rows the stock eventsourcing recorder reads the
same."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from domain.application import Labeling
from event_store.postgres_recorder import ArrayInsertRecorder
from tests.projections.conftest import Backends
from tests.projections.workload import postgres_env

pytestmark = pytest.mark.postgres


def stored(stream: uuid.UUID, version: int, body: bytes = b'{"k": 1}') -> StoredEvent:
    return StoredEvent(originator_id=stream, originator_version=version, topic="t:T",
                       state=body)


def test_batch_positions_follow_the_batch_order(pg_backends: Backends) -> None:
    assert pg_backends.dbname is not None
    app = Labeling(env=postgres_env(pg_backends.dbname))
    try:
        recorder = app.recorder
        assert isinstance(recorder, ArrayInsertRecorder)
        streams = [uuid.uuid4() for _ in range(300)]
        batch = [stored(s, v, f'{{"n": {i}}}'.encode() + b"\x00\xff")
                 for i, (s, v) in enumerate((s, v) for s in streams for v in (1, 2, 3))]
        positions = recorder.insert_events(batch)
        assert positions is not None and len(positions) == len(batch)
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        by_position = {n.id: n for n in recorder.select_notifications(start=1, limit=10_000)}
        for event, position in zip(batch, positions, strict=True):
            n = by_position[position]
            assert (n.originator_id, n.originator_version, n.topic, bytes(n.state)) == (
                event.originator_id, event.originator_version, event.topic, event.state)

        # A clash on one event stores none of its batch.
        head = recorder.max_notification_id()
        with pytest.raises(IntegrityError):
            recorder.insert_events([stored(uuid.uuid4(), 1), stored(streams[0], 2)])
        assert recorder.max_notification_id() == head
        assert len(recorder.select_notifications(start=1, limit=10_000)) == len(batch)
    finally:
        app.close()

    # eventsourcing's own recorder reads what this one wrote.
    env = {k: v for k, v in postgres_env(pg_backends.dbname).items()
           if k != "APPLICATION_RECORDER_TOPIC"}
    stock = Labeling(env=env)
    try:
        assert type(stock.recorder) is not ArrayInsertRecorder
        events = stock.recorder.select_events(streams[7])
        assert [e.originator_version for e in events] == [1, 2, 3]
    finally:
        stock.close()
