"""Every event of many streams in one round trip, decoded, oldest first per stream.

For reads that need the whole history of many images at once: a model evaluation reads, for
each of a thousand images, the model's proposals and the state as of a position. One query per
stream costs a round trip each, which on PostgreSQL made 1,000 images take ~5 s; one query per
``CHUNK`` streams (the command pipeline's bulk loader's query, ``StreamLoader._select``) takes
a few. The events are the domain events the repository would replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from domain.application import Labeling
from event_store.stream_loader import CHUNK, StreamLoader
from event_store.table import EventTable


def stream_events(app: Labeling, stream_ids: Sequence[UUID]) -> dict[UUID, list[Any]]:
    """``{stream id: [event, ...]}`` (version order) for each of ``stream_ids`` that exists."""
    table = EventTable(app.recorder)
    to_event = app.mapper.to_domain_event
    out: dict[UUID, list[Any]] = {}
    ids = list(stream_ids)
    for start in range(0, len(ids), CHUNK):
        for stored in StreamLoader._select(table, ids[start:start + CHUNK]):
            stream = stored.originator_id
            key = stream if isinstance(stream, UUID) else UUID(stream)
            out.setdefault(key, []).append(to_event(stored))
    return out
