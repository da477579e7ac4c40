"""CVAT for images 1.1 XML and Label Studio JSON: well-formed, read back by globox (CVAT boxes)
and checked against the formats' shapes (CVAT mask RLE, Label Studio percent coordinates)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import numpy as np
import orjson
from globox import AnnotationSet

from projections.export_cvat import cvat_mask
from projections.export_labelstudio import labelstudio_task
from projections.export_options import ExportOptions
from projections.export_shapes import ClassNumbers
from tests.exports.lab import Lab
from tests.exports.scene import H, W, out_fixture, scene_fixture  # noqa: F401


def decode_cvat_mask(element: ElementTree.Element) -> np.ndarray[Any, Any]:
    """CVAT's mask RLE back into a full-image mask (runs of 0s and 1s, row by row, in the
    box left/top/width/height)."""
    runs = [int(v) for v in element.attrib["rle"].split(",")]
    width, height = int(element.attrib["width"]), int(element.attrib["height"])
    flat = np.repeat(np.arange(len(runs)) % 2, runs).astype(np.uint8)
    assert flat.size == width * height
    full = np.zeros((H, W), dtype=np.uint8)
    left, top = int(element.attrib["left"]), int(element.attrib["top"])
    full[top:top + height, left:left + width] = flat.reshape(height, width)
    return full


def test_cvat_xml_is_well_formed_and_globox_reads_its_boxes(
        lab: Lab, scene: dict[str, Any], out: Path) -> None:
    data = lab.export_bytes(scene["pid"], "cvat", include_proposed=True)
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ElementTree.fromstring(data)
    assert root.findtext("version") == "1.1"
    assert root.findtext("meta/task/size") == "3"
    assert [e.findtext("name") for e in root.iter("label")] == ["car", "person", "dog"]
    images = root.findall("image")
    assert [(i.get("id"), i.get("name"), i.get("width"), i.get("subset")) for i in images] == [
        ("0", "street.png", str(W), "train"), ("1", "park.png", str(W), "train"),
        ("2", "empty.png", str(W), "train")]
    street = images[0]
    assert [child.tag for child in street] == ["box", "polygon", "mask", "points", "tag"]
    box = street.find("box")
    assert box is not None
    assert {k: box.get(k) for k in ("label", "source", "occluded", "xtl", "ytl", "xbr", "ybr")
            } == {"label": "car", "source": "manual", "occluded": "0", "xtl": "2.40",
                  "ytl": "3.60", "xbr": "22.40", "ybr": "13.80"}
    polygon = street.find("polygon")
    assert polygon is not None and polygon.get("points") == "40.00,30.00;60.00,32.00;50.00,46.00"
    mask = street.find("mask")
    assert mask is not None
    assert np.array_equal(decode_cvat_mask(mask), scene["mask"])
    assert street.find("points") is not None and street.find("tag") is not None
    park = images[1].findall("box")
    assert [(b.get("label"), b.get("source")) for b in park] == [
        ("person", "manual"), ("dog", "auto")]  # the pending pre-label, with include_proposed

    out.mkdir()
    (out / "annotations.xml").write_bytes(data)
    found = AnnotationSet.from_cvat(out / "annotations.xml")
    got = {a.image_id: sorted((b.label, tuple(b.ltrb)) for b in a.boxes) for a in found}
    assert got["street.png"] == [("car", (2.4, 3.6, 22.4, 13.8))]
    assert got["park.png"] == [("dog", (1.0, 1.0, 9.0, 9.0)), ("person", (10.0, 10.0, 40.0,
                                                                           30.0))]
    assert got["empty.png"] == []


def test_cvat_with_images_is_a_zip_of_the_files_and_annotations(
        lab: Lab, scene: dict[str, Any]) -> None:
    data = lab.export_bytes(scene["pid"], "cvat", images=True)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["images/street.png", "images/park.png", "images/empty.png",
                                  "annotations.xml"]
    root = ElementTree.fromstring(archive.read("annotations.xml"))
    assert [i.get("name") for i in root.iter("image")] == ["street.png", "park.png",
                                                           "empty.png"]
    assert archive.read("annotations.xml") == lab.export_bytes(scene["pid"], "cvat")


def test_cvat_attributes_occluded_and_meta() -> None:
    from projections.export_cvat import CvatImages

    project = {"id": "p", "name": "n & co", "classes": [{"name": "car", "color": "#112233"}]}
    writer = CvatImages(project, ExportOptions())
    element = writer.element({"id": "i", "width": W, "height": H}, "a<b>.jpg", "train", [
        {"id": "a", "type": "box", "label": "car", "status": "manual", "source": "assist",
         "geometry": {"x": 1, "y": 2, "w": 3, "h": 4},
         "attributes": {"occluded": True, "colour": "red \"dark\"", "\x01parked": False}}])
    meta = writer.meta(project)
    root = ElementTree.fromstring(f"<annotations>{meta}{element}</annotations>")
    box = root.find("image/box")
    assert box is not None
    assert box.get("occluded") == "1" and box.get("source") == "semi-auto"
    assert {a.get("name"): a.text for a in box.findall("attribute")} == {
        "colour": 'red "dark"', "parked": "false"}  # a control character is dropped
    assert sorted(a.findtext("name") or "" for a in root.iter("attribute")
                  if a.find("name") is not None) == ["colour", "parked"]
    assert root.findtext("meta/task/name") == "n & co"


def test_cvat_mask_rle_starts_with_zeros() -> None:
    from domain import rle

    mask = np.zeros((H, W), dtype=np.uint8)
    mask[5, 7] = 1
    mask[6, 8] = 1
    runs, left, top, width, height = cvat_mask(rle.encode(mask)) or ([], 0, 0, 0, 0)
    assert (left, top, width, height) == (7, 5, 2, 2)
    assert runs == [0, 1, 2, 1]  # the box's first pixel is set: an empty run of 0s first
    assert cvat_mask(rle.encode(np.zeros((H, W), dtype=np.uint8))) is None


RESULT = {
    "type": "object",
    "required": ["id", "type", "from_name", "to_name", "original_width", "original_height",
                 "value"],
    "properties": {
        "type": {"enum": ["rectanglelabels", "polygonlabels", "keypointlabels", "choices"]},
        "to_name": {"const": "image"},
        "value": {"type": "object"},
    },
}
TASKS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "data", "annotations"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "data": {"type": "object", "required": ["image"],
                     "properties": {"image": {"type": "string"}}},
            "annotations": {"type": "array", "items": {
                "type": "object", "required": ["id", "result"],
                "properties": {"result": {"type": "array", "items": RESULT}}}},
            "predictions": {"type": "array", "items": {
                "type": "object", "required": ["model_version", "result"],
                "properties": {"result": {"type": "array", "items": RESULT}}}},
        },
    },
}


def test_label_studio_tasks_in_percent_coordinates(lab: Lab, scene: dict[str, Any]) -> None:
    tasks = orjson.loads(lab.export_bytes(scene["pid"], "labelstudio", include_proposed=True))
    jsonschema.Draft202012Validator(TASKS).validate(tasks)
    assert [t["data"]["image"] for t in tasks] == ["street.png", "park.png", "empty.png"]
    street = tasks[0]["annotations"][0]["result"]
    kinds = [r["type"] for r in street]
    assert kinds == ["rectanglelabels", "polygonlabels", "polygonlabels", "polygonlabels",
                     "keypointlabels", "choices"]  # the mask: one polygon per piece
    box = street[0]["value"]
    assert np.allclose([box["x"], box["y"], box["width"], box["height"]],
                       [240 / W, 360 / H, 2000 / W, 1020 / H])
    assert box["rectanglelabels"] == ["car"]
    assert street[1]["value"]["points"][0] == [100 * 40 / W, 100 * 30 / H]
    assert street[-1]["value"] == {"choices": ["person"]}
    assert len({r["id"] for r in street}) == len(street)
    park = tasks[1]
    assert [r["value"]["rectanglelabels"] for r in park["annotations"][0]["result"]] == [
        ["person"]]
    assert park["predictions"][0]["model_version"] == "detector@1"
    assert park["predictions"][0]["result"][0]["score"] == 0.4
    assert tasks[2]["annotations"] == []
    without = orjson.loads(lab.export_bytes(scene["pid"], "labelstudio"))
    assert "predictions" not in without[1]


def test_label_studio_attributes_go_in_meta() -> None:
    project = {"id": "p", "name": "n", "classes": [{"name": "car"}]}
    task = labelstudio_task(1, {"id": "i", "width": 100, "height": 50}, "x.jpg", [
        {"id": "a", "type": "point", "label": "car", "status": "manual",
         "geometry": {"x": 10, "y": 5}, "attributes": {"side": "left"}}],
        ClassNumbers(project), ExportOptions())
    result = task["annotations"][0]["result"][0]
    assert result["meta"] == {"attributes": {"side": "left"}}
    assert (result["value"]["x"], result["value"]["y"]) == (10.0, 10.0)
