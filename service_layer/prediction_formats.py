"""The two file formats model outputs are imported from, parsed into one neutral shape.

Pure functions (no I/O): the HTTP endpoint and ``labelwright import-predictions`` share them.

* **COCO results**: a JSON list ``[{"image_id", "category_id", "bbox", "score",
  "segmentation"?}]`` as written by COCO-style evaluators. ``category_id`` k names the k-th
  class of the project (1-based, in the project's class order, retired classes included: the
  same numbering the COCO export uses). ``image_id`` is an int (the image's number in the
  project's COCO export, 1-based) or a string (a Labelwright image id, or the file name as
  uploaded). The annotation type follows the geometry: a polygon ``segmentation``
  ``[[x1, y1, ...]]`` gives a polygon, an RLE ``{"size", "counts"}`` gives a mask, otherwise
  ``bbox`` ``[x, y, w, h]`` gives a box. The model's name and version are not in the file, so
  they come from the caller.
* **Labelwright JSON**: ``{"model": {"name", "version"}, "predictions": [{"image_id",
  "annotations": [{"type", "label", "geometry", "score"?}]}]}``; a model given by the caller
  wins over the file's.

Both give a ``PredictionSet``: the model and, per referenced image in first-seen order, the
annotations in the shape ``domain.commands.parse_prelabel`` takes. Shape and label errors are
``ValidationFailed`` naming the offending item (``details.field``, e.g.
``"predictions[3].annotations[0].label"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.errors import ValidationFailed

ImageRef = int | str
"""How a prediction names its image: a COCO export number, an image id or a file name."""

MAX_NAME = 200


@dataclass
class ImagePredictions:
    """The predicted annotations of one image, as ``parse_prelabel`` takes them."""

    image_ref: ImageRef
    annotations: list[dict[str, Any]] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)  # where each came from, for errors


@dataclass
class PredictionSet:
    """A parsed predictions file."""

    model_name: str
    model_version: str
    images: list[ImagePredictions]

    @property
    def annotation_count(self) -> int:
        return sum(len(i.annotations) for i in self.images)


def _fail(message: str, field_name: str, **more: Any) -> ValidationFailed:
    return ValidationFailed(message, {"field": field_name, **more})


def _model_part(value: object, what: str, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise _fail(f"the model {what} must be a non-empty string of at most {MAX_NAME} "
                    "characters", field_name)
    return value.strip()


def _image_ref(value: object, field_name: str) -> ImageRef:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail("image_id must be an integer (COCO) or a string (image id or file name)",
                    field_name)
    if isinstance(value, str) and not value:
        raise _fail("image_id must not be empty", field_name)
    return value


def _finite(value: object, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value):
        raise _fail(f"{field_name} must be a finite number", field_name)
    return float(value)


def parse_predictions(raw: object, class_names: Sequence[str], model_name: str | None = None,
                      model_version: str | None = None) -> PredictionSet:
    """Parse either format (a list is COCO results, an object Labelwright JSON)."""
    if isinstance(raw, list):
        if model_name is None or model_version is None:
            raise _fail("COCO results do not name their model: give model and model_version",
                        "model")
        return parse_coco_results(raw, class_names, model_name, model_version)
    if isinstance(raw, dict):
        return parse_labelwright(raw, model_name, model_version)
    raise _fail("predictions are a COCO results list or a Labelwright JSON object", "body")


def _group(items: list[tuple[ImageRef, dict[str, Any], str]]) -> list[ImagePredictions]:
    by_ref: dict[tuple[type, ImageRef], ImagePredictions] = {}
    for ref, annotation, where in items:
        key = (type(ref), ref)
        group = by_ref.get(key)
        if group is None:
            group = by_ref[key] = ImagePredictions(ref)
        group.annotations.append(annotation)
        group.fields.append(where)
    return list(by_ref.values())


def parse_coco_results(raw: list[Any], class_names: Sequence[str], model_name: str,
                       model_version: str) -> PredictionSet:
    """COCO results → a ``PredictionSet`` (see the module docstring for the mapping)."""
    name = _model_part(model_name, "name", "model")
    version = _model_part(model_version, "version", "model_version")
    items: list[tuple[ImageRef, dict[str, Any], str]] = []
    for i, item in enumerate(raw):
        where = f"[{i}]"
        if not isinstance(item, dict):
            raise _fail("each COCO result is an object", where)
        extra = set(item) - {"image_id", "category_id", "bbox", "score", "segmentation",
                             "area", "iscrowd", "id"}
        if extra:
            raise _fail(f"unexpected field {sorted(extra)[0]!r} in a COCO result",
                        f"{where}.{sorted(extra)[0]}")
        ref = _image_ref(item.get("image_id"), f"{where}.image_id")
        category = item.get("category_id")
        if (isinstance(category, bool) or not isinstance(category, int)
                or not 1 <= category <= len(class_names)):
            raise _fail(f"category_id must be 1..{len(class_names)} (the project's classes in "
                        "order)", f"{where}.category_id", allowed=list(class_names))
        if "score" not in item:
            raise _fail("a COCO result needs a score", f"{where}.score")
        score = _finite(item["score"], f"{where}.score")
        annotation_type, geometry = _coco_geometry(item, where)
        items.append((ref, {"type": annotation_type, "label": class_names[category - 1],
                            "geometry": geometry, "score": score}, where))
    return PredictionSet(name, version, _group(items))


def _coco_geometry(item: dict[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    segmentation = item.get("segmentation")
    if isinstance(segmentation, dict):
        if set(segmentation) != {"size", "counts"}:
            raise _fail("an RLE segmentation is {\"size\": [h, w], \"counts\"}",
                        f"{where}.segmentation")
        return "mask", {"rle": {"size": segmentation["size"], "counts": segmentation["counts"]}}
    if isinstance(segmentation, list) and segmentation:
        if len(segmentation) != 1:
            raise _fail("a polygon segmentation with several parts is not supported; send one "
                        "polygon per result, or an RLE mask", f"{where}.segmentation")
        flat = segmentation[0]
        if not isinstance(flat, list) or len(flat) < 6 or len(flat) % 2:
            raise _fail("a polygon segmentation is [[x1, y1, x2, y2, x3, y3, ...]]",
                        f"{where}.segmentation")
        values = [_finite(v, f"{where}.segmentation") for v in flat]
        return "polygon", {"points": [[values[j], values[j + 1]]
                                      for j in range(0, len(values), 2)]}
    if segmentation not in (None, []):
        raise _fail("segmentation must be a polygon list or an RLE object",
                    f"{where}.segmentation")
    bbox = item.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise _fail("bbox must be [x, y, w, h]", f"{where}.bbox")
    x, y, w, h = (_finite(v, f"{where}.bbox") for v in bbox)
    return "box", {"x": x, "y": y, "w": w, "h": h}


def parse_labelwright(raw: dict[str, Any], model_name: str | None = None,
                      model_version: str | None = None) -> PredictionSet:
    """Labelwright predictions JSON → a ``PredictionSet``."""
    extra = set(raw) - {"model", "predictions"}
    if extra:
        raise _fail(f"unexpected field {sorted(extra)[0]!r}", sorted(extra)[0])
    model = raw.get("model")
    if model is not None and not isinstance(model, dict):
        raise _fail("model is {\"name\", \"version\"}", "model")
    model = model or {}
    name = _model_part(model_name if model_name is not None else model.get("name"), "name",
                       "model.name")
    version = _model_part(model_version if model_version is not None
                          else model.get("version"), "version", "model.version")
    predictions = raw.get("predictions")
    if not isinstance(predictions, list):
        raise _fail("predictions must be a list of {\"image_id\", \"annotations\"}",
                    "predictions")
    items: list[tuple[ImageRef, dict[str, Any], str]] = []
    for i, entry in enumerate(predictions):
        where = f"predictions[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"image_id", "annotations"}:
            raise _fail("each prediction is {\"image_id\", \"annotations\": [...]}", where)
        ref = _image_ref(entry.get("image_id"), f"{where}.image_id")
        annotations = entry.get("annotations")
        if not isinstance(annotations, list):
            raise _fail("annotations must be a list", f"{where}.annotations")
        for j, annotation in enumerate(annotations):
            if not isinstance(annotation, dict):
                raise _fail("an annotation is an object", f"{where}.annotations[{j}]")
            items.append((ref, annotation, f"{where}.annotations[{j}]"))
    return PredictionSet(name, version, _group(items))
