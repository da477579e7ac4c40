"""Running one shard of a pre-label job: decode, predict, record, and mark the shard done.

A shard is a fixed slice of the job's images (``Job.shard(i)``). Working on it:

1. load the model's runner (kept by ``LoadedModel``: one loaded model per worker thread);
2. decode the shard's images on a prefetch thread, a batch (``runner.batch_size``) ahead of
   inference, so decoding overlaps the model (PIL and ONNX Runtime/torch release the GIL);
   a file that cannot be decoded counts as ``failed`` with an error on the job;
3. before each batch, look at the job: cancelled (or finished elsewhere) stops the shard;
4. map each prediction onto the project (``plan_prelabels``): the model's class through the
   model's ``class_map`` (unmapped: dropped), an annotation type the project uses (else
   dropped), the geometry clipped to the image and validated (invalid: dropped);
5. hand each image's pre-labels to the command pipeline as one request (one atomic batch
   per image, so an image is never half-recorded), without waiting: recording overlaps the
   next batch's inference; the requests are awaited before the shard is marked done;
6. record ``ShardDone`` (and ``JobFinished`` when it was the last pending shard) in one save.

Every pre-label's command id is derived from the job, the image and the prediction's index
(``prelabel_command_id``), and the requests are made as the job's creator, so running a shard
again (a worker died before ``ShardDone``, two workers raced for it, the job was resumed after
a restart) records nothing twice: the pipeline answers a repeated batch with its first result.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
from eventsourcing.utils import get_topic
from PIL import Image as PILImage

from domain import geometry as g
from domain.application import Labeling
from domain.command_pipeline import Actor, CommandPipeline, CommandResult
from domain.commands import ProposePrelabel
from domain.errors import DomainError, NotFound, ValidationFailed
from domain.job import MAX_SHARD_ERRORS, Job
from domain.model import Model
from domain.project import LabelSchema
from inference_workers.model_api import Prediction, RGBImage, Runner
from service_layer.image_store import ImageStore

log = logging.getLogger(__name__)

# How often, at most, a running shard looks for its job's new events (~0.1 ms): 0 looks before
# every batch, so a cancel costs at most the batch in flight.
CANCEL_CHECK_SECONDS = 0.0
RECORD_TIMEOUT = 300.0  # seconds to wait for the pipeline to record one image
PREDICTION_TYPES = ("box", "polygon", "mask", "tag", "point")

LoadRunner = Callable[[Model, Path], Runner]


class JobFailure(Exception):
    """The job cannot go on (its model is gone, its weights do not load, the model failed):
    the job is recorded as failed with ``code`` and the message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def prelabel_command_id(job_id: str, image_id: str, index: int) -> str:
    """The command id of a job's ``index``-th pre-label on an image (deterministic, so a
    re-run of the job's shard is recognised as a repeat)."""
    return f"job:{job_id}:{image_id}:{index}"


# -- from model outputs to commands ----------------------------------------------------------


def _clip_box(geometry: dict[str, Any], width: int, height: int) -> dict[str, Any]:
    x, y = float(geometry["x"]), float(geometry["y"])
    right, bottom = x + float(geometry["w"]), y + float(geometry["h"])
    x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x1, y1 = min(max(right, 0.0), width), min(max(bottom, 0.0), height)
    return {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}


def _clip_points(points: Sequence[Sequence[float]], width: int, height: int
                 ) -> list[list[float]]:
    return [[min(max(float(px), 0.0), width), min(max(float(py), 0.0), height)]
            for px, py in points]


def clip_geometry(kind: str, geometry: dict[str, Any], width: int, height: int
                  ) -> dict[str, Any]:
    """A model's geometry clipped to the image (a detector's box may reach past the border;
    the domain refuses more than 1 px of that). Masks and tags pass as they are."""
    if kind == "box":
        return _clip_box(geometry, width, height)
    if kind == "polygon":
        return {"points": _clip_points(geometry["points"], width, height)}
    if kind == "point":
        return {"x": min(max(float(geometry["x"]), 0.0), width),
                "y": min(max(float(geometry["y"]), 0.0), height)}
    return geometry


