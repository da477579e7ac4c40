"""The predictions file formats, parsed without a server (the CLI shares this code)."""

from __future__ import annotations

import pytest

from domain.errors import ValidationFailed
from service_layer.prediction_formats import parse_predictions

CLASSES = ["cat", "dog", "bird"]


def test_coco_results_map_categories_in_class_order_and_group_by_image() -> None:
    parsed = parse_predictions([
        {"image_id": 2, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5},
        {"image_id": "a.png", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1,
         "segmentation": [[0, 0, 4, 0, 4, 4]]},
        {"image_id": 2, "category_id": 2, "bbox": [0, 0, 1, 1], "score": 0.25,
         "segmentation": {"size": [4, 4], "counts": "04L0"}},
    ], CLASSES, "yolo", "8")
    assert (parsed.model_name, parsed.model_version) == ("yolo", "8")
    assert [g.image_ref for g in parsed.images] == [2, "a.png"]
    first, second = parsed.images
    assert first.annotations == [
        {"type": "box", "label": "bird", "geometry": {"x": 1.0, "y": 2.0, "w": 3.0, "h": 4.0},
         "score": 0.5},
        {"type": "mask", "label": "dog", "geometry": {"rle": {"size": [4, 4],
                                                             "counts": "04L0"}},
         "score": 0.25}]
    assert second.annotations == [{"type": "polygon", "label": "cat", "score": 1.0,
                                   "geometry": {"points": [[0.0, 0.0], [4.0, 0.0],
                                                           [4.0, 4.0]]}}]
    assert first.fields == ["[0]", "[2]"]
    assert parsed.annotation_count == 3


def test_an_int_and_a_string_image_id_are_different_images() -> None:
    parsed = parse_predictions([
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5},
        {"image_id": "1", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}],
        CLASSES, "m", "1")
    assert [g.image_ref for g in parsed.images] == [1, "1"]


def test_labelwright_json_takes_its_model_unless_the_caller_names_one() -> None:
    body = {"model": {"name": "sam", "version": "2"}, "predictions": [
        {"image_id": "x", "annotations": [{"type": "tag", "label": "cat", "geometry": {}}]},
        {"image_id": "y", "annotations": []}]}
    parsed = parse_predictions(body, CLASSES)
    assert (parsed.model_name, parsed.model_version) == ("sam", "2")
    assert [g.image_ref for g in parsed.images] == ["x"]
    assert parsed.images[0].fields == ["predictions[0].annotations[0]"]
    override = parse_predictions(body, CLASSES, "sam", "3")
    assert override.model_version == "3"


@pytest.mark.parametrize(("raw", "model", "field"), [
    ([{"image_id": 1, "category_id": 4, "bbox": [0, 0, 1, 1], "score": 0.5}], "m",
     "[0].category_id"),
    ([{"image_id": 1, "category_id": 0, "bbox": [0, 0, 1, 1], "score": 0.5}], "m",
     "[0].category_id"),
    ([{"image_id": 1, "category_id": True, "bbox": [0, 0, 1, 1], "score": 0.5}], "m",
     "[0].category_id"),
    ([{"image_id": 1.5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}], "m",
     "[0].image_id"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}], "m", "[0].bbox"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}], "m", "[0].score"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5,
       "segmentation": [[0, 0, 1, 1, 2, 2], [5, 5, 6, 6, 7, 7]]}], "m", "[0].segmentation"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5, "x": 1}], "m",
     "[0].x"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}], None, "model"),
    ({"predictions": [{"image_id": 1}]}, "m", "predictions[0].annotations"),
    ({"predictions": "all"}, "m", "predictions"),
    ({"model": {"name": "m"}, "predictions": []}, None, "model.version"),
    (42, "m", "body"),
])
def test_malformed_predictions_name_the_offending_field(raw: object, model: str | None,
                                                        field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_predictions(raw, CLASSES, model, "1" if model else None)
    assert caught.value.details["field"] == field
