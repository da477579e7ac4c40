"""Every output layout decoded by ``inference_workers.output_decoders`` and checked against the
plain-numpy reference (``tests/inference/reference.py``): its own letterbox inverse, its own
per-class NMS, the two-step mask resize; plus NMS properties under hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import rle
from domain.errors import ValidationFailed
from inference_workers import box_ops
from inference_workers.box_ops import batched_nms, box_iou, xywh_to_xyxy, xyxy_to_xywh
from inference_workers.letterbox import plan
from inference_workers.model_api import Prediction
from inference_workers.output_decoders import DecodeParams, decode, decoder_for
from tests.inference import reference

CLASSES = ["cat", "dog", "bird"]
IMAGE_SIZES = [(48, 96), (97, 61), (480, 640), (33, 200), (64, 64)]


def _random_candidates(rng: np.random.Generator, n: int, in_h: int, in_w: int,
                       classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` centre boxes clustered so that NMS has work, and class scores in [0, 1]."""
    centres = rng.uniform(0, [in_w, in_h], size=(6, 2))
    picked = centres[rng.integers(0, 6, n)] + rng.normal(0, 3, (n, 2))
    sizes = rng.uniform(4, min(in_h, in_w) / 2, (n, 2))
    xywh = np.concatenate([picked, sizes], axis=1)
    scores = rng.uniform(0, 1, (n, classes)) ** 3
    return xywh.astype(np.float32), scores.astype(np.float32)


def _as_boxes(predictions: list[Prediction]) -> list[tuple[str, float, list[float]]]:
    return [(p.label, p.score, [p.geometry["x"], p.geometry["y"],
                                p.geometry["x"] + p.geometry["w"],
                                p.geometry["y"] + p.geometry["h"]]) for p in predictions]


def _assert_same_detections(got: list[Prediction],
                            expected: list[tuple[int, float, np.ndarray, int]]) -> None:
    assert [p.type for p in got] == ["box"] * len(expected)
    boxes = _as_boxes(got)
    assert [b[0] for b in boxes] == [CLASSES[e[0]] for e in expected]
    np.testing.assert_allclose([b[1] for b in boxes], [e[1] for e in expected], rtol=1e-6)
    np.testing.assert_allclose(np.array([b[2] for b in boxes]).reshape(-1, 4),
                               np.array([e[2] for e in expected]).reshape(-1, 4), atol=1e-3)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("size", IMAGE_SIZES)
