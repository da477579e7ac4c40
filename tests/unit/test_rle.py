"""domain.rle against pycocotools: same bytes, same area / bbox / IoU, strict validation."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pycocotools import mask as mask_utils

from domain import rle
from domain.errors import ValidationFailed

# ------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------

noise_masks = hnp.arrays(
    np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 40)), elements=st.booleans()
)


@st.composite
def blob_masks(draw: st.DrawFn) -> np.ndarray:
    """Unions of rectangles on masks up to 300x300: long runs, multi-character values."""
    h = draw(st.integers(1, 300))
    w = draw(st.integers(1, 300))
    mask = np.zeros((h, w), dtype=np.bool_)
    for _ in range(draw(st.integers(0, 4))):
        y0 = draw(st.integers(0, h - 1))
        x0 = draw(st.integers(0, w - 1))
        y1 = draw(st.integers(y0 + 1, h))
        x1 = draw(st.integers(x0 + 1, w))
        mask[y0:y1, x0:x1] = True
    return mask


masks = st.one_of(noise_masks, blob_masks())


@st.composite
def mask_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    a = draw(masks)
    if draw(st.booleans()):
        b = draw(hnp.arrays(np.bool_, a.shape, elements=st.booleans()))
    else:  # shifted copy: large overlaps
        b = np.roll(a, draw(st.integers(-3, 3)), axis=draw(st.integers(0, 1)))
    return a, b


def coco(mask: np.ndarray) -> dict[str, Any]:
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


# ------------------------------------------------------------------------------------------
# encode / decode
# ------------------------------------------------------------------------------------------


@settings(deadline=None)
@given(masks)
def test_encode_is_byte_identical_to_pycocotools(mask: np.ndarray) -> None:
    ours = rle.encode(mask)
    theirs = coco(mask)
    assert isinstance(ours["counts"], str)
    assert ours["counts"] == theirs["counts"].decode()
    assert ours["size"] == [int(v) for v in theirs["size"]] == list(mask.shape)


@settings(deadline=None)
@given(masks)
def test_encode_decode_round_trip(mask: np.ndarray) -> None:
    decoded = rle.decode(rle.encode(mask))
    assert decoded.shape == mask.shape
    assert np.array_equal(decoded.astype(np.bool_), mask)


@settings(deadline=None)
@given(masks)
def test_decode_matches_pycocotools(mask: np.ndarray) -> None:
    ours = rle.encode(mask)
    assert np.array_equal(rle.decode(ours), mask_utils.decode(coco(mask)))


def test_encode_accepts_uint8_and_treats_nonzero_as_foreground() -> None:
    mask = np.array([[0, 1], [1, 1]], dtype=np.uint8)
    assert rle.encode(mask) == rle.encode(mask.astype(bool))
    assert rle.encode(mask * 255) == rle.encode(mask)


def test_encode_known_values() -> None:
    assert rle.encode(np.zeros((2, 3), bool)) == {"size": [2, 3], "counts": "6"}
    assert rle.encode(np.ones((2, 3), bool)) == {"size": [2, 3], "counts": "06"}


def test_encode_rejects_non_2d() -> None:
    with pytest.raises(ValidationFailed):
        rle.encode(np.zeros((2, 2, 2), bool))


# ------------------------------------------------------------------------------------------
# the character codec
# ------------------------------------------------------------------------------------------

run_lists = st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=60)
# pycocotools' encoder reserves only 6 characters per value (its buffer overflows and corrupts
# the heap beyond that) and its decoder overflows a C int from 2**29 on, so compare on runs
# below 2**24, whose deltas fit in 5 characters
small_run_lists = st.lists(st.integers(0, 2**24 - 1), min_size=1, max_size=60)


@settings(deadline=None)
@given(run_lists)
def test_counts_codec_round_trip(runs: list[int]) -> None:
    counts = rle.counts_from_runs(runs)
    assert all(48 <= ord(c) <= 111 for c in counts)
    assert rle.runs_from_counts(counts).tolist() == runs


@settings(deadline=None)
@given(small_run_lists)
def test_counts_codec_matches_pycocotools(runs: list[int]) -> None:
    # the string codec ignores the size (and pycocotools aborts on sizes beyond uint32)
    theirs = mask_utils.frPyObjects({"size": [1, 1], "counts": runs}, 1, 1)
    assert rle.counts_from_runs(runs) == theirs["counts"].decode()
    # and their decoder reads our string back to the same runs
    ours = rle.counts_from_runs(runs).encode()
    assert mask_utils.area({"size": [1, 1], "counts": ours}) == sum(runs[1::2])


@pytest.mark.parametrize(
    "counts",
    [
        "/",  # 47: below '0'
        "p",  # 112: above 'o'
        "3\x7f",
        "3é",
        "3P",  # 'P' = 48 + 0x20: continuation bit set on the last character
        "PPPPPPPP0",  # a value longer than 7 characters
        "O",  # -1: a negative run
        "0000O",  # runs[4] = -1 + runs[2]: negative through the delta coding
    ],
)
def test_malformed_counts_are_rejected(counts: str) -> None:
    with pytest.raises(ValidationFailed):
        rle.runs_from_counts(counts)


@settings(deadline=None)
@given(st.text(max_size=20))
def test_runs_from_counts_never_crashes(counts: str) -> None:
    try:
        runs = rle.runs_from_counts(counts)
    except ValidationFailed:
        return
    assert (runs >= 0).all()


def test_counts_from_runs_rejects_bad_runs() -> None:
    for bad in ([-1, 2], [2**32], [1.5, 2], [True, False]):
        with pytest.raises(ValidationFailed):
            rle.counts_from_runs(bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# area, bbox, iou
# ------------------------------------------------------------------------------------------


@settings(deadline=None)
@given(masks)
def test_area_and_bbox_match_pycocotools(mask: np.ndarray) -> None:
    ours = rle.encode(mask)
    theirs = coco(mask)
    assert rle.area(ours) == int(mask_utils.area(theirs)) == int(mask.sum())
    assert rle.to_bbox(ours) == tuple(float(v) for v in mask_utils.toBbox(theirs))


@settings(deadline=None)
@given(mask_pairs())
def test_iou_matches_pycocotools(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    expected = float(mask_utils.iou([coco(a)], [coco(b)], [0])[0][0])
    assert rle.iou(rle.encode(a), rle.encode(b)) == pytest.approx(expected, abs=1e-12)
    assert rle.iou(rle.encode(a), rle.encode(b)) == rle.iou(rle.encode(b), rle.encode(a))


@settings(deadline=None)
@given(masks)
def test_iou_with_itself(mask: np.ndarray) -> None:
    encoded = rle.encode(mask)
    assert rle.iou(encoded, encoded) == (1.0 if mask.any() else 0.0)


def test_iou_of_different_sizes_is_an_error() -> None:
    with pytest.raises(ValueError):
        rle.iou(rle.encode(np.ones((2, 2))), rle.encode(np.ones((2, 3))))


def test_iou_is_fast_for_1000x1000_masks() -> None:
    yy, xx = np.mgrid[:1000, :1000]
    a = rle.encode((yy - 500) ** 2 + (xx - 500) ** 2 < 300**2)
    b = rle.encode((yy - 550) ** 2 + (xx - 480) ** 2 < 280**2)
    rle.iou(a, b)
    start = time.perf_counter()
    for _ in range(10):
        value = rle.iou(a, b)
    elapsed = (time.perf_counter() - start) / 10
    ca, cb = (dict(a, counts=a["counts"].encode()), dict(b, counts=b["counts"].encode()))
    assert value == pytest.approx(float(mask_utils.iou([ca], [cb], [0])[0][0]))
    assert elapsed < 0.05  # a few ms in practice; generous for loaded CI machines


# ------------------------------------------------------------------------------------------
# validate
# ------------------------------------------------------------------------------------------


def test_validate_accepts_and_normalizes() -> None:
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:4] = True
    encoded = rle.encode(mask)
    assert rle.validate(dict(encoded), 4, 5) == encoded


def test_validate_converts_uncompressed_counts() -> None:
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:4] = True
    runs = rle.runs_from_counts(rle.encode(mask)["counts"]).tolist()
    assert rle.validate({"size": [4, 5], "counts": runs}, 4, 5) == rle.encode(mask)


@settings(deadline=None)
@given(masks, st.lists(st.integers(0, 10), max_size=5))
def test_validate_canonicalizes_empty_runs(mask: np.ndarray, positions: list[int]) -> None:
    """Zero-length runs (legal in uncompressed COCO) are merged away."""
    if not mask.any():
        return
    runs = rle.runs_from_counts(rle.encode(mask)["counts"]).tolist()
    for p in positions[: mask.size]:  # inserting two zero runs keeps the 0/1 alternation
        i = min(p, len(runs))
        runs[i:i] = [0, 0]
    h, w = mask.shape
    assert rle.validate({"size": [h, w], "counts": runs}, h, w) == rle.encode(mask)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nope", "must be an object"),
        ({"size": [4, 5]}, "missing 'counts'"),
        ({"counts": "0"}, "missing 'size'"),
        ({"size": [4, 5], "counts": "<4", "extra": 1}, "unexpected key"),
        ({"size": [4], "counts": "<4"}, "size must be"),
        ({"size": [4, True], "counts": "<4"}, "size must be"),
        ({"size": ["4", "5"], "counts": "<4"}, "size must be"),
        ({"size": [0, 0], "counts": ""}, "positive"),
        ({"size": [10, 20], "counts": "0"}, "mask size 10x20 does not match the image 4x5"),
        ({"size": [4, 5], "counts": 5}, "counts must be a string"),
        ({"size": [4, 5], "counts": b"0d0"}, "counts must be a string"),
        ({"size": [4, 5], "counts": "0:"}, "cover 10 pixels"),  # ':' = 10, not 20
        ({"size": [4, 5], "counts": "3P"}, "truncated"),
        ({"size": [4, 5], "counts": [10, 5.0, 5]}, "integers"),
        ({"size": [4, 5], "counts": [10, True, 9]}, "integers"),
        ({"size": [4, 5], "counts": [10, -5, 15]}, "between"),
        ({"size": [4, 5], "counts": [10, 2**70, 15]}, "between"),
        ({"size": [4, 5], "counts": [20]}, "empty"),
        ({"size": [4, 5], "counts": "d0"}, "empty"),  # 20 background pixels
    ],
)
def test_validate_rejects(value: object, message: str) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        rle.validate(value, 4, 5)
    assert message in excinfo.value.message
    assert str(excinfo.value.details["field"]).startswith("rle")


def test_validate_rejects_empty_mask_message() -> None:
    with pytest.raises(ValidationFailed, match="empty"):
        rle.validate({"size": [4, 5], "counts": rle.counts_from_runs([20, 0])}, 4, 5)


@settings(max_examples=50, deadline=None)
@given(masks)
def test_validate_round_trips_encode(mask: np.ndarray) -> None:
    if not mask.any():
        return
    h, w = mask.shape
    encoded = rle.encode(mask)
    assert rle.validate(encoded, h, w) == encoded
