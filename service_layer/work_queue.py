"""The work queue of a team: hand each person a different image, as a lease recorded in the
log (``POST /projects/{id}/queue/next``), and the manager's assignments and priority images.

Order of what ``next`` hands out (the first free image of the first tier that has one):

* the label queue (annotators, managers, admins): images assigned to the caller (``new``,
  ``in_progress`` or ``rejected``), then rejected images the caller submitted, then the
  priority images that are ``new``, then the project's ``new`` images in the order they were
  added (``order: "default"``) or ranked by an active-learning strategy over a model's scores
  (``order: "selection"``; images the model did not rank follow in the default order);
* the review queue (reviewers; others ask with ``"queue": "review"``): the same tiers over
  ``submitted`` images (no "returned" tier).

A person holds at most one lease per project through this call: asking again while it
holds renews it and answers the same image. Leases are ``ImageLease`` streams
(``domain.work_queue``, why not the image stream: docs/adr/0004-work-queue-leases.md).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.application import Labeling, parse_uuid
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.project import Project
from domain.work_queue import (
    ENDING_EVENTS,
    ImageActivity,
    ImageLease,
    WorkQueue,
    lease_id,
    work_queue_id,
)
from event_store.positions import log_head
from projections.read_models import ReadModels
from projections.work_queue_reads import Candidate, QueueReads
from service_layer.selection import DEFAULT_STRATEGY, STRATEGIES

ORDERS = ("default", "selection")
QUEUES = ("label", "review")
DEFAULT_LEASE_SECONDS = 15 * 60
MAX_LISTED = 10_000  # image ids in one assignment or priority request
MAX_PRIORITY = 100_000  # images on a project's priority list
CANDIDATES = 16  # candidates read per query; racing for them rarely needs a second read
RANKING_SECONDS = 30.0  # how long a strategy's ranking is reused before it is asked again
ACTIVITY_SCAN = 50  # image events read back to renew or end a lease
SAVE_RETRIES = 20
WAIT_SECONDS = 2.0  # the most a call waits for the read models to catch up

NEXT_FIELDS = frozenset({"order", "model_id", "strategy", "queue", "skip"})
LABEL_WORK = ("new", "in_progress", "rejected")  # assigned images an annotator can work on

Ranker = Callable[[str, str, str], Sequence[str]]
"""``(project_id, model_id, strategy) -> image ids, most informative first`` (the images the
model scored that are not labeled yet). Raises ValidationFailed for a model never scored."""


@dataclass(frozen=True, slots=True)
class NextRequest:
    """A parsed ``queue/next`` body."""

    order: str = "default"
    model_id: str | None = None
    strategy: str | None = None
    queue: str | None = None
    skip: str | None = None


@dataclass(frozen=True, slots=True)
class Handed:
    """An image handed to someone: its id, the lease's expiry and the log position."""

    image_id: str
    expires_at: datetime
    position: int | None


def _text(raw: dict[str, Any], field: str, allowed: Sequence[str] | None = None) -> str | None:
    value = raw.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value or (allowed is not None and value not in allowed):
        details: dict[str, Any] = {"field": field}
        if allowed is not None:
            details["allowed"] = list(allowed)
            raise ValidationFailed(f"{field} must be one of {', '.join(allowed)}", details)
        raise ValidationFailed(f"{field} must be a non-empty string", details)
    return value


