"""Running one shard of a score job: per image, the model's class probabilities, uncertainty and
an embedding, the inputs of active-learning selection (``domain.image_scores``).

Working on a shard is what a pre-label job does (``prelabel_job``: the same loaded model per
worker thread, decoding a batch ahead of the model, the job looked at before each batch so a
cancel stops it), except what is recorded: the shard's ``ImageScore`` s, in one event, in the
same transaction as the job's ``ShardDone`` (``Labeling.record_scored_shard``), so a shard run
twice is recorded once.

Per image (the runner's ``model_api.Scorer.score``):

* a **classifier**: ``probabilities`` its softmax; ``least_confidence`` = 1 - p1, ``margin`` =
  1 - (p1 - p2), ``entropy`` = H(p) / log(classes), where p1 >= p2 are the two highest
  probabilities. All three are *uncertainties*: higher = less sure, in [0, 1].
* a **detector**: ``probabilities`` per class its best box's confidence (0 where none); each box
  (confidence >= ``SCORE_THRESHOLD``) is a yes/no question with p = its confidence, whose
  least confidence (min(p, 1 - p)), margin (1 - |2p - 1|) and entropy (nats) are aggregated
  over the image's boxes by the job's ``aggregate``: ``max`` (the least sure box), ``mean`` or
  ``sum`` (grows with the number of unsure boxes; not bounded by 1), as
  ``selection.image_uncertainty`` defines them. An image with no box has 0. With ``tta``,
  ``stability`` is the localisation instability under test-time augmentation
  (``detection_tta``), else None.
* ``embedding``: the runner's, clipped to the float16 range the event stores.

An image that cannot be decoded, or whose model output is NaN or infinite, counts as failed
with an error on the job (nothing recorded for it); a model that fails or cannot be scored
fails the job (``JobFailure``: ``model_error``, ``unsupported``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.application import Labeling
from domain.image_scores import ImageScore, encode_embedding
from domain.job import Job
from domain.model import Model
from inference_workers.model_api import (
    SCORE_THRESHOLD,
    CannotScore,
    RawScore,
    RGBImage,
    Scorer,
)
from inference_workers.prelabel_job import (
    DecodeAhead,
    Decoded,
    JobFailure,
    LoadedModel,
    Prefetcher,
    ShardReport,
    _JobWatch,
    shard_to_run,
)
from inference_workers.selection import image_uncertainty
from service_layer.image_store import ImageStore

log = logging.getLogger(__name__)

BOX_IOU = 0.45  # class-aware NMS of a detector's boxes before scoring
MAX_BOXES = 100  # boxes per image at most
FLOAT16_MAX = 65504.0
NOT_FINITE = ("the model's output for this image is not a number (NaN or infinity); no score "
              "was recorded for it")


def classifier_uncertainty(probabilities: npt.NDArray[np.floating]) -> dict[str, float | None]:
    """Least confidence, margin and normalised entropy of one probability vector (higher =
    less sure, each in [0, 1]); ``stability`` None."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    top = np.sort(p)[::-1]
    p1 = float(top[0]) if top.size else 0.0
    p2 = float(top[1]) if top.size > 1 else 0.0
    nonzero = p[p > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum() / math.log(p.size)) if p.size > 1 else 0.0
    return {"least_confidence": _unit(1.0 - p1), "margin": _unit(1.0 - (p1 - p2)),
            "entropy": _unit(entropy), "stability": None}