def test_yolov8_matches_the_reference(seed: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    in_h, in_w = 64, 96
    xywh, scores = _random_candidates(rng, 200, in_h, in_w, len(CLASSES))
    raw = np.concatenate([xywh, scores], axis=1).T[None]  # (1, 4 + C, N)
    params = DecodeParams(threshold=0.3, iou=0.5, max_per_image=25)
    box = plan(size, (in_h, in_w))
    got = decode("yolov8", [raw], [box], CLASSES, params)
    fit = reference.fit(*size, in_h, in_w)
    expected = reference.detections(xywh, scores, fit, *size, 0.3, 0.5, 25)
    assert len(expected) > 1
    _assert_same_detections(got[0], expected)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("size", IMAGE_SIZES[:3])
def test_yolov5_scores_are_objectness_times_class(seed: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    xywh, scores = _random_candidates(rng, 300, 64, 64, len(CLASSES))
    objectness = rng.uniform(0, 1, (300, 1)).astype(np.float32)
    raw = np.concatenate([xywh, objectness, scores], axis=1)[None]  # (1, N, 5 + C)
    params = DecodeParams(threshold=0.2, iou=0.45, max_per_image=300)
    got = decode("yolov5", [raw], [plan(size, (64, 64))], CLASSES, params)
    expected = reference.detections(xywh, scores * objectness, reference.fit(*size, 64, 64),
                                    *size, 0.2, 0.45, 300)
    assert len(expected) > 1
    _assert_same_detections(got[0], expected)


def test_a_batch_decodes_each_image_through_its_own_letterbox() -> None:
    rng = np.random.default_rng(7)
    xywh, scores = _random_candidates(rng, 100, 64, 64, len(CLASSES))
    raw = np.concatenate([xywh, scores], axis=1).T[None]
    both = np.concatenate([raw, raw[:, :, ::-1].copy()])
    boxes = [plan((48, 96), (64, 64)), plan((300, 100), (64, 64))]
    params = DecodeParams()
    batch = decode("yolov8", [both], boxes, CLASSES, params)
    one = decode("yolov8", [both[1:]], boxes[1:], CLASSES, params)
    assert batch[1] == one[0]
    assert batch[0] != batch[1]


def test_max_per_image_keeps_the_best() -> None:
    xywh = np.array([[10 + 20 * i, 10, 8, 8] for i in range(5)], np.float32)
    scores = np.array([[0.5], [0.9], [0.7], [0.8], [0.6]], np.float32)
    raw = np.concatenate([xywh, scores], axis=1).T[None]
    got = decode("yolov8", [raw], [plan((64, 128), (64, 128))], ["cat"],
                 DecodeParams(threshold=0.1, max_per_image=3))
    assert [round(p.score, 2) for p in got[0]] == [0.9, 0.8, 0.7]


def test_a_box_wholly_in_the_padding_is_dropped() -> None:
    # image 48x96 in 64x64: rows 0..16 of the input are padding
    raw = np.array([[[32.0], [6.0], [10.0], [8.0], [0.9]]], np.float32)
    got = decode("yolov8", [raw], [plan((48, 96), (64, 64))], ["cat"],
                 DecodeParams())
    assert got == [[]]


# --------------------------------------------------------------------------------------------
# masks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("size", [(48, 96), (97, 61), (240, 320)])
def test_yolov8_seg_masks_match_the_two_step_reference(seed: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    in_h = in_w = 64
    n_masks = 8
    xywh, scores = _random_candidates(rng, 60, in_h, in_w, len(CLASSES))
    coefficients = rng.normal(0, 1, (60, n_masks)).astype(np.float32)
    # smooth prototypes (a blurred grid), as a trained model's are
    coarse = rng.normal(0, 3, (n_masks, 4, 4))
    protos = np.moveaxis(reference.resize_bilinear(np.moveaxis(coarse, 0, -1), 16, 16), -1, 0)
    raw = np.concatenate([xywh, scores, coefficients], axis=1).T[None]
    params = DecodeParams(threshold=0.3, iou=0.5)
    got = decode("yolov8_seg", [raw, protos[None].astype(np.float32)],
                 [plan(size, (in_h, in_w))], CLASSES, params)[0]
    fit = reference.fit(*size, in_h, in_w)
    kept = reference.detections(xywh, scores, fit, *size, 0.3, 0.5, 300)
    logits = np.einsum("km,mhw->khw", coefficients[[k[3] for k in kept]], protos)
    at_image = reference.map_to_image(logits, fit, in_h, in_w, *size)
    h, w = size
    expected = []
    for (cls, score, box, _row), mask_logits in zip(kept, at_image, strict=True):
        cols, rows = np.arange(w), np.arange(h)
        inside = ((rows[:, None] >= box[1]) & (rows[:, None] < box[3])
                  & (cols[None] >= box[0]) & (cols[None] < box[2]))
        mask = (mask_logits > 0) & inside
        if mask.sum() >= 20:  # tiny masks are all edge: compared by count below
            expected.append((CLASSES[cls], score, mask))
    by_score = {round(p.score, 5): p for p in got}
    assert len(expected) > 1
    for label, score, mask in expected:
        prediction = by_score[round(score, 5)]
        assert prediction.type == "mask" and prediction.label == label
        decoded = rle.decode(prediction.geometry["rle"]).astype(bool)
        assert decoded.shape == size
        assert reference.mask_iou(decoded, mask) >= 0.9  # two resizes vs one: edges differ


def test_a_planted_rectangle_mask_is_exact() -> None:
    # prototype 0 is +20 inside rows 4..8, cols 2..6 of a 16x16 grid (input 64x64), -20 outside
    protos = np.full((1, 16, 16), -20.0, np.float32)
    protos[0, 4:8, 2:6] = 20.0
    raw = np.array([[32.0], [32.0], [60.0], [60.0], [0.9], [1.0]], np.float32)[None]
    box = plan((100, 50), (64, 64))  # r = 0.64: 64 x 32 content, 16 columns of padding left
    got = decode("yolov8_seg", [raw, protos[None]], [box],
                 ["cat"], DecodeParams())[0]
    mask = rle.decode(got[0].geometry["rle"]).astype(bool)
    # the logits cross 0 on the prototype cell borders: input x in (8, 24), y in (16, 32);
    # only near a corner (within a cell of two borders) does bilinear round the rectangle off
    fit = reference.fit(100, 50, 64, 64)
    xs = (np.arange(50) + 0.5) * fit.ratio + fit.left
    ys = (np.arange(100) + 0.5) * fit.ratio + fit.top
    expected = (ys[:, None] > 16) & (ys[:, None] < 32) & (xs[None] > 8) & (xs[None] < 24)
    near_x = (np.abs(xs - 8) < 4) | (np.abs(xs - 24) < 4)
    near_y = (np.abs(ys - 16) < 4) | (np.abs(ys - 32) < 4)
    corners = near_y[:, None] & near_x[None]
    assert expected.sum() > 100
    np.testing.assert_array_equal(mask[~corners], expected[~corners])
    assert mask[corners].sum() <= expected[corners].sum()  # corners are rounded off, not grown


def test_semantic_gives_one_mask_per_present_class() -> None:
    rng = np.random.default_rng(3)
    coarse = rng.normal(0, 2, (len(CLASSES), 4, 4))
    logits = np.moveaxis(reference.resize_bilinear(np.moveaxis(coarse, 0, -1), 32, 32), -1, 0)
    size = (45, 80)
    got = decode("semantic", [logits[None].astype(np.float32)], [plan(size, (32, 32))],
                 CLASSES, DecodeParams(threshold=0.0))[0]
    fit = reference.fit(*size, 32, 32)
    probabilities = reference.softmax(reference.map_to_image(logits, fit, 32, 32, *size), 0)
    winner = probabilities.argmax(0)
    confidence = probabilities.max(0)
    present = np.unique(winner)
    assert len(present) >= 2
    assert sorted(p.label for p in got) == sorted(CLASSES[c] for c in present)
    scores = [p.score for p in got]
    assert scores == sorted(scores, reverse=True)
    for prediction in got:
        c = CLASSES.index(prediction.label)
        decoded = rle.decode(prediction.geometry["rle"]).astype(bool)
        assert reference.mask_iou(decoded, winner == c) >= 0.99
        assert prediction.score == pytest.approx(confidence[winner == c].mean(), abs=1e-4)


def test_semantic_probabilities_are_not_softmaxed_again_and_the_threshold_applies() -> None:
    probabilities = np.zeros((1, 2, 8, 8), np.float32)
    probabilities[0, 0] = 0.9
    probabilities[0, 1] = 0.1
    probabilities[0, 0, :, 4:] = 0.4
    probabilities[0, 1, :, 4:] = 0.6
    box = plan((8, 8), (8, 8))
    got = decode("semantic", [probabilities], [box], ["sky", "sea"],
                 DecodeParams(threshold=0.5))[0]
    assert [(p.label, round(p.score, 4)) for p in got] == [("sky", 0.9), ("sea", 0.6)]
    higher = decode("semantic", [probabilities], [box], ["sky", "sea"],
                    DecodeParams(threshold=0.7))[0]
    assert [p.label for p in higher] == ["sky"]


# --------------------------------------------------------------------------------------------
# tags
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[2.0, -1.0, 0.5], [0.1, 0.7, 0.2]])
def test_classifier_tags(values: list[float]) -> None:
    raw = np.array([values], np.float32)
    expected = (raw[0] if abs(raw.sum() - 1) < 1e-6 else reference.softmax(raw[0], 0))
    got = decode("classifier", [raw], [plan((10, 10), (8, 8))], CLASSES,
                 DecodeParams(threshold=0.15, max_per_image=2))[0]
    order = [int(i) for i in np.argsort(-expected) if expected[i] >= 0.15][:2]
    assert [(p.type, p.label, p.geometry) for p in got] == [("tag", CLASSES[i], {})
                                                            for i in order]
    np.testing.assert_allclose([p.score for p in got], expected[order], rtol=1e-5)


# --------------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------------


def test_an_unknown_layout_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValidationFailed) as caught:
        decoder_for("detr")
    assert caught.value.details == {"field": "layout"}
    assert "yolov8" in caught.value.message


