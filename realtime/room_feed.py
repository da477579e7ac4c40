"""What each event of the log means for the rooms: ``event`` messages and dashboard changes.

Every image event becomes one ``{"op":"event"}`` message in its ``image:<id>`` room. An image
event that changes the image's status or its number of annotations also becomes one
``{"op":"image_changed"}`` message in the ``project:<id>`` room of the image's project, so a
dashboard can keep per-status counts without reading every edit.

Every job event (queued, started, a shard done, finished, failed, cancelled) becomes one
``{"op":"job","job":{...}}`` message (``Job.describe()`` as of that event) in its project's
room: progress written by any worker process reaches every node's rooms through the log.

Status and count come from the domain's own rules: the feed keeps a small cache of Image
aggregates and moves them forward with the events it sees (``event.mutate``), so it never
re-implements what ``Image`` decides.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.application import Labeling
from domain.event_view import describe
from domain.image import Image
from domain.job import Job
from projections.image_events import is_image_event
from realtime.protocol import encode, event_message, image_room, project_room

log = logging.getLogger(__name__)

IMAGE_CACHE_SIZE = 512
JOB_CACHE_SIZE = 64


@dataclass(frozen=True, slots=True)
class RoomMessage:
    """A message for everyone in ``room``, already encoded; ``position`` orders it."""

    room: str
    position: int
    text: str


class RoomFeed:
    """Turns decoded events (with their global positions) into room messages.

    Not thread-safe: one log tail owns it.
    """

    def __init__(self, app: Labeling, cache_size: int = IMAGE_CACHE_SIZE,
                 watched: Callable[[str], bool] | None = None,
                 any_project_watched: Callable[[], bool] | None = None) -> None:
        self.app = app
        # Nobody in the room, no message: decoding is all an unwatched event costs.
        self.watched = watched or (lambda room: True)
        self.any_project_watched = any_project_watched or (lambda: True)
        self._images: OrderedDict[UUID, Image] = OrderedDict()
        self._jobs: OrderedDict[UUID, Job] = OrderedDict()
        self._cache_size = cache_size

    def wants(self, originator_id: UUID | str) -> bool:
        """Whether an event of this stream can make a message now; when not, the log tail
        skips decoding it (an import of thousands of pre-labels nobody is watching)."""
        return self.any_project_watched() or self.watched(image_room(originator_id))

    def messages(self, position: int, event: Any) -> list[RoomMessage]:
        if not is_image_event(event):
            if isinstance(event, Job.JobQueued | Job.Event):
                job = self._job_message(position, event)
                return [job] if job is not None else []
            return []
        iid: UUID = event.originator_id
        room = image_room(iid)
        out = []
        if self.watched(room):
            out.append(RoomMessage(room, position,
                                   event_message(room, describe(event, position))))
        if self.any_project_watched():
            change = self._image_change(position, event)
            if change is not None and self.watched(change.room):
                out.append(change)
        return out

    def _image_change(self, position: int, event: Any) -> RoomMessage | None:
        iid: UUID = event.originator_id
        before = self._image_before(iid, event)
        if before is None and not isinstance(event, Image.ImageAdded):
            return None
        old_status = before.status if before is not None else None
        old_count = len(before.annotations) if before is not None else 0
        try:
            image = event.mutate(before)
        except Exception:
            # The cache disagrees with the log (should not happen): forget it and reload next
            # time; only the dashboard message of this event is lost, never an image event.
            log.exception("room feed: could not apply event %s to image %s", position, iid)
            self._images.pop(iid, None)
            return None
        self._remember(iid, image)
        if image.status == old_status and len(image.annotations) == old_count:
            return None
        room = project_room(image.project_id)
        return RoomMessage(room, position, encode({
            "op": "image_changed", "room": room, "position": position,
            "image_id": str(iid), "version": image.version, "status": image.status,
            "previous_status": old_status, "annotation_count": len(image.annotations),
        }))

    def _job_message(self, position: int, event: Any) -> RoomMessage | None:
        """The job as of ``event``, for its project's room (None if nobody is there)."""
        jid: UUID = event.originator_id
        before = self._jobs.get(jid)
        try:
            if event.originator_version == 1:
                job = event.mutate(None)
            elif before is not None and before.version == event.originator_version - 1:
                job = event.mutate(before)
            else:
                job = self.app.repository.get(jid, version=event.originator_version)
        except Exception:
            log.exception("room feed: could not follow job %s to position %d", jid, position)
            self._jobs.pop(jid, None)
            return None
        self._jobs[jid] = job
        self._jobs.move_to_end(jid)
        while len(self._jobs) > JOB_CACHE_SIZE:
            self._jobs.popitem(last=False)
        room = project_room(job.project_id)
        if not self.watched(room):
            return None
        return RoomMessage(room, position, encode({
            "op": "job", "room": room, "position": position, "job": job.describe()}))

    def _image_before(self, iid: UUID, event: Any) -> Image | None:
        """The image just before ``event`` (None before its first event)."""
        version = event.originator_version
        if version == 1:
            return None
        image = self._images.get(iid)
        if image is not None and image.version == version - 1:
            self._images.move_to_end(iid)
            return image
        try:
            return self.app.image(iid, version=version - 1)
        except Exception:
            log.exception("room feed: could not load image %s at version %d", iid, version - 1)
            return None

    def _remember(self, iid: UUID, image: Image) -> None:
        self._images[iid] = image
        self._images.move_to_end(iid)
        while len(self._images) > self._cache_size:
            self._images.popitem(last=False)
