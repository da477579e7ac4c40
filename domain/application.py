"""The Labelwright application service: load aggregates, call them, save them.

Image commands go through ``CommandPipeline`` (group commit); this class holds the
single-aggregate operations (projects, users, image registration) and the replay reads.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.persistence import IntegrityError, Recording, Transcoder

from domain.errors import Conflict, NotFound, ValidationFailed
from domain.image import Image, image_id_for
from domain.image_scores import ImageScore, ScoredShard, scored_shard_id
from domain.job import Job
from domain.model import Model
from domain.project import Project
from domain.roles import validate_role
from domain.tokens import TOKEN_KINDS
from domain.transcoding import OrjsonTranscoder
from domain.user import User, user_id, validate_username

SNAPSHOT_INTERVAL = 100
SETTINGS_RETRIES = 20

A = TypeVar("A", Project, User, Model, Job)
C = TypeVar("C", Model, Job)


def parse_uuid(raw: str, what: str) -> UUID:
    try:
        return UUID(raw)
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"no {what} {raw!r}") from None


L = TypeVar("L", Project, Model, Job, Image, ScoredShard)


def _load(repository: Repository[UUID], raw_id: str | UUID, kind: type[L], what: str,
          version: int | None = None) -> L:
    """The ``kind`` aggregate ``raw_id`` names (at ``version``), or NotFound: an unknown or
    malformed id, or the id of an aggregate of another kind."""
    uid = raw_id if isinstance(raw_id, UUID) else parse_uuid(raw_id, what)
    try:
        found: object = repository.get(uid, version=version)
    except AggregateNotFoundError:
        raise NotFound(f"no {what} {raw_id}") from None
    if not isinstance(found, kind):
        raise NotFound(f"no {what} {raw_id}")
    return found


class Labeling(Application[UUID]):
    """Event-sourced write model of projects, users and images."""

    name = "Labelwright"
    snapshotting_intervals = {Image: SNAPSHOT_INTERVAL, Job: SNAPSHOT_INTERVAL}

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        # Projects and users are small and read on every request (roles, login): keep them in a
        # cache that fast-forwards from the store, so a change made by any node is seen at once.
        self.settings_repository: Repository[UUID] = Repository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=10_000,
            fastforward=True,
        )
        # Called with the global position after every commit made through this process
        # (projections and room fan-out wake on it; other processes are found by polling).
        self.commit_listeners: list[Callable[[int], None]] = []

    def committed(self, position: int) -> None:
        for listener in self.commit_listeners:
            try:
                listener(position)
            except Exception:  # a listener must never undo an acknowledged commit
                logging.getLogger(__name__).exception("commit listener failed")

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        super()._notify(recordings)
        if recordings:
            self.committed(recordings[-1].notification.id)

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    # -- users --------------------------------------------------------------------------------

    def register_user(self, username: object, password: object, is_admin: bool = False) -> User:
        user = User.register(username, password, is_admin)
        try:
            self.save(user)
        except IntegrityError:
            raise ValidationFailed(f"user {username!r} already exists",
                                   {"field": "username"}) from None
        return user

    def find_user(self, username: str) -> User | None:
        try:
            validate_username(username)
            user: object = self.settings_repository.get(user_id(username))
        except (AggregateNotFoundError, ValidationFailed):
            return None
        assert isinstance(user, User)
        return user

    def user(self, username: object) -> User:
        """The user called ``username`` (any case); NotFound if there is none."""
        user = self.find_user(username) if isinstance(username, str) else None
        if user is None:
            raise NotFound(f"no user {username!r}", {"field": "username"})
        return user

    def update_user(self, username: str, *, password: object = None,
                    is_admin: bool | None = None) -> User:
        def change() -> User:
            user = self.user(username)
            if password is not None:
                user.change_password(password)
            if is_admin is not None:
                user.set_admin(is_admin)
            return user

        return self._change(change)[0]

    # Account actions. Each returns the user and the global position of its last event (None
    # when nothing changed); the caller also marks the user's rows in the token table revoked
    # (``service_layer.auth_tokens.TokenStore.revoke_user``), the aggregate being the backstop.

    def disable_user(self, username: str, actor: str | None) -> tuple[User, int | None]:
        """Disable an account: no login, no token accepted. An admin acting through the API
        (``actor``) may not disable their own account, so the API can never leave no enabled
        admin behind; the command line (``actor`` None) may."""
        def change() -> User:
            user = self.user(username)
            if actor is not None and user.id == user_id(actor) and not user.disabled:
                raise Conflict("you cannot disable your own account; another admin (or "
                               "`labelwright user disable` on the server) can",
                               {"username": user.username})
            user.disable(actor)
            return user

        return self._change(change)

    def enable_user(self, username: str, actor: str | None) -> tuple[User, int | None]:
        """Enable a disabled account again: its project roles are as they were; tokens issued
        before it was enabled stay refused."""
        def change() -> User:
            user = self.user(username)
            user.enable(actor)
            return user

        return self._change(change)

    def revoke_user_tokens(self, username: str, actor: str | None,
                           kinds: Sequence[str] = TOKEN_KINDS) -> tuple[User, int | None]:
        """Refuse every token of ``kinds`` (login sessions, API tokens) the user has now."""
        def change() -> User:
            user = self.user(username)
            user.revoke_tokens(actor, kinds)
            return user

        return self._change(change)

    def reset_password(self, username: str, password: object, actor: str | None
                       ) -> tuple[User, int | None]:
        """Set a new password and end the user's login sessions (API tokens stay)."""
        def change() -> User:
            user = self.user(username)
            user.change_password(password)
            user.revoke_tokens(actor, ["login"])
            return user

        return self._change(change)

    # -- projects -----------------------------------------------------------------------------

    def create_project(self, name: object, classes: object, annotation_types: object,
                       actor: str, attributes: object = None) -> tuple[Project, int]:
        """Create a project; ``attributes`` (per-object attribute definitions) are recorded
        as its second event when given."""
        project = Project.start(uuid.uuid4(), name, classes, annotation_types, actor)
        if attributes is not None:
            project.define_attributes(attributes, actor)
        return project, self.save(project)[-1].notification.id

    def project(self, project_id: str | UUID) -> Project:
        return _load(self.settings_repository, project_id, Project, "project")

    def update_project(self, project_id: str, actor: str, changes: dict[str, Any]) -> tuple[
            Project, int | None]:
        allowed = {"name", "add_classes", "retire_classes", "class_colors", "annotation_types",
                   "attributes"}
        extra = set(changes) - allowed
        if extra:
            raise ValidationFailed(f"unexpected field {sorted(extra)[0]!r}",
                                   {"field": sorted(extra)[0], "allowed": sorted(allowed)})
        def change() -> Project:
            project = self.project(project_id)
            if "name" in changes:
                project.rename(changes["name"], actor)
            if "add_classes" in changes:
                project.add_classes(changes["add_classes"], actor)
            if "retire_classes" in changes:
                retire = changes["retire_classes"]
                if not isinstance(retire, list):
                    raise ValidationFailed("retire_classes is a list of class names",
                                           {"field": "retire_classes"})
                for name in retire:
                    project.retire_class(name, actor)
            if "class_colors" in changes:
                project.recolor_classes(changes["class_colors"], actor)
            if "annotation_types" in changes:
                project.set_annotation_types(changes["annotation_types"], actor)
            if "attributes" in changes:
                project.define_attributes(changes["attributes"], actor)
            return project

        return self._change(change)

    def set_member(self, project_id: str, username: str, role: object,
                   actor: str) -> tuple[Project, int | None]:
        """Give ``username`` (any case) a role in the project, or remove them (``role`` None).

        Members are recorded under the user's name as registered, which is what tokens carry
        and roles are looked up by. Removing someone who is not a member is NotFound.
        """
        if role is not None:
            validate_role(role)
        user = self.user(username)
        name = user.username

        def change() -> Project:
            project = self.project(project_id)
            # Entries under another spelling of the name (recorded before names were
            # normalised) never granted anything: drop them so one entry per user is left.
            strays = [m for m in project.members if m != name and user_id(m) == user.id]
            if role is None and name not in project.members and not strays:
                raise NotFound(f"{name!r} is not a member of this project",
                               {"field": "username", "username": name})
            for stray in strays:
                project.set_member(stray, None, actor)
            project.set_member(name, role, actor)
            return project

        return self._change(change)

    def _change(self, change: Callable[[], A]) -> tuple[A, int | None]:
        """Load, change and save one project or user, again from a fresh copy when another
        writer saved it first (settings are edited rarely, so clashes are rare and short);
        the global position of its last new event, or None if nothing changed."""
        for attempt in range(SETTINGS_RETRIES):
            aggregate = change()
            try:
                recordings = self.save(aggregate)
            except IntegrityError:
                if attempt == SETTINGS_RETRIES - 1:
                    raise Conflict("someone else kept changing this at the same time; nothing "
                                   "was recorded, retry", {"retry": True}) from None
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
                continue
            return aggregate, recordings[-1].notification.id if recordings else None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- models and jobs ----------------------------------------------------------------------

    def register_model(self, project_id: str, actor: str, **spec: Any) -> tuple[Model, int]:
        """Register a model version (``Model.register``'s fields) and attach it to its project,
        atomically. The same name and version twice is Conflict."""
        def build() -> tuple[Project, Model]:
            project = self.project(project_id)
            model = Model.register(project, actor=actor, **spec)
            if self._exists(model.id):
                raise Conflict(f"model {model.name}@{model.model_version} is already registered "
                               "in this project: choose another version", {"field": "version"})
            project.attach_model(str(model.id), actor)
            return project, model

        return self._create_in_project(build)

    def model(self, model_id: str | UUID) -> Model:
        return _load(self.settings_repository, model_id, Model, "model")

    def change_model(self, model_id: str, change: Callable[[Model], None]
                     ) -> tuple[Model, int | None]:
        def apply() -> Model:
            model = self.model(model_id)
            change(model)
            return model

        return self._change(apply)

    def project_models(self, project_id: str) -> list[Model]:
        return [self.model(mid) for mid in self.project(project_id).model_ids]

    def queue_job(self, project_id: str, actor: str, **spec: Any) -> tuple[Job, int]:
        """Queue a job (``Job.queue``'s fields) and attach it to its project, atomically."""
        job_id = uuid.uuid4()

        def build() -> tuple[Project, Job]:
            project = self.project(project_id)
            job = Job.queue(job_id, project_id=str(project.id), actor=actor, **spec)
            project.attach_job(str(job.id), actor)
            return project, job

        return self._create_in_project(build)

    def _create_in_project(self, build: Callable[[], tuple[Project, C]]) -> tuple[C, int]:
        """Save a new aggregate and its project's index entry in one transaction, again from
        a fresh project when another writer saved the project first; the new aggregate and
        the global position of the last event."""
        for attempt in range(SETTINGS_RETRIES):
            project, created = build()
            try:
                recordings = self.save(project, created)
            except IntegrityError:
                if attempt == SETTINGS_RETRIES - 1:
                    raise Conflict("someone else kept changing this project at the same time; "
                                   "nothing was recorded, retry", {"retry": True}) from None
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
                continue
            return created, recordings[-1].notification.id
        raise AssertionError("unreachable")  # pragma: no cover

    def job(self, job_id: str | UUID) -> Job:
        return _load(self.repository, job_id, Job, "job")

    def change_job(self, job_id: str | UUID, change: Callable[[Job], None]
                   ) -> tuple[Job, int | None]:
        """Load, change and save a job, again from a fresh copy when another worker saved it
        first (two workers finishing shards at once)."""
        def apply() -> Job:
            job = self.job(job_id)
            change(job)
            return job

        return self._change(apply)

    def record_scored_shard(self, job_id: str, shard: int, scores: list[ImageScore],
                            aggregate: str, change: Callable[[Job], None]
                            ) -> tuple[Job, int | None]:
        """Record a score job's shard: its scores (``ScoredShard``) and the job's change
        (``ShardDone``, maybe ``JobFinished``) in one transaction. Scores already recorded for
        the shard (a repeat) are not recorded again; the job's change still is."""
        for attempt in range(SETTINGS_RETRIES):
            job = self.job(job_id)
            change(job)
            scored = ScoredShard.record(  # anew each try: a failed save took its event
                project_id=job.project_id, job_id=str(job.id), model_id=str(job.model_id),
                shard=shard, aggregate=aggregate, scores=scores, actor=job.created_by)
            created = [] if self._exists(scored.id) else [scored]
            try:
                recordings = self.save(job, *created)
            except IntegrityError:
                if attempt == SETTINGS_RETRIES - 1:
                    raise Conflict("someone else kept changing this job at the same time; "
                                   "nothing was recorded, retry", {"retry": True}) from None
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
                continue
            return job, recordings[-1].notification.id if recordings else None
        raise AssertionError("unreachable")  # pragma: no cover

    def scored_shard(self, job_id: str, shard: int) -> ScoredShard | None:
        """A score job's recorded shard, or None if it was not recorded (yet)."""
        try:
            return _load(self.repository, scored_shard_id(job_id, shard), ScoredShard,
                         "scored shard")
        except NotFound:
            return None

    def project_jobs(self, project_id: str, limit: int = 50) -> list[Job]:
        """The project's most recent jobs, newest first."""
        ids = self.project(project_id).job_ids
        return [self.job(jid) for jid in reversed(ids[-limit:])]

    def _exists(self, stream_id: UUID) -> bool:
        return next(iter(self.events.get(stream_id, lte=1)), None) is not None

    # -- images -------------------------------------------------------------------------------

    def add_images(self, project_id: str, files: Sequence[dict[str, Any]], actor: str,
                   *, unseen: bool = False) -> tuple[list[tuple[Image, bool]], int | None]:
        """Register image files (``file_name, width, height, sha256, content_type``).

        Same bytes in the same project give the existing image (``created`` False).
        ``unseen``: the caller found none of them in the project's image list (a dataset
        import of 10,000 images), so the look-up of each is skipped; one registered meanwhile
        still collides in the store and is then found, as below.
        """
        self.project(project_id)
        out: list[tuple[Image, bool]] = []
        new: dict[UUID, Image] = {}
        for f in files:
            iid = image_id_for(project_id, f["sha256"])
            existing = new.get(iid) or (None if unseen else self._existing_image(iid))
            if existing is not None:
                out.append((existing, False))
                continue
            image = Image.add(project_id, f["file_name"], f["width"], f["height"], f["sha256"],
                              f["content_type"], actor)
            new[iid] = image
            out.append((image, True))
        position = None
        created_ids = set(new)
        if new:
            try:
                position = self.save(*new.values())[-1].notification.id
            except IntegrityError:
                # Someone registered one of these concurrently: fall back one by one.
                created_ids = set()
                for iid, image in new.items():
                    # A fresh aggregate: the failed save took the pending event of this one.
                    image = Image.add(project_id, image.file_name, image.width, image.height,
                                      image.sha256, image.content_type, actor)
                    try:
                        position = self.save(image)[-1].notification.id
                        new[iid] = image
                        created_ids.add(iid)
                    except IntegrityError:
                        new[iid] = self.image(iid)
            out = [(new.get(img.id, img), created and img.id in created_ids)
                   for img, created in out]
        return out, position

    def _existing_image(self, iid: UUID) -> Image | None:
        try:
            return self.image(iid)
        except NotFound:
            return None

    def image(self, image_id: str | UUID, version: int | None = None) -> Image:
        return _load(self.repository, image_id, Image, "image", version)

    def image_added(self, image_id: UUID) -> Image.ImageAdded:
        """The image's first event: its fixed facts (project, size, bytes) without a replay."""
        first = next(iter(self.events.get(image_id, lte=1)), None)
        if not isinstance(first, Image.ImageAdded):
            raise NotFound(f"no image {image_id}")
        return first

    def image_events(self, image_id: UUID, first: int, last: int) -> Iterable[Any]:
        return self.events.get(image_id, gt=first - 1, lte=last)
