"""Jobs as every entry point sees them: queue a pre-label job, read it, cancel it.

The HTTP API and the CLI call ``JobService``; who runs a queued job is not decided here:
``JobService`` hands each new job to a ``JobDispatch`` (the composition root's choice: the
embedded worker pool, or Redis Streams for ``labelwright worker`` processes), and the event
log stays the truth (a job whose hand-over was lost is found there again).

A pre-label job fixes its images when it is queued: ``"all"`` the project's images,
``"unlabeled"`` those whose status is ``new`` (nobody has annotated, accepted, edited,
rejected, submitted or reviewed anything on them; pre-labels alone leave an image ``new``),
or a list of image ids of the project. Score and train jobs are checked and queued by
``score_jobs.ScoreJobs`` and ``train_jobs.TrainJobs``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from domain.application import Labeling
from domain.errors import NotFound, ValidationFailed
from domain.job import JOB_TYPES, Job
from domain.model import Model
from event_store.positions import log_head

PAGE = 1000
DEFAULT_SHARD_SIZE = 64
MAX_LISTED_IMAGES = 100_000  # ids in one request's "images" list
MAX_PER_IMAGE = 1000
IMAGE_SELECTIONS = ("all", "unlabeled")
PRELABEL_TASKS = ("detect", "segment", "classify")
_PRELABEL_FIELDS = {"type", "model_id", "images", "threshold", "iou", "max_per_image"}


class JobDispatch(Protocol):
    """Hands a queued job to whoever runs jobs (``inference_workers.job_queue``)."""

    def publish(self, job: Job) -> None: ...


class ImageListing(Protocol):
    """What choosing a job's images needs of the read models."""

    def list_images(self, project_id: str, status: str | None, limit: int,
                    cursor: str | None) -> tuple[list[dict[str, Any]], str | None]: ...

    def image(self, image_id: str) -> dict[str, Any] | None: ...

    def wait_for(self, position: int | None, timeout: float = 5.0) -> bool: ...


@dataclass(frozen=True)
class PrelabelRequest:
    """A pre-label job as asked for (``POST /projects/{id}/jobs``)."""

    model_id: str
    images: str | list[str]
    threshold: float
    iou: float
    max_per_image: int

    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "iou": self.iou,
                "max_per_image": self.max_per_image,
                "images": self.images if isinstance(self.images, str) else "list"}


def _fraction(raw: dict[str, Any], name: str, default: float) -> float:
    value = raw.get(name, default)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0.0 <= value <= 1.0):
        raise ValidationFailed(f"{name} must be a number between 0 and 1", {"field": name})
    return float(value)


def parse_job_request(raw: object) -> PrelabelRequest:
    """The body of a job request, checked for shape (422 with ``details.field``)."""
    if not isinstance(raw, dict):
        raise ValidationFailed("a job request is a JSON object", {"field": "body"})
    kind = raw.get("type")
    if kind not in JOB_TYPES:
        raise ValidationFailed(f"type must be one of {', '.join(JOB_TYPES)}",
                               {"field": "type", "allowed": list(JOB_TYPES)})
    extra = sorted(set(raw) - _PRELABEL_FIELDS)
    if extra:
        raise ValidationFailed(f"unexpected field {extra[0]!r} in a prelabel job",
                               {"field": extra[0]})
    model_id = raw.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise ValidationFailed("model_id is required: the id of a registered model",
                               {"field": "model_id"})
    images = parse_images(raw.get("images", "unlabeled"))
    max_per_image = raw.get("max_per_image", 300)
    if (isinstance(max_per_image, bool) or not isinstance(max_per_image, int)
            or not 1 <= max_per_image <= MAX_PER_IMAGE):
        raise ValidationFailed(f"max_per_image must be a whole number from 1 to "
                               f"{MAX_PER_IMAGE}", {"field": "max_per_image"})
    return PrelabelRequest(model_id=model_id, images=images,
                           threshold=_fraction(raw, "threshold", 0.25),
                           iou=_fraction(raw, "iou", 0.45), max_per_image=max_per_image)


def parse_images(images: object) -> str | list[str]:
    """A job request's ``images``: ``"all"``, ``"unlabeled"`` or a list of image ids."""
    if isinstance(images, list):
        if not images or len(images) > MAX_LISTED_IMAGES:
            raise ValidationFailed(f"images must list between 1 and {MAX_LISTED_IMAGES} image "
                                   "ids", {"field": "images"})
        for i, iid in enumerate(images):
            if not isinstance(iid, str):
                raise ValidationFailed("images must be a list of image ids (strings)",
                                       {"field": f"images[{i}]"})
        return images
    if images not in IMAGE_SELECTIONS:
        raise ValidationFailed('images must be "all", "unlabeled" or a list of image ids',
                               {"field": "images", "allowed": list(IMAGE_SELECTIONS)})
    assert isinstance(images, str)
    return images