@dataclass
class ImagePlan:
    """One image's pre-labels, ready for the pipeline, and what was dropped."""

    commands: list[ProposePrelabel]
    dropped: int


def plan_prelabels(predictions: Sequence[Prediction], *, model: Model, job_id: str,
                   image_id: str, width: int, height: int, schema: LabelSchema) -> ImagePlan:
    """The commands recording ``predictions`` on one image: mapped onto the project's
    classes, of a type the project uses, with a valid geometry; the rest is dropped."""
    commands: list[ProposePrelabel] = []
    dropped = 0
    for index, p in enumerate(predictions):
        label = model.class_map.get(p.label)
        score = float(p.score)
        if (label is None or p.type not in schema.annotation_types
                or label not in schema.active_classes or not math.isfinite(score)):
            dropped += 1
            continue
        try:
            geometry = g.parse_geometry(p.type, clip_geometry(p.type, p.geometry, width, height),
                                        width, height).to_json()
        except (ValidationFailed, KeyError, TypeError, ValueError):
            dropped += 1
            continue
        commands.append(ProposePrelabel(
            command_id=prelabel_command_id(job_id, image_id, index), base_version=None,
            annotation_type=p.type, label=label, geometry=geometry, model_name=model.name,
            model_version=model.model_version, score=min(max(score, 0.0), 1.0),
            model_id=str(model.id), job_id=job_id))
    return ImagePlan(commands, dropped)


# -- runners -----------------------------------------------------------------------------------


def default_load_runner(device: str | None, threads: int | None) -> LoadRunner:
    """Load with ``inference_workers.runners.load_runner`` on ``device`` with ``threads``
    intra-op threads (imported late: torch and ONNX Runtime are heavy)."""
    def load(model: Model, weights: Path) -> Runner:
        from inference_workers.runners import load_runner

        return load_runner(model, weights, device=device, threads=threads)

    return load


class LoadedModel:
    """The loaded model of one worker thread (runners are not thread-safe): loading a model
    takes a while, and consecutive shards are usually of the same job."""

    def __init__(self, models: ImageStore, load: LoadRunner) -> None:
        self.models = models
        self.load = load
        self._key: tuple[str, str] | None = None
        self._runner: Runner | None = None

    def get(self, model: Model) -> Runner:
        key = (str(model.id), model.sha256)
        if self._key == key and self._runner is not None:
            return self._runner
        self._runner = None  # let the previous model go before loading the next
        weights = self.models.path(model.sha256)
        if not weights.is_file():
            raise JobFailure("model_missing", f"the weights of model {model.name}@"
                             f"{model.model_version} are missing from the model store")
        try:
            runner = self.load(model, weights)
        except Exception as e:
            log.exception("loading model %s failed", model.id)
            raise JobFailure("model_error", f"model {model.name}@{model.model_version} did "
                             f"not load: {e}") from e
        self._key, self._runner = key, runner
        return runner


# -- decoding ahead of inference ---------------------------------------------------------------


@dataclass
class Decoded:
    image_id: str
    width: int = 0
    height: int = 0
    pixels: RGBImage | None = None
    error: str | None = None


def decode_image(app: Labeling, images: ImageStore, project_id: str, image_id: str
                 ) -> Decoded:
    """An image of the job as RGB pixels, or why not (counted as failed)."""
    try:
        facts = app.image_added(UUID(image_id))
    except (NotFound, ValueError):
        return Decoded(image_id, error="the image does not exist")
    if facts.project_id != project_id:
        return Decoded(image_id, error="the image is not in the job's project")
    try:
        with PILImage.open(images.path(facts.sha256)) as im:
            pixels = np.array(im.convert("RGB"))  # writable: torch takes it as it is
    except Exception as e:  # a missing, truncated or corrupt file: this image fails alone
        return Decoded(image_id, facts.width, facts.height,
                       error=f"the image file could not be decoded: {type(e).__name__}: {e}")
    height, width = pixels.shape[:2]
    return Decoded(image_id, width, height, pixels)


