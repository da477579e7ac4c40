"""COCO instances JSON (``images``, ``annotations``, ``categories``) → ``Dataset``.

* Categories are matched to the project's classes by **name** (their ids are the file's own).
* An annotation with a polygon ``segmentation`` becomes one polygon per part; a 4-point
  polygon that is exactly its ``bbox`` (how exports write boxes, tools need a segmentation on
  every annotation) is a box. An RLE ``segmentation`` (``iscrowd`` 1, or any
  ``{"size", "counts"}``, compressed or uncompressed counts) is a mask. No segmentation: the
  ``bbox`` is a box. ``keypoints`` (x, y, v triples) add one point per visible keypoint; an
  annotation with only keypoints (a zero-area bbox) is just those points.
* ``iscrowd`` 1 becomes the value ``true`` of the annotation's ``iscrowd`` attribute, kept when
  the project defines a checkbox attribute of that name for the class (the export writes it
  back as ``iscrowd`` 1); otherwise the import warns that the attribute is not defined and the
  crowd flag is not kept. ``iscrowd`` other than 0 or 1 is refused.
* Labelwright's own ``tags`` on an image (whole-image labels) become tag annotations.
* In a zip, every ``.json`` file is read (``instances_train.json`` and ``instances_val.json``
  together); an image named twice is refused.
"""

from __future__ import annotations

from typing import Any

import orjson

from service_layer.dataset_formats.dataset import (
    Dataset,
    DatasetFiles,
    DatasetImage,
    DatasetLabel,
    base_name,
    dataset_error,
    document,
    label_documents,
    number,
)


def read(files: DatasetFiles) -> Dataset:
    documents = label_documents(files, ".json", "COCO JSON")
    dataset = Dataset()
    for name in documents:
        _read_document(name, load_json(files, name), dataset)
    return dataset


def load_json(files: DatasetFiles, name: str) -> Any:
    """A JSON file of the upload, or the refusal naming its line."""
    try:
        return orjson.loads(document(files, name))
    except orjson.JSONDecodeError as e:
        raise dataset_error("malformed", f"not valid JSON ({e.msg}, column {e.colno})",
                            f"{name}:{e.lineno}") from None


def _read_document(name: str, raw: Any, dataset: Dataset) -> None:
    if not isinstance(raw, dict) or not isinstance(raw.get("images"), list):
        raise dataset_error("malformed", "a COCO file is an object with an 'images' list", name)
    categories: dict[Any, str] = {}
    for i, cat in enumerate(raw.get("categories") or []):
        where = f"{name}: categories[{i}]"
        if not isinstance(cat, dict) or not isinstance(cat.get("name"), str) or "id" not in cat:
            raise dataset_error("malformed", "a category needs an id and a name", where)
        categories[cat["id"]] = cat["name"]
        if cat["name"] not in dataset.classes:
            dataset.classes.append(cat["name"])
    images: dict[Any, DatasetImage] = {}
    for i, img in enumerate(raw["images"]):
        where = f"{name}: images[{i}]"
        if not isinstance(img, dict) or not isinstance(img.get("file_name"), str) or not img[
                "file_name"] or "id" not in img:
            raise dataset_error("malformed", "an image needs an id and a file_name", where)
        if img["id"] in images:
            raise dataset_error("malformed", f"image id {img['id']!r} is used twice", where)
        width, height = img.get("width"), img.get("height")
        image = DatasetImage(
            file_name=base_name(img["file_name"]), where=where,
            width=int(number(width, where, "width")) if width is not None else None,
            height=int(number(height, where, "height")) if height is not None else None)
        for tag in img.get("tags") or []:
            if not isinstance(tag, str):
                raise dataset_error("malformed", "tags are class names", where)
            image.labels.append(DatasetLabel("tag", tag, {}, where))
        images[img["id"]] = image
        dataset.images.append(image)
    annotations = raw.get("annotations") or []
    if not isinstance(annotations, list):
        raise dataset_error("malformed", "'annotations' must be a list", name)
    # Each raw annotation is dropped once read: the parsed labels reuse its memory, so a
    # 100,000-object file peaks near the size of one form, not of both.
    annotations.reverse()
    for i in range(len(annotations)):
        ann = annotations.pop()
        where = f"{name}: annotations[{i}]"
        if not isinstance(ann, dict):
            raise dataset_error("malformed", "an annotation is an object", where)
        found = images.get(ann.get("image_id"))
        if found is None:
            raise dataset_error("malformed", f"image_id {ann.get('image_id')!r} names no "
                                "image of the file", where)
        label = categories.get(ann.get("category_id"))
        if label is None:
            raise dataset_error("malformed", f"category_id {ann.get('category_id')!r} names "
                                "no category of the file", where)
        found.labels.extend(_shapes(ann, label, where))


