"""The pure scorer (``inference_workers.evaluation``) against hand-computed cases, and its mAP
against pycocotools run the ordinary way (files, ``loadRes``, the full ``summarize``)."""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from domain import rle
from inference_workers.evaluation import EvaluatedImage, evaluate, evaluate_task, kind_for_task

CLASSES = ["car", "person", "truck"]
HALF = 51 / 101  # COCO's 101-point AP when the first half of the recall is found at precision 1


def box(label: str, x: float, y: float, w: float = 100, h: float = 100,
        score: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "box", "label": label,
                           "geometry": {"x": x, "y": y, "w": w, "h": h}}
    if score is not None:
        out["score"] = score
    return out


def image(truth: list[dict[str, Any]], predictions: list[dict[str, Any]]) -> EvaluatedImage:
    return EvaluatedImage(640, 480, truth, predictions)


def by_label(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["label"]: c for c in result["per_class"]}


def confusion(result: dict[str, Any]) -> dict[tuple[str | None, str | None], int]:
    return {(c["label"], c["predicted"]): c["count"] for c in result["confusion"]}


def test_perfect_predictions_score_one() -> None:
    images = [image([box("car", 10, 10), box("person", 300, 200, 50, 120)],
                    [box("car", 10, 10, score=0.9), box("person", 300, 200, 50, 120, 0.6)]),
              image([box("car", 0, 0, 40, 30)], [box("car", 0, 0, 40, 30, 0.7)])]
    result = evaluate(images, CLASSES, "bbox")
    assert result["images"] == 2
    assert result["map50"] == 1.0 and result["map50_95"] == 1.0
    assert by_label(result) == {
        "car": {"label": "car", "ap50": 1.0, "ap50_95": 1.0, "precision": 1.0, "recall": 1.0,
                "tp": 2, "fp": 0, "fn": 0},
        "person": {"label": "person", "ap50": 1.0, "ap50_95": 1.0, "precision": 1.0,
                   "recall": 1.0, "tp": 1, "fp": 0, "fn": 0},
    }  # truck: no truth and no prediction, not listed
    assert confusion(result) == {("car", "car"): 2, ("person", "person"): 1}


def test_a_box_shifted_by_a_fifth_matches_up_to_iou_0_65() -> None:
    # IoU of two 100x100 boxes 20 px apart: 8000 / 12000 = 2/3, so it matches at the IoU
    # thresholds 0.50, 0.55, 0.60, 0.65 (AP 1) and misses at the six from 0.70 (AP 0).
    result = evaluate([image([box("car", 100, 100)], [box("car", 120, 100, score=0.9)])],
                      CLASSES, "bbox")
    assert result["map50"] == 1.0
    assert result["map50_95"] == pytest.approx(0.4)
    assert by_label(result)["car"]["tp"] == 1


def test_a_box_shifted_by_half_is_a_false_positive_and_a_miss() -> None:
    # IoU 50*100 / 15000 = 1/3: the shifted prediction (scored lower) finds nothing.
    truth = [box("car", 0, 0), box("car", 300, 0)]
    predictions = [box("car", 0, 0, score=0.9), box("car", 350, 0, score=0.8)]
    result = evaluate([image(truth, predictions)], CLASSES, "bbox")
    assert result["map50"] == pytest.approx(HALF, abs=1e-6)
    assert result["map50_95"] == pytest.approx(HALF, abs=1e-6)
    car = by_label(result)["car"]
    assert (car["tp"], car["fp"], car["fn"]) == (1, 1, 1)
    assert car["precision"] == 0.5 and car["recall"] == 0.5
    # The shifted box overlaps its object by 1/3 only: a miss and a false alarm, no confusion.
    assert confusion(result) == {("car", "car"): 1, ("car", None): 1, (None, "car"): 1}


def test_a_class_confusion_shows_in_confusion() -> None:
    truth = [box("car", 0, 0), box("car", 300, 0), box("person", 0, 300, 50, 100)]
    predictions = [box("car", 0, 0, score=0.9), box("truck", 305, 0, score=0.8),
                   box("person", 0, 300, 50, 100, 0.7)]
    result = evaluate([image(truth, predictions)], CLASSES, "bbox")
    assert confusion(result) == {("car", "car"): 1, ("car", "truck"): 1,
                                 ("person", "person"): 1}
    figures = by_label(result)
    assert (figures["car"]["tp"], figures["car"]["fp"], figures["car"]["fn"]) == (1, 0, 1)
    assert (figures["truck"]["tp"], figures["truck"]["fp"], figures["truck"]["fn"]) == (0, 1, 0)
    assert figures["truck"]["ap50"] is None  # no truck in the truth: no AP
    assert figures["truck"]["precision"] == 0.0 and figures["truck"]["recall"] is None
    assert figures["car"]["ap50"] == pytest.approx(HALF, abs=1e-6)
    # mAP averages the classes with truth only: car (51/101) and person (1).
    assert result["map50"] == pytest.approx((HALF + 1) / 2, abs=1e-6)


