"""The CVAT for images 1.1 export: one ``annotations.xml`` (in a zip, with the image files
under ``images/``, when ``images=true``).

Layout::

    <annotations>
      <version>1.1</version>
      <meta><task> id, name, size, mode, overlap, start_frame, stop_frame,
                   <labels><label> name, color, type, <attributes> ... </label></labels>
      </task></meta>
      <image id="0" name="<file name>" subset="<split>" width height>
        <box label source occluded xtl ytl xbr ybr z_order> <attribute name>value</attribute>
        <polygon label source occluded points="x,y;x,y;..." z_order>
        <mask label source occluded rle left top width height z_order>
        <points label source occluded points="x,y" z_order>
        <tag label source>
      </image> ...
    </annotations>

* Images are numbered 0..N-1 in export order; ``name`` is the uploaded file name, made unique
  (:mod:`projections.export_files`), the same name the image file has in the zip.
* Coordinates in pixels with 2 decimals, as CVAT writes them. A mask is in CVAT's own RLE:
  the mask cropped to its pixel box (``left``, ``top``, ``width``, ``height``), read row by
  row, as comma-separated run lengths starting with a run of 0s.
* ``source``: ``manual`` for annotations people drew, ``auto`` for pre-labels, ``semi-auto``
  for assist proposals, ``file`` for imported ones. ``occluded`` is 1 when the annotation's
  ``occluded`` attribute is true; every other attribute is an ``<attribute name>`` child, and
  ``<meta>`` lists each label's attribute names (input type ``text``: the values are free).
* Statuses as in COCO (``include_proposed`` adds pending pre-labels, source ``auto``).

``<meta>`` comes first but says how many images there are and which attributes each label has,
known only after the last image; so the ``<image>`` elements are spooled (in memory up to
8 MiB, on disk beyond) and the document is written once they are all known. The document holds
no dump time, so the same position gives the same bytes.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from domain import rle
from projections.export_chunks import CHUNK_SIZE, ChunkBuffer, read_chunks
from projections.export_files import ImageNames
from projections.export_options import ExportOptions, attributes_of
from projections.export_rows import ExportRows
from projections.export_shapes import ClassNumbers
from projections.export_xml import truthy, xml_attr, xml_text
from projections.export_zip import ZipStream

SPOOL_IN_MEMORY = 8 * 1024 * 1024
CVAT_SOURCES = {"manual": "manual", "prelabel": "auto", "assist": "semi-auto",
                "import": "file"}
"""CVAT's ``source`` for each Labelwright annotation source (``manual`` otherwise)."""


def cvat_mask(mask_rle: dict[str, Any]) -> tuple[list[int], int, int, int, int] | None:
    """CVAT's ``(runs, left, top, width, height)`` of a mask; None when it is empty."""
    mask = rle.decode(mask_rle)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    flat = np.ascontiguousarray(mask[top:bottom + 1, left:right + 1]).ravel()
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0] == 1:
        runs.insert(0, 0)  # CVAT's runs start with the 0s
    return runs, left, top, right - left + 1, bottom - top + 1


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _points(points: list[Any]) -> str:
    return ";".join(f"{float(p[0]):.2f},{float(p[1]):.2f}" for p in points)


