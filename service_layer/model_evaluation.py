"""Evaluating a registered model against the team's labels as of a position of the log.

The use case behind ``GET /projects/{id}/evaluation`` and ``labelwright evaluate``: gather the
model's predictions and the human labels, then score them (``inference_workers.evaluation``).

* **Predictions**: the pre-labels of the model's newest pre-label job that has finished at
  least one shard (done, still running, or stopped part-way), on the images of its finished
  shards; those pre-labels carry the job's id (``model.job`` of ``PrelabelProposed``). A model
  that never ran as a job (its predictions were imported with its name and version) is judged
  on every pre-label with that name and version. Each prediction is the ORIGINAL proposal
  (label, geometry and score as the model proposed them, read from the event), whatever people
  did to it later, and it counts whenever it was recorded: a model run today can be judged
  against last month's labels.
* **Ground truth**: the annotations in status accepted, edited or manual (a pre-label a person
  accepted is a label; the team agreed on that), as of ``position``: which version each image
  had then comes from the same read model an export "as of P" asks
  (``ExportSource.version_at_position``), and the image is replayed to that version from its
  events (:func:`image_at`, the repository's replay without its overhead).
* **Evaluated images**: the job's (those of its finished shards, with or without
  predictions: finding nothing is an answer too), or without a job those carrying the model's
  pre-labels, that, as of ``position``, a person has
  worked on and no reviewer has sent back: status ``in_progress`` (someone created, edited,
  accepted or rejected an annotation), ``submitted`` or ``approved``. An image nobody has looked
  at (``new``) is left out rather than counted as all false positives, and so is a ``rejected``
  one, whose labels a reviewer called wrong. Images added after the position do not exist yet.
  ``images_excluded`` counts the job's (or the model's) images that were left out.

The gathering (:func:`gather_judgement`) is shared with the blind spots and label suspects
(``service_layer.blind_spots``), which judge the same predictions against the same labels.
The scoring itself is passed in (``Scorer``; the entry points pass
``inference_workers.evaluation.evaluate_task``): dependencies point inward (docs/adr/0003), and
the service layer stays free of pycocotools.

Labels are in project class space: pre-labels were mapped through the model's ``class_map``
when recorded, so a later re-map does not change what they said.

Cost: the candidate images' streams are read 500 at a time, in one round trip each
(``event_store.stream_events``); for 1,000 images of 5 pre-labels and ~6 human events each,
~0.2 s of gathering plus ~0.2 s of COCOeval (CPU time, ``benchmarks/model_evaluation.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from domain.application import Labeling
from domain.errors import NotFound, ValidationFailed
from domain.image import Image
from domain.job import Job
from domain.model import Model
from domain.project import Project
from event_store.positions import log_head
from event_store.stream_events import image_at, image_streams
from projections.export_coco import EXPORTED_STATUSES
from projections.export_rows import ExportSource

EVALUATED_STATUSES = frozenset({"in_progress", "submitted", "approved"})
"""Image states (as of the position) whose labels a model is judged against."""


@dataclass(frozen=True, slots=True)
class JudgedImage:
    """One evaluated image: its size, its labels as of the position (annotation JSON) and the
    model's original proposals on it (``type``, ``label``, ``geometry``, ``score``)."""

    width: int
    height: int
    truth: Sequence[Mapping[str, Any]]
    predictions: Sequence[Mapping[str, Any]]
    image_id: str = ""


@dataclass(frozen=True, slots=True)
class Judgement:
    """What a model is judged on (:func:`gather_judgement`): the evaluation and the blind
    spots (``service_layer.blind_spots``) both start from it."""

    project: Project
    model: Model
    job: Job | None
    position: int
    threshold: float  # the least score a counted prediction needs
    images: list[JudgedImage]
    excluded: int  # the job's (or the model's) images left out
    predicted: int  # images carrying any of the judged predictions, judged or not


class Scorer(Protocol):
    """``inference_workers.evaluation.evaluate_task``'s signature: the figures of ``images``
    (``images``, ``map50``, ``map50_95``, ``per_class``, ``confusion``, ``kind``, ``iou``) for a
    model of ``task``, counting predictions scoring at least ``threshold``."""

    def __call__(self, images: Sequence[JudgedImage], classes: Sequence[str], task: str,
                 threshold: float) -> dict[str, Any]: ...


def latest_prelabel_job(app: Labeling, project_id: str, model_id: str) -> Job | None:
    """The model's newest pre-label job with at least one finished shard, or None."""
    for job_id in reversed(app.project(project_id).job_ids):
        job = app.job(job_id)
        if job.type == "prelabel" and job.model_id == model_id and job.shards_done:
            return job
    return None


def labels_at(events: Sequence[Any], version: int
              ) -> tuple[Image, list[dict[str, Any]]] | None:
    """The image at ``version`` and its ground truth then (annotations accepted, edited or
    manual), or None when its labels do not count: nobody had worked on it
    (``EVALUATED_STATUSES``) or a reviewer had sent it back. Evaluation judges models against
    these labels, and train jobs train on them."""
    image = image_at(events, version)
    if image.status not in EVALUATED_STATUSES:
        return None
    return image, [a for a in image.annotations.values() if a["status"] in EXPORTED_STATUSES]