class Prefetcher:
    """Decodes ``image_ids`` in batches on a thread, ``ahead`` batches before they are
    needed. Iterate to get the batches; ``close()`` stops the thread early."""

    def __init__(self, decode: Callable[[str], Decoded], image_ids: Sequence[str],
                 batch_size: int, ahead: int = 2) -> None:
        self._decode = decode
        self._ids = list(image_ids)
        self._batch = max(1, batch_size)
        self._queue: queue.Queue[list[Decoded] | BaseException | None] = queue.Queue(ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prelabel-decode", daemon=True)
        self._thread.start()

    def _put(self, item: list[Decoded] | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for start in range(0, len(self._ids), self._batch):
                batch = [self._decode(iid) for iid in self._ids[start:start + self._batch]]
                if not self._put(batch):
                    return
        except BaseException as e:  # handed to the consumer, which raises it
            self._put(e)
            return
        self._put(None)

    def __iter__(self) -> Iterator[list[Decoded]]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


class DecodeAhead:
    """The next shard's decoder of one worker thread: started when a shard ends (``start``),
    taken by the next ``run_shard`` if it is for that shard (``take``); any other is stopped."""

    def __init__(self, app: Labeling, images: ImageStore) -> None:
        self.app = app
        self.images = images
        self._next: tuple[str, int, Prefetcher] | None = None

    def decoder(self, job: Job, index: int, batch_size: int) -> Prefetcher:
        """A decoder of shard ``index`` of ``job``, starting now."""
        project_id = job.project_id
        return Prefetcher(lambda iid: decode_image(self.app, self.images, project_id, iid),
                          job.shard(index), batch_size)

    def start(self, job_id: str, job: Job, index: int, batch_size: int) -> None:
        self.close()
        self._next = (job_id, index, self.decoder(job, index, batch_size))

    def take(self, job_id: str, index: int) -> Prefetcher | None:
        """The decoder started for this shard, if any (one for another shard is stopped)."""
        ahead, self._next = self._next, None
        if ahead is None:
            return None
        if ahead[:2] == (job_id, index):
            return ahead[2]
        ahead[2].close()
        return None

    def close(self) -> None:
        ahead, self._next = self._next, None
        if ahead is not None:
            ahead[2].close()


# -- one shard ---------------------------------------------------------------------------------


@dataclass
class ShardReport:
    """What working on a shard did (``recorded``: the shard's pre-labels in the log)."""

    job_id: str
    shard: int
    done: int = 0
    failed: int = 0
    recorded: int = 0
    dropped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None  # why the shard was left unfinished (cancelled, ...)
    seconds: float = 0.0
    record_wait: float = 0.0  # seconds spent waiting for the pipeline after inference
    inference: list[float] = field(default_factory=list)  # seconds of each batch's model call

    def error(self, image_id: str, message: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_SHARD_ERRORS:
            self.errors.append({"image_id": image_id, "message": message})


LOGGED_IMAGE_IDS = 5  # a job step's log line names its shard's first few images (counts all)


def step_fields(job: Job, index: int) -> dict[str, Any]:
    """The log fields of shard ``index`` of ``job`` (``job_queue.work_on_shard`` writes them
    with ``job_id``, ``shard``, ``outcome`` and ``duration_ms``): its type and project, the
    user who queued it, its images' count and first ids."""
    images = job.shard(index)
    return {"job_type": job.type, "project_id": job.project_id, "user": job.created_by,
            "image_count": len(images), "image_ids": images[:LOGGED_IMAGE_IDS]}


def shard_to_run(app: Labeling, job_id: str, index: int, kind: str, report: ShardReport,
                 prefetched: Prefetcher | None) -> tuple[Job, Model] | None:
    """The job and its model when shard ``index`` still needs running; None (the decoder
    started for it closed, ``report.stopped`` saying why) when the job ended or the shard is
    done. A job of another type than ``kind``, or whose model is gone, is a ``JobFailure``."""
    job = app.job(job_id)
    if job.finished or index in job.shards_done or index >= job.shard_count:
        if prefetched is not None:
            prefetched.close()
        report.stopped = job.state if job.finished else "already done"
        return None
    if job.type != kind:
        raise JobFailure("unsupported", f"a {kind} worker cannot run {job.type} jobs")
    try:
        model = app.model(str(job.model_id))
    except NotFound:
        raise JobFailure("model_missing", f"the job's model {job.model_id} does not "
                         "exist") from None
    return job, model


class PrelabelWork:
    """Runs shards of pre-label jobs for one worker thread (not thread-safe: one per thread,
    each with its own ``LoadedModel``)."""

    def __init__(self, app: Labeling, pipeline: CommandPipeline, images: ImageStore,
                 runners: LoadedModel, worker: str) -> None:
        self.app = app
        self.pipeline = pipeline
        self.images = images
        self.runners = runners
        self.worker = worker
        self.ahead = DecodeAhead(app, images)  # the next shard, decoding
        self.attempts: dict[tuple[str, int], int] = {}  # errors in a row, per (job, shard)
        self.step: dict[str, Any] = {}  # the last shard's log fields (``step_fields``)

    def run_shard(self, job_id: str, index: int,
                  should_stop: Callable[[], bool] = lambda: False,
                  then: int | None = None) -> ShardReport:
        """Work on shard ``index`` of the job and record it done (a shard already done, or
        of a finished job, is left alone: ``stopped`` says so). Raises ``JobFailure`` when
        the job cannot go on; the caller records the failure (``fail_job``). ``then``: the
        shard the caller will ask for next, whose first images are decoded while this one's
        pre-labels are being recorded."""
        self.step = {}
        prefetched = self.ahead.take(job_id, index)
        try:
            return self._run_shard(job_id, index, should_stop, then, prefetched)
        except BaseException:
            if prefetched is not None:  # closing twice is harmless
                prefetched.close()
            raise

    def _run_shard(self, job_id: str, index: int, should_stop: Callable[[], bool],
                   then: int | None, prefetched: Prefetcher | None) -> ShardReport:
        started = time.perf_counter()
        report = ShardReport(job_id, index)
        found = shard_to_run(self.app, job_id, index, "prelabel", report, prefetched)
        if found is None:
            return report
        job, model = found
        self.step = step_fields(job, index)
        runner = self.runners.get(model)
        if job.state == "queued":
            self.app.change_job(job_id, lambda j: j.start(self.worker))
        schema = self.app.project(job.project_id).schema()
        params = job.params
        actor = Actor(job.created_by, trusted=True)
        in_flight: list[tuple[str, int, Future[CommandResult]]] = []
        watch = _JobWatch(self.app, job, should_stop)
        batch_size = getattr(runner, "batch_size", 1) or 1
        prefetch = prefetched or self.ahead.decoder(job, index, batch_size)
        try:
            for batch in prefetch:
                report.stopped = watch.stopped()
                if report.stopped:
                    break
                self._predict_and_submit(batch, runner, model, job_id, schema, params, actor,
                                         report, in_flight)
        finally:
            prefetch.close()
        if report.stopped is None and then is not None and then < job.shard_count:
            self.ahead.start(job_id, job, then, batch_size)
        waited = time.perf_counter()
        self._collect(in_flight, report)
        report.record_wait = time.perf_counter() - waited
        if report.stopped is None:
            self._mark_done(job_id, report)
        report.seconds = time.perf_counter() - started
        return report

    def close(self) -> None:
        """Stop decoding ahead (the worker thread is ending)."""
        self.ahead.close()

    def _predict_and_submit(self, batch: list[Decoded], runner: Runner, model: Model,
                            job_id: str, schema: LabelSchema, params: dict[str, Any],
                            actor: Actor, report: ShardReport,
                            in_flight: list[tuple[str, int, Future[CommandResult]]]) -> None:
        ready = []
        for item in batch:
            if item.pixels is None:
                report.error(item.image_id, item.error or "the image could not be decoded")
            else:
                ready.append(item)
        if not ready:
            return
        try:
            started = time.perf_counter()
            outputs = runner.predict([item.pixels for item in ready if item.pixels is not None],
                                     threshold=float(params.get("threshold", 0.25)),
                                     iou=float(params.get("iou", 0.45)),
                                     max_per_image=int(params.get("max_per_image", 300)))
            report.inference.append(time.perf_counter() - started)
        except Exception as e:
            log.exception("model %s failed on a batch of job %s", model.id, job_id)
            raise JobFailure("model_error", f"model {model.name}@{model.model_version} "
                             f"failed: {type(e).__name__}: {e}") from e
        plans: list[tuple[UUID, list[ProposePrelabel]]] = []
        counts: list[tuple[str, int]] = []
        for item, predictions in zip(ready, outputs, strict=True):
            plan = plan_prelabels(predictions, model=model, job_id=job_id,
                                  image_id=item.image_id, width=item.width,
                                  height=item.height, schema=schema)
            report.dropped += plan.dropped
            if plan.commands:
                plans.append((UUID(item.image_id), plan.commands))
                counts.append((item.image_id, len(plan.commands)))
            else:
                report.done += 1  # nothing to record: the image is done
        if plans:
            futures = self.pipeline.submit_many(plans, actor)
            in_flight.extend((iid, n, f) for (iid, n), f in zip(counts, futures, strict=True))

    @staticmethod
    def _collect(in_flight: list[tuple[str, int, Future[CommandResult]]],
                 report: ShardReport) -> None:
        for image_id, count, future in in_flight:
            try:
                result = future.result(RECORD_TIMEOUT)
            except ValidationFailed as e:
                if e.details.get("field") == "command_id":
                    # Recorded before by this job with a different number of predictions (a
                    # worker on other hardware): the image's pre-labels are in the log.
                    report.done += 1
                    continue
                report.error(image_id, f"not recorded: {e.message}")
                continue
            except DomainError as e:
                report.error(image_id, f"not recorded: {e.message}")
                continue
            report.done += 1
            # A repeat (the shard ran before and died before ShardDone) counts what the first
            # run recorded: the job's total is what the log holds.
            report.recorded += len(result.events) if result.repeated else count

    def _mark_done(self, job_id: str, report: ShardReport) -> None:
        def change(job: Job) -> None:
            job.shard_done(report.shard, done=report.done, failed=report.failed,
                           recorded=report.recorded, errors=report.errors,
                           dropped=report.dropped)
            if not job.finished and not job.pending_shards():
                job.finish(job_result(job))

        self.app.change_job(job_id, change)


def job_result(job: Job) -> dict[str, Any]:
    """What a finished pre-label job reports (``result``)."""
    return {"images": job.done, "failed": job.failed, "recorded": job.recorded,
            "dropped": job.dropped}


def fail_job(app: Labeling, job_id: str, failure: JobFailure) -> None:
    """Record that the job cannot go on (nothing if it already ended)."""
    app.change_job(job_id, lambda j: j.fail(failure.code, failure.message))


_ENDS = {get_topic(Job.JobCancelled): "cancelled", get_topic(Job.JobFinished): "done",
         get_topic(Job.JobFailed): "failed"}


class _JobWatch:
    """Tells a running shard to stop: the job was cancelled or ended elsewhere, or the worker
    is stopping. Before each batch it asks the store for the job's events after those it has
    seen (one indexed query of the stored rows, nothing decoded: ~0.1 ms), at most every
    ``CANCEL_CHECK_SECONDS``."""

    def __init__(self, app: Labeling, job: Job, should_stop: Callable[[], bool]) -> None:
        self.app = app
        self.job_id = job.id
        self.version = job.version  # the job was read just before the first batch
        self.should_stop = should_stop
        self._checked = time.monotonic()

    def stopped(self) -> str | None:
        if self.should_stop():
            return "worker stopping"
        now = time.monotonic()
        if now - self._checked < CANCEL_CHECK_SECONDS:
            return None
        self._checked = now
        for stored in self.app.recorder.select_events(self.job_id, gt=self.version):
            self.version = stored.originator_version
            if stored.topic in _ENDS:
                return _ENDS[stored.topic]
        return None
