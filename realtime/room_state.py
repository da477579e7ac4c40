"""What a joining client is sent, read from the stores: access, current state, missed events.

Blocking reads (call them from a worker thread). An image room's state comes from the event
store itself (the aggregate, replayed from its latest snapshot), never from a read model that
might lag, and carries the exact global position of the image's last event. A project room's
per-status counts come from the ``image_labels`` read model, read in one statement together
with that projection's own position, so the counts and the position always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.application import Labeling
from domain.command_pipeline import PositionLookup
from domain.errors import NotFound, ValidationFailed
from domain.event_view import describe
from domain.image import IMAGE_STATUSES
from domain.roles import require_for
from event_store.positions import log_head
from event_store.table import EventTable
from projections.read_models import ReadModels
from realtime.protocol import Room, event_message, image_room
from realtime.room_feed import RoomMessage

# More missed events than this and a resuming client gets the full state instead: cheaper
# for both sides than thousands of single events.
MAX_REPLAY = 5000
COUNTS_PROJECTION = "image_labels"


@dataclass(frozen=True, slots=True)
class ImageState:
    version: int
    position: int
    status: str
    annotations: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class MissedEvents:
    """The events of an image after some position (``messages``), and where they end."""

    messages: list[RoomMessage]
    version: int  # the image's version after the last of them
    position: int  # the position they cover up to


@dataclass(frozen=True, slots=True)
class ProjectState:
    position: int
    counts: dict[str, int]


class RoomState:
    """Store reads for joining rooms."""

    def __init__(self, app: Labeling, positions: PositionLookup, read: ReadModels) -> None:
        self.app = app
        self.positions = positions
        self.read = read
        self.events = EventTable(app.recorder)

    # -- access -----------------------------------------------------------------------------

    def authorize(self, room: Room, username: str, is_admin: bool) -> str:
        """The room's project id, if ``username`` may join the room (``join_room`` rule)."""
        project_id = str(room.id) if room.kind == "project" else self.project_of_image(room.id)
        project = self.app.project(project_id)  # NotFound
        require_for("join_room", project.role_of(username), is_admin=is_admin)
        return project_id

    def project_of_image(self, image_id: UUID) -> str:
        try:
            return self.app.image_added(image_id).project_id
        except NotFound:
            raise NotFound(f"no image {image_id}", {"field": "room"}) from None

    # -- image rooms ------------------------------------------------------------------------

    def image_state(self, image_id: UUID) -> ImageState:
        image = self.app.image(image_id)
        position = self.positions(image_id, [image.version])[image.version]
        return ImageState(image.version, position, image.status, image.public_annotations())

    def missed_events(self, image_id: UUID, after: int, limit: int = MAX_REPLAY
                      ) -> MissedEvents | None:
        """The image's events with position > ``after``, in order; None if more than
        ``limit`` (the caller sends the full state instead)."""
        head = log_head(self.app)
        if after > head:
            raise ValidationFailed(f"after_position {after} is beyond the log's head {head}",
                                   {"field": "after_position", "head": head})
        # One query for the events and their positions (the resume path is timed).
        rows = self._rows_after(image_id, after, limit + 1)
        if len(rows) > limit:
            return None
        if not rows:
            # Nothing missed: the stream ends at or before ``after``.
            _, version_then = self._versions_around(image_id, after)
            return MissedEvents([], version_then or 0, after)
        to_event = self.app.mapper.to_domain_event
        room = image_room(image_id)
        messages = []
        for position, version, topic, state in rows:
            event = to_event(StoredEvent(originator_id=image_id, originator_version=version,
                                         topic=topic, state=bytes(state)))
            messages.append(RoomMessage(room, int(position),
                                        event_message(room, describe(event, int(position)))))
        return MissedEvents(messages, int(rows[-1][1]), messages[-1].position)

    def _rows_after(self, image_id: UUID, after: int, limit: int) -> list[tuple[Any, ...]]:
        """``(position, version, topic, state)`` of the image's events after ``after``."""
        return self.events.select(
            "SELECT {position}, originator_version, topic, state FROM {table} "
            "WHERE originator_id = ? AND {position} > ? ORDER BY originator_version LIMIT ?",
            (self.events.stream_id(image_id), after, limit))

    def _versions_around(self, image_id: UUID, after: int) -> tuple[int | None, int | None]:
        """(first version after position ``after``, last version at or before it), read in
        one statement so both describe the same moment."""
        rows = self.events.select(
            "SELECT MIN(CASE WHEN {position} > ? THEN originator_version END), "
            "MAX(CASE WHEN {position} <= ? THEN originator_version END) "
            "FROM {table} WHERE originator_id = ?",
            (after, after, self.events.stream_id(image_id)))
        if not rows:
            return None, None
        first, last = rows[0]
        return (None if first is None else int(first), None if last is None else int(last))

    # -- project rooms ----------------------------------------------------------------------

    def project_state(self, project_id: str, at_least: int, timeout: float = 5.0
                      ) -> ProjectState | None:
        """Per-status image counts as of a position ≥ ``at_least`` (None: the read model did
        not get there in time)."""
        if not self.read.wait_for(at_least, timeout):
            return None
        # One statement, so the counts and the projection's position come from one snapshot.
        rows = self.read.db.query(
            "SELECT 'position', position FROM projection_tracking WHERE name = ? "
            "UNION ALL SELECT status, n FROM image_status_counts WHERE project_id = ?",
            (COUNTS_PROJECTION, project_id))
        counts = dict.fromkeys(IMAGE_STATUSES, 0)
        position = 0
        for key, value in rows:
            if key == "position":
                position = int(value)
            else:
                counts[str(key)] = int(value)
        return ProjectState(position, counts)