def check_position(position: object, head: int) -> int:
    if position is None:
        return head
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise ValidationFailed("position must be a non-negative integer", {"field": "position"})
    if position > head:
        raise ValidationFailed(f"position {position} is beyond the head of the log ({head})",
                               {"field": "position", "head": head})
    return position


def _check_threshold(threshold: object) -> float | None:
    if threshold is None:
        return None
    if (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
            or not math.isfinite(threshold) or not 0.0 <= threshold <= 1.0):
        raise ValidationFailed("threshold must be a number between 0 and 1",
                               {"field": "threshold"})
    return float(threshold)


def _model_in(app: Labeling, project_id: str, model_id: object) -> Model:
    if not isinstance(model_id, str) or not model_id:
        raise ValidationFailed("model_id is required: the id of a model registered in this "
                               "project", {"field": "model_id"})
    model = app.model(model_id)
    if model.project_id != project_id:
        raise NotFound(f"no model {model_id} in this project", {"field": "model_id"})
    return model


def _prediction_filter(model: Model, job: Job | None) -> Callable[[Mapping[str, Any]], bool]:
    """Whether a pre-label's ``model`` dict says it is one of the predictions judged."""
    if job is not None:
        job_id = str(job.id)
        return lambda m: m.get("job") == job_id
    name, version = model.name, model.model_version
    return lambda m: m.get("name") == name and m.get("version") == version


def evaluate_model(app: Labeling, read: ExportSource, score: Scorer, project_id: str,
                   model_id: object, position: object = None, threshold: object = None
                   ) -> dict[str, Any]:
    """The evaluation of model ``model_id`` against the labels as of ``position`` (default:
    the head of the log; the read models must have reached it), scored by ``score``.

    ``threshold`` (default: the job's, else 0) is the least score a prediction needs to count
    in ``tp``/``fp``/``fn``, precision, recall and ``confusion``; the AP figures use every
    prediction. Raises ``NotFound`` (project, model) and ``ValidationFailed`` (model_id
    missing, position beyond the head, threshold outside [0, 1])."""
    judged = gather_judgement(app, read, project_id, model_id, position, threshold)
    model, job = judged.model, judged.job
    scores = score(judged.images, [c["name"] for c in judged.project.classes], model.task,
                   judged.threshold)
    return {
        "model": model_summary(model),
        "position": judged.position,
        "images": scores["images"],
        "map50": scores["map50"],
        "map50_95": scores["map50_95"],
        "per_class": scores["per_class"],
        "confusion": scores["confusion"],
        "job": str(job.id) if job is not None else None,
        "kind": scores["kind"],
        "threshold": judged.threshold,
        "iou": scores["iou"],
        "images_excluded": judged.excluded,
    }


def model_summary(model: Model) -> dict[str, str]:
    """``{"id", "name", "version", "task"}`` of the model judged."""
    return {"id": str(model.id), "name": model.name, "version": model.model_version,
            "task": model.task}


def gather_judgement(app: Labeling, read: ExportSource, project_id: str, model_id: object,
                     position: object = None, threshold: object = None) -> Judgement:
    """The images model ``model_id`` is judged on as of ``position``, with its predictions and
    the labels then (module docstring); ``threshold`` defaults to the job's, else 0. Raises
    as :func:`evaluate_model`."""
    project = app.project(project_id)
    project_id = str(project.id)
    model = _model_in(app, project_id, model_id)
    at = check_position(position, log_head(app))
    cut = _check_threshold(threshold)
    job = latest_prelabel_job(app, project_id, str(model.id))
    if cut is None:
        cut = float(job.params.get("threshold", 0.0)) if job is not None else 0.0
    judged = _prediction_filter(model, job)

    covered: set[str] | None = None
    if job is not None:
        covered = {image_id for shard in job.shards_done for image_id in job.shard(shard)}
    candidates = [(image_id if isinstance(image_id, UUID) else UUID(image_id), version)
                  for image_id, version in read.version_at_position(project_id, at)
                  if covered is None or str(image_id) in covered]
    images: list[JudgedImage] = []
    excluded = predicted = 0
    # One read of each stream gives both the proposals (whenever recorded) and the state at
    # the position (its first ``version`` events).
    for image_id, version, events in image_streams(app, candidates):
        predictions = [{"type": e.annotation_type, "label": e.label,
                        "geometry": e.geometry, "score": e.score}
                       for e in events
                       if type(e) is Image.PrelabelProposed and judged(e.model)]
        if predictions:
            predicted += 1
        elif covered is None:
            continue  # without a job, an image is the model's work if it has its pre-labels
        labelled = labels_at(events, version)
        if labelled is None:
            excluded += 1
            continue
        image, truth = labelled
        images.append(JudgedImage(image.width, image.height, truth, predictions,
                                  str(image_id)))
    return Judgement(project, model, job, at, cut, images, excluded, predicted)
