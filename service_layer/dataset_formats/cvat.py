"""CVAT for images 1.1 XML (``annotations.xml``, alone or in a zip) → ``Dataset``.

Per ``<image name width height>``: ``<box>`` (``xtl ytl xbr ybr``) → box, ``<polygon>`` →
polygon, ``<points>`` → one point per listed point, ``<mask>`` (CVAT's row-major RLE of the
``left top width height`` region, background run first) → mask, ``<tag>`` → tag; each
shape's ``<attribute name="...">`` children (and ``occluded``) are its attributes.
``<polyline>``, ``<ellipse>``, ``<cuboid>`` and ``<skeleton>`` have no Labelwright type: they
are skipped, each with a warning in the answer (the rest of the file imports). Video tracks
(``<track>``, "CVAT for video") are refused.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

import numpy as np

from domain import rle
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
from service_layer.dataset_formats.xml_documents import XmlDocument, parse_xml

SKIPPED = frozenset({"polyline", "ellipse", "cuboid", "skeleton"})
MAX_MASK_PIXELS = 100_000_000  # of a mask's box (the image limit's default)


def read(files: DatasetFiles) -> Dataset:
    documents = label_documents(files, ".xml", "CVAT XML (annotations.xml)")
    dataset = Dataset()
    for name in documents:
        _read_document(parse_xml(name, document(files, name)), dataset)
    return dataset


def _read_document(doc: XmlDocument, dataset: Dataset) -> None:
    root = doc.root
    if root.tag != "annotations":
        raise dataset_error("malformed", f"a CVAT file's root is <annotations>, not "
                            f"<{root.tag}>", doc.where(root))
    track = root.find("track")
    if track is not None:
        raise dataset_error("malformed", "CVAT for video (<track>) is not supported; export "
                            "the task as 'CVAT for images 1.1'", doc.where(track))
    for label in root.iter("label"):
        name = label.findtext("name")
        if name and name.strip() not in dataset.classes:
            dataset.classes.append(name.strip())
    for element in root.iter("image"):
        dataset.images.append(_image(doc, element, dataset))


def _image(doc: XmlDocument, element: Element, dataset: Dataset) -> DatasetImage:
    where = doc.where(element)
    name = element.get("name")
    if not name:
        raise dataset_error("malformed", "an <image> needs a name", where)
    width = element.get("width")
    height = element.get("height")
    image = DatasetImage(
        file_name=base_name(name), where=where,
        width=int(number(width, where, "width")) if width else None,
        height=int(number(height, where, "height")) if height else None)
    for shape in element:
        at = doc.where(shape)
        label = shape.get("label")
        if shape.tag in SKIPPED:
            dataset.warn(f"{at}: skipped a <{shape.tag}> of {label!r} (no such annotation "
                         "type in Labelwright)")
            continue
        if not label:
            raise dataset_error("malformed", f"a <{shape.tag}> needs a label", at)
        attributes = _attributes(shape)
        if shape.tag == "box":
            x0, y0, x1, y1 = (number(shape.get(k), at, k) for k in ("xtl", "ytl", "xbr", "ybr"))
            if shape.get("rotation") not in (None, "0", "0.0"):
                dataset.warn(f"{at}: a rotated <box> was imported without its rotation")
            image.labels.append(DatasetLabel("box", label, {"x": x0, "y": y0, "w": x1 - x0,
                                                            "h": y1 - y0}, at, attributes))
        elif shape.tag == "polygon":
            image.labels.append(DatasetLabel("polygon", label,
                                             {"points": _points(shape, at)}, at, attributes))
        elif shape.tag == "points":
            image.labels.extend(DatasetLabel("point", label, {"x": x, "y": y}, at, attributes)
                                for x, y in _points(shape, at))
        elif shape.tag == "mask":
            image.labels.append(DatasetLabel("mask", label, _mask(shape, at, image), at,
                                             attributes))
        elif shape.tag == "tag":
            image.labels.append(DatasetLabel("tag", label, {}, at, attributes))
        else:
            dataset.warn(f"{at}: skipped an unknown element <{shape.tag}>")
    return image


def _attributes(shape: Element) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if shape.get("occluded") in ("0", "1"):
        found["occluded"] = shape.get("occluded") == "1"
    for attribute in shape.iter("attribute"):
        name = attribute.get("name")
        if name:
            found[name] = (attribute.text or "").strip()
    return found


def _points(shape: Element, where: str) -> list[list[float]]:
    raw = shape.get("points") or ""
    out: list[list[float]] = []
    for pair in raw.split(";"):
        xy = pair.split(",")
        if len(xy) != 2:
            raise dataset_error("malformed", f"points are 'x,y;x,y;...', not {raw[:80]!r}",
                                where)
        out.append([number(xy[0], where, "x"), number(xy[1], where, "y")])
    return out


def _mask(shape: Element, where: str, image: DatasetImage) -> dict[str, Any]:
    """CVAT's region RLE → the whole image's COCO RLE (column-major)."""
    if image.width is None or image.height is None:
        raise dataset_error("malformed", "a <mask> needs its <image>'s width and height", where)
    left, top, width, height = (int(number(shape.get(k), where, k))
                                for k in ("left", "top", "width", "height"))
    if (width <= 0 or height <= 0 or left < 0 or top < 0 or left + width > image.width
            or top + height > image.height or width * height > MAX_MASK_PIXELS):
        raise dataset_error("malformed", "the <mask>'s region is not inside its image", where)
    try:
        runs = [int(v) for v in (shape.get("rle") or "").split(",")]
    except ValueError:
        raise dataset_error("malformed", "a <mask>'s rle is comma-separated counts",
                            where) from None
    if any(r < 0 for r in runs) or sum(runs) != width * height:
        raise dataset_error("malformed", f"the <mask>'s rle covers {sum(runs)} pixels, its "
                            f"region {width * height}", where)
    region = np.repeat(np.arange(len(runs)) % 2, runs).astype(np.int8).reshape(height, width)
    return {"rle": {"size": [image.height, image.width],
                    "counts": rle.counts_from_runs(_image_runs(region, left, top, image.height,
                                                               image.width))}}


def _image_runs(region: np.ndarray[Any, Any], left: int, top: int, height: int,
                width: int) -> np.ndarray[Any, Any]:
    """The whole image's column-major runs (COCO's, background first) of a mask that is
    ``region`` at ``left, top`` and empty elsewhere, computed on the region alone (a mask in a
    large image costs its box, not the image)."""
    h = region.shape[0]
    # Each region column padded with a 0 above and below, flattened column by column: the
    # +1/-1 steps are where the mask starts and stops within a column.
    padded = np.zeros((h + 2, region.shape[1]), dtype=np.int8)
    padded[1:-1] = region
    steps = np.flatnonzero(np.diff(padded.ravel(order="F")))
    column, row = np.divmod(steps + 1, h + 2)
    changes = (left + column) * height + top + row - 1
    # A stop at the bottom of a full-height column and a start at the top of the next are the
    # same image pixel: the two cancel.
    changes, times = np.unique(changes, return_counts=True)
    changes = changes[(times % 2 == 1) & (changes < height * width)]  # no stop past the end
    edges = np.concatenate(([0], changes, [height * width]))
    return np.diff(edges)
