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


def _unit(value: float, size: float) -> float:
    return min(max(value / size, 0.0), 1.0)


def segmentation_lines(image: dict[str, Any], annotations: list[dict[str, Any]],
                       classes: ClassNumbers, options: ExportOptions) -> list[str]:
    """``class x1 y1 ... xn yn`` per exported polygon, mask piece or box."""
    width, height = float(image["width"]), float(image["height"])
    lines = []
    for annotation in annotations:
        if not options.exported(annotation) or annotation["type"] not in (
                "polygon", "mask", "box"):
            continue
        number = classes.number(annotation["label"])
        if number is None:
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
