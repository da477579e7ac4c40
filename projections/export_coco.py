"""The COCO export: one JSON document that ``pycocotools.coco.COCO`` loads as it is.

Layout (keys in this order)::

    {"licenses": [],
     "categories": [{"id": 1, "name", "supercategory": "", "color", "retired"}, ...],
     "images": [{"id": 1, "file_name", "width", "height", "labelwright_id", "sha256",
                 "status", "tags": [label, ...]}, ...],
     "annotations": [{"id": 1, "image_id", "category_id", "segmentation", "area", "bbox",
                      "iscrowd": 0, "labelwright_id", "status", "source",
                      "score"?, "model"?, "attributes"?}, ...],
     "info": {"description", "version", "contributor",
              "labelwright": {"project_id", "position", "include_proposed"}}}

* Categories are numbered 1..K in the project's class order, retired classes included (old
  annotations still name them); ``retired`` says which.
* Images are numbered 1..N in export order; ``file_name`` is the name as uploaded and
  ``labelwright_id`` the image's id in Labelwright.
* Annotations (numbered 1..M) are those in status ``accepted``, ``edited`` and ``manual``; with
  ``include_proposed`` also the pending pre-labels (``proposed``), which carry their ``score``.
  Every annotation keeps its Labelwright id, status, source, and score/model when it has them,
  and its per-object ``attributes`` ({name: value}, as CVAT's COCO files have them) when it
  has any.
* ``iscrowd`` is 1 when the annotation's ``iscrowd`` attribute is true (a checkbox attribute
  the project defines; a COCO import sets it from the file's ``iscrowd``), else 0.
* Geometry: a box gives ``bbox`` [x, y, w, h], ``area`` w*h and ``segmentation`` its outline
  as a 4-point polygon; a polygon
  gives ``segmentation`` [[x1, y1, x2, y2, ...]] with its bbox and its (shoelace) area; a mask
  gives ``segmentation`` = its compressed RLE ``{"size": [h, w], "counts"}`` and area/bbox
  of its pixels; a point is keypoint-style: ``keypoints`` [x, y, 2],
  ``num_keypoints`` 1, ``bbox`` [x, y, 0, 0], ``area`` 0 (categories then also carry
  ``"keypoints": ["point"]``, ``"skeleton": []`` when the project allows points).
* **Tags** (whole-image labels) have no geometry, so they are not annotations: each image lists
  the labels of its exported tag annotations (same status rule) in ``tags``, in creation order,
  without repeats.
* ``info`` comes last: ``info.labelwright.position`` is the global position the labels
  reflect, and a current export only knows it once every image is written (see
  :mod:`projections.export_rows`); exporting "as of" it reproduces the images and annotations.
  ``info`` holds no wall-clock date, so an export as of a position is byte-for-byte
  reproducible.

Streaming: images are written to the output as they are read, while the annotations are
spooled (``tempfile.SpooledTemporaryFile``: in memory up to 8 MiB, on disk beyond) and emitted
after the images array. This keeps the conventional key order (readers that stream the
document meet every image before the annotations that point at it) with memory bounded by one
image's annotations plus a chunk, whatever the size of the project.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Generator
from typing import Any

import orjson

from domain import rle
from projections.export_chunks import CHUNK_SIZE, ChunkBuffer, read_chunks
from projections.export_rows import ExportRows

log = logging.getLogger(__name__)

EXPORTED_STATUSES = frozenset({"accepted", "edited", "manual"})
"""Annotation states a COCO export contains (``proposed`` only with ``include_proposed``)."""

SPOOL_IN_MEMORY = 8 * 1024 * 1024
"""Bytes of spooled annotations kept in memory before the spool moves to a temporary file."""


def coco_categories(project: dict[str, Any]) -> list[dict[str, Any]]:
    """The project's classes as COCO categories 1..K, in class order, retired ones included."""
    with_points = "point" in project.get("annotation_types", ())
    categories = []
    for number, cls in enumerate(project["classes"], start=1):
        category: dict[str, Any] = {
            "id": number, "name": cls["name"], "supercategory": "",
            "color": cls.get("color"), "retired": bool(cls.get("retired", False)),
        }
        if with_points:
            category["keypoints"] = ["point"]
            category["skeleton"] = []
        categories.append(category)
    return categories


def _polygon_fields(geometry: dict[str, Any]) -> tuple[list[list[float]], list[float], float]:
    points = geometry["points"]
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    flat = [c for p in points for c in (p[0], p[1])]
    x0, y0 = min(xs), min(ys)
    twice_area = 0.0
    px, py = xs[-1], ys[-1]
    for x, y in zip(xs, ys, strict=True):
        twice_area += px * y - x * py
        px, py = x, y
    return [flat], [x0, y0, max(xs) - x0, max(ys) - y0], abs(twice_area) / 2.0


