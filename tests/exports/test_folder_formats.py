"""YOLO, YOLO segmentation and Pascal VOC zips, read back by globox (an independent converter)
and by hand: the same boxes, polygons, classes, splits and files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import yaml
from globox import AnnotationSet

from projections.export_splits import parse_split
from tests.exports.lab import Lab
from tests.exports.scene import EXPECTED, H, W, out_fixture, scene_fixture  # noqa: F401


def unzip(data: bytes, into: Path) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    archive.extractall(into)
    return archive


def boxes_of(annotations: AnnotationSet, names: list[str] | None = None
             ) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    found: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
    for annotation in annotations:
        image = Path(annotation.image_id).stem
        found[image] = sorted(
            (names[int(b.label)] if names else b.label, tuple(b.ltrb))
            for b in annotation.boxes)
    return found


def assert_same_boxes(found: dict[str, list[tuple[str, tuple[float, ...]]]],
                      expected: dict[str, list[tuple[str, tuple[float, ...]]]],
                      tolerance: float) -> None:
    assert set(found) == {Path(name).stem for name in expected}
    for name, boxes in expected.items():
        got = found[Path(name).stem]
        want = sorted(boxes)
        assert [label for label, _ in got] == [label for label, _ in want], name
        for (_, a), (_, b) in zip(got, want, strict=True):
            assert np.allclose(a, b, atol=tolerance), (name, a, b)


def test_yolo_zip_reads_back_in_globox_with_the_same_boxes(lab: Lab, scene: dict[str, Any],
                                                           out: Path) -> None:
    archive = unzip(lab.export_bytes(scene["pid"], "yolo", images=True), out)
    assert archive.namelist() == [
        "labels/train/street.txt", "images/train/street.png",
        "labels/train/park.txt", "images/train/park.png",
        "labels/train/empty.txt", "images/train/empty.png", "data.yaml"]
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == {0: "car", 1: "person", 2: "dog"}
    assert data["nc"] == 3
    assert data["train"] == data["val"] == "images/train"  # one split: val names it too
    found = AnnotationSet.from_yolo_v5(out / "labels/train",
                                       image_folder=out / "images/train",
                                       image_extension=".png")
    assert_same_boxes(boxes_of(found, ["car", "person", "dog"]), EXPECTED, 1e-4)
    street = (out / "labels/train/street.txt").read_text().splitlines()
    assert street[0] == "0 0.193750 0.181250 0.312500 0.212500"  # 6 decimals, normalised
    assert (out / "labels/train/empty.txt").read_text() == ""
    # The image files are the stored bytes.
    stored = lab.services.images.path(lab.app.image(scene["ids"][0]).sha256).read_bytes()
    assert (out / "images/train/street.png").read_bytes() == stored


def test_yolo_include_proposed_adds_the_pending_pre_label(lab: Lab, scene: dict[str, Any],
                                                          out: Path) -> None:
    unzip(lab.export_bytes(scene["pid"], "yolo", include_proposed=True), out)
    park = (out / "labels/train/park.txt").read_text().splitlines()
    assert len(park) == 2 and park[1].startswith("2 ")
    assert not (out / "images").exists()  # no image files unless asked


def test_yolo_splits_make_folders_and_data_yaml_entries(lab: Lab, scene: dict[str, Any],
                                                        out: Path) -> None:
    plan = parse_split("train:0.5,val:0.3,test:0.2", 11)
    archive = unzip(lab.export_bytes(scene["pid"], "yolo", images=True, split=plan), out)
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert {k: data[k] for k in ("train", "val", "test")} == {
        "train": "images/train", "val": "images/val", "test": "images/test"}
    project = lab.project(scene["pid"])
    for image_id in scene["ids"]:
        image = lab.app.image(image_id)
        split = plan.of({"id": str(image_id), "sha256": image.sha256})
        stem = Path(image.file_name).stem
        assert f"labels/{split}/{stem}.txt" in archive.namelist()
        assert f"images/{split}/{image.file_name}" in archive.namelist()
    assert project["id"] in (out / "data.yaml").read_text()


def test_yolo_seg_writes_polygons_mask_outlines_and_box_corners(
        lab: Lab, scene: dict[str, Any], out: Path) -> None:
    unzip(lab.export_bytes(scene["pid"], "yolo_seg", images=True), out)
    lines = (out / "labels/train/street.txt").read_text().splitlines()
    rows = [(int(line.split()[0]), np.array(line.split()[1:], dtype=float).reshape(-1, 2)
             * [W, H]) for line in lines]
    assert [cls for cls, _ in rows] == [0, 1, 2, 2]  # box, polygon, two mask pieces
    box = rows[0][1]
    assert np.allclose(box, [[2.4, 3.6], [22.4, 3.6], [22.4, 13.8], [2.4, 13.8]], atol=1e-4)
    assert np.allclose(rows[1][1], [[40, 30], [60, 32], [50, 46]], atol=1e-4)
    # The mask's outlines enclose its pieces: rasterised again they cover the mask's boxes.
    pieces = sorted((p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max())
                    for _, p in rows[2:])
    assert np.allclose(pieces, [(5, 30, 11, 39), (30, 10, 44, 19)], atol=1e-4)
    # globox reads the same files (its polygon reader gives the boxes around the polygons).
    found = AnnotationSet.from_yolo_seg(out / "labels/train", relative=True,
                                        image_folder=out / "images/train",
                                        image_extension=".png")
    assert_same_boxes(boxes_of(found, ["car", "person", "dog"]), {
        "street.png": [("car", (2.4, 3.6, 22.4, 13.8)), ("person", (40, 30, 60, 46)),
                       ("dog", (5, 30, 11, 39)), ("dog", (30, 10, 44, 19))],
        "park.png": [("person", (10, 10, 40, 30))], "empty.png": []}, 1e-4)


def test_voc_zip_reads_back_in_globox_with_the_convention_documented(
        lab: Lab, scene: dict[str, Any], out: Path) -> None:
    plan = parse_split("train:0.5,val:0.5", 3)
    archive = unzip(lab.export_bytes(scene["pid"], "voc", images=True, split=plan), out)
    assert archive.namelist()[-2:] == ["ImageSets/Main/train.txt", "ImageSets/Main/val.txt"]
    listed = [line for split in ("train", "val")
              for line in (out / f"ImageSets/Main/{split}.txt").read_text().split()]
    assert sorted(listed) == ["empty", "park", "street"]
    assert (out / "JPEGImages/street.png").is_file()
    found = AnnotationSet.from_pascal_voc(out / "Annotations")
    # VOC: 1-based, both ends included: x = xmin - 1 and x + w = xmax, to the nearest pixel.
    expected = {name: [(label, tuple(float(np.floor(v + 0.5)) for v in box))
                       for label, box in boxes] for name, boxes in EXPECTED.items()}
    got = {image: [(label, (x0 - 1, y0 - 1, x1, y1)) for label, (x0, y0, x1, y1) in boxes]
           for image, boxes in boxes_of(found).items()}
    assert_same_boxes(got, expected, 1e-9)
    doc = ElementTree.parse(out / "Annotations/street.xml").getroot()
    assert doc.findtext("filename") == "street.png"
    assert doc.findtext("size/width") == str(W) and doc.findtext("size/height") == str(H)
    first = doc.find("object")
    assert first is not None
    assert [first.findtext(k) for k in ("truncated", "difficult", "occluded")] == ["0"] * 3


def test_voc_flags_come_from_attributes() -> None:
    from projections.export_options import ExportOptions
    from projections.export_shapes import ClassNumbers
    from projections.export_voc import voc_document

    project = {"id": "p", "name": "n", "classes": [{"name": "car"}]}
    annotation = {"id": "a", "type": "box", "label": "car", "status": "manual",
                  "geometry": {"x": 0, "y": 0, "w": 64, "h": 48},
                  "attributes": {"difficult": True, "occluded": "yes", "colour": "red"}}
    doc = ElementTree.fromstring(voc_document(
        project, {"id": "i", "width": W, "height": H}, "x.jpg", [annotation],
        ClassNumbers(project), ExportOptions()))
    obj = doc.find("object")
    assert obj is not None
    assert [obj.findtext(k) for k in ("truncated", "difficult", "occluded")] == ["0", "1", "1"]
    assert [obj.findtext(f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")] == [
        "1", "1", str(W), str(H)]  # the whole image: 1..W, 1..H
