"""Geometry the export formats share: boxes around shapes, outlines of shapes, class numbers.

Formats that only know boxes (YOLO detection, VOC) take the box around a polygon or a mask;
formats that only know polygons (YOLO segmentation, Label Studio without its brush RLE) take a
mask's outer contours: OpenCV's ``findContours`` with ``RETR_EXTERNAL`` and
``CHAIN_APPROX_SIMPLE``, one polygon per connected piece, through the centres of its boundary
pixels. Holes are filled (an outer contour has none), and a piece fewer than 3 pixels wide or
tall in both directions, which has no area as a polygon, is left out.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from domain import rle

log = logging.getLogger(__name__)

Point = tuple[float, float]


def corners_of(annotation: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """``(x0, y0, x1, y1)`` of :func:`box_of` (boxes, the most common shape, the fast way)."""
    if annotation["type"] == "box":
        g = annotation["geometry"]
        x, y = g["x"], g["y"]
        return x, y, x + g["w"], y + g["h"]
    box = box_of(annotation)
    return None if box is None else (box[0], box[1], box[0] + box[2], box[1] + box[3])


def box_of(annotation: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """``(x, y, w, h)`` of a box, or the box around a polygon or a mask; None for points,
    tags and empty masks."""
    kind = annotation["type"]
    geometry = annotation["geometry"]
    if kind == "box":
        return (float(geometry["x"]), float(geometry["y"]),
                float(geometry["w"]), float(geometry["h"]))
    if kind == "polygon":
        xs = [float(p[0]) for p in geometry["points"]]
        ys = [float(p[1]) for p in geometry["points"]]
        return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    if kind == "mask":
        x, y, w, h = rle.to_bbox(geometry["rle"])
        return None if w == 0 or h == 0 else (x, y, w, h)
    return None


def clipped(corners: tuple[float, float, float, float], width: float, height: float
            ) -> tuple[float, float, float, float] | None:
    """``corners`` ``(x0, y0, x1, y1)`` cut to the image, None when nothing of it is inside."""
    x0, y0, x1, y1 = corners
    x0 = 0.0 if x0 < 0.0 else width if x0 > width else x0
    y0 = 0.0 if y0 < 0.0 else height if y0 > height else y0
    x1 = 0.0 if x1 < 0.0 else width if x1 > width else x1
    y1 = 0.0 if y1 < 0.0 else height if y1 > height else y1
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def mask_outlines(mask_rle: dict[str, Any]) -> list[list[Point]]:
    """The outer contours of a mask, each a polygon of at least 3 points (pixel coords)."""
    import cv2  # here: OpenCV (~60 MB) loads with the first mask exported, not with every server

    mask = np.ascontiguousarray(rle.decode(mask_rle))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outlines = []
    for contour in contours:
        if len(contour) >= 3:
            outlines.append([(float(p[0][0]), float(p[0][1])) for p in contour])
    return outlines


def outlines_of(annotation: dict[str, Any]) -> list[list[Point]]:
    """The polygons of a shape: a polygon itself, a box's 4 corners (clockwise from the top
    left), a mask's outer contours; none for points and tags."""
    kind = annotation["type"]
    geometry = annotation["geometry"]
    if kind == "polygon":
        return [[(float(p[0]), float(p[1])) for p in geometry["points"]]]
    if kind == "box":
        x, y = float(geometry["x"]), float(geometry["y"])
        x1, y1 = x + float(geometry["w"]), y + float(geometry["h"])
        return [[(x, y), (x1, y), (x1, y1), (x, y1)]]
    if kind == "mask":
        return mask_outlines(geometry["rle"])
    return []


class ClassNumbers:
    """The project's classes numbered from ``start`` in class order, retired ones included
    (old annotations still name them), so a class keeps its number in every export."""

    def __init__(self, project: dict[str, Any], start: int = 0) -> None:
        self.names = [str(c["name"]) for c in project["classes"]]
        self.numbers = {name: n for n, name in enumerate(self.names, start=start)}
        """Class numbers by name (look up here first; :meth:`number` for a missing label)."""
        self._unknown: set[str] = set()

    def number(self, label: str) -> int | None:
        """The class number of ``label``; None (and a warning, once) for a label that is not
        a class of the project: classes are never deleted, so that is a corrupt row."""
        found = self.numbers.get(label)
        if found is None and label not in self._unknown:
            self._unknown.add(label)
            log.warning("export skips annotations with label %r: not a class of the project",
                        label)
        return found
