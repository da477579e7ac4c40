"""Who works on which image: leases handed out by the work queue, and a project's queue
settings (assignments, priority images).

**Leases** live in a stream of their own per image (``ImageLease``, id derived from the image
id), never in the image's stream: an image's version is what clients send as
``base_version``, and a lease taken or renewed there would make every such edit in flight
stale (409) for no change to the labels. The lease stream gives the same guarantee the image
stream would: the event store's unique (stream, version) lets only one of two annotators
racing for an image record ``ImageLeased``; the loser's save fails and they try the next
candidate.

A lease holds until ``expires_at``, and is renewed by its holder's own work: an image event by
the holder after the grant keeps it until that event's time plus the lease's length; an
``ImageSubmitted`` or ``ReviewRecorded`` after the grant ends it. Both are read from the log
(the image stream), so whether a lease holds is a function of the log and the clock alone,
and the ``work_queue`` read model computes the same thing.

**Work queue** (``WorkQueue``, one stream per project, id derived from the project id):
``ImagesAssigned`` (a person's assigned images, replacing the previous list) and
``PriorityQueued`` / ``PriorityCleared`` (images that go first in everyone's queue).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

WORK_NAMESPACE = UUID("2b7f5d4e-9c1a-4f3b-8e6d-0a5c7b9e1f24")
ENDING_EVENTS = frozenset({"ImageSubmitted", "ReviewRecorded", "ImageReopened"})
"""Image events that end the lease of the image they happen to (the work is handed on; a
reopened image goes back to the annotation queue, to whoever submitted it first)."""


def lease_id(image_id: str | UUID) -> UUID:
    return uuid5(WORK_NAMESPACE, f"lease:{image_id}")


def work_queue_id(project_id: str | UUID) -> UUID:
    return uuid5(WORK_NAMESPACE, f"queue:{project_id}")


@dataclass(frozen=True, slots=True)
class ImageActivity:
    """What a lease needs to know of an image event: its type name, actor and time."""

    type: str
    actor: str | None
    at: datetime
    version: int = 0  # the event's version in the image stream


class ImageLease(Aggregate):
    """The leases of one image, one after the other."""

    class LeaseOpened(Aggregate.Created):
        project_id: str
        image_id: str
        actor: str
        command_id: str | None

    class Event(Aggregate.Event):
        actor: str
        command_id: str | None

    class ImageLeased(Event):
        """``username`` is handed the image until ``expires_at`` (ISO 8601, UTC); work of
        theirs on the image renews it for ``seconds``."""

        image_id: str
        username: str
        expires_at: str
        seconds: int

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, ImageLease)
            aggregate.holder = self.username
            aggregate.granted_at = self.timestamp
            aggregate.expires_at = datetime.fromisoformat(self.expires_at)
            aggregate.seconds = self.seconds

    class LeaseReleased(Event):
        """The holder gave the image back without finishing it (skipped it): it is not
        handed to them again until ``skipped_until``; anyone else may take it at once."""

        image_id: str
        username: str
        skipped_until: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, ImageLease)
            aggregate.holder = None
            aggregate.skipped_by = self.username
            aggregate.skipped_until = datetime.fromisoformat(self.skipped_until)

    def __init__(self, project_id: str, image_id: str, actor: str,
                 command_id: str | None) -> None:
        self.project_id = project_id
        self.image_id = image_id
        self.holder: str | None = None
        self.granted_at: datetime | None = None
        self.expires_at: datetime | None = None
        self.seconds = 0
        self.skipped_by: str | None = None
        self.skipped_until: datetime | None = None

    @classmethod
    def open(cls, project_id: str, image_id: str, actor: str) -> ImageLease:
        return cls._create(cls.LeaseOpened, id=lease_id(image_id), project_id=project_id,
                           image_id=image_id, actor=actor, command_id=None)

    def grant(self, username: str, now: datetime, seconds: int) -> None:
        expires = now + timedelta(seconds=seconds)
        self.trigger_event(self.ImageLeased, image_id=self.image_id, username=username,
                           expires_at=expires.isoformat(), seconds=seconds, actor=username,
                           command_id=None)

    def release(self, username: str, now: datetime) -> None:
        """``username`` skips the image they hold (nothing happens if they do not)."""
        if self.holder == username:
            until = now + timedelta(seconds=self.seconds)
            self.trigger_event(self.LeaseReleased, image_id=self.image_id, username=username,
                               skipped_until=until.isoformat(), actor=username,
                               command_id=None)

    def skipped_by_until(self, username: str, now: datetime) -> bool:
        """True while ``username`` skipped this image (not to be handed to them)."""
        return (self.skipped_by == username and self.skipped_until is not None
                and now < self.skipped_until)

    def held_until(self, activity: Iterable[ImageActivity]) -> datetime | None:
        """Until when the current lease holds, given the image's events (any order; only
        those after the grant count); None when there is no lease or it was ended."""
        if self.holder is None or self.granted_at is None or self.expires_at is None:
            return None
        until = self.expires_at
        for event in activity:
            if event.at < self.granted_at:
                continue
            if event.type in ENDING_EVENTS:
                return None
            if event.actor == self.holder:
                until = max(until, event.at + timedelta(seconds=self.seconds))
        return until

    def holds_for(self, now: datetime, activity: Iterable[ImageActivity]) -> str | None:
        """Who holds the image at ``now``: the holder's name, or None."""
        until = self.held_until(activity)
        return self.holder if until is not None and now < until else None