def _shapes(ann: dict[str, Any], label: str, where: str) -> list[DatasetLabel]:
    raw_attributes = ann.get("attributes")
    attributes: dict[str, Any] = raw_attributes if isinstance(raw_attributes, dict) else {}
    crowd = ann.get("iscrowd", 0)
    if crowd not in (0, 1) or isinstance(crowd, float):
        raise dataset_error("malformed", f"iscrowd must be 0 or 1, not {crowd!r}", where)
    if crowd == 1 and "iscrowd" not in attributes:
        attributes = {**attributes, "iscrowd": True}
    out: list[DatasetLabel] = []
    bbox = _bbox(ann.get("bbox"), where)
    segmentation = ann.get("segmentation")
    points = _keypoints(ann.get("keypoints"), where)
    if isinstance(segmentation, dict):
        if set(segmentation) != {"size", "counts"}:
            raise dataset_error("malformed", "an RLE segmentation is {size, counts}", where)
        out.append(DatasetLabel("mask", label, {"rle": segmentation}, where, attributes))
    elif isinstance(segmentation, list) and segmentation:
        for part in segmentation:
            out.append(_polygon_or_box(part, bbox, label, where, attributes))
    elif segmentation not in (None, []):
        raise dataset_error("malformed", "segmentation must be a list of polygons or an RLE "
                            "object", where)
    elif bbox is not None and ((bbox[2] > 0 and bbox[3] > 0) or not points):
        x, y, w, h = bbox
        out.append(DatasetLabel("box", label, {"x": x, "y": y, "w": w, "h": h}, where,
                                attributes))
    out.extend(DatasetLabel("point", label, {"x": x, "y": y}, where, attributes)
               for x, y in points)
    if not out:
        raise dataset_error("malformed", "the annotation has no bbox, segmentation or "
                            "keypoints", where)
    return out


def _bbox(raw: object, where: str) -> tuple[float, float, float, float] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != 4:
        raise dataset_error("malformed", "bbox must be [x, y, width, height]", where)
    x, y, w, h = (number(v, where, "bbox") for v in raw)
    return x, y, w, h


def _keypoints(raw: object, where: str) -> list[tuple[float, float]]:
    if raw is None or raw == []:
        return []
    if not isinstance(raw, list) or len(raw) % 3:
        raise dataset_error("malformed", "keypoints must be [x, y, v, ...] triples", where)
    values = [number(v, where, "keypoints") for v in raw]
    return [(values[i], values[i + 1]) for i in range(0, len(values), 3) if values[i + 2] > 0]


def _polygon_or_box(part: object, bbox: tuple[float, float, float, float] | None, label: str,
                    where: str, attributes: dict[str, Any]) -> DatasetLabel:
    if not isinstance(part, list) or len(part) < 6 or len(part) % 2:
        raise dataset_error("malformed", "a polygon is [x1, y1, x2, y2, ...] with at least 3 "
                            "points", where)
    flat = [number(v, where, "segmentation") for v in part]
    points = [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]
    if bbox is not None and len(points) == 4:
        x, y, w, h = bbox
        corners = {(x, y), (x + w, y), (x + w, y + h), (x, y + h)}
        if w > 0 and h > 0 and {(p[0], p[1]) for p in points} == corners:
            return DatasetLabel("box", label, {"x": x, "y": y, "w": w, "h": h}, where,
                                attributes)
    return DatasetLabel("polygon", label, {"points": points}, where, attributes)
