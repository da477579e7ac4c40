"""The pure blind-spot finder (``inference_workers.blind_spots``): hand-made cases, its counts
against the evaluation's confusions (two implementations of one definition), properties, and
the label suspects (confident learning)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import rle
from inference_workers.blind_spots import find_blind_spots
from inference_workers.evaluation import EvaluatedImage, evaluate

CLASSES = ["car", "person", "truck"]


def box(label: str, x: float, y: float, w: float = 100, h: float = 100,
        score: float | None = None, id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "box", "label": label,
                           "geometry": {"x": x, "y": y, "w": w, "h": h}}
    if score is not None:
        out["score"] = score
    if id is not None:
        out["id"] = id
    return out


def tag(label: str, score: float | None = None, id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "tag", "label": label, "geometry": {}}
    if score is not None:
        out["score"] = score
    if id is not None:
        out["id"] = id
    return out


def image(truth: Sequence[Mapping[str, Any]], predictions: Sequence[Mapping[str, Any]]
          ) -> EvaluatedImage:
    return EvaluatedImage(640, 480, truth, predictions)


def counts(images: list[EvaluatedImage], kind: str = "bbox", threshold: float = 0.0
           ) -> list[dict[str, Any]]:
    return [d.counts() for d in find_blind_spots(images, CLASSES, kind, threshold).images]


def test_each_kind_of_disagreement_by_hand() -> None:
    one = image(
        [box("car", 0, 0), box("person", 200, 0), box("truck", 400, 300)],
        [box("car", 0, 0, score=0.9),           # right
         box("car", 205, 0, score=0.8),         # found the person, called it a car: confused
         box("truck", 400, 0, score=0.7),       # nothing there: false positive
         box("truck", 400, 300, score=0.1)])    # the truck, but under the threshold: missed
    (found,) = find_blind_spots([one], CLASSES, "bbox", 0.25).images
    assert found.counts() == {"missed": 1, "false_positives": 1, "confused": 1,
                              "score": pytest.approx(1 + 0.7 + 0.8)}
    assert found.missed == [2] and found.false_positives == [2] and found.confused == [(1, 1)]
    # At threshold 0 the weak truck prediction finds the truck.
    assert counts([one])[0] == {"missed": 0, "false_positives": 1, "confused": 1,
                                "score": pytest.approx(1.5)}


def test_a_prediction_without_a_score_counts_as_sure() -> None:
    (found,) = counts([image([], [box("car", 0, 0)])])
    assert found == {"missed": 0, "false_positives": 1, "confused": 0, "score": 1.0}


def test_each_label_is_matched_once_and_the_best_score_wins() -> None:
    one = image([box("car", 0, 0)], [box("car", 0, 0, score=0.6), box("car", 2, 2, score=0.9)])
    (found,) = find_blind_spots([one], CLASSES, "bbox").images
    assert found.false_positives == [0]  # the 0.9 one took the car; the 0.6 one is left
    assert found.score == pytest.approx(0.6)


def test_segmenters_compare_shapes_not_boxes() -> None:
    mask = np.zeros((480, 640), dtype=bool)
    mask[0:100, 0:60] = True  # 60 % of a 100x100 box
    predicted_mask = {"type": "mask", "label": "car", "score": 0.8,
                      "geometry": {"rle": rle.encode(mask)}}
    # An L: its bounding box is the label's box exactly, its area a fifth of it.
    ell = {"type": "polygon", "label": "car", "score": 0.7, "geometry": {"points": [
        [300, 0], [400, 0], [400, 10], [310, 10], [310, 100], [300, 100]]}}
    one = image([box("car", 0, 0), box("car", 300, 0)], [predicted_mask, ell])
    assert counts([one], "bbox")[0]["score"] == 0
    assert counts([one], "segm")[0] == {"missed": 1, "false_positives": 1, "confused": 0,
                                        "score": pytest.approx(1.7)}
    mask[0:100, 0:40] = False  # 20 %: no longer the car
    predicted_mask["geometry"] = {"rle": rle.encode(mask)}
    assert counts([one], "segm")[0]["missed"] == 2


def test_tags_are_compared_as_sets() -> None:
    one = image([tag("car"), tag("person")],
                [tag("car", 0.9), tag("truck", 0.7), tag("person", 0.1)])
    assert counts([one], "tags", 0.25)[0] == {"missed": 0, "false_positives": 0, "confused": 1,
                                              "score": pytest.approx(0.7)}
    two = image([tag("car")], [tag("truck", 0.4), tag("person", 0.6)])
    found = find_blind_spots([two], CLASSES, "tags").images[0]
    assert found.confused == [(0, 1)]  # the car paired with the most confident false tag
    assert found.false_positives == [0]
    # Boxes are not tags and tags are not boxes: a car box does not answer a car tag.
    assert counts([image([box("car", 0, 0)], [tag("car", 0.9)])], "tags")[0]["score"] == 0.9
    assert counts([image([tag("car")], [box("car", 0, 0, score=0.9)])])[0]["score"] == 0.9


def test_labels_of_unknown_classes_and_points_are_left_out() -> None:
    point = {"type": "point", "label": "car", "geometry": {"x": 3, "y": 4}, "score": 0.9}
    one = image([box("boat", 0, 0), point], [box("boat", 300, 300, score=0.9), point])
    assert counts([one])[0]["score"] == 0


# -- against the evaluation ----------------------------------------------------------------------

GRID = st.tuples(st.sampled_from(CLASSES), st.integers(0, 6), st.integers(0, 4),
                 st.integers(-8, 8), st.integers(-8, 8))


def _boxes(cells: list[tuple[str, int, int, int, int]], scores: list[float] | None
           ) -> list[dict[str, Any]]:
    return [box(label, gx * 80 + dx, gy * 80 + dy, 60, 60,
                None if scores is None else scores[n % len(scores)])
            for n, (label, gx, gy, dx, dy) in enumerate(cells)]


IMAGES = st.lists(st.tuples(st.lists(GRID, max_size=6), st.lists(GRID, max_size=6),
                            st.lists(st.floats(0.05, 1.0), min_size=1, max_size=6)),
                  min_size=1, max_size=4)


def _images(spec: list[Any]) -> list[EvaluatedImage]:
    return [image(_boxes(truth, None), _boxes(predicted, scores))
            for truth, predicted, scores in spec]


@settings(max_examples=150, deadline=None)
@given(IMAGES, st.sampled_from([0.0, 0.3, 0.6]), st.sampled_from(["bbox", "segm"]))
def test_the_counts_add_up_to_the_evaluation_s_confusions(spec: list[Any], threshold: float,
                                                          kind: str) -> None:
    images = _images(spec)
    found = find_blind_spots(images, CLASSES, kind, threshold).images
    cells: Counter[str] = Counter()
    for c in evaluate(images, CLASSES, kind, threshold)["confusion"]:
        if c["label"] is None:
            cells["false_positives"] += c["count"]
        elif c["predicted"] is None:
            cells["missed"] += c["count"]
        elif c["label"] != c["predicted"]:
            cells["confused"] += c["count"]
    for key in ("missed", "false_positives", "confused"):
        assert sum(getattr(d, key).__len__() for d in found) == cells[key], key
        assert all(len(getattr(d, key)) >= 0 for d in found)
    assert all(d.score >= 0 for d in found)


@settings(max_examples=100, deadline=None)
@given(IMAGES, st.floats(0.0, 1.0))
def test_a_perfect_model_scores_zero(spec: list[Any], score: float) -> None:
    images = [image(im.truth, [{**a, "score": score} for a in im.truth])
              for im in _images(spec)]
    for kind in ("bbox", "segm"):
        for found in find_blind_spots(images, CLASSES, kind).images:
            assert found.counts() == {"missed": 0, "false_positives": 0, "confused": 0,
                                      "score": 0.0}


@settings(max_examples=100, deadline=None)
@given(IMAGES, st.floats(0.5, 1.0), st.sampled_from(CLASSES))
def test_a_spurious_confident_prediction_is_one_more_false_positive(
        spec: list[Any], score: float, label: str) -> None:
    images = _images(spec)
    before = find_blind_spots(images, CLASSES, "bbox", 0.5).images
    far = box(label, 600, 440, 30, 30, score)  # off the grid: overlaps nothing
    images[0] = image(images[0].truth, [*images[0].predictions, far])
    after = find_blind_spots(images, CLASSES, "bbox", 0.5).images
    assert len(after[0].false_positives) == len(before[0].false_positives) + 1
    assert after[0].score == pytest.approx(before[0].score + score)
    assert [d.counts() for d in after[1:]] == [d.counts() for d in before[1:]]


# -- label suspects ------------------------------------------------------------------------------


def test_a_label_the_model_confidently_calls_another_class_is_suspect() -> None:
    cars = [image([box("car", 0, 0, id=f"car{n}")], [box("car", 0, 0, score=0.8)])
            for n in range(4)]
    trucks = [image([box("truck", 0, 0, id=f"truck{n}")], [box("truck", 0, 0, score=0.7)])
              for n in range(4)]
    # A "car" label where the model sees a truck at 0.9 (above trucks' usual 0.7 ...).
    odd = image([box("car", 0, 0, id="odd")], [box("truck", 2, 0, score=0.9)])
    # ... and one where it sees a truck at 0.6, below it: a plain confusion, not a suspect.
    meh = image([box("car", 0, 0, id="meh")], [box("truck", 2, 0, score=0.6)])
    # A car label with a car at 0.95 and a truck at 0.92 on it: the model agrees more.
    both = image([box("car", 0, 0, id="both")],
                 [box("car", 0, 0, score=0.95), box("truck", 0, 0, score=0.92)])
    found = find_blind_spots([*cars, *trucks, odd, meh, both], CLASSES, "bbox", 0.25)
    (suspect,) = found.suspects
    assert (suspect.image, suspect.annotation_id, suspect.label, suspect.predicted,
            suspect.reason) == (8, "odd", "car", "truck", "other_class")
    assert suspect.confidence == 0.9
    assert suspect.threshold == pytest.approx(0.7)  # the mean of the trucks' own scores


def test_the_self_confidence_counts_the_labels_the_model_missed_as_zero() -> None:
    # Trucks found at 0.9 on two labels of four: t_truck = 0.45, so a 0.5 truck is confident.
    trucks = [image([box("truck", 0, 0)], [box("truck", 0, 0, score=0.9)]) for _ in range(2)]
    trucks += [image([box("truck", 0, 0)], []) for _ in range(2)]
    odd = image([box("car", 0, 0, id="odd")], [box("truck", 0, 0, score=0.5)])
    found = find_blind_spots([*trucks, odd], CLASSES, "bbox")
    assert [(s.annotation_id, s.threshold) for s in found.suspects] == [("odd", 0.45)]
    # Not under the caller's floor.
    assert find_blind_spots([*trucks, odd], CLASSES, "bbox", 0.6).suspects == []


def test_a_label_where_a_reliable_model_finds_nothing_is_suspect() -> None:
    found_cars = [image([box("car", 0, 0)], [box("car", 0, 0, score=0.8)]) for _ in range(5)]
    empty = image([box("car", 300, 300, id="ghost")], [])
    result = find_blind_spots([*found_cars, empty], CLASSES, "bbox")
    (suspect,) = result.suspects
    assert (suspect.annotation_id, suspect.predicted, suspect.reason, suspect.confidence) == (
        "ghost", None, "nothing_found", 1.0)
    # Something nearby (a person overlapping a little): the model did see something there.
    near = image([box("car", 300, 300, id="ghost")], [box("person", 360, 300, score=0.3)])
    assert find_blind_spots([*found_cars, near], CLASSES, "bbox").suspects == []
    # Too few other cars to trust the model's recall.
    assert find_blind_spots([*found_cars[:4], empty], CLASSES, "bbox").suspects == []
    # A model that misses cars anyway: not a suspect.
    missed = [image([box("car", 0, 0)], []) for _ in range(2)]
    assert find_blind_spots([*found_cars, *missed, empty], CLASSES, "bbox").suspects == []


def test_tag_suspects() -> None:
    cars = [image([tag("car")], [tag("car", 0.8)]) for _ in range(5)]
    odd = image([tag("car", id="odd")], [tag("truck", 0.9)])
    bare = image([tag("car", id="bare")], [])
    found = find_blind_spots([*cars, odd, bare], CLASSES, "tags")
    assert [(s.annotation_id, s.reason, s.predicted) for s in found.suspects] == [
        ("odd", "other_class", "truck"), ("bare", "nothing_found", None)]


def test_suspects_come_most_confident_first() -> None:
    trucks = [image([box("truck", 0, 0)], [box("truck", 0, 0, score=0.5)]) for _ in range(3)]
    odd = [image([box("car", 0, 0, id=f"odd{s}")], [box("truck", 0, 0, score=s)])
           for s in (0.6, 0.9, 0.75)]
    found = find_blind_spots([*trucks, *odd], CLASSES, "bbox").suspects
    assert [s.annotation_id for s in found] == ["odd0.9", "odd0.75", "odd0.6"]


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown evaluation kind"):
        find_blind_spots([], CLASSES, "keypoints")
