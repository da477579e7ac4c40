"""Where a model and the team's labels disagree most, and which labels look wrong to it.

The use cases behind ``GET /projects/{id}/blind_spots`` and ``GET /projects/{id}/label_suspects``.
They judge the same predictions against the same labels as the evaluation (one gathering,
``service_layer.model_evaluation.gather_judgement``: the original proposals of the model's
newest pre-label job, else its imported pre-labels, against the labels as of ``position`` on
the images someone worked on), then ask the finder that is passed in (``Inspector``; the entry
points pass ``inference_workers.blind_spots.inspect_task``), so the service layer stays free of
numpy and pycocotools (docs/adr/0003).

A model that has predicted nothing in the project yet (no pre-label job with a finished shard,
no imported pre-labels) has no blind spots to show: that is a ``ValidationFailed`` saying so,
not an empty list that would read as "a perfect model". (As of a position before its
predictions' images existed, the list is empty: it had nothing to be judged on then.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from domain.application import Labeling
from domain.errors import ValidationFailed
from event_store.positions import log_head
from projections.export_rows import ExportSource
from service_layer.model_evaluation import (
    JudgedImage,
    Judgement,
    gather_judgement,
    model_summary,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


class Inspector(Protocol):
    """``inference_workers.blind_spots.inspect_task``'s signature: for a model of ``task``,
    ``{"kind", "images": [{"missed", "false_positives", "confused", "score", "suspects"}]``
    (one per image, in order) ``, "suspects": [{"image", "annotation_id", "label",
    "predicted", "confidence", "reason", "threshold"}]}`` (``image``: an index into
    ``images``), counting predictions scoring at least ``threshold``."""

    def __call__(self, images: Sequence[JudgedImage], classes: Sequence[str], task: str,
                 threshold: float) -> dict[str, Any]: ...


def check_limit(limit: object) -> int:
    """``limit`` (default 50), an integer in [1, 1000]; else ValidationFailed."""
    if limit is None:
        return DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be a whole number from 1 to {MAX_LIMIT}",
                               {"field": "limit"})
    return limit


def blind_spots(app: Labeling, read: ExportSource, inspect: Inspector, project_id: str,
                model_id: object, position: object = None, threshold: object = None,
                limit: object = None) -> dict[str, Any]:
    """The ``limit`` images where model ``model_id`` and the labels as of ``position``
    disagree most, worst first (images where they agree are not listed)."""
    cap = check_limit(limit)
    judged, found = _inspect(app, read, inspect, project_id, model_id, position, threshold)
    rows = []
    for image, counts in zip(judged.images, found["images"], strict=True):
        if counts["missed"] or counts["false_positives"] or counts["confused"]:
            rows.append({"image_id": image.image_id, **counts})
    rows.sort(key=lambda r: (-r["score"], -(r["missed"] + r["false_positives"] + r["confused"]),
                             r["image_id"]))
    return {**_header(judged, found), "disagreeing": len(rows), "images": rows[:cap]}


def label_suspects(app: Labeling, read: ExportSource, inspect: Inspector, project_id: str,
                   model_id: object, position: object = None, threshold: object = None,
                   limit: object = None) -> dict[str, Any]:
    """The ``limit`` labels (as of ``position``) model ``model_id`` disagrees with most
    confidently: possibly wrong labels, for a reviewer to look at."""
    cap = check_limit(limit)
    judged, found = _inspect(app, read, inspect, project_id, model_id, position, threshold)
    suspects = [{"image_id": judged.images[s["image"]].image_id,
                 **{k: v for k, v in s.items() if k != "image"}}
                for s in found["suspects"]]
    return {**_header(judged, found), "total": len(suspects), "suspects": suspects[:cap]}


def _inspect(app: Labeling, read: ExportSource, inspect: Inspector, project_id: str,
             model_id: object, position: object, threshold: object
             ) -> tuple[Judgement, dict[str, Any]]:
    judged = gather_judgement(app, read, project_id, model_id, position, threshold)
    if judged.job is None and not judged.predicted and not _predicted_since(
            app, read, judged, project_id):
        model = judged.model
        raise ValidationFailed(
            f"model {model.name} {model.model_version} has not predicted anything in this "
            "project yet: run a pre-label job with it (or import its predictions) first",
            {"field": "model_id"})
    found = inspect(judged.images, [c["name"] for c in judged.project.classes],
                    judged.model.task, judged.threshold)
    return judged, found


def _predicted_since(app: Labeling, read: ExportSource, judged: Judgement,
                     project_id: str) -> bool:
    """Whether the model's imported pre-labels are on images that did not exist yet as of
    the judgement's position (rare: only then is the log read a second time, to the head)."""
    head = log_head(app)
    if judged.position >= head:
        return False
    return gather_judgement(app, read, project_id, str(judged.model.id), head).predicted > 0


def _header(judged: Judgement, found: dict[str, Any]) -> dict[str, Any]:
    return {"model": model_summary(judged.model), "position": judged.position,
            "job": str(judged.job.id) if judged.job is not None else None,
            "kind": found["kind"], "threshold": judged.threshold,
            "images_judged": len(judged.images), "images_excluded": judged.excluded}