def test_a_confused_prediction_goes_to_the_object_it_overlaps_most() -> None:
    truth = [box("car", 0, 0), box("person", 60, 0)]  # two objects, overlapping
    predictions = [box("truck", 55, 0, score=0.9)]  # IoU 0.29 with the car, 0.90 with the person
    result = evaluate([image(truth, predictions)], CLASSES, "bbox")
    assert confusion(result) == {("car", None): 1, ("person", "truck"): 1}


def test_a_missed_object() -> None:
    truth = [box("person", 0, 0, 50, 100), box("person", 200, 0, 50, 100)]
    result = evaluate([image(truth, [box("person", 0, 0, 50, 100, 0.9)])], CLASSES, "bbox")
    person = by_label(result)["person"]
    assert (person["tp"], person["fp"], person["fn"]) == (1, 0, 1)
    assert person["recall"] == 0.5 and person["precision"] == 1.0
    assert person["ap50"] == pytest.approx(HALF, abs=1e-6)
    assert confusion(result) == {("person", "person"): 1, ("person", None): 1}


def test_the_threshold_cuts_the_counts_but_not_the_ap() -> None:
    truth = [box("car", 0, 0)]
    predictions = [box("car", 0, 0, score=0.9), box("car", 300, 300, score=0.1)]
    everything = evaluate([image(truth, predictions)], CLASSES, "bbox")
    cut = evaluate([image(truth, predictions)], CLASSES, "bbox", threshold=0.5)
    assert by_label(everything)["car"]["fp"] == 1
    assert by_label(cut)["car"]["fp"] == 0 and by_label(cut)["car"]["precision"] == 1.0
    assert (None, "car") not in confusion(cut)
    # The low-scoring false positive comes after every true one: AP is 1 either way.
    assert everything["map50"] == cut["map50"] == 1.0


def test_no_score_ranks_as_one_and_images_without_anything_still_count() -> None:
    result = evaluate([image([box("car", 0, 0)], [box("car", 0, 0)]), image([], [])],
                      CLASSES, "bbox")
    assert result["images"] == 2 and result["map50"] == 1.0


def test_nothing_to_score() -> None:
    result = evaluate([], CLASSES, "bbox")
    assert result == {"images": 0, "map50": None, "map50_95": None, "per_class": [],
                      "confusion": []}
    only_predictions = evaluate([image([], [box("car", 0, 0, score=0.5)])], CLASSES, "bbox")
    assert only_predictions["map50"] is None
    assert confusion(only_predictions) == {(None, "car"): 1}


def test_polygons_and_masks_count_by_their_box_for_a_detector() -> None:
    square = {"type": "polygon", "label": "car",
              "geometry": {"points": [[10, 10], [110, 10], [110, 110], [10, 110]]}}
    result = evaluate([image([square], [box("car", 10, 10, score=0.8)])], CLASSES, "bbox")
    assert result["map50"] == 1.0
    points_and_tags = [{"type": "point", "label": "car", "geometry": {"x": 1, "y": 1}},
                       {"type": "tag", "label": "car", "geometry": {}}]
    ignored = evaluate([image(points_and_tags, [])], CLASSES, "bbox")
    assert ignored["per_class"] == [] and ignored["map50"] is None


def test_segmentation_compares_pixels() -> None:
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[8:28, 10:40] = 1  # 20 x 30 pixels
    half = np.zeros_like(mask)
    half[8:28, 25:55] = 1  # shifted by half its width: IoU 1/3
    polygon = {"type": "polygon", "label": "person",
               "geometry": {"points": [[2, 30], [20, 30], [20, 46], [2, 46]]}}
    truth = [{"type": "mask", "label": "car", "geometry": {"rle": rle.encode(mask)}}, polygon]
    exact = [{"type": "mask", "label": "car", "geometry": {"rle": rle.encode(mask)},
              "score": 0.9}, {**polygon, "score": 0.8}]
    perfect = evaluate([EvaluatedImage(64, 48, truth, exact)], CLASSES, "segm")
    assert perfect["map50"] == 1.0 and perfect["map50_95"] == 1.0
    shifted = [{"type": "mask", "label": "car", "geometry": {"rle": rle.encode(half)},
                "score": 0.9}, {**polygon, "label": "truck", "score": 0.8}]
    result = evaluate([EvaluatedImage(64, 48, truth, shifted)], CLASSES, "segm")
    assert result["map50"] == 0.0
    assert confusion(result) == {("car", None): 1, ("person", "truck"): 1, (None, "car"): 1}
    # A box counts as the rectangle it covers.
    as_box = box("person", 2, 30, 18, 16, 0.9)
    assert evaluate([EvaluatedImage(64, 48, [polygon], [as_box])], CLASSES,
                    "segm")["map50"] == 1.0


