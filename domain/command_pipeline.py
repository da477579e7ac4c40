"""Group commit of image commands.

One writer thread per process takes every request waiting in its queue, decides each against
its image (requests for different images are independent; requests for one image run in
arrival order), and appends all their events in ONE transaction. A durable commit costs a few
milliseconds, so this is where throughput comes from. If that transaction clashes with a
write from another process (a stale cached image: ``IntegrityError`` on the image's version),
nothing of the batch was stored; every request of the batch is then re-decided against freshly
loaded images and saved on its own, retrying a few times ("reload and re-decide").

A request is answered only after its events committed. A repeated ``command_id`` is answered
with the original result and records nothing, once the request passed the same role checks as
a new one and only to the user who first sent it (another user gets 409 ``conflict``).

The writer never calls a model. A request that needs one (an ``Assist`` command: its engine
proposes the geometry) is prepared first, in ``submit``: on a small worker pool, after the same
role checks the writer makes (so nobody without the role makes a model run), and only then
queued, carrying the proposal; the aggregate validates and records it. While a request is
being prepared, later requests for the same image wait behind it (arrival order per image);
other images' requests go straight to the writer. Requests with nothing to prepare take no
extra step, and a cheap engine (extreme points) on a cached image is prepared in place.
``prepare`` is also callable on its own (a preview: the proposal, nothing recorded).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain import commands as c
from domain.application import Labeling
from domain.assist import AssistRegistry, ImageFacts, Refining, default_registry
from domain.errors import DomainError, Forbidden, NotFound, ValidationFailed
from domain.event_view import describe
from domain.eventsourcing_adapters import Checkpoint, insert_events, take_snapshot
from domain.image import Image
from domain.project import LabelSchema, Project
from domain.roles import at_least, require, role_needed_for

log = logging.getLogger(__name__)

MAX_BATCH = 512
# Threads running models (assist engines) for requests being prepared.
MODEL_WORKERS = 2
RETRIES = 30
# A backlog this long is a bulk write (an import, a pre-label job), not people labelling.
BULK_BACKLOG = 64


class PositionLookup(Protocol):
    """The global positions of recorded events: of some versions of an image (reads of an
    image's state), and of whole version spans with the events (answering repeated
    commands in bulk)."""

    def __call__(self, image_id: UUID, versions: Sequence[int]) -> dict[int, int]: ...

    def recorded(self, spans: Sequence[tuple[UUID, int, int]]
                 ) -> dict[UUID, list[tuple[Any, int]]]:
        """For each ``(image_id, first, last)``: its events of those versions with their
        positions, in version order."""
        ...


class PipelineObserver(Protocol):
    """Is told what the writer does (``labelwright.metrics`` counts it). Called on the writer
    thread, or on the thread that refused a request outright, so it must be quick."""

    def request_done(self, commands: Sequence[c.Command], future: Future[CommandResult]
                     ) -> None: ...

    def batch_taken(self, requests: int) -> None: ...

    def committed(self, events: int, seconds: float) -> None: ...


class BulkLoader(Protocol):
    """Loads several images' streams at once (cache misses of a whole batch)."""

    def __call__(self, image_ids: Sequence[UUID]) -> dict[UUID, Image]: ...


@dataclass(frozen=True, slots=True)
class Actor:
    username: str
    is_admin: bool = False
    # Imports and inference jobs act for a manager but are checked once, up front.
    trusted: bool = False


class CommandResult:
    """What a committed (or repeated) request answers: ``to_json()`` is the API's result.

    The public event views are built on first use: imports submit thousands of requests and
    never look at them.
    """

    __slots__ = ("_described", "_recorded", "image_id", "position", "repeated", "version")

    def __init__(self, image_id: str, version: int, position: int,
                 recorded: Sequence[tuple[Any, int]] = (),
                 described: list[dict[str, Any]] | None = None, repeated: bool = False) -> None:
        self.image_id = image_id
        self.version = version
        self.position = position
        self.repeated = repeated
        self._recorded = recorded
        self._described = described

    @property
    def events(self) -> list[dict[str, Any]]:
        if self._described is None:
            self._described = [describe(e, p) for e, p in self._recorded]
        return self._described

    def to_json(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "version": self.version, "position": self.position,
                "events": self.events}


