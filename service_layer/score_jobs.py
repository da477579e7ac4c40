"""Queueing score jobs (``POST /projects/{id}/jobs`` with ``"type": "score"``).

A score job runs a registered model (``detect``, ``classify`` or ``segment``) over images and
records, per image, its class probabilities, uncertainty and an embedding
(``domain.image_scores``; the worker side is ``inference_workers.score_job``). The request:

* ``model_id``: a model of the project that may run jobs (``jobs.runnable_model``);
* ``images``: ``"all"`` (the default), ``"unlabeled"`` or a list of image ids. All by default:
  selection ranks the unlabeled images, but core-set needs the labeled images' embeddings
  too (it picks what is far from what is labeled), and "more like this" and blind spots look
  at labeled images;
* ``aggregate``: how a detector's box uncertainties become the image's: ``"max"`` (default:
  the least sure box decides), ``"mean"`` (over its boxes) or ``"sum"`` (more uncertain boxes,
  more to learn; favours crowded images);
* ``tta``: test-time augmentation for detectors (default true; ignored for classifiers):
  flipped and zoomed-out copies measure how stable the boxes are
  (``inference_workers.detection_tta``), at the cost of 3 forward passes instead of 1.

Anything else in the body is refused (422, ``details.field``), and so is a semantic
segmentation model (it has no per-image class probabilities).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.errors import ValidationFailed
from domain.job import Job

if TYPE_CHECKING:
    from service_layer.jobs import JobService

AGGREGATES = ("max", "mean", "sum")
SCORE_FIELDS = {"type", "model_id", "images", "aggregate", "tta"}
UNSCORABLE_LAYOUTS = ("semantic",)


@dataclass(frozen=True)
class ScoreRequest:
    """A score job as asked for."""

    model_id: str
    images: str | list[str]
    aggregate: str
    tta: bool

    def params(self) -> dict[str, Any]:
        return {"aggregate": self.aggregate, "tta": self.tta,
                "images": self.images if isinstance(self.images, str) else "list"}


def parse_score_request(raw: object) -> ScoreRequest:
    """The body of a score job request, checked for shape (422 with ``details.field``)."""
    from service_layer.jobs import parse_images

    if not isinstance(raw, dict):
        raise ValidationFailed("a job request is a JSON object", {"field": "body"})
    extra = sorted(set(raw) - SCORE_FIELDS)
    if extra:
        raise ValidationFailed(f"unexpected field {extra[0]!r} in a score job (it takes "
                               f"{', '.join(sorted(SCORE_FIELDS))})", {"field": extra[0]})
    model_id = raw.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise ValidationFailed("model_id is required: the id of a registered model",
                               {"field": "model_id"})
    aggregate = raw.get("aggregate", "max")
    if aggregate not in AGGREGATES:
        raise ValidationFailed(f"aggregate must be one of {', '.join(AGGREGATES)}",
                               {"field": "aggregate", "allowed": list(AGGREGATES)})
    tta = raw.get("tta", True)
    if not isinstance(tta, bool):
        raise ValidationFailed("tta must be true or false", {"field": "tta"})
    return ScoreRequest(model_id=model_id, images=parse_images(raw.get("images", "all")),
                        aggregate=aggregate, tta=tta)


class ScoreJobs:
    """Checks and queues score jobs."""

    def queue(self, service: JobService, project_id: str, actor: str, raw: object) -> Job:
        from service_layer.jobs import choose_images, runnable_model

        request = parse_score_request(raw)
        model = runnable_model(service.app, project_id, request.model_id)
        if model.layout in UNSCORABLE_LAYOUTS:
            raise ValidationFailed(f"a {model.layout} segmentation model gives no per-image "
                                   "class probabilities to score; score a detector, an "
                                   "instance segmentation model or a classifier",
                                   {"field": "model_id"})
        image_ids = choose_images(service.app, service.read, project_id, request.images)
        if not image_ids:
            what = "unlabeled images (status new)" if request.images == "unlabeled" else "images"
            raise ValidationFailed(f"the project has no {what} to score", {"field": "images"})
        params = request.params()
        if model.task == "classify":
            params["tta"] = False  # nothing to augment: a classifier has no boxes
        job, _ = service.app.queue_job(project_id, actor, type="score", model_id=str(model.id),
                                       params=params, image_ids=image_ids,
                                       shard_size=service.shard_size)
        return job