@pytest.mark.parametrize(("layout", "shapes"), [("yolov8", [(1, 3)]), ("yolov5", [(1, 4, 5)]),
                                                ("yolov8_seg", [(1, 40, 10)]),
                                                ("semantic", [(1, 3)]),
                                                ("classifier", [(1, 3, 4, 4)])])
def test_outputs_of_the_wrong_shape_are_refused(layout: str, shapes: list[tuple[int, ...]]
                                                ) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode(layout, [np.zeros(s, np.float32) for s in shapes], [plan((8, 8), (8, 8))], CLASSES,
               DecodeParams())
    assert caught.value.details == {"field": "layout"}


# --------------------------------------------------------------------------------------------
# box operations and NMS properties
# --------------------------------------------------------------------------------------------


def test_box_formats_round_trip() -> None:
    xywh = torch.tensor([[10.0, 20.0, 4.0, 6.0]])
    assert xywh_to_xyxy(xywh).tolist() == [[8.0, 17.0, 12.0, 23.0]]
    assert xyxy_to_xywh(xywh_to_xyxy(xywh)).tolist() == xywh.tolist()


def _ious(boxes: np.ndarray) -> np.ndarray:
    """All pairwise IoUs, by the reference."""
    return np.array([reference.iou_one(b, boxes) for b in boxes]).reshape(len(boxes), len(boxes))


