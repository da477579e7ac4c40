"""The YOLO detection export (Ultralytics / YOLOv5+ layout), a zip::

    labels/<split>/<stem>.txt     one line per object: "class cx cy w h"
    images/<split>/<stem>.<ext>   the image files, with images=true
    data.yaml                     path, one entry per split, nc, names

* ``class`` is the class's number from 0 in the project's class order, retired classes
  included (so numbers never shift); ``names`` in ``data.yaml`` maps numbers to names.
* ``cx cy w h`` are the box's centre and size divided by the image's width and height, with 6
  decimals, after clipping the box to the image (a shape may stick out by 1 px).
* Boxes are written as they are; a polygon or a mask is written as the box around it, so no
  object is lost to a detector. Points and tags have no box and are left out (use COCO or the
  lossless format for them).
* Annotations in state accepted, edited or manual; with ``include_proposed`` also pending
  pre-labels. Every image has a label file, empty when it has no objects (a background image).
* ``<stem>`` is the uploaded file name without its extension, made unique
  (:mod:`projections.export_files`); splits come from :mod:`projections.export_splits`.
  ``data.yaml`` names each split's image folder (``train: images/train``, ...); with a single
  split (the default, everything in ``train``) ``val`` names the train folder too, because
  Ultralytics refuses a dataset without ``val``.

Entries come in export order, image by image (its label file, then its image file), and
``data.yaml`` last (it records the position, known only at the end of a current export).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from projections.export_files import ImageNames
from projections.export_options import ExportOptions
from projections.export_rows import ExportRows
from projections.export_shapes import ClassNumbers, clipped, corners_of
from projections.export_splits import SplitPlan
from projections.export_zip import ZipStream

LabelLines = Callable[[dict[str, Any], list[dict[str, Any]], ClassNumbers, ExportOptions],
                      list[str]]
"""The lines of one image's label file."""


def detection_lines(image: dict[str, Any], annotations: list[dict[str, Any]],
                    classes: ClassNumbers, options: ExportOptions) -> list[str]:
    """``class cx cy w h`` per exported box (or box around a polygon or mask)."""
    width, height = float(image["width"]), float(image["height"])
    statuses = options.statuses
    numbers = classes.numbers
    lines = []
    for annotation in annotations:
        if annotation["status"] not in statuses:
            continue
        corners = corners_of(annotation)
        if corners is None:
            continue
        number = numbers.get(annotation["label"])
        if number is None:
            number = classes.number(annotation["label"])  # warns once
        inside = clipped(corners, width, height)
        if number is None or inside is None:
            continue
        x0, y0, x1, y1 = inside
        lines.append(f"{number} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
                     f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}\n")
    return lines


def data_yaml(project: dict[str, Any], classes: ClassNumbers, split: SplitPlan,
              position: int | None) -> str:
    """The dataset file: a comment saying what it is, the split folders and the class names."""
    lines = [f"# Labelwright export of project {json.dumps(str(project['name']))} "
             f"({project['id']}), labels as of position {position}",
             "path: ."]
    names = split.names
    lines += [f"{name}: images/{name}" for name in names]
    if "val" not in names and len(names) == 1:
        lines.append(f"val: images/{names[0]}")
    lines.append(f"nc: {len(classes.names)}")
    lines.append("names:")
    lines += [f"  {number}: {json.dumps(name)}" for number, name in enumerate(classes.names)]
    return "\n".join(lines) + "\n"


def yolo_archive(project: dict[str, Any], rows: ExportRows, options: ExportOptions,
                 lines_of: LabelLines) -> Iterator[bytes]:
    """The YOLO zip with the label lines ``lines_of`` makes (detection or segmentation)."""
    classes = ClassNumbers(project)
    names = ImageNames()
    archive = ZipStream()
    for image, image_annotations in rows:
        stem, extension = names.of(image)
        split = options.split.of(image)
        text = "".join(lines_of(image, image_annotations, classes, options))
        yield from archive.text(f"labels/{split}/{stem}.txt", text.encode())
        if options.images is not None:
            yield from archive.file(f"images/{split}/{stem}{extension}",
                                    options.images.path(str(image["sha256"])))
    yield from archive.text("data.yaml", data_yaml(project, classes, options.split,
                                                   rows.position).encode())
    yield from archive.close()


def yolo_chunks(project: dict[str, Any], rows: ExportRows,
                options: ExportOptions) -> Iterator[bytes]:
    """Stream the YOLO detection zip of ``rows``."""
    return yolo_archive(project, rows, options, detection_lines)
