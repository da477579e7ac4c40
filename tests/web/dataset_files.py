"""Small labeled datasets in every import format, built in memory for the import tests."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from typing import Any

import numpy as np
import orjson
from pycocotools import mask as coco_mask

from tests.web.conftest import png_bytes


def zipped(files: dict[str, bytes | str], *, symlinks: tuple[str, ...] = ()) -> bytes:
    """A zip of ``files`` (name → bytes or text); ``symlinks`` are stored as links."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            if name in symlinks:
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                z.writestr(info, raw)
            else:
                z.writestr(name, raw)
    return buffer.getvalue()


def images(*names: str, width: int = 64, height: int = 48) -> dict[str, bytes]:
    """Distinct PNGs (a colour from the name) of ``width`` x ``height``."""
    out = {}
    for name in names:
        r, g, b = hashlib.sha256(name.encode()).digest()[:3]
        out[name] = png_bytes(width, height, (r, g, b))
    return out


def rle_of(mask: np.ndarray[Any, Any], compressed: bool = True) -> dict[str, Any]:
    encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    if compressed:
        return {"size": list(encoded["size"]), "counts": encoded["counts"].decode()}
    flat = mask.ravel(order="F")
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def coco_document(names: list[str], width: int = 64, height: int = 48) -> dict[str, Any]:
    """Boxes, a polygon, a box written as its outline, compressed and uncompressed masks."""
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[5:15, 10:30] = 1
    anns: list[dict[str, Any]] = [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 10, 8], "iscrowd": 0,
         "segmentation": [], "area": 80},
        {"id": 2, "image_id": 1, "category_id": 9, "bbox": [5, 5, 20, 10], "iscrowd": 0,
         "segmentation": [[5, 5, 25, 5, 25, 15]], "area": 100},
        {"id": 3, "image_id": 2, "category_id": 7, "bbox": [2, 2, 10, 10], "iscrowd": 0,
         "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]], "area": 100},
        {"id": 4, "image_id": 2, "category_id": 9, "bbox": [10, 5, 20, 10], "iscrowd": 1,
         "segmentation": rle_of(mask), "area": 200},
        {"id": 5, "image_id": 3, "category_id": 7, "bbox": [10, 5, 20, 10], "iscrowd": 1,
         "segmentation": rle_of(mask, compressed=False), "area": 200},
    ]
    return {"images": [{"id": i + 1, "file_name": f"train/{n}", "width": width,
                        "height": height} for i, n in enumerate(names)],
            "annotations": [a for a in anns if a["image_id"] <= len(names)],
            "categories": [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}]}


def coco_zip(names: list[str]) -> bytes:
    return zipped({"annotations/instances.json": orjson.dumps(coco_document(names)),
                   **{f"images/{n}": data for n, data in images(*names).items()}})


CVAT_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><labels>
    <label><name>cat</name></label><label><name>dog</name></label>
  </labels></task></meta>
  <image id="0" name="a.png" width="64" height="48">
    <box label="cat" occluded="1" xtl="1" ytl="2" xbr="11" ybr="10">
      <attribute name="color">black</attribute>
    </box>
    <polygon label="dog" points="5,5;25,5;25,15"/>
    <polyline label="dog" points="1,1;5,5"/>
    <points label="cat" points="3,4;6,7"/>
    <mask label="dog" rle="2,2,4,1" left="10" top="20" width="3" height="3"/>
    <tag label="cat"/>
  </image>
</annotations>
"""

VOC_XML = """<annotation>
  <filename>{name}</filename>
  <size><width>64</width><height>48</height><depth>3</depth></size>
  <object><name>cat</name><difficult>0</difficult>
    <bndbox><xmin>1</xmin><ymin>2</ymin><xmax>11</xmax><ymax>10</ymax></bndbox></object>
  <object><name>dog</name>
    <bndbox><xmin>20</xmin><ymin>20</ymin><xmax>40</xmax><ymax>30</ymax></bndbox></object>
</annotation>
"""


def labelstudio_tasks(name: str) -> list[dict[str, Any]]:
    size = {"original_width": 64, "original_height": 48}
    return [{"id": 1, "data": {"image": f"/data/upload/3/0a1b2c3d-{name}"},
             "annotations": [{"was_cancelled": False, "result": [
                 {"type": "rectanglelabels", **size, "value": {
                     "x": 10, "y": 10, "width": 25, "height": 50, "rotation": 0,
                     "rectanglelabels": ["cat"]}},
                 {"type": "polygonlabels", **size, "value": {
                     "points": [[10, 10], [50, 10], [50, 50]], "polygonlabels": ["dog"]}},
                 {"type": "keypointlabels", **size, "value": {
                     "x": 50, "y": 50, "width": 1, "keypointlabels": ["cat"]}},
                 {"type": "choices", "value": {"choices": ["dog"]}},
                 {"type": "brushlabels", **size, "value": {"format": "rle", "rle": [1, 2],
                                                           "brushlabels": ["dog"]}},
             ]}]}]