@dataclass(frozen=True, slots=True)
class _Adopt:
    """Images just created elsewhere in this process, for the writer's cache."""

    images: tuple[Image, ...]


@dataclass(slots=True)
class _Request:
    image_id: UUID
    commands: list[c.Command]
    actor: Actor
    future: Future[CommandResult]
    events: list[Any] = field(default_factory=list)
    repeat_of: tuple[int, int] | None = None


class Busy(DomainError):
    """Another writer kept changing the image; nothing was recorded, the client may retry."""

    code = "conflict"


class CommandIdTaken(DomainError):
    """A ``command_id`` that another user already used on this image: nothing recorded."""

    code = "conflict"


def _needs_preparing(commands: Sequence[c.Command]) -> bool:
    """Whether a request needs work outside the writer first (a model's proposal)."""
    for cmd in commands:  # noqa: SIM110 - a loop: no generator on every command's path
        if type(cmd) is c.Assist and cmd.proposal is None:
            return True
    return False


class CommandPipeline:
    """Serialises image commands of this process through one writer with group commit."""

    def __init__(self, app: Labeling, positions: PositionLookup,
                 assist: AssistRegistry | None = None, cache_size: int = 2048,
                 bulk_loader: BulkLoader | None = None,
                 model_workers: int = MODEL_WORKERS) -> None:
        self.app = app
        self.positions = positions
        self.bulk_loader = bulk_loader
        self.assist = assist or default_registry()
        self._model_workers = model_workers
        self._models: ThreadPoolExecutor | None = None
        # Images with a request being prepared: the requests that arrived after it, in order.
        self._held: dict[UUID, deque[_Request]] = {}
        self._held_lock = threading.Lock()
        self._cache: OrderedDict[UUID, Image] = OrderedDict()
        self._cache_size = cache_size
        self._queue: queue.SimpleQueue[_Request | list[_Request] | _Adopt | None] = (
            queue.SimpleQueue())
        self._pending: deque[_Request] = deque()  # taken from the queue, not yet written
        self._thread: threading.Thread | None = None
        self._in_hand = 0  # requests of the batch being processed
        # Set before start (the composition root, for the metrics): None costs nothing.
        self.observer: PipelineObserver | None = None

    # -- public -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="command-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        models = self._models
        if models is not None:  # preparations under way queue their requests first
            models.shutdown(wait=True)
            self._models = None
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def submit(self, image_id: UUID, commands: Sequence[c.Command], actor: Actor
               ) -> Future[CommandResult]:
        """Queue one request (its commands apply atomically); the future resolves on commit."""
        request = self._request(image_id, commands, actor)
        if not request.future.done():
            if self._held or _needs_preparing(request.commands):
                self._route(request)
            else:
                self._enqueue(request)
        return request.future

    def submit_many(self, requests: Sequence[tuple[UUID, Sequence[c.Command]]], actor: Actor
                    ) -> list[Future[CommandResult]]:
        """Queue many requests at once (an import): the writer takes them as one backlog
        instead of being woken for each, and the caller does not trade the GIL with it for
        every request it queues."""
        made = [self._request(iid, cmds, actor) for iid, cmds in requests]
        live = [r for r in made if not r.future.done()]
        if self._held or any(_needs_preparing(r.commands) for r in live):
            # Route what needs preparing or waits behind a preparation (and every later
            # request of its image); queue the rest together, in order around them.
            direct: list[_Request] = []
            routed: set[UUID] = set()
            for r in live:
                if r.image_id in routed or r.image_id in self._held or _needs_preparing(
                        r.commands):
                    self._enqueue(direct)
                    direct = []
                    routed.add(r.image_id)
                    self._route(r)
                else:
                    direct.append(r)
            live = direct
        self._enqueue(live)
        return [r.future for r in made]

    def prepare(self, image_id: UUID, commands: Sequence[c.Command], actor: Actor
                ) -> list[c.Command]:
        """``commands`` with what they need from models computed (assist proposals), after
        the role checks the writer will make again; records nothing. Blocking (a model may
        take seconds): call it on a worker thread. A preview of an assist is this, then
        ``command.proposal.result()``."""
        facts = self._facts(image_id, cached_only=False)
        assert facts is not None
        if not actor.trusted:
            self._authorise(self.app.project(facts.project_id), actor, commands)
        return self._prepared(commands, facts)

    def adopt(self, images: Sequence[Image]) -> None:
        """Offer images this process has just created (uploads) to the writer's cache, so the
        pre-labels usually imported right after them need no reload. Hand over only fresh
        aggregates nobody else will touch; the writer keeps a cached image it already has. A
        stale one is harmless: the store refuses its next version and the writer reloads."""
        if images:
            self._enqueue(_Adopt(tuple(images)))

    # -- preparation (outside the writer) ------------------------------------------------------

    def _route(self, request: _Request) -> None:
        """Queue ``request`` behind a preparation of its image, or prepare it, or queue it."""
        with self._held_lock:
            waiting = self._held.get(request.image_id)
            if waiting is not None:
                waiting.append(request)
                return
            if not _needs_preparing(request.commands):
                self._enqueue(request)
                return
            self._held[request.image_id] = deque()
        self._advance(request.image_id, request)

    def _advance(self, image_id: UUID, request: _Request | None) -> None:
        """Prepare ``request`` (its image is held), then move the requests that waited
        behind it on, in order, until one needs a model on the worker pool; release the
        image once none is left."""
        while True:
            if request is not None:
                if _needs_preparing(request.commands):
                    if not self._prepare_in_place(request):
                        self._prepare_later(request)
                        return  # the worker carries on with this image when it is done
                else:
                    self._enqueue(request)
            with self._held_lock:
                waiting = self._held[image_id]
                if not waiting:
                    del self._held[image_id]
                    return
                request = waiting.popleft()

    def _prepare_in_place(self, request: _Request) -> bool:
        """Prepare on this thread if every engine involved is cheap and the image is cached
        (no store read, no model: nothing that could block the caller). The writer makes the
        role checks, as for any command."""
        if not all(self.assist.inline(cmd.mode) and cmd.model_id is None
                   and cmd.annotation_id is None  # a model, or the image's state, is a read
                   for cmd in request.commands
                   if isinstance(cmd, c.Assist) and cmd.proposal is None):
            return False
        facts = self._facts(request.image_id, cached_only=True)
        if facts is None:
            return False
        self._settle(request, lambda: self._prepared(request.commands, facts))
        return True

    def _prepare_later(self, request: _Request) -> None:
        def work() -> None:
            self._settle(request, lambda: self.prepare(request.image_id, request.commands,
                                                       request.actor))
            self._advance(request.image_id, None)

        models = self._models
        if models is None:
            models = self._models = ThreadPoolExecutor(self._model_workers,
                                                       thread_name_prefix="command-models")
        try:
            models.submit(work)
        except RuntimeError:  # shutting down (stop): finish on this thread
            work()

    def _settle(self, request: _Request, prepare: Callable[[], list[c.Command]]) -> None:
        """Queue ``request`` with its prepared commands, or fail it with why not."""
        try:
            request.commands = prepare()
        except DomainError as e:
            request.future.set_exception(e)
        except Exception as e:
            log.exception("preparing a command failed")
            request.future.set_exception(e)
        else:
            self._enqueue(request)

    def _prepared(self, commands: Sequence[c.Command], facts: ImageFacts) -> list[c.Command]:
        prepared: list[c.Command] = []
        for cmd in commands:
            if isinstance(cmd, c.Assist) and cmd.proposal is None:
                refining = (self._refining(facts.image_id, cmd.annotation_id)
                            if cmd.annotation_id is not None else None)
                cmd = self.assist.prepare(cmd, facts, refining=refining,
                                          find_model=self.app.model)
            prepared.append(cmd)
        return prepared

    def _refining(self, image_id: UUID, annotation_id: str) -> Refining | None:
        """The clicks, engine and output of the assist proposal ``annotation_id``, as the
        writer's cached image (read only) or else the store has them now. They may be a
        moment old: the aggregate refuses a proposal computed from clicks that are no longer
        the proposal's (``Conflict``; the client sends its clicks again)."""
        cached = self._cache.get(image_id)
        try:
            known = cached.assist_proposal(annotation_id) if cached is not None else None
        except AttributeError:  # caught mid-restore of a failed batch (Checkpoint): reload
            known = None
        if known is None:  # not cached, or made by another process's writer: the store
            known = self.app.image(image_id).assist_proposal(annotation_id)
        if known is None:
            return None
        return Refining(known["mode"], known["output"], known["model_id"],
                        tuple((float(x), float(y), int(s)) for x, y, s in known["clicks"]))

    def _facts(self, image_id: UUID, *, cached_only: bool) -> ImageFacts | None:
        """The image's fixed facts: from the writer's cache (read only; these never change),
        else from its first event."""
        image = self._cache.get(image_id)
        if image is None:
            if cached_only:
                return None
            first = self.app.image_added(image_id)
            return ImageFacts(image_id, first.project_id, first.width, first.height,
                              first.sha256)
        return ImageFacts(image_id, image.project_id, image.width, image.height, image.sha256)

    def _request(self, image_id: UUID, commands: Sequence[c.Command], actor: Actor
                 ) -> _Request:
        future: Future[CommandResult] = Future()
        request = _Request(image_id, list(commands), actor, future)
        observer = self.observer
        if observer is not None:
            done = request.commands[:]  # what was asked (preparing replaces the list)
            future.add_done_callback(lambda f: observer.request_done(done, f))
        if not commands:
            future.set_exception(ValidationFailed("no commands given", {"field": "commands"}))
            return request
        ids = [cmd.command_id for cmd in commands if cmd.command_id is not None]
        if len(ids) != len(set(ids)):
            future.set_exception(ValidationFailed("a command_id appears twice in one batch",
                                                  {"field": "command_id"}))
        return request

    def _enqueue(self, item: _Request | list[_Request] | _Adopt) -> None:
        if item == []:
            return
        self._queue.put(item)
        if self._thread is None:
            self.start()

    def backlog(self) -> int:
        """Requests queued or being written (approximate: a bulk submission counts as one
        until the writer takes it, a moment later; any thread may ask)."""
        return self._queue.qsize() + len(self._pending) + self._in_hand

    def bulk_writing(self) -> bool:
        """Whether a bulk write is under way: background readers of the log (projections)
        may step aside for it, so an import is not slowed by catching up with itself."""
        return self.backlog() >= BULK_BACKLOG

    def execute(self, image_id: UUID, commands: Sequence[c.Command], actor: Actor,
                timeout: float = 60.0) -> CommandResult:
        return self.submit(image_id, commands, actor).result(timeout)

    # -- writer -------------------------------------------------------------------------------

    def _run(self) -> None:
        pending = self._pending
        stop = False
        while True:
            if not pending:
                if stop:  # stop once everything taken before the signal is written
                    return
                stop = self._take(self._queue.get(), pending)
            while not stop:  # everything queued meanwhile
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                stop = self._take(item, pending)
            if not pending:
                continue
            batch = [pending.popleft() for _ in range(min(MAX_BATCH, len(pending)))]
            self._in_hand = len(batch)
            if self.observer is not None:
                self.observer.batch_taken(len(batch))
            try:
                self._process(batch)
            except Exception as e:  # never let the writer die: fail the requests, go on
                log.exception("command batch failed")
                self._cache.clear()
                for req in batch:
                    if not req.future.done():
                        req.future.set_exception(e)
            finally:
                self._in_hand = 0

    def _take(self, item: _Request | list[_Request] | _Adopt | None,
              pending: deque[_Request]) -> bool:
        """Add a queue item to ``pending``; True if it is the stop signal."""
        if item is None:
            return True
        if isinstance(item, _Adopt):
            for image in item.images:
                if image.id not in self._cache:
                    self._remember(image.id, image)
        elif isinstance(item, list):
            pending.extend(item)
        else:
            pending.append(item)
        return False

    def _process(self, batch: list[_Request]) -> None:
        decided: list[_Request] = []
        touched: dict[UUID, Image] = self._preload(batch)
        projects: dict[str, tuple[Project, LabelSchema]] = {}
        for req in batch:
            try:
                image = touched.get(req.image_id) or self._load(req.image_id)
                touched[req.image_id] = image
                self._decide(image, req, projects)
            except DomainError as e:
                req.future.set_exception(e)
                continue
            except Exception as e:
                log.exception("deciding a command failed")
                self._evict(req.image_id)
                touched.pop(req.image_id, None)
                req.future.set_exception(e)
                continue
            decided.append(req)
        events = [e for req in decided for e in req.events]
        if events:
            try:
                positions = self._store(events)
            except IntegrityError:
                for iid in touched:
                    self._evict(iid)
                self._one_by_one(decided)
                return
            self._finish(decided, positions, touched)
        else:
            self._finish(decided, [], touched)

    def _preload(self, batch: list[_Request]) -> dict[UUID, Image]:
        """The batch's images that are not cached, loaded in bulk when there are several."""
        missing = list(dict.fromkeys(r.image_id for r in batch if r.image_id not in self._cache))
        if self.bulk_loader is None or len(missing) < 8:
            return {}
        try:
            return dict(self.bulk_loader(missing))
        except Exception:
            log.exception("bulk loading images failed; loading them one by one")
            return {}

    def _one_by_one(self, requests: list[_Request]) -> None:
        for req in requests:
            for attempt in range(RETRIES):
                req.events = []
                req.repeat_of = None
                try:
                    image = self._load(req.image_id)
                    self._decide(image, req)
                    positions = self._store(req.events) if req.events else []
                except IntegrityError:
                    self._evict(req.image_id)
                    if attempt == RETRIES - 1:
                        req.future.set_exception(Busy("the image is too busy, retry"))
                        break
                    # Another process keeps winning the race for this image: back off a
                    # little, with jitter, so the two writers stop colliding in lock step.
                    time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
                    continue
                except DomainError as e:
                    req.future.set_exception(e)
                except Exception as e:
                    log.exception("deciding a command failed")
                    self._evict(req.image_id)
                    req.future.set_exception(e)
                else:
                    self._finish([req], positions, {req.image_id: image})
                break

    def _store(self, events: list[Any]) -> list[int]:
        """Append ``events`` in one transaction; their global positions, in order."""
        observer = self.observer
        if observer is None:
            return insert_events(self.app, events)
        started = time.perf_counter()
        positions = insert_events(self.app, events)
        observer.committed(len(events), time.perf_counter() - started)
        return positions

    def _decide(self, image: Image, req: _Request,
                projects: dict[str, tuple[Project, LabelSchema]] | None = None) -> None:
        # A batch reads each project once (roles and classes as of the batch's start).
        known = projects.get(image.project_id) if projects is not None else None
        if known is None:
            project = self.app.project(image.project_id)
            known = (project, project.schema())
            if projects is not None:
                projects[image.project_id] = known
        project, schema = known
        # Authorise before looking at command ids: a repeat must never answer someone who
        # could not have sent the command (it would hand them the first result's data).
        reviewer = self._authorise(project, req.actor, req.commands)
        seen = [image.seen_command(cmd.command_id) for cmd in req.commands]
        if any(s is not None for s in seen):
            if not all(s is not None for s in seen):
                raise ValidationFailed("this batch mixes new and already applied command_ids",
                                       {"field": "command_id"})
            spans = [s for s in seen if s is not None]
            req.repeat_of = (min(s[0] for s in spans), max(s[1] for s in spans))
            return
        if len(req.commands) == 1:
            # Every decision validates fully before it triggers an event, so a failing single
            # command leaves the image untouched.
            image.decide(req.commands[0], req.actor.username, schema, reviewer=reviewer)
        else:
            # A batch applies atomically: keep the state to restore if a later command fails.
            checkpoint = Checkpoint(image)
            try:
                for cmd in req.commands:
                    image.decide(cmd, req.actor.username, schema, reviewer=reviewer)
            except Exception:
                checkpoint.restore()
                raise
        req.events = list(image.collect_events())

    @staticmethod
    def _authorise(project: Project, actor: Actor, commands: Sequence[c.Command]) -> bool:
        """Raise Forbidden unless ``actor`` may send ``commands``; True if they may also
        change an image held for review (a reviewer, manager, admin or trusted service)."""
        if actor.trusted:
            return True
        role = project.role_of(actor.username)
        if role is None and not actor.is_admin:
            raise Forbidden("you are not a member of this image's project")
        for cmd in commands:
            require(role, role_needed_for(cmd.type), is_admin=actor.is_admin,
                    what=f"a {cmd.type} command")
        return at_least(role, "reviewer", is_admin=actor.is_admin)

    def _finish(self, decided: list[_Request], positions: list[int],
                touched: dict[UUID, Image]) -> None:
        i = 0
        for req in decided:
            if req.repeat_of is not None:
                continue
            n = len(req.events)
            mine = positions[i:i + n]
            i += n
            last = req.events[-1]
            req.future.set_result(CommandResult(
                image_id=str(req.image_id), version=last.originator_version,
                position=mine[-1], recorded=list(zip(req.events, mine, strict=True))))
        new_events: dict[UUID, int] = {}
        for req in decided:
            new_events[req.image_id] = new_events.get(req.image_id, 0) + len(req.events)
        for iid, image in touched.items():
            self._remember(iid, image)
            self._maybe_snapshot(image, new_events.get(iid, 0))
        repeats = [req for req in decided if req.repeat_of is not None]
        if repeats:
            self._answer_repeats(repeats)
        if positions:
            self.app.committed(positions[-1])

    def _answer_repeats(self, requests: list[_Request]) -> None:
        """Answer repeated commands with what their first sending recorded: the events read
        back (with their positions) for the whole batch at once, so a retried import of
        thousands of images costs a few queries, not two per image."""
        try:
            found = self.positions.recorded(
                [(req.image_id, *req.repeat_of) for req in requests if req.repeat_of])
        except Exception as e:
            log.exception("answering repeated commands failed")
            for req in requests:
                req.future.set_exception(e)
            return
        for req in requests:
            assert req.repeat_of is not None
            first, last = req.repeat_of
            recorded = [(event, position) for event, position in found.get(req.image_id, ())
                        if first <= event.originator_version <= last]
            try:
                if len(recorded) != last - first + 1:
                    raise RuntimeError(f"events {first}..{last} of image {req.image_id} "
                                       "were not found")
                if any(event.actor != req.actor.username for event, _ in recorded):
                    # Command ids are scoped to the image and the actor: someone else's id
                    # is neither replayed to them nor applied again.
                    req.future.set_exception(CommandIdTaken(
                        "this command_id was already used on this image by another user; "
                        "send the command with a new command_id", {"field": "command_id"}))
                    continue
                req.future.set_result(CommandResult(
                    image_id=str(req.image_id), version=last, position=recorded[-1][1],
                    described=[describe(event, position) for event, position in recorded],
                    repeated=True))
            except Exception as e:
                log.exception("answering a repeated command failed")
                req.future.set_exception(e)

    def _maybe_snapshot(self, image: Image, new_events: int) -> None:
        interval = self.app.snapshotting_intervals.get(Image)
        if self.app.snapshots is None or not interval or not new_events:
            return
        if image.version // interval > (image.version - new_events) // interval:
            try:
                take_snapshot(self.app, image)
            except Exception:
                log.exception("taking a snapshot failed (harmless: replay reads the events)")

    # -- image cache ---------------------------------------------------------------------------

    def _load(self, image_id: UUID) -> Image:
        image = self._cache.get(image_id)
        if image is not None:
            self._cache.move_to_end(image_id)
            return image
        try:
            return self.app.image(image_id)
        except NotFound:
            raise NotFound(f"no image {image_id}") from None

    def _remember(self, image_id: UUID, image: Image) -> None:
        self._cache[image_id] = image
        self._cache.move_to_end(image_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _evict(self, image_id: UUID) -> None:
        self._cache.pop(image_id, None)