def _unit(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _finite(raw: RawScore) -> bool:
    parts = [raw.probabilities, raw.box_scores, raw.boxes, raw.embedding]
    return all(bool(np.isfinite(part).all()) for part in parts if part is not None)


def image_score(image_id: str, raw: RawScore, aggregate: str, stability: float | None
                ) -> ImageScore:
    """One image's ``ImageScore`` from what its model said (finite: see ``_finite``)."""
    if raw.box_scores is None:
        uncertainty = classifier_uncertainty(raw.probabilities)
        boxes = 0
    else:
        uncertainty = {**image_uncertainty(np.clip(raw.box_scores, 0.0, 1.0), aggregate),
                       "stability": stability}
        boxes = len(raw.box_scores)
    embedding = None
    dims = 0
    if raw.embedding is not None:
        vector = np.clip(np.asarray(raw.embedding, dtype=np.float32).ravel(), -FLOAT16_MAX,
                         FLOAT16_MAX)
        embedding, dims = encode_embedding(vector), int(vector.size)
    return ImageScore(image_id=image_id,
                      probabilities=[float(v) for v in np.asarray(raw.probabilities).ravel()],
                      uncertainty=uncertainty, embedding=embedding, dims=dims, boxes=boxes)


def score_job_result(app: Labeling, job: Job, scores: Sequence[ImageScore]) -> dict[str, Any]:
    """What a finished score job reports (``result``): images scored, failed, the embeddings'
    width (0: none), how box uncertainties were aggregated and whether TTA ran."""
    dims = next((s.dims for s in scores), None)
    for shard in ([] if dims is not None else job.shards_done):
        recorded = app.scored_shard(str(job.id), shard)
        if recorded is not None and recorded.scores:
            dims = int(recorded.scores[0]["dims"])
            break
    return {"images": job.done, "failed": job.failed, "embedding_dims": dims or 0,
            "aggregate": job.params.get("aggregate", "max"),
            "tta": bool(job.params.get("tta", False))}


class _ProbabilitiesScorer:
    """A classifier runner with ``probabilities(images) -> (N, C)`` (and maybe
    ``embed(images) -> (N, D)``) as a ``Scorer`` (the built-in tag classifier)."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def score(self, images: list[RGBImage], *, threshold: float = SCORE_THRESHOLD,
              iou: float = BOX_IOU, max_per_image: int = MAX_BOXES) -> list[RawScore]:
        probabilities = np.asarray(self.runner.probabilities(images), dtype=np.float32)
        embed = getattr(self.runner, "embed", None)
        embeddings = (np.asarray(embed(images), dtype=np.float32) if callable(embed)
                      else [None] * len(images))
        return [RawScore(p, embedding=e) for p, e in zip(probabilities, embeddings,
                                                         strict=True)]


def scorer_of(runner: Any) -> Scorer | None:
    """The runner's ``Scorer``: itself when it has ``score``, an adapter when it gives
    classifier ``probabilities``, else None (it cannot be scored)."""
    if callable(getattr(runner, "score", None)):
        scorer: Scorer = runner
        return scorer
    if callable(getattr(runner, "probabilities", None)):
        return _ProbabilitiesScorer(runner)
    return None


class ScoreWork:
    """Runs shards of score jobs for one worker thread (not thread-safe: one per thread, each
    with its own ``LoadedModel``, which it shares with the thread's pre-label work)."""

    def __init__(self, app: Labeling, images: ImageStore, runners: LoadedModel,
                 worker: str) -> None:
        self.app = app
        self.images = images
        self.runners = runners
        self.worker = worker
        self.ahead = DecodeAhead(app, images)

    def run_shard(self, job_id: str, index: int,
                  should_stop: Callable[[], bool] = lambda: False,
                  then: int | None = None) -> ShardReport:
        """Score shard ``index`` of the job and record it with its ``ShardDone`` (a shard
        already done, or of a finished job, is left alone: ``stopped`` says so). Raises
        ``JobFailure`` when the job cannot go on. ``then``: the shard to decode ahead."""
        prefetched = self.ahead.take(job_id, index)
        try:
            return self._run_shard(job_id, index, should_stop, then, prefetched)
        except BaseException:
            if prefetched is not None:
                prefetched.close()
            raise

    def close(self) -> None:
        self.ahead.close()

    def _run_shard(self, job_id: str, index: int, should_stop: Callable[[], bool],
                   then: int | None, prefetched: Prefetcher | None) -> ShardReport:
        started = time.perf_counter()
        report = ShardReport(job_id, index)
        found = shard_to_run(self.app, job_id, index, "score", report, prefetched)
        if found is None:
            return report
        job, model = found
        runner = self.runners.get(model)
        scorer = scorer_of(runner)
        if scorer is None:
            raise JobFailure("unsupported", f"model {model.name}@{model.model_version} "
                             f"({model.format}, {model.layout}) cannot be scored: its runner "
                             "gives no probabilities or embeddings")
        if job.state == "queued":
            self.app.change_job(job_id, lambda j: j.start(self.worker))
        aggregate = str(job.params.get("aggregate", "max"))
        tta = bool(job.params.get("tta", False))
        watch = _JobWatch(self.app, job, should_stop)
        batch_size = getattr(runner, "batch_size", 1) or 1
        scores: list[ImageScore] = []
        prefetch = prefetched or self.ahead.decoder(job, index, batch_size)
        try:
            for batch in prefetch:
                report.stopped = watch.stopped()
                if report.stopped:
                    break
                scores.extend(self._score_batch(batch, scorer, model, aggregate, tta, report))
        finally:
            prefetch.close()
        if report.stopped is None and then is not None and then < job.shard_count:
            self.ahead.start(job_id, job, then, batch_size)
        if report.stopped is None:
            report.done = report.recorded = len(scores)
            self._record(job_id, report, scores, aggregate)
        report.seconds = time.perf_counter() - started
        return report

    def _score(self, scorer: Scorer, model: Model, images: list[RGBImage]) -> list[RawScore]:
        try:
            return scorer.score(images, threshold=SCORE_THRESHOLD, iou=BOX_IOU,
                                max_per_image=MAX_BOXES)
        except CannotScore as e:
            raise JobFailure("unsupported", f"model {model.name}@{model.model_version} "
                             f"cannot be scored: {e}") from e
        except Exception as e:
            log.exception("model %s failed scoring a batch", model.id)
            raise JobFailure("model_error", f"model {model.name}@{model.model_version} "
                             f"failed: {type(e).__name__}: {e}") from e

    def _score_batch(self, batch: list[Decoded], scorer: Scorer, model: Model, aggregate: str,
                     tta: bool, report: ShardReport) -> list[ImageScore]:
        ready: list[tuple[str, RGBImage]] = []
        for item in batch:
            if item.pixels is None:
                report.error(item.image_id, item.error or "the image could not be decoded")
            else:
                ready.append((item.image_id, item.pixels))
        if not ready:
            return []
        pixels = [p for _, p in ready]
        started = time.perf_counter()
        raws = self._score(scorer, model, pixels)
        report.inference.append(time.perf_counter() - started)
        stabilities: list[float | None] = [None] * len(ready)
        if tta and any(raw.boxes is not None for raw in raws):
            stabilities = list(self._stabilities(scorer, model, pixels, raws))
        out: list[ImageScore] = []
        for (image_id, _), raw, stability in zip(ready, raws, stabilities, strict=True):
            if not _finite(raw):
                report.error(image_id, NOT_FINITE)
                continue
            out.append(image_score(image_id, raw, aggregate, stability))
        return out

    def _stabilities(self, scorer: Scorer, model: Model, pixels: list[RGBImage],
                     raws: list[RawScore]) -> list[float | None]:
        """Per image, its localisation stability under ``detection_tta.AUGMENTATIONS``."""
        # Imported here: detection_tta brings torch and kornia (~200 MB), which a server whose
        # job threads never run a TTA score job should not carry (idle RSS target 150 MB).
        from inference_workers.detection_tta import (
            AUGMENTATIONS,
            augment,
            localisation_stability,
        )

        found: list[list[npt.NDArray[np.float64]]] = [[] for _ in pixels]
        for augmentation in AUGMENTATIONS:
            augmented = self._score(scorer, model, augment(pixels, augmentation))
            for i, (image, raw) in enumerate(zip(pixels, augmented, strict=True)):
                boxes = raw.boxes if raw.boxes is not None else np.zeros((0, 4))
                found[i].append(augmentation.boxes_back(boxes, image.shape[:2]))
        return [None if raw.boxes is None
                else localisation_stability(raw.boxes, found[i])
                for i, raw in enumerate(raws)]

    def _record(self, job_id: str, report: ShardReport, scores: list[ImageScore],
                aggregate: str) -> None:
        def change(job: Job) -> None:
            job.shard_done(report.shard, done=report.done, failed=report.failed,
                           recorded=report.recorded, errors=report.errors)
            if not job.finished and not job.pending_shards():
                job.finish(score_job_result(self.app, job, scores))

        self.app.record_scored_shard(job_id, report.shard, scores, aggregate, change)
