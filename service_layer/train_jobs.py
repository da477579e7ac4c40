"""Queueing train jobs (``POST /projects/{id}/jobs`` with ``"type": "train"``).

``{"type": "train", "architecture", "name", "base_model_id"?, "position"?, "epochs"?,
"validation_fraction"?}``: everything is checked before anything is recorded, the training set
included (``training_set``: no labeled images, too few classes for the architecture, a single
image are 422). The job fixes what it trains on: the position (default: the head of the log
now), and the images with the version each had then (``image_ids`` and
``params["image_versions"]``), so a job resumed after a crash, or run on another node, trains
on the same set. It is one shard: ``inference_workers.train_job`` runs it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

from domain.errors import Conflict, NotFound, ValidationFailed
from domain.job import Job
from domain.model import MAX_MODEL_NAME
from event_store.positions import log_head
from service_layer.model_evaluation import check_position
from service_layer.training_set import TRAINABLE, VersionsAsOf, candidates_as_of, gather

if TYPE_CHECKING:
    from service_layer.jobs import JobService

TRAIN_FIELDS = frozenset({"type", "architecture", "name", "base_model_id", "position", "epochs",
                          "validation_fraction"})
DEFAULT_EPOCHS = 30
MAX_EPOCHS = 500
DEFAULT_VALIDATION_FRACTION = 0.2
MAX_VALIDATION_FRACTION = 0.5
READ_MODEL_WAIT = 30.0  # seconds to wait for the read models to reach the position


def _architecture(raw: dict[str, Any]) -> str:
    value = raw.get("architecture")
    if not isinstance(value, str) or value not in TRAINABLE:
        allowed = sorted(TRAINABLE)
        raise ValidationFailed(f"architecture must be one of {', '.join(allowed)} (the built-in "
                               f"models a train job can train); got {value!r}",
                               {"field": "architecture", "allowed": allowed})
    return str(value)


def _name(raw: dict[str, Any]) -> str:
    value = raw.get("name")
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("name is required: the name the trained model is registered "
                               "under (its version is the next free number)", {"field": "name"})
    value = value.strip()
    if len(value) > MAX_MODEL_NAME or any(ch in value for ch in "\r\n\t\x00"):
        raise ValidationFailed(f"name must be one line of at most {MAX_MODEL_NAME} characters",
                               {"field": "name"})
    return value


def _epochs(raw: dict[str, Any]) -> int:
    value = raw.get("epochs", DEFAULT_EPOCHS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EPOCHS:
        raise ValidationFailed(f"epochs must be a whole number from 1 to {MAX_EPOCHS}",
                               {"field": "epochs"})
    return value


def _validation_fraction(raw: dict[str, Any]) -> float:
    value = raw.get("validation_fraction", DEFAULT_VALIDATION_FRACTION)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0.0 < value <= MAX_VALIDATION_FRACTION):
        raise ValidationFailed(f"validation_fraction must be a number above 0 and at most "
                               f"{MAX_VALIDATION_FRACTION} (the share of images held out)",
                               {"field": "validation_fraction"})
    return float(value)


def _base_model(service: JobService, project_id: str, architecture: str,
                raw: dict[str, Any]) -> str | None:
    value = raw.get("base_model_id")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationFailed("base_model_id must be the id of a model of this project",
                               {"field": "base_model_id"})
    try:
        model = service.app.model(value)
    except NotFound:
        model = None
    if model is None or model.project_id != project_id:
        raise ValidationFailed(f"no model {value!r} in this project", {"field": "base_model_id"})
    bases = TRAINABLE[architecture].bases
    if model.format != "state_dict" or model.architecture not in bases:
        raise ValidationFailed(
            f"a {architecture} can start from a built-in {' or '.join(bases)} model; "
            f"{model.name}@{model.model_version} is "
            f"{model.architecture or model.format}", {"field": "base_model_id"})
    return str(model.id)


def parse_train_request(service: JobService, project_id: str, raw: object) -> dict[str, Any]:
    """The request's fields, checked (422 with ``details.field``); the position is the head
    of the log when not given."""
    if not isinstance(raw, dict):
        raise ValidationFailed("a job request is a JSON object", {"field": "body"})
    extra = sorted(set(raw) - TRAIN_FIELDS)
    if extra:
        raise ValidationFailed(f"unexpected field {extra[0]!r} in a train job (fields: "
                               f"{', '.join(sorted(TRAIN_FIELDS))})", {"field": extra[0]})
    architecture = _architecture(raw)
    return {
        "architecture": architecture,
        "name": _name(raw),
        "epochs": _epochs(raw),
        "validation_fraction": _validation_fraction(raw),
        "position": check_position(raw.get("position"), log_head(service.app)),
        "base_model_id": _base_model(service, project_id, architecture, raw),
    }


class TrainJobs:
    """Checks and queues train jobs."""

    def queue(self, service: JobService, project_id: str, actor: str, raw: object) -> Job:
        params = parse_train_request(service, project_id, raw)
        position = params["position"]
        if not service.read.wait_for(position, READ_MODEL_WAIT):
            raise Conflict(f"the read models have not reached position {position} yet; retry "
                           "in a moment", {"retry": True, "field": "position"})
        architecture = params["architecture"]
        project = service.app.project(project_id)
        candidates = candidates_as_of(cast(VersionsAsOf, service.read), project_id, position)
        found = gather(service.app, candidates, architecture,
                       [c["name"] for c in project.classes])
        kind = TRAINABLE[architecture]
        what = "box" if kind.annotation_type == "box" else "tag"
        if not found.examples:
            raise ValidationFailed(
                f"no labeled images to train on as of position {position}: a {architecture} "
                f"learns from {what} labels (accepted, edited or manual) on images someone "
                "worked on", {"field": "position", "position": position})
        if len(found.classes) < kind.min_classes:
            raise ValidationFailed(
                f"a {architecture} needs labels of at least {kind.min_classes} classes; as of "
                f"position {position} only {', '.join(found.classes) or 'none'} is labeled",
                {"field": "position", "classes": found.classes})
        if len(found.examples) < 2:
            raise ValidationFailed(
                f"only {len(found.examples)} labeled image as of position {position}: training "
                "needs at least 2 (some are held out to measure the model)",
                {"field": "position"})
        ids = [e.image_id for e in found.examples]
        params["image_versions"] = [e.version for e in found.examples]
        params["classes"] = found.classes
        job, _ = service.app.queue_job(project_id, actor, type="train", model_id=None,
                                       params=params, image_ids=ids, shard_size=len(ids))
        return job