class WorkQueue(Aggregate):
    """A project's queue settings: who is assigned what, which images go first."""

    class QueueOpened(Aggregate.Created):
        project_id: str
        actor: str
        command_id: str | None

    class Event(Aggregate.Event):
        project_id: str
        actor: str
        command_id: str | None

    class ImagesAssigned(Event):
        """``username``'s assigned images are now ``image_ids`` (in this order)."""

        username: str
        image_ids: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, WorkQueue)
            if self.image_ids:
                aggregate.assignments[self.username] = list(self.image_ids)
            else:
                aggregate.assignments.pop(self.username, None)

    class PriorityQueued(Event):
        """``image_ids`` go to the end of the priority list (those already on it stay)."""

        image_ids: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, WorkQueue)
            known = set(aggregate.priority)
            aggregate.priority = [*aggregate.priority,
                                  *(i for i in self.image_ids if i not in known)]

    class PriorityCleared(Event):
        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, WorkQueue)
            aggregate.priority = []

    def __init__(self, project_id: str, actor: str, command_id: str | None) -> None:
        self.project_id = project_id
        self.assignments: dict[str, list[str]] = {}
        self.priority: list[str] = []

    @classmethod
    def open(cls, project_id: str, actor: str) -> WorkQueue:
        return cls._create(cls.QueueOpened, id=work_queue_id(project_id),
                           project_id=project_id, actor=actor, command_id=None)

    def assign(self, username: str, image_ids: list[str], actor: str) -> None:
        if self.assignments.get(username, []) != image_ids:
            self.trigger_event(self.ImagesAssigned, project_id=self.project_id,
                               username=username, image_ids=image_ids, actor=actor,
                               command_id=None)

    def prioritise(self, image_ids: list[str], actor: str) -> None:
        known = set(self.priority)
        fresh = list(dict.fromkeys(i for i in image_ids if i not in known))
        if fresh:
            self.trigger_event(self.PriorityQueued, project_id=self.project_id,
                               image_ids=fresh, actor=actor, command_id=None)

    def clear_priority(self, actor: str) -> None:
        if self.priority:
            self.trigger_event(self.PriorityCleared, project_id=self.project_id, actor=actor,
                               command_id=None)

    def describe(self) -> dict[str, Any]:
        return {"priority": list(self.priority),
                "assignments": {u: list(ids) for u, ids in self.assignments.items()}}
