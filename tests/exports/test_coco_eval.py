"""COCO evaluation of pre-labels against the human labels, both taken from exports.

The model's proposals are read from an export *as of* the position right after they were
imported (with ``include_proposed``); the ground truth is the current export, after people
accepted, edited or rejected them.
"""

from __future__ import annotations

import contextlib
import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from domain import rle
from tests.exports.lab import Lab

CLASSES = ["car", "person"]


def propose_boxes(lab: Lab, pid: str, images: int, per_image: int
                  ) -> list[tuple[Any, str, dict[str, float]]]:
    rng = random.Random(7)
    proposals = []
    for image_id in lab.add_images(pid, images, width=200, height=200):
        for k in range(per_image):
            box = {"x": 40.0 * k + 2, "y": rng.uniform(0, 100), "w": 30.0,
                   "h": rng.uniform(20, 90)}
            label = CLASSES[k % 2]
            score = round(rng.uniform(0.3, 1.0), 3)
            proposals.append((image_id, lab.propose(image_id, "box", label, box, score), box))
    return proposals


def evaluate(lab: Lab, pid: str, proposals_at: int, tmp_path: Path) -> float:
    """bbox AP of the proposals (as of ``proposals_at``) against the current human labels."""
    truth_path = tmp_path / "truth.json"
    truth_path.write_bytes(lab.export_bytes(pid, "coco"))
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(truth_path))
    predicted = lab.export(pid, "coco", position=proposals_at, include_proposed=True)
    # Image numbers are assigned in export order, which both exports share; check it anyway.
    numbers = {i["labelwright_id"]: i["id"] for i in truth.dataset["images"]}
    as_of_numbers = {i["id"]: numbers[i["labelwright_id"]] for i in predicted["images"]}
    results = [{"image_id": as_of_numbers[a["image_id"]], "category_id": a["category_id"],
                "bbox": a["bbox"], "score": a["score"]}
               for a in predicted["annotations"] if a["status"] == "proposed"]
    assert results
    with contextlib.redirect_stdout(io.StringIO()):
        detections = truth.loadRes(results)
        evaluation = COCOeval(truth, detections, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])  # AP @ IoU .50:.95, all areas


def test_accepted_unchanged_prelabels_score_perfect_ap(lab: Lab, tmp_path: Path) -> None:
    pid = lab.create_project(CLASSES, ["box"])
    proposals = propose_boxes(lab, pid, images=6, per_image=4)
    proposals_at = lab.head()
    for image_id, annotation_id, _ in proposals:
        lab.run(image_id, {"type": "accept", "annotation_id": annotation_id})
    assert evaluate(lab, pid, proposals_at, tmp_path) == pytest.approx(1.0)


def test_edited_and_rejected_prelabels_lower_ap(lab: Lab, tmp_path: Path) -> None:
    pid = lab.create_project(CLASSES, ["box"])
    proposals = propose_boxes(lab, pid, images=6, per_image=4)
    proposals_at = lab.head()
    for n, (image_id, annotation_id, box) in enumerate(proposals):
        if n % 4 == 0:  # moved by half its width: IoU 1/3, a miss at every threshold
            moved = {**box, "x": box["x"] + box["w"] / 2}
            lab.run(image_id, {"type": "edit", "annotation_id": annotation_id,
                               "changes": {"geometry": moved}})
        elif n % 4 == 1:  # a false positive
            lab.run(image_id, {"type": "delete", "annotation_id": annotation_id})
        else:
            lab.run(image_id, {"type": "accept", "annotation_id": annotation_id})
    ap = evaluate(lab, pid, proposals_at, tmp_path)
    assert 0.2 < ap < 0.9


def test_pending_prelabels_evaluate_against_the_same_export(lab: Lab, tmp_path: Path) -> None:
    """With include_proposed, one current export carries both the truth and the proposals."""
    pid = lab.create_project(CLASSES, ["box"])
    image_id = lab.add_images(pid, 1, width=100, height=100)[0]
    lab.create(image_id, "box", "car", {"x": 10, "y": 10, "w": 40, "h": 40})
    lab.propose(image_id, "box", "car", {"x": 10, "y": 10, "w": 40, "h": 40}, 0.9)
    doc = lab.export(pid, "coco", include_proposed=True)
    truth_doc = {**doc, "annotations": [a for a in doc["annotations"]
                                        if a["status"] != "proposed"]}
    path = tmp_path / "truth.json"
    path.write_bytes(orjson.dumps(truth_doc))
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(path))
        detections = truth.loadRes([
            {k: a[k] for k in ("image_id", "category_id", "bbox", "score")}
            for a in doc["annotations"] if a["status"] == "proposed"])
        evaluation = COCOeval(truth, detections, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)


def test_masks_and_polygons_evaluate_as_segmentation(lab: Lab, tmp_path: Path) -> None:
    """Mask RLEs and polygons of the export are what COCOeval("segm") expects."""
    pid = lab.create_project(CLASSES, ["mask", "polygon"])
    rng = random.Random(3)
    proposed = []
    for image_id in lab.add_images(pid, 4, width=60, height=40):
        mask = np.zeros((40, 60), dtype=np.uint8)
        top, left = rng.randrange(0, 20), rng.randrange(0, 30)
        mask[top:top + 15, left:left + 20] = 1
        proposed += [(image_id, lab.propose(image_id, "mask", "car",
                                            {"rle": rle.encode(mask)}, 0.9)),
                     (image_id, lab.propose(image_id, "polygon", "person",
                                            {"points": [[2, 2], [20, 3], [25, 30], [4, 28]]},
                                            0.8))]
    proposals_at = lab.head()
    for image_id, annotation_id in proposed:
        lab.run(image_id, {"type": "accept", "annotation_id": annotation_id})
    predicted = lab.export(pid, "coco", position=proposals_at, include_proposed=True)
    sizes = {i["id"]: (i["height"], i["width"]) for i in predicted["images"]}

    def as_rle(annotation: dict[str, Any]) -> Any:
        """COCO results must give segmentations as RLE: polygons are rasterized."""
        segmentation = annotation["segmentation"]
        if isinstance(segmentation, dict):
            return segmentation
        return mask_utils.merge(mask_utils.frPyObjects(segmentation,
                                                       *sizes[annotation["image_id"]]))

    results = [{"image_id": a["image_id"], "category_id": a["category_id"],
                "segmentation": as_rle(a), "score": a["score"]}
               for a in predicted["annotations"] if a["status"] == "proposed"]
    assert len(results) == 8
    truth_path = tmp_path / "truth.json"
    truth_path.write_bytes(lab.export_bytes(pid, "coco"))
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(truth_path))
        evaluation = COCOeval(truth, truth.loadRes(results), iouType="segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)
