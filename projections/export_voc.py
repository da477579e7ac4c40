"""The Pascal VOC export, a zip::

    Annotations/<stem>.xml          one per image: size and one <object> per box
    ImageSets/Main/<split>.txt      the stems of each split, one a line
    JPEGImages/<stem>.<ext>         the image files, with images=true (any format, named so)

Each ``<object>`` has ``name`` (the class), ``pose`` Unspecified, ``truncated``,
``difficult`` and ``occluded`` (1 when the annotation's attribute of that name is true, else
0), and ``bndbox``. Coordinates follow VOC's convention: whole pixels numbered from 1, both
ends included. A box from ``x`` to ``x + w`` in Labelwright's continuous pixel coordinates
(pixel ``i`` covers ``[i, i+1)``) becomes ``xmin = round(x) + 1``, ``xmax = round(x + w)``,
clipped to the image (a reader gets the box back as ``x = xmin - 1``, ``w = xmax - xmin + 1``,
to the nearest pixel). ``<depth>`` is 3: the export does not open the images.

Like YOLO detection, a polygon or a mask is written as the box around it; points and tags have
no box and are left out. Statuses as in COCO (``include_proposed`` adds pending pre-labels).
Entries come image by image (annotation, then image file), the split lists last.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from projections.export_files import ImageNames
from projections.export_options import ExportOptions, attributes_of
from projections.export_rows import ExportRows
from projections.export_shapes import ClassNumbers, clipped, corners_of
from projections.export_xml import truthy, xml_text
from projections.export_zip import ZipStream

FLAGS = ("truncated", "difficult", "occluded")
"""VOC's per-object flags, read from the annotation's attributes of the same names."""


def _pixel(value: float) -> int:
    return math.floor(value + 0.5)  # round half up, the same on every platform


def voc_bndbox(corners: tuple[float, float, float, float], width: int, height: int
               ) -> tuple[int, int, int, int] | None:
    """VOC's 1-based inclusive ``(xmin, ymin, xmax, ymax)`` of continuous ``(x0, y0, x1, y1)``."""
    inside = clipped(corners, width, height)
    if inside is None:
        return None
    x0, y0, x1, y1 = inside
    xmin = min(max(_pixel(x0) + 1, 1), width)
    ymin = min(max(_pixel(y0) + 1, 1), height)
    return xmin, ymin, max(min(_pixel(x1), width), xmin), max(min(_pixel(y1), height), ymin)


_NO_FLAGS = "".join(f"    <{flag}>0</{flag}>\n" for flag in FLAGS)


def voc_document(project: dict[str, Any], image: dict[str, Any], file_name: str,
                 annotations: list[dict[str, Any]], classes: ClassNumbers,
                 options: ExportOptions) -> str:
    """The ``Annotations/<stem>.xml`` of one image."""
    width, height = int(image["width"]), int(image["height"])
    parts = ["<annotation>\n  <folder>JPEGImages</folder>\n"
             f"  <filename>{xml_text(file_name)}</filename>\n"
             "  <source><database>Labelwright</database>"
             f"<annotation>{xml_text(project['name'])}</annotation></source>\n"
             f"  <size><width>{width}</width><height>{height}</height>"
             "<depth>3</depth></size>\n  <segmented>0</segmented>\n"]
    statuses = options.statuses
    for annotation in annotations:
        if annotation["status"] not in statuses:
            continue
        corners = corners_of(annotation)
        label = annotation["label"]
        if corners is None or (label not in classes.numbers and classes.number(label) is None):
            continue
        bndbox = voc_bndbox(corners, width, height)
        if bndbox is None:
            continue
        attributes = attributes_of(annotation)
        flags = _NO_FLAGS if not attributes else "".join(
            f"    <{flag}>{int(truthy(attributes.get(flag, False)))}</{flag}>\n"
            for flag in FLAGS)
        xmin, ymin, xmax, ymax = bndbox
        parts.append(f"  <object>\n    <name>{xml_text(label)}</name>\n"
                     f"    <pose>Unspecified</pose>\n{flags}"
                     f"    <bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
                     f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>\n  </object>\n")
    parts.append("</annotation>\n")
    return "".join(parts)


def voc_chunks(project: dict[str, Any], rows: ExportRows,
               options: ExportOptions) -> Iterator[bytes]:
    """Stream the Pascal VOC zip of ``rows``."""
    classes = ClassNumbers(project)
    names = ImageNames()
    archive = ZipStream()
    members: dict[str, list[str]] = {name: [] for name in options.split.names}
    for image, image_annotations in rows:
        stem, extension = names.of(image)
        members[options.split.of(image)].append(stem)
        document = voc_document(project, image, stem + extension, image_annotations, classes,
                                options)
        yield from archive.text(f"Annotations/{stem}.xml", document.encode())
        if options.images is not None:
            yield from archive.file(f"JPEGImages/{stem}{extension}",
                                    options.images.path(str(image["sha256"])))
    for split, stems in members.items():
        yield from archive.text(f"ImageSets/Main/{split}.txt",
                                "".join(f"{stem}\n" for stem in stems).encode())
    yield from archive.close()
