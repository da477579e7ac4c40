"""The YOLO segmentation export (Ultralytics ``task=segment``): the zip of
:mod:`projections.export_yolo` with polygons in the label files::

    class x1 y1 x2 y2 ... xn yn      (each coordinate divided by the image's width or height)

* A polygon is written as it is; a mask as the polygons of its outer contours, one line per
  connected piece (holes filled; see :mod:`projections.export_shapes`).
* A box is written as its 4-point polygon (corners clockwise from the top left), so a
  segmentation dataset keeps every object a detector dataset would; a segmentation model
  trained on it learns rectangles for those objects.
* Points and tags are left out. Coordinates have 6 decimals and are clipped to [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from projections.export_options import ExportOptions
from projections.export_rows import ExportRows
from projections.export_shapes import ClassNumbers, outlines_of
from projections.export_yolo import yolo_archive

SHAPES = frozenset({"polygon", "mask", "box"})
"""The annotation types a segmentation label file has room for."""


def _unit(value: float, size: float) -> float:
    return min(max(value / size, 0.0), 1.0)


def segmentation_lines(image: dict[str, Any], annotations: list[dict[str, Any]],
                       classes: ClassNumbers, options: ExportOptions) -> list[str]:
    """``class x1 y1 ... xn yn`` per exported polygon, mask piece or box."""
    width, height = float(image["width"]), float(image["height"])
    statuses = options.statuses
    lines = []
    for annotation in annotations:
        if annotation["status"] not in statuses or annotation["type"] not in SHAPES:
            continue
        number = classes.numbers.get(annotation["label"])
        if number is None:
            number = classes.number(annotation["label"])  # warns once
            if number is None:
                continue
        if annotation["type"] == "box":  # the common case, without building an outline
            g = annotation["geometry"]
            x0, y0 = _unit(g["x"], width), _unit(g["y"], height)
            x1, y1 = _unit(g["x"] + g["w"], width), _unit(g["y"] + g["h"], height)
            lines.append(f"{number} {x0:.6f} {y0:.6f} {x1:.6f} {y0:.6f} "
                         f"{x1:.6f} {y1:.6f} {x0:.6f} {y1:.6f}\n")
            continue
        for outline in outlines_of(annotation):
            coords = " ".join(f"{_unit(x, width):.6f} {_unit(y, height):.6f}"
                              for x, y in outline)
            lines.append(f"{number} {coords}\n")
    return lines


def yolo_seg_chunks(project: dict[str, Any], rows: ExportRows,
                    options: ExportOptions) -> Iterator[bytes]:
    """Stream the YOLO segmentation zip of ``rows``."""
    return yolo_archive(project, rows, options, segmentation_lines)