class CocoAnnotations:
    """Turns Labelwright annotations into COCO annotation objects, numbering them 1..M."""

    def __init__(self, project: dict[str, Any], include_proposed: bool) -> None:
        self.category_ids = {c["name"]: n for n, c in enumerate(project["classes"], start=1)}
        self.statuses = EXPORTED_STATUSES
        if include_proposed:
            self.statuses = EXPORTED_STATUSES | {"proposed"}
        self.next_id = 1
        self._unknown_labels: set[str] = set()

    def of_image(self, annotations: list[dict[str, Any]], image_number: int
                 ) -> tuple[list[dict[str, Any]], list[str]]:
        """The COCO annotations and the tags of one image's exported annotations."""
        converted: list[dict[str, Any]] = []
        tags: list[str] = []
        statuses = self.statuses
        known = self.category_ids
        for annotation in annotations:
            if annotation["status"] not in statuses:
                continue
            label = annotation["label"]
            if label not in known:
                self._unknown(label)
            elif annotation["type"] == "tag":
                if label not in tags:
                    tags.append(label)
            else:
                converted.append(self.convert(annotation, image_number))
        return converted, tags

    def _unknown(self, label: str) -> None:
        # Classes are never deleted, so this means a corrupt row; skip it, but say so once.
        if label not in self._unknown_labels:
            self._unknown_labels.add(label)
            log.warning("export skips annotations with label %r: not a class of the project",
                        label)

    def convert(self, annotation: dict[str, Any], image_number: int) -> dict[str, Any]:
        """The COCO object of an included, non-tag annotation on image ``image_number``."""
        kind = annotation["type"]
        geometry = annotation["geometry"]
        out: dict[str, Any] = {
            "id": self.next_id, "image_id": image_number,
            "category_id": self.category_ids[annotation["label"]],
        }
        if kind == "box":
            x, y, w, h = geometry["x"], geometry["y"], geometry["w"], geometry["h"]
            # The box's outline as a polygon: pycocotools' annToMask and segm evaluation
            # need a segmentation on every annotation (an empty list crashes them).
            out["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
            out["area"] = w * h
            out["bbox"] = [x, y, w, h]
        elif kind == "polygon":
            out["segmentation"], out["bbox"], out["area"] = _polygon_fields(geometry)
        elif kind == "mask":
            mask = geometry["rle"]
            out["segmentation"] = {"size": mask["size"], "counts": mask["counts"]}
            out["area"] = rle.area(mask)
            out["bbox"] = list(rle.to_bbox(mask))
        elif kind == "point":
            x, y = geometry["x"], geometry["y"]
            out["segmentation"] = []
            out["area"] = 0.0
            out["bbox"] = [x, y, 0.0, 0.0]
            out["keypoints"] = [x, y, 2]
            out["num_keypoints"] = 1
        else:
            raise ValueError(f"no COCO form for annotation type {kind!r}")
        attributes = annotation.get("attributes") or {}
        out["iscrowd"] = 1 if attributes.get("iscrowd") is True else 0
        out["labelwright_id"] = annotation["id"]
        out["status"] = annotation["status"]
        out["source"] = annotation["source"]
        score = annotation.get("score")
        if score is not None:
            out["score"] = score
        model = annotation.get("model")
        if model is not None:
            out["model"] = model
        if attributes:  # CVAT's COCO dialect: {name: value}, left out when there are none
            out["attributes"] = attributes
        self.next_id += 1
        return out


def coco_info(project: dict[str, Any], position: int | None,
              include_proposed: bool) -> dict[str, Any]:
    """The ``info`` object: what was exported, as of which position (no wall-clock date)."""
    return {
        "description": f"Labelwright export of project {project['name']}",
        "version": "1.0",
        "contributor": "Labelwright",
        "labelwright": {"project_id": str(project["id"]), "position": position,
                        "include_proposed": include_proposed},
    }


def coco_chunks(project: dict[str, Any], rows: ExportRows,
                include_proposed: bool) -> Generator[bytes, None, None]:
    """Stream the COCO document of ``rows`` (images in export order) as ~64 KB chunks."""
    convert = CocoAnnotations(project, include_proposed)
    out = ChunkBuffer()
    spool_buffer = ChunkBuffer()
    dumps = orjson.dumps
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        out.write(b'{"licenses":[],"categories":' + dumps(coco_categories(project))
                  + b',"images":[')
        for image_number, (image, image_annotations) in enumerate(rows, start=1):
            converted, tags = convert.of_image(image_annotations, image_number)
            if converted:
                # One dumps per image: "[{...},{...}]" without its brackets, one line each.
                spool_buffer.write(b"\n" if converted[0]["id"] == 1 else b",\n")
                spool_buffer.write(dumps(converted)[1:-1])
                if spool_buffer.full:
                    spool_buffer.drain_into(spool)
            out.write(b"\n" if image_number == 1 else b",\n")
            out.write(dumps({
                "id": image_number, "file_name": image["file_name"],
                "width": image["width"], "height": image["height"],
                "labelwright_id": str(image["id"]), "sha256": image.get("sha256"),
                "status": image.get("status"), "tags": tags,
            }))
            if out.full:
                yield out.take()
        out.write(b'\n],"annotations":[')
        yield out.take()
        spool_buffer.drain_into(spool)
        spool.seek(0)
        yield from read_chunks(spool, CHUNK_SIZE)
    info = coco_info(project, rows.position, include_proposed)
    yield b'\n],"info":' + dumps(info) + b"}\n"
