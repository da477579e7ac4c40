"""Label Studio JSON export (a list of tasks) → ``Dataset``.

The image is the last path component of ``data.image`` (URL-decoded; the ``?d=`` path of
local-storage URLs), matched to the project's images by file name; Label Studio's upload
prefix (``8a7b6c5d-cat.jpg`` for ``cat.jpg``) is tried without it too. Each task's first
annotation that was not cancelled is imported: ``rectanglelabels`` → box (a rotated one →
its 4-corner polygon), ``polygonlabels`` → polygon, ``keypointlabels`` → point, ``choices``
→ one tag per choice. Coordinates are percentages of the image; ``original_width`` /
``original_height`` give its size (else the project's image's); ``meta.attributes`` are the
shape's attributes. Other result types (``brushlabels``, text, ...) are skipped with a
warning.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from service_layer.dataset_formats.coco import load_json
from service_layer.dataset_formats.dataset import (
    Dataset,
    DatasetFiles,
    DatasetImage,
    DatasetLabel,
    base_name,
    dataset_error,
    label_documents,
    number,
)

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")
_KINDS = {"rectanglelabels": "box", "polygonlabels": "polygon", "keypointlabels": "point",
          "choices": "tag"}


def read(files: DatasetFiles) -> Dataset:
    documents = label_documents(files, ".json", "Label Studio JSON")
    dataset = Dataset()
    for name in documents:
        raw = load_json(files, name)
        if not isinstance(raw, list):
            raise dataset_error("malformed", "a Label Studio export is a list of tasks", name)
        for i, task in enumerate(raw):
            dataset.images.append(_task(task, f"{name}: tasks[{i}]", dataset))
    return dataset


def _image_names(task: dict[str, Any], where: str) -> tuple[str, tuple[str, ...]]:
    data = task.get("data")
    url = data.get("image") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url:
        raise dataset_error("malformed", "a task needs data.image (the image's URL)", where)
    parts = urlsplit(url)
    path = parse_qs(parts.query).get("d", [parts.path])[0]
    name = base_name(unquote(path))
    others = []
    match = _UPLOAD_PREFIX.match(name)
    if match:
        others.append(match.group(1))
    upload = task.get("file_upload")
    if isinstance(upload, str) and upload and upload != name:
        others.append(base_name(upload))
    return name, tuple(others)


def _task(task: object, where: str, dataset: Dataset) -> DatasetImage:
    if not isinstance(task, dict):
        raise dataset_error("malformed", "a task is an object", where)
    name, others = _image_names(task, where)
    image = DatasetImage(file_name=name, where=where, other_names=others)
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list):
        raise dataset_error("malformed", "annotations must be a list", where)
    chosen = next((a for a in annotations if isinstance(a, dict)
                   and not a.get("was_cancelled")), None)
    if chosen is None:
        return image
    results = chosen.get("result") or []
    if not isinstance(results, list):
        raise dataset_error("malformed", "an annotation's result must be a list", where)
    for j, result in enumerate(results):
        at = f"{where}.result[{j}]"
        if not isinstance(result, dict) or not isinstance(result.get("value"), dict):
            raise dataset_error("malformed", "a result is an object with a value", at)
        kind = result.get("type")
        if kind not in _KINDS:
            dataset.warn(f"{at}: skipped a {kind!r} result (not an image shape Labelwright "
                         "has)")
            continue
        _size(image, result, at)
        shapes = _shapes(str(kind), result["value"], image, at)
        meta = result.get("meta")
        attributes = meta.get("attributes") if isinstance(meta, dict) else None
        if isinstance(attributes, dict):  # how Labelwright's export keeps them
            for shape in shapes:
                shape.attributes = dict(attributes)
        image.labels.extend(shapes)
    return image


def _size(image: DatasetImage, result: dict[str, Any], where: str) -> None:
    width, height = result.get("original_width"), result.get("original_height")
    if width is None or height is None:
        return
    size = (int(number(width, where, "original_width")),
            int(number(height, where, "original_height")))
    if image.width is None:
        image.width, image.height = size
    elif (image.width, image.height) != size:
        raise dataset_error("malformed", "results of one task give different image sizes",
                            where)


def _labels(value: dict[str, Any], key: str, where: str) -> list[str]:
    labels = value.get(key)
    if not isinstance(labels, list) or not labels or not all(isinstance(v, str)
                                                             for v in labels):
        raise dataset_error("malformed", f"value.{key} must be a non-empty list of class "
                            "names", where)
    return labels


def _shapes(kind: str, value: dict[str, Any], image: DatasetImage, where: str
            ) -> list[DatasetLabel]:
    if kind == "choices":
        return [DatasetLabel("tag", c, {}, where) for c in _labels(value, kind, where)]
    label = _labels(value, kind, where)[0]
    # Percent → pixels when the size is known, else fractions, scaled by the import.
    image.normalized = image.width is None or image.height is None
    sx = 0.01 if image.width is None else image.width / 100.0
    sy = 0.01 if image.height is None else image.height / 100.0
    if kind == "rectanglelabels":
        x, y, w, h = (number(value.get(k), where, k) for k in ("x", "y", "width", "height"))
        rotation = number(value.get("rotation", 0), where, "rotation")
        if rotation % 360:
            if image.normalized:
                raise dataset_error("malformed", "a rotated rectangle needs original_width "
                                    "and original_height", where)
            # Label Studio rotates the rectangle about its top-left corner.
            cos, sin = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
            corners = [(0.0, 0.0), (w * sx, 0.0), (w * sx, h * sy), (0.0, h * sy)]
            points = [[x * sx + cx * cos - cy * sin, y * sy + cx * sin + cy * cos]
                      for cx, cy in corners]
            return [DatasetLabel("polygon", label, {"points": points}, where)]
        return [DatasetLabel("box", label, {"x": x * sx, "y": y * sy, "w": w * sx,
                                            "h": h * sy}, where)]
    if kind == "polygonlabels":
        raw = value.get("points")
        if not isinstance(raw, list) or not all(isinstance(p, list) and len(p) == 2
                                                for p in raw):
            raise dataset_error("malformed", "value.points must be [[x, y], ...]", where)
        points = [[number(p[0], where, "x") * sx, number(p[1], where, "y") * sy] for p in raw]
        return [DatasetLabel("polygon", label, {"points": points}, where)]
    x, y = (number(value.get(k), where, k) for k in ("x", "y"))
    return [DatasetLabel("point", label, {"x": x * sx, "y": y * sy}, where)]