def test_box_iou_agrees_with_the_reference() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 50, (30, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0, 20, (30, 2))], axis=1)
    boxes[3, 2:] = boxes[3, :2]  # an empty box
    got = box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes)).numpy()
    np.testing.assert_allclose(got, _ious(boxes), atol=1e-12)


boxes_strategy = st.lists(
    st.tuples(st.floats(0, 100), st.floats(0, 100), st.floats(0.5, 40), st.floats(0.5, 40),
              st.floats(0, 1), st.integers(0, 2)),
    min_size=0, max_size=40)


@given(rows=boxes_strategy, iou=st.floats(0.05, 0.95), max_det=st.integers(1, 50))
@settings(max_examples=300, deadline=None)
def test_nms_properties(rows: list[tuple[float, float, float, float, float, int]], iou: float,
                        max_det: int) -> None:
    array = np.array([[x, y, x + w, y + h] for x, y, w, h, _, _ in rows], np.float64).reshape(
        -1, 4)
    scores = np.array([r[4] for r in rows], np.float32)
    classes = np.array([r[5] for r in rows], np.int64)
    kept = batched_nms(torch.from_numpy(array), torch.from_numpy(scores),
                       torch.from_numpy(classes), iou, max_det).tolist()
    # the same boxes as the plain per-class reference, in the same order
    assert kept == reference.nms(array, scores, classes, iou, max_det)
    assert len(kept) <= max_det and len(set(kept)) == len(kept)
    kept_scores = scores[kept]
    assert (np.diff(kept_scores) <= 0).all()  # best first
    overlaps = _ious(array[kept])
    same_class = classes[kept][:, None] == classes[kept][None, :]
    off_diagonal = ~np.eye(len(kept), dtype=bool)
    assert not (overlaps[same_class & off_diagonal] > iou + 1e-9).any()
    # class-aware: a box is never suppressed by a box of another class
    if len(kept) < max_det:
        everything = _ious(array)
        for i in set(range(len(rows))) - set(kept):
            assert any(classes[k] == classes[i] and everything[i, k] > iou
                       and scores[k] >= scores[i] for k in kept)


def test_identical_boxes_of_two_classes_both_survive() -> None:
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 2)
    kept = batched_nms(boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]), 0.5)
    assert kept.tolist() == [0, 1]
    kept = batched_nms(boxes, torch.tensor([0.9, 0.8]), torch.tensor([1, 1]), 0.5)
    assert kept.tolist() == [0]


@pytest.mark.parametrize(("block", "n"), [(7, 120), (1024, 2500)])
def test_nms_across_blocks_matches_the_reference(monkeypatch: pytest.MonkeyPatch, block: int,
                                                 n: int) -> None:
    monkeypatch.setattr(box_ops, "NMS_BLOCK", block)
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 300, (n, 2))
    array = np.concatenate([xy, xy + rng.uniform(5, 60, (n, 2))], axis=1)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    classes = rng.integers(0, 3, n)
    for max_det in (n, 40):
        kept = batched_nms(torch.from_numpy(array), torch.from_numpy(scores),
                           torch.from_numpy(classes), 0.4, max_det).tolist()
        assert kept == reference.nms(array, scores, classes, 0.4, max_det)