def test_tags_give_precision_and_recall_only() -> None:
    def tag(label: str, score: float | None = None) -> dict[str, Any]:
        return {"type": "tag", "label": label, "geometry": {}, "score": score}

    images = [image([tag("car")], [tag("car", 0.9)]),
              image([tag("car"), tag("person")], [tag("person", 0.8), tag("truck", 0.7)]),
              image([], [tag("car", 0.2)])]
    result = evaluate_task(images, CLASSES, "classify", threshold=0.5)
    assert result["kind"] == "tags" and result["map50"] is None and result["map50_95"] is None
    figures = by_label(result)
    assert (figures["car"]["tp"], figures["car"]["fp"], figures["car"]["fn"]) == (1, 0, 1)
    assert figures["car"]["ap50"] is None
    assert (figures["truck"]["tp"], figures["truck"]["fp"]) == (0, 1)
    assert confusion(result) == {("car", "car"): 1, ("car", None): 1,
                                 ("person", "person"): 1, (None, "truck"): 1}


def test_kinds_follow_the_model_task() -> None:
    assert [kind_for_task(t) for t in ("detect", "segment", "classify", "interactive")] == [
        "bbox", "segm", "tags", "bbox"]
    with pytest.raises(ValueError):
        evaluate([], CLASSES, "keypoints")


def test_map_equals_pycocotools_run_the_usual_way(tmp_path: Path) -> None:
    """Random detections on 60 images against the reference: COCO files, loadRes, summarize."""
    rng = random.Random(11)
    images: list[EvaluatedImage] = []
    coco_images, truth_rows, results = [], [], []
    for number in range(1, 61):
        truth, predictions = [], []
        for _ in range(rng.randrange(0, 6)):
            label = rng.choice(CLASSES)
            x, y = rng.uniform(0, 500), rng.uniform(0, 350)
            w, h = rng.uniform(5, 140), rng.uniform(5, 120)
            truth.append(box(label, x, y, w, h))
            truth_rows.append({"id": len(truth_rows) + 1, "image_id": number,
                               "category_id": CLASSES.index(label) + 1, "bbox": [x, y, w, h],
                               "area": w * h, "iscrowd": 0})
            if rng.random() < 0.8:
                label = label if rng.random() < 0.85 else rng.choice(CLASSES)
                x, y = x + rng.uniform(-15, 15), y + rng.uniform(-15, 15)
                predictions.append(box(label, x, y, w, h, round(rng.random(), 3)))
        for _ in range(rng.randrange(0, 3)):  # false alarms
            predictions.append(box(rng.choice(CLASSES), rng.uniform(0, 500),
                                   rng.uniform(0, 350), 40, 40, round(rng.random(), 3)))
        for p in predictions:
            g = p["geometry"]
            results.append({"image_id": number, "category_id": CLASSES.index(p["label"]) + 1,
                            "bbox": [g["x"], g["y"], g["w"], g["h"]], "score": p["score"]})
        coco_images.append({"id": number, "width": 640, "height": 480})
        images.append(image(truth, predictions))
    path = tmp_path / "truth.json"
    path.write_text(json.dumps({"images": coco_images, "annotations": truth_rows, "categories": [
        {"id": n, "name": c} for n, c in enumerate(CLASSES, start=1)]}))
    with contextlib.redirect_stdout(io.StringIO()):
        reference = COCOeval(truth := COCO(str(path)), truth.loadRes(results), "bbox")
        reference.evaluate()
        reference.accumulate()
        reference.summarize()
    result = evaluate(images, CLASSES, "bbox")
    assert result["map50_95"] == pytest.approx(reference.stats[0], abs=1e-6)
    assert result["map50"] == pytest.approx(reference.stats[1], abs=1e-6)
    # Per class: the truth counts split into tp + fn, the predictions into tp + fp.
    for figures in result["per_class"]:
        k = CLASSES.index(figures["label"]) + 1
        assert figures["tp"] + figures["fn"] == sum(r["category_id"] == k for r in truth_rows)
        assert figures["tp"] + figures["fp"] == sum(r["category_id"] == k for r in results)
    # The confusion accounts for every object and every prediction exactly once.
    cells = result["confusion"]
    assert sum(c["count"] for c in cells if c["label"] is not None) == len(truth_rows)
    assert sum(c["count"] for c in cells if c["predicted"] is not None) == len(results)