def runnable_model(app: Labeling, project_id: str, model_id: str) -> Model:
    """The project's model ``model_id``, if it may run a pre-label job now."""
    try:
        model = app.model(model_id)
    except NotFound:
        model = None
    if model is None or model.project_id != project_id:
        raise ValidationFailed(f"no model {model_id!r} in this project", {"field": "model_id"})
    model.check_runnable()  # retired: 409 conflict
    if model.task not in PRELABEL_TASKS:
        raise ValidationFailed(f"a {model.task} model does not pre-label images (it assists "
                               "drawing)", {"field": "model_id"})
    return model


def choose_images(app: Labeling, read: ImageListing, project_id: str,
                  images: str | list[str]) -> list[str]:
    """The job's image ids, in the project's order (``"all"``, ``"unlabeled"``) or as listed
    (duplicates dropped); an id that is not an image of the project is refused."""
    if isinstance(images, list):
        seen: dict[str, None] = {}
        for i, raw in enumerate(images):
            row = read.image(raw)
            owner = row["project_id"] if row is not None else _project_of(app, raw)
            if owner != project_id:
                raise ValidationFailed(f"no image {raw!r} in this project",
                                       {"field": f"images[{i}]"})
            seen.setdefault(str(UUID(raw)), None)
        return list(seen)
    # The listing must include images added a moment ago (and their current status).
    read.wait_for(log_head(app), 5.0)
    status = "new" if images == "unlabeled" else None
    ids: list[str] = []
    cursor: str | None = None
    while True:
        rows, cursor = read.list_images(project_id, status, PAGE, cursor)
        ids.extend(str(row["id"]) for row in rows)
        if not cursor:
            return ids


def _project_of(app: Labeling, image_id: str) -> str | None:
    try:
        return app.image_added(UUID(image_id)).project_id
    except (NotFound, ValueError):
        return None


class JobQueuer(Protocol):
    """Checks a request for one type of job and queues it (``score_jobs``, ``train_jobs``);
    the service publishes what it returns."""

    def queue(self, service: JobService, project_id: str, actor: str, raw: object) -> Job: ...


class JobService:
    """Queue, read and cancel jobs (the HTTP API and the CLI share it)."""

    def __init__(self, app: Labeling, read: ImageListing, dispatch: JobDispatch,
                 shard_size: int = DEFAULT_SHARD_SIZE,
                 queuers: dict[str, JobQueuer] | None = None) -> None:
        self.app = app
        self.read = read
        self.dispatch = dispatch
        self.shard_size = max(1, shard_size)
        if queuers is None:
            from service_layer.score_jobs import ScoreJobs
            from service_layer.train_jobs import TrainJobs

            queuers = {"score": ScoreJobs(), "train": TrainJobs()}
        self.queuers = queuers

    def queue(self, project_id: str, actor: str, raw: object) -> Job:
        """Check and queue a job (the caller checked that ``actor`` may run jobs here)."""
        self.app.project(project_id)
        kind = raw.get("type") if isinstance(raw, dict) else None
        if isinstance(kind, str) and kind in self.queuers:
            job = self.queuers[kind].queue(self, project_id, actor, raw)
            self.dispatch.publish(job)
            return job
        request = parse_job_request(raw)
        model = runnable_model(self.app, project_id, request.model_id)
        image_ids = choose_images(self.app, self.read, project_id, request.images)
        if not image_ids:
            what = "unlabeled images (status new)" if request.images == "unlabeled" else "images"
            raise ValidationFailed(f"the project has no {what} to pre-label",
                                   {"field": "images"})
        job, _ = self.app.queue_job(project_id, actor, type="prelabel", model_id=str(model.id),
                                    params=request.params(), image_ids=image_ids,
                                    shard_size=self.shard_size)
        self.dispatch.publish(job)
        return job

    def job(self, job_id: str) -> Job:
        return self.app.job(job_id)

    def project_jobs(self, project_id: str, limit: int = 50) -> list[Job]:
        return self.app.project_jobs(project_id, limit)

    def cancel(self, job_id: str, actor: str) -> Job:
        """Cancel (a cancelled job stays cancelled; a done or failed one is 409)."""
        job, _ = self.app.change_job(job_id, lambda j: j.cancel(actor))
        return job
