"""How single annotations map to COCO objects (no database needed)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from projections.export_coco import CocoAnnotations, coco_categories

PROJECT = {"id": "p", "name": "unit", "annotation_types": ["box", "polygon", "tag"],
           "classes": [{"name": "car", "color": "#111111", "retired": False},
                       {"name": "old", "color": "#222222", "retired": True}]}


def annotation(kind: str, geometry: dict[str, Any], label: str = "car",
               status: str = "manual", **extra: Any) -> dict[str, Any]:
    return {"id": f"{kind}-{label}-{status}", "type": kind, "label": label,
            "geometry": geometry, "source": "manual", "status": status, "revision": 1,
            **extra}


def test_polygon_area_and_bbox_whatever_the_winding() -> None:
    convert = CocoAnnotations(PROJECT, include_proposed=False)
    square = [[0, 0], [4, 0], [4, 3], [0, 3]]
    counter, _ = convert.of_image([annotation("polygon", {"points": square})], 1)
    clockwise, _ = convert.of_image([annotation("polygon", {"points": square[::-1]})], 1)
    assert counter[0]["area"] == clockwise[0]["area"] == 12.0
    assert counter[0]["bbox"] == clockwise[0]["bbox"] == [0, 0, 4, 3]
    assert [counter[0]["id"], clockwise[0]["id"]] == [1, 2]


def test_statuses_tags_and_scores() -> None:
    rows = [
        annotation("box", {"x": 1, "y": 2, "w": 3, "h": 4}, status="proposed", score=0.5),
        annotation("box", {"x": 1, "y": 2, "w": 3, "h": 4}, status="accepted", score=None,
                   model={"name": "m", "version": "1"}),
        annotation("tag", {}, label="old"),
        annotation("tag", {}, label="car", status="proposed"),
    ]
    converted, tags = CocoAnnotations(PROJECT, include_proposed=False).of_image(rows, 3)
    assert [(a["status"], a["image_id"], "score" in a) for a in converted] == [
        ("accepted", 3, False)]
    assert converted[0]["model"] == {"name": "m", "version": "1"}
    assert tags == ["old"]
    converted, tags = CocoAnnotations(PROJECT, include_proposed=True).of_image(rows, 3)
    assert [a.get("score") for a in converted] == [0.5, None]
    assert tags == ["old", "car"]


def test_a_label_outside_the_project_is_skipped_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    convert = CocoAnnotations(PROJECT, include_proposed=False)
    stray = annotation("box", {"x": 1, "y": 2, "w": 3, "h": 4}, label="ghost")
    with caplog.at_level(logging.WARNING):
        assert convert.of_image([stray, stray], 1) == ([], [])
        assert convert.of_image([stray], 2) == ([], [])
    assert [r.getMessage() for r in caplog.records] == [
        "export skips annotations with label 'ghost': not a class of the project"]


def test_categories_follow_class_order_with_keypoints_only_for_point_projects() -> None:
    assert coco_categories(PROJECT) == [
        {"id": 1, "name": "car", "supercategory": "", "color": "#111111", "retired": False},
        {"id": 2, "name": "old", "supercategory": "", "color": "#222222", "retired": True}]
    with_points = coco_categories({**PROJECT, "annotation_types": ["point"]})
    assert all(c["keypoints"] == ["point"] and c["skeleton"] == [] for c in with_points)
