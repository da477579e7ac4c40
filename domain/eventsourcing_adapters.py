"""The write model's reliance on eventsourcing internals, each in one small adapter.

The command writer (``domain.command_pipeline``) goes around ``Application.save`` for speed
and relies on three things the library does not promise as API. Each lives here, and
``tests/domain/test_eventsourcing_adapters.py`` pins the behaviour it needs, so that an
upgrade which changes it fails there, loudly, instead of corrupting a batch:

1. :class:`Checkpoint` — rolling an aggregate back after a failed command of a batch by
   restoring its ``__dict__`` from shallow copies of its containers. Needs: all of an
   aggregate's state (``_id``, ``_version``, ``_pending_events``, our attributes) lives in the
   instance ``__dict__`` (no ``__slots__``, no state elsewhere), pending events are a list
   there, and ``trigger_event`` only appends to it and sets attributes.
2. :func:`insert_events` — one transaction for many aggregates' events through the recorder:
   ``app.mapper.to_stored_event`` and ``app.recorder.insert_events``, which must return the
   global positions (notification ids) it assigned, one per event, in order, and raise
   ``IntegrityError`` (storing nothing) when a (stream, version) is taken.
3. :func:`take_snapshot` — a snapshot made by hand (``Aggregate.Snapshot.take`` +
   ``app.snapshots.put``) that the application's repository then loads from.

Only the library is imported here (no I/O of our own); the application object is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

# The release these adapters were verified against (tests/domain/test_eventsourcing_adapters.py
# fails on any other, naming what to re-check).
VERIFIED_WITH = "9.5.6"


def library_version() -> str:
    return version("eventsourcing")


class Checkpoint:
    """The state of an aggregate at one moment, to restore if what follows fails.

    Event handlers must replace, never mutate in place, the dicts and lists they change
    below the top level (``Image.Event.touch`` replaces an annotation's dict): the copies are
    shallow, which is what makes a checkpoint cheap."""

    __slots__ = ("_aggregate", "_state")

    def __init__(self, aggregate: Aggregate) -> None:
        self._aggregate = aggregate
        self._state = {k: (v.copy() if isinstance(v, (dict, list)) else v)
                       for k, v in aggregate.__dict__.items()}

    def restore(self) -> None:
        """Put the aggregate back as it was (version, pending events, every attribute)."""
        state = self._aggregate.__dict__
        state.clear()
        state.update(self._state)


def insert_events(app: Application[Any], events: Sequence[Any]) -> list[int]:
    """Append ``events`` (of any aggregates) in one transaction; their global positions, in
    order. ``IntegrityError`` if any (stream, version) is taken: then nothing was stored.

    The recorder directly rather than ``app.events.put``, which also builds a ``Recording``
    and a ``Notification`` per event that the writer does not read, and rather than
    ``app.save``, which takes aggregates, not a mixed batch of their collected events."""
    mapper = app.mapper
    positions = app.recorder.insert_events([mapper.to_stored_event(e) for e in events])
    if positions is None or len(positions) != len(events):
        raise RuntimeError("the event store did not report the positions it assigned")
    return list(positions)


def take_snapshot(app: Application[Any], aggregate: Aggregate) -> bool:
    """Store a snapshot of ``aggregate`` at its current version (its events must be stored
    already); False if the application keeps no snapshots."""
    if app.snapshots is None:
        return False
    app.snapshots.put([type(aggregate).Snapshot.take(aggregate)])
    return True