class CvatImages:
    """Turns rows into ``<image>`` elements, noting each label's attribute names."""

    def __init__(self, project: dict[str, Any], options: ExportOptions) -> None:
        self.classes = ClassNumbers(project)
        self.options = options
        self.attributes: dict[str, set[str]] = {name: set() for name in self.classes.names}
        self.count = 0

    def element(self, image: dict[str, Any], name: str, split: str,
                annotations: list[dict[str, Any]]) -> str:
        """The ``<image>`` element of one image."""
        parts = [f'  <image id="{self.count}" name={xml_attr(name)} subset={xml_attr(split)} '
                 f'width="{int(image["width"])}" height="{int(image["height"])}">\n']
        self.count += 1
        for annotation in annotations:
            if not self.options.exported(annotation):
                continue
            label = annotation["label"]
            if self.classes.number(label) is None:
                continue
            shape = self.shape(annotation)
            if shape:
                parts.append(shape)
        parts.append("  </image>\n")
        return "".join(parts)

    def shape(self, annotation: dict[str, Any]) -> str:
        """One shape or tag element ("" for an empty mask)."""
        kind = annotation["type"]
        geometry = annotation["geometry"]
        label = annotation["label"]
        attributes = dict(attributes_of(annotation))
        occluded = int(truthy(attributes.pop("occluded", False)))
        self.attributes[label].update(attributes)
        head = (f"label={xml_attr(label)} "
                f'source="{CVAT_SOURCES.get(annotation.get("source", ""), "manual")}"')
        if kind == "tag":
            tag, end = f"    <tag {head}", "tag"
        else:
            head += f' occluded="{occluded}"'
            if kind == "box":
                x, y = float(geometry["x"]), float(geometry["y"])
                x1, y1 = x + float(geometry["w"]), y + float(geometry["h"])
                tag, end = (f'    <box {head} xtl="{x:.2f}" ytl="{y:.2f}" xbr="{x1:.2f}" '
                            f'ybr="{y1:.2f}" z_order="0"', "box")
            elif kind == "polygon":
                tag, end = (f'    <polygon {head} points="{_points(geometry["points"])}" '
                            'z_order="0"', "polygon")
            elif kind == "point":
                point = [[geometry["x"], geometry["y"]]]
                tag, end = f'    <points {head} points="{_points(point)}" z_order="0"', "points"
            elif kind == "mask":
                found = cvat_mask(geometry["rle"])
                if found is None:
                    return ""
                runs, left, top, width, height = found
                tag, end = (f'    <mask {head} rle="{", ".join(map(str, runs))}" '
                            f'left="{left}" top="{top}" width="{width}" height="{height}" '
                            'z_order="0"', "mask")
            else:
                return ""
        if not attributes:
            return tag + "/>\n"
        children = "".join(f"      <attribute name={xml_attr(k)}>{xml_text(_value(v))}"
                           "</attribute>\n" for k, v in sorted(attributes.items()))
        return f"{tag}>\n{children}    </{end}>\n"

    def meta(self, project: dict[str, Any]) -> str:
        """The ``<meta>`` element, once every image is written."""
        labels = []
        for cls in project["classes"]:
            name = str(cls["name"])
            attributes = "".join(
                f"            <attribute><name>{xml_text(a)}</name><mutable>False</mutable>"
                "<input_type>text</input_type><default_value></default_value>"
                "<values></values></attribute>\n"
                for a in sorted(self.attributes.get(name, ())))
            labels.append(f"          <label>\n            <name>{xml_text(name)}</name>\n"
                          f"            <color>{xml_text(cls.get('color') or '')}</color>\n"
                          "            <type>any</type>\n"
                          f"            <attributes>\n{attributes}            </attributes>\n"
                          "          </label>\n")
        return ("  <meta>\n    <task>\n"
                f"      <id>{xml_text(project['id'])}</id>\n"
                f"      <name>{xml_text(project['name'])}</name>\n"
                f"      <size>{self.count}</size>\n      <mode>annotation</mode>\n"
                "      <overlap>0</overlap>\n"
                f"      <start_frame>0</start_frame>\n"
                f"      <stop_frame>{max(self.count - 1, 0)}</stop_frame>\n"
                f"      <labels>\n{''.join(labels)}      </labels>\n"
                "    </task>\n  </meta>\n")


def _document(head: str, spool: IO[bytes], tail: str) -> Iterator[bytes]:
    yield head.encode()
    spool.seek(0)
    yield from read_chunks(spool, CHUNK_SIZE)
    yield tail.encode()


def cvat_chunks(project: dict[str, Any], rows: ExportRows,
                options: ExportOptions) -> Iterator[bytes]:
    """Stream ``annotations.xml`` of ``rows``, or with ``options.images`` a zip of it and the
    image files (``images/<name>``, then ``annotations.xml``)."""
    images = CvatImages(project, options)
    names = ImageNames()
    archive = ZipStream() if options.images is not None else None
    pending = ChunkBuffer()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        for image, image_annotations in rows:
            stem, extension = names.of(image)
            pending.write(images.element(image, stem + extension, options.split.of(image),
                                         image_annotations).encode())
            if pending.full:
                pending.drain_into(spool)
            if archive is not None and options.images is not None:
                yield from archive.file(f"images/{stem}{extension}",
                                        options.images.path(str(image["sha256"])))
        pending.drain_into(spool)
        head = ('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n'
                "  <version>1.1</version>\n" + images.meta(project))
        at = "" if rows.position is None else f"  <!-- labels as of position {rows.position} -->\n"
        tail = at + "</annotations>\n"
        document = _document(head, spool, tail)
        if archive is None:
            yield from document
            return
        yield from archive.chunks("annotations.xml", document)
    yield from archive.close()
