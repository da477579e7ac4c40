"""The demo's shapes project: its registered model runs from the CLI and finds the shapes.

What a new user does after ``make run``: run the demo model on the unlabeled images and look
at the pre-labels. The images are generated from a seed, so their true boxes are known here;
the pre-labels must find most of them (an untrained or mis-wired model finds none).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference_workers.synthetic_shapes import make_shapes
from labelwright import demo_shapes
from tests.cli.test_cli import lw

pytestmark = pytest.mark.slow


def iou(a: list[float], b: list[float]) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    h = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_the_demo_model_prelabels_the_shapes_project(tmp_path: Path) -> None:
    data = tmp_path / "data"
    lw(data, "demo", "--no-serve")
    info = json.loads((data / "demo-shapes.json").read_text())
    lw(data, "demo", "--no-serve")  # idempotent: still one project, one model
    assert json.loads((data / "demo-shapes.json").read_text()) == info
    models = json.loads(lw(data, "model", "list", info["project_id"]).stdout)["models"]
    assert [(m["name"], m["version"], m["architecture"], m["unmapped"]) for m in models] == [
        ("shapes-centernet", "1", "centernet", [])]

    lw(data, "prelabel", info["project_id"], "--model", info["model_id"])
    out = tmp_path / "labels.json"
    lw(data, "export", info["project_id"], "--include-proposed", "-o", str(out))
    coco = json.loads(out.read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    by_file: dict[str, list[tuple[str, list[float]]]] = {}
    for img in coco["images"]:
        by_file[img["file_name"]] = []
    files = {img["id"]: img["file_name"] for img in coco["images"]}
    for a in coco["annotations"]:
        by_file[files[a["image_id"]]].append((names[a["category_id"]], a["bbox"]))

    truth = make_shapes(demo_shapes.IMAGES, (320, 320), seed=demo_shapes.SEED, max_shapes=5)
    found = total = predicted = 0
    for i, shapes in enumerate(truth):
        predictions = by_file[f"shapes-{i + 1:03d}.png"]
        predicted += len(predictions)
        for label, box in zip(shapes.labels, shapes.boxes, strict=True):
            total += 1
            found += any(p_label == label and iou(box, p_box) >= 0.5
                         for p_label, p_box in predictions)
    assert found / total >= 0.85, (found, total)
    assert found / predicted >= 0.85, (found, predicted)
