"""COCO export: loads in pycocotools, geometry per annotation type, statuses, classes, tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from domain import rle
from tests.exports.lab import Lab

W, H = 64, 48


def load_coco(doc_bytes: bytes, tmp_path: Path) -> COCO:
    path = tmp_path / "export.json"
    path.write_bytes(doc_bytes)
    return COCO(str(path))


def by_labelwright_id(coco: COCO) -> dict[str, dict[str, Any]]:
    return {a["labelwright_id"]: a for a in coco.dataset["annotations"]}


@pytest.fixture
def project(lab: Lab) -> dict[str, Any]:
    """A project with one annotation of each type and pre-labels in every state."""
    pid = lab.create_project(["car", "person", "tree", "sign"])
    first, second, empty = lab.add_images(pid, 3, width=W, height=H)
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[10:20, 5:30] = 1
    mask[30:35, 40:41] = 1
    ids = {
        "box": lab.create(first, "box", "car", {"x": 1.5, "y": 2, "w": 10, "h": 4.25}),
        "polygon": lab.create(first, "polygon", "person",
                              {"points": [[0, 0], [20, 0], [20, 10], [10, 20], [0, 10]]}),
        "mask": lab.create(first, "mask", "tree", {"rle": rle.encode(mask)}),
        "point": lab.create(second, "point", "sign", {"x": 7.5, "y": 8}),
        "tag": lab.create(second, "tag", "person", {}),
        "tag_again": lab.create(second, "tag", "person", {}),
        "proposed": lab.propose(first, "box", "car", {"x": 30, "y": 30, "w": 5, "h": 5}, 0.25),
        "proposed_tag": lab.propose(second, "tag", "sign", {}, 0.5),
        "accepted": lab.propose(second, "box", "person", {"x": 1, "y": 1, "w": 2, "h": 2}, 0.9),
        "edited": lab.propose(second, "box", "car", {"x": 5, "y": 5, "w": 5, "h": 5}, 0.8),
        "rejected": lab.propose(second, "box", "car", {"x": 9, "y": 9, "w": 5, "h": 5}, 0.7),
        "deleted": lab.create(first, "box", "car", {"x": 0, "y": 0, "w": 1, "h": 1}),
    }
    lab.run(second, {"type": "accept", "annotation_id": ids["accepted"]})
    lab.run(second, {"type": "edit", "annotation_id": ids["edited"],
                     "changes": {"geometry": {"x": 6, "y": 5, "w": 5, "h": 5}}})
    lab.run(second, {"type": "delete", "annotation_id": ids["rejected"]})
    lab.run(first, {"type": "delete", "annotation_id": ids["deleted"]})
    lab.retire(pid, "tree")  # after use: its annotation and category stay
    return {"id": pid, "images": [first, second, empty], "ann": ids, "mask": mask}


def test_categories_images_and_counts(lab: Lab, project: dict[str, Any], tmp_path: Path
                                      ) -> None:
    coco = load_coco(lab.export_bytes(project["id"], "coco"), tmp_path)
    cats = coco.loadCats(coco.getCatIds())
    assert [(c["id"], c["name"], c["retired"]) for c in cats] == [
        (1, "car", False), (2, "person", False), (3, "tree", True), (4, "sign", False)]
    images = coco.dataset["images"]
    assert [i["id"] for i in images] == [1, 2, 3]
    assert [i["file_name"] for i in images] == ["img_00000.jpg", "img_00001.jpg",
                                                "img_00002.jpg"]
    assert [i["labelwright_id"] for i in images] == [str(i) for i in project["images"]]
    assert all((i["width"], i["height"]) == (W, H) for i in images)
    exported = set(by_labelwright_id(coco))
    ann = project["ann"]
    assert exported == {ann[k] for k in ("box", "polygon", "mask", "point", "accepted",
                                         "edited")}
    assert [a["id"] for a in coco.dataset["annotations"]] == list(range(1, 7))
    assert len(coco.getAnnIds(imgIds=[1])) == 3
    assert len(coco.getAnnIds(imgIds=[2])) == 3
    assert coco.getAnnIds(imgIds=[3]) == []
    assert len(coco.getAnnIds(catIds=[3])) == 1  # the retired class keeps its annotation


def test_geometry_of_each_type(lab: Lab, project: dict[str, Any], tmp_path: Path) -> None:
    coco = load_coco(lab.export_bytes(project["id"], "coco"), tmp_path)
    anns = by_labelwright_id(coco)
    ids = project["ann"]

    box = anns[ids["box"]]
    assert box["bbox"] == [1.5, 2.0, 10.0, 4.25]
    assert box["area"] == pytest.approx(42.5)
    assert box["segmentation"] == [[1.5, 2.0, 11.5, 2.0, 11.5, 6.25, 1.5, 6.25]]
    assert int(coco.annToMask(box).sum()) > 0  # pycocotools can rasterise every annotation
    assert (box["category_id"], box["image_id"], box["iscrowd"]) == (1, 1, 0)
    assert (box["status"], box["source"]) == ("manual", "manual")
    assert "score" not in box

    polygon = anns[ids["polygon"]]
    assert polygon["segmentation"] == [[0, 0, 20, 0, 20, 10, 10, 20, 0, 10]]
    assert polygon["bbox"] == [0, 0, 20, 20]
    assert polygon["area"] == pytest.approx(20 * 10 + 20 * 10 / 2)
    assert polygon["category_id"] == 2

    mask = anns[ids["mask"]]
    assert mask["category_id"] == 3
    assert mask["iscrowd"] == 0
    decoded = coco.annToMask(mask)  # pycocotools decodes the RLE as it is
    assert np.array_equal(decoded, project["mask"])
    assert np.array_equal(decoded, rle.decode(mask["segmentation"]))
    as_coco = {"size": mask["segmentation"]["size"],
               "counts": mask["segmentation"]["counts"].encode()}
    assert mask["area"] == int(mask_utils.area(as_coco)) == int(project["mask"].sum())
    assert mask["bbox"] == list(mask_utils.toBbox(as_coco)) == [5.0, 10.0, 36.0, 25.0]

    point = anns[ids["point"]]
    assert point["keypoints"] == [7.5, 8.0, 2]
    assert point["num_keypoints"] == 1
    assert (point["bbox"], point["area"], point["image_id"]) == ([7.5, 8.0, 0.0, 0.0], 0.0, 2)


def test_prelabels_states_and_scores(lab: Lab, project: dict[str, Any], tmp_path: Path
                                     ) -> None:
    ids = project["ann"]
    anns = by_labelwright_id(load_coco(lab.export_bytes(project["id"], "coco"), tmp_path))
    accepted, edited = anns[ids["accepted"]], anns[ids["edited"]]
    assert (accepted["status"], accepted["source"], accepted["score"]) == (
        "accepted", "prelabel", 0.9)
    assert accepted["model"] == {"name": "detector", "version": "1"}
    assert (edited["status"], edited["bbox"], edited["score"]) == ("edited", [6, 5, 5, 5], 0.8)
    assert ids["proposed"] not in anns and ids["rejected"] not in anns

    with_proposed = lab.export_bytes(project["id"], "coco", include_proposed=True)
    anns = by_labelwright_id(load_coco(with_proposed, tmp_path))
    proposed = anns[ids["proposed"]]
    assert (proposed["status"], proposed["score"], proposed["bbox"]) == (
        "proposed", 0.25, [30, 30, 5, 5])
    assert len(anns) == 7 and ids["rejected"] not in anns


def test_tags_are_listed_on_images(lab: Lab, project: dict[str, Any]) -> None:
    images = lab.export(project["id"], "coco")["images"]
    assert [i["tags"] for i in images] == [[], ["person"], []]
    images = lab.export(project["id"], "coco", include_proposed=True)["images"]
    assert [i["tags"] for i in images] == [[], ["person", "sign"], []]


def test_info_names_what_was_exported(lab: Lab, project: dict[str, Any]) -> None:
    position = lab.head()
    info = lab.export(project["id"], "coco", position=position, include_proposed=True)["info"]
    assert info["labelwright"] == {"project_id": project["id"], "position": position,
                                   "include_proposed": True}


def test_empty_project_is_a_valid_document(lab: Lab, tmp_path: Path) -> None:
    pid = lab.create_project(["car"], ["box"])
    coco = load_coco(lab.export_bytes(pid, "coco"), tmp_path)
    assert coco.dataset["images"] == [] and coco.dataset["annotations"] == []
    assert coco.loadCats([1]) == [{"id": 1, "name": "car", "supercategory": "",
                                   "color": "#e6194b", "retired": False}]