def _unexpected(raw: dict[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise ValidationFailed(f"unexpected field {extra[0]!r}",
                               {"field": extra[0], "allowed": sorted(allowed)})


def parse_next(raw: object) -> NextRequest:
    """Validate a ``queue/next`` body (an empty body is ``{}``)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationFailed("the request body must be a JSON object")
    _unexpected(raw, NEXT_FIELDS)
    order = _text(raw, "order", ORDERS) or "default"
    model_id = _text(raw, "model_id")
    strategy = _text(raw, "strategy", STRATEGIES)
    if order == "selection" and model_id is None:
        raise ValidationFailed("order \"selection\" ranks images by a model's scores: name "
                               "the model (model_id)", {"field": "model_id"})
    if order == "default" and (model_id is not None or strategy is not None):
        field = "model_id" if model_id is not None else "strategy"
        raise ValidationFailed(f"{field} is only for order \"selection\"", {"field": field})
    skip = _text(raw, "skip")
    if skip is not None:
        _uuid(skip, "skip")
    return NextRequest(order=order, model_id=model_id, strategy=strategy,
                       queue=_text(raw, "queue", QUEUES), skip=skip)


def _uuid(raw: str, field: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise ValidationFailed(f"{field}: {raw[:60]!r} is not an image id",
                               {"field": field}) from None


def parse_image_ids(raw: object, field: str = "image_ids") -> list[str]:
    """A list of distinct image ids (at most ``MAX_LISTED``)."""
    if not isinstance(raw, list):
        raise ValidationFailed(f"{field} must be a list of image ids", {"field": field})
    if len(raw) > MAX_LISTED:
        raise ValidationFailed(f"{field} lists at most {MAX_LISTED:,} images",
                               {"field": field, "limit": MAX_LISTED})
    out: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(raw):
        if not isinstance(value, str):
            raise ValidationFailed(f"{field}[{i}] must be an image id", {"field": f"{field}[{i}]"})
        canonical = str(_uuid(value, f"{field}[{i}]"))
        if canonical in seen:
            raise ValidationFailed(f"{field}[{i}] lists an image twice",
                                   {"field": f"{field}[{i}]"})
        seen.add(canonical)
        out.append(canonical)
    return out


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class WorkQueueService:
    """Hands out images under leases; records assignments and priority images."""

    def __init__(self, app: Labeling, read: ReadModels, *,
                 lease_seconds: int = DEFAULT_LEASE_SECONDS, ranker: Ranker | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.read = read
        self.reads = QueueReads(read.db)
        self.lease_seconds = lease_seconds
        self.ranker = ranker
        self.clock = clock
        self._people: dict[tuple[str, str], threading.Lock] = {}
        self._people_lock = threading.Lock()
        self._rankings: dict[tuple[str, str, str], tuple[float, list[str]]] = {}
        # Images a request of this process is leasing at this moment: people pressing "next"
        # together go to different candidates instead of all racing for the first one (the
        # lease stream still decides between processes).
        self._taking: set[str] = set()
        self._taking_lock = threading.Lock()
        # The image each person was last handed here, until the read model shows the lease.
        self._last: dict[tuple[str, str], str] = {}

    def overview(self, project: Project) -> dict[str, Any]:
        """Who holds what in ``project``: active leases, assignments, priority (read model).
        Role checks are the caller's."""
        leases, assignments, priority = self.reads.overview(str(project.id), self.clock())
        return {"leases": [{"image_id": image_id, "username": username,
                            "expires_at": _utc(expires).isoformat()}
                           for image_id, username, expires in leases],
                "assignments": [{"username": username, "image_ids": ids}
                                 for username, ids in assignments],
                "priority": priority}

    # -- handing out ------------------------------------------------------------------------

    def queue_of(self, project: Project, username: str, asked: str | None) -> str:
        """The queue a request serves: the one asked for, else reviewers review."""
        if asked is not None:
            return asked
        return "review" if project.role_of(username) == "reviewer" else "label"

    def next_image(self, project: Project, username: str, request: NextRequest,
                   queue: str) -> Handed | None:
        """Hand ``username`` an image of ``queue`` (their current one while it holds), or
        None when nothing is left. Role checks are the caller's."""
        project_id = str(project.id)
        ranked = self._ranking(project, request) if request.order == "selection" else None
        with self._person(project_id, username):
            now = self.clock()
            if request.skip is not None:
                self._skip(project_id, request.skip, username, now)
            mine = self._current(project_id, username, queue, now)
            if mine is not None:
                return self._lease(project_id, mine, username, now)
            # The read models' position BEFORE the candidates are read: read after, it could
            # include a batch applied between the two, and a 204 would then rest on rows
            # that missed that batch (an image added a moment ago).
            queried_at = self.read.runner.position
            handed = self._first_free(project_id, username, queue, ranked, now)
            if handed is None and queried_at < log_head(self.app):
                # "Nothing left" is said by read models that saw everything written before
                # this call (images just added, an image just rejected or reopened).
                self.read.wait_for(log_head(self.app), timeout=WAIT_SECONDS)
                handed = self._first_free(project_id, username, queue, ranked, self.clock())
            if handed is not None:
                self._last[(project_id, username)] = handed.image_id
            return handed

    def _first_free(self, project_id: str, username: str, queue: str,
                    ranked: list[str] | None, now: float) -> Handed | None:
        for candidate, seen in self._candidates(project_id, username, queue, ranked, now):
            with self._taking_lock:
                if candidate in self._taking:
                    continue  # another request of this process is leasing it right now
                self._taking.add(candidate)
            try:
                handed = self._lease(project_id, candidate, username, now, seen=seen)
            finally:
                with self._taking_lock:
                    self._taking.discard(candidate)
            if handed is not None:
                return handed
        return None

    def _current(self, project_id: str, username: str, queue: str, now: float) -> str | None:
        statuses = ("submitted",) if queue == "review" else LABEL_WORK
        held = self.reads.held(project_id, username, now)
        last = self._last.get((project_id, username))
        if last is not None and last not in held:
            held.insert(0, last)  # taken a moment ago: the read model may not show it yet
        for image_id in held:
            if self.reads.status_of(image_id) not in statuses:
                continue
            lease = self._load_lease(image_id)
            if lease is not None and lease.holds_for(_utc(now), self._activity(lease)) == username:
                return image_id
        return None

    def _candidates(self, project_id: str, username: str, queue: str,
                    ranked: list[str] | None, now: float) -> Iterator[Candidate]:
        """Images to try (with the version the read model knew), best first; the same image
        is never offered twice."""
        offered: set[str] = set()
        status = "submitted" if queue == "review" else "new"
        assigned = (status,) if queue == "review" else LABEL_WORK

        def fresh(found: Sequence[Candidate]) -> list[Candidate]:
            out = [c for c in found if c[0] not in offered]
            offered.update(c[0] for c in out)
            return out

        yield from self._paged(lambda n: self.reads.assigned(project_id, username, assigned,
                                                             now, n), fresh)
        if queue == "label":
            yield from self._paged(lambda n: self.reads.returned(project_id, username, now, n),
                                   fresh)
        yield from self._paged(lambda n: self.reads.prioritised(project_id, username,
                                                                (status,), now, n), fresh)
        if ranked:
            for start in range(0, len(ranked), 200):
                part = ranked[start:start + 200]
                free = self.reads.free_among(project_id, username, status, now, part)
                yield from fresh([(i, free[i]) for i in part if i in free])
        after = -1
        while True:
            rows = self.reads.pool(project_id, username, status, now, CANDIDATES, after)
            if not rows:
                return
            yield from fresh([(image_id, version) for image_id, version, _ in rows])
            after = rows[-1][2]

    @staticmethod
    def _paged(query: Callable[[int], list[Candidate]],
               fresh: Callable[[Sequence[Candidate]], list[Candidate]]) -> Iterator[Candidate]:
        """A tier's candidates: a few, then (all of them raced away) the whole tier."""
        first = query(CANDIDATES)
        yield from fresh(first)
        if len(first) == CANDIDATES:
            yield from fresh(query(MAX_PRIORITY))

    def _lease(self, project_id: str, image_id: str, username: str, now: float, *,
               seen: int | None = None) -> Handed | None:
        """Record ``username``'s lease on ``image_id`` (``seen``: the image's version when
        the read model offered it; None: renew the caller's own lease). None if someone else
        holds it (or won the race to it), ``username`` skipped it lately, or it was
        submitted or reviewed after the read model's row (whose status made it a
        candidate)."""
        at = _utc(now)
        if seen is not None and self._ended_since(image_id, seen):
            return None  # submitted or reviewed after the row that made it a candidate
        lease = self._load_lease(image_id)
        if lease is None:
            lease = ImageLease.open(project_id, image_id, username)
        elif seen is not None:
            if lease.skipped_by_until(username, at):
                return None
            holder = lease.holds_for(at, self._activity(lease))
            if holder is not None and holder != username:
                return None
        lease.grant(username, at, self.lease_seconds)
        try:
            recordings = self.app.save(lease)
        except IntegrityError:
            return None  # another process leased (or renewed) it first
        position = recordings[-1].notification.id
        assert lease.expires_at is not None
        return Handed(image_id, lease.expires_at, position)

    def _skip(self, project_id: str, image_id: str, username: str, now: float) -> None:
        lease = self._load_lease(image_id)
        at = _utc(now)
        if lease is None or lease.holds_for(at, self._activity(lease)) != username:
            return  # not held by them (ended by their submit, expired): nothing to give back
        lease.release(username, at)
        try:
            self.app.save(lease)
        except IntegrityError:
            return  # renewed or taken meanwhile: nothing of ours to give back

    def _load_lease(self, image_id: str) -> ImageLease | None:
        try:
            lease: object = self.app.repository.get(lease_id(image_id))
        except AggregateNotFoundError:
            return None
        assert isinstance(lease, ImageLease)
        return lease

    def _ended_since(self, image_id: str, seen: int) -> bool:
        """Whether the image was submitted, reviewed or reopened after version ``seen`` (the
        read model's row that made it a candidate may lag): whether or not anyone leased it,
        e.g. a reviewer who opened it by its address and approved it. Usually no event is
        newer than ``seen`` and this is one indexed read that finds nothing."""
        return any(type(event).__name__ in ENDING_EVENTS
                   for event in self.app.events.get(UUID(image_id), gt=seen))

    def _activity(self, lease: ImageLease) -> list[ImageActivity]:
        """The image's events since the lease was granted (newest first, at most
        ``ACTIVITY_SCAN``): what renews or ends it."""
        if lease.holder is None or lease.granted_at is None:
            return []
        out: list[ImageActivity] = []
        for event in self.app.events.get(UUID(lease.image_id), desc=True, limit=ACTIVITY_SCAN):
            at: datetime = getattr(event, "timestamp")  # noqa: B009 - not on the Protocol
            if at < lease.granted_at:
                break
            out.append(ImageActivity(type(event).__name__, getattr(event, "actor", None), at,
                                     event.originator_version))
        return out

    def _person(self, project_id: str, username: str) -> threading.Lock:
        """One ``next`` at a time per person and project in this process (a double click
        must not take two images)."""
        with self._people_lock:
            return self._people.setdefault((project_id, username), threading.Lock())

    def _ranking(self, project: Project, request: NextRequest) -> list[str]:
        assert request.model_id is not None
        model = self.app.model(request.model_id)
        if model.project_id != str(project.id):
            raise ValidationFailed("model_id names a model of another project",
                                   {"field": "model_id"})
        if self.ranker is None:
            raise ValidationFailed("selection is not available on this server",
                                   {"field": "order"})
        strategy = request.strategy or DEFAULT_STRATEGY
        key = (str(project.id), str(model.id), strategy)
        now = time.monotonic()
        cached = self._rankings.get(key)
        if cached is not None and now - cached[0] < RANKING_SECONDS:
            return cached[1]
        ranked = [str(i) for i in self.ranker(str(project.id), str(model.id), strategy)]
        self._rankings[key] = (now, ranked)
        return ranked

    # -- manager's settings -----------------------------------------------------------------

    def check_images(self, project_id: str, image_ids: Sequence[str],
                     field: str = "image_ids") -> None:
        """ValidationFailed unless every id names an image of the project."""
        known = self.reads.project_of(image_ids)
        for i, image_id in enumerate(image_ids):
            owner = known.get(image_id)
            if owner is None:  # not projected yet, or no image at all
                try:
                    owner = self.app.image_added(parse_uuid(image_id, "image")).project_id
                except NotFound:
                    owner = None
            if owner != project_id:
                raise ValidationFailed(f"{field}[{i}] is not an image of this project",
                                       {"field": f"{field}[{i}]"})

    def assign(self, project: Project, raw: object, actor: str) -> tuple[str, list[str],
                                                                          int | None]:
        """``{"username", "image_ids"}``: those images open ``username``'s queue, in this
        order (replacing what they were assigned; an empty list clears it)."""
        if not isinstance(raw, dict):
            raise ValidationFailed("the request body must be a JSON object")
        _unexpected(raw, frozenset({"username", "image_ids"}))
        if "image_ids" not in raw:
            raise ValidationFailed("image_ids is required", {"field": "image_ids"})
        image_ids = parse_image_ids(raw["image_ids"])
        name = _text(raw, "username")
        if name is None:
            raise ValidationFailed("username is required", {"field": "username"})
        username = self.app.user(name).username
        if project.role_of(username) is None:
            raise ValidationFailed(f"{username!r} is not a member of this project",
                                   {"field": "username"})
        project_id = str(project.id)
        self.check_images(project_id, image_ids)
        position = self._change_queue(project_id, lambda q: q.assign(username, image_ids, actor))
        return username, image_ids, position

    def prioritise(self, project: Project, raw: object, actor: str) -> tuple[list[str],
                                                                              int | None]:
        """``{"image_ids"}``: those images go to the end of the priority list."""
        if not isinstance(raw, dict):
            raise ValidationFailed("the request body must be a JSON object")
        _unexpected(raw, frozenset({"image_ids"}))
        if "image_ids" not in raw:
            raise ValidationFailed("image_ids is required", {"field": "image_ids"})
        image_ids = parse_image_ids(raw["image_ids"])
        if not image_ids:
            raise ValidationFailed("image_ids names no image (DELETE .../queue/priority clears "
                                   "the list)", {"field": "image_ids"})
        project_id = str(project.id)
        self.check_images(project_id, image_ids)

        def change(queue: WorkQueue) -> None:
            if len(set(queue.priority) | set(image_ids)) > MAX_PRIORITY:
                raise ValidationFailed(f"a project's priority list holds at most "
                                       f"{MAX_PRIORITY:,} images", {"field": "image_ids"})
            queue.prioritise(image_ids, actor)

        position = self._change_queue(project_id, change)
        return self.work_queue(project_id).priority, position

    def clear_priority(self, project: Project, actor: str) -> int | None:
        return self._change_queue(str(project.id), lambda q: q.clear_priority(actor))

    def work_queue(self, project_id: str) -> WorkQueue:
        try:
            found: object = self.app.repository.get(work_queue_id(project_id))
        except AggregateNotFoundError:
            return WorkQueue.open(project_id, "system")
        assert isinstance(found, WorkQueue)
        return found

    def _change_queue(self, project_id: str, change: Callable[[WorkQueue], None]) -> int | None:
        for attempt in range(SAVE_RETRIES):
            try:
                queue: WorkQueue = self.app.repository.get(work_queue_id(project_id))
            except AggregateNotFoundError:
                queue = WorkQueue.open(project_id, "system")
            change(queue)
            pending = queue.pending_events
            if not pending or (len(pending) == 1 and queue.version == 1):
                return None  # nothing changed (an opened queue alone is not recorded)
            try:
                recordings = self.app.save(queue)
            except IntegrityError:
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
                continue
            position: int = recordings[-1].notification.id
            # Answered once the queue's read model has it: the next "next" follows it.
            self.read.wait_for(position, timeout=WAIT_SECONDS)
            return position
        raise Conflict("someone else kept changing this queue at the same time; nothing was "
                       "recorded, retry", {"retry": True})


def selection_ranker(app: Labeling, read: Any) -> Ranker:
    """The ranking of ``service_layer.selection.select_images`` (the model's scored images
    not labeled yet, best first; at most ``selection.MAX_K``, the rest follow in project
    order). ``read`` is the read models (its score queries)."""

    def rank(project_id: str, model_id: str, strategy: str) -> list[str]:
        from service_layer.selection import MAX_K, select_images

        try:
            found = select_images(app, read, project_id, model_id, strategy, k=MAX_K)
        except ValidationFailed as e:
            pool = e.details.get("pool")
            if e.details.get("field") != "k" or not isinstance(pool, int):
                raise
            if pool == 0:
                return []
            found = select_images(app, read, project_id, model_id, strategy, k=pool)
        return [str(image["image_id"]) for image in found["images"]]

    return rank
