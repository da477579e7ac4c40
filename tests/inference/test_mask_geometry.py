"""Masks become the geometry an assist request asked for: RLE, bounding box, outline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import geometry as g
from domain import rle
from domain.errors import ValidationFailed
from inference_workers.mask_geometry import MAX_PROPOSAL_POINTS, geometry_from_mask


def _raster(polygon: g.Polygon, width: int, height: int) -> np.ndarray:
    """The polygon's pixels (a pixel counts when its centre is inside), at 4x for accuracy."""
    big = np.zeros((height * 4, width * 4), np.uint8)
    pts = np.round(np.array(polygon.points) * 4 * 16).astype(np.int32)  # 4 bits of subpixel
    cv2.fillPoly(big, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return cv2.resize(big.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) >= 0.5


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _ellipse(width: int, height: int, cx: int, cy: int, ax: int, ay: int, angle: float
             ) -> np.ndarray:
    m = np.zeros((height, width), np.uint8)
    cv2.ellipse(m, (cx, cy), (ax, ay), angle, 0, 360, 1, -1)
    return m.astype(bool)


@settings(max_examples=40, deadline=None)
@given(cx=st.integers(20, 100), cy=st.integers(20, 80), ax=st.integers(12, 40),
       ay=st.integers(12, 40), angle=st.floats(0, 180))
def test_polygon_of_a_convex_mask_covers_it(cx: int, cy: int, ax: int, ay: int,
                                           angle: float) -> None:
    mask = _ellipse(120, 100, cx, cy, ax, ay, angle)
    polygon = geometry_from_mask(mask, "polygon", 120, 100)
    assert isinstance(polygon, g.Polygon)
    assert 3 <= len(polygon.points) <= MAX_PROPOSAL_POINTS
    assert _iou(_raster(polygon, 120, 100), mask) >= 0.95  # objects >= 25 px across


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_box_is_the_masks_bounding_box(data: st.DataObject) -> None:
    height, width = data.draw(st.integers(1, 40)), data.draw(st.integers(1, 40))
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=width * height,
                                       max_size=width * height))).reshape(height, width)
    if not mask.any():
        with pytest.raises(ValidationFailed) as e:
            geometry_from_mask(mask, "box", width, height)
        assert e.value.details["field"] == "points"
        return
    box = geometry_from_mask(mask, "box", width, height)
    assert isinstance(box, g.Box)
    ys, xs = np.nonzero(mask)
    assert (box.x, box.y, box.w, box.h) == (xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                            ys.max() - ys.min() + 1)
    out = geometry_from_mask(mask, "mask", width, height)
    assert isinstance(out, g.Mask)
    assert np.array_equal(rle.decode(out.rle).astype(bool), mask)
    assert g.parse_geometry("mask", out.to_json(), width, height) == out
    polygon = geometry_from_mask(mask, "polygon", width, height)
    assert g.parse_geometry("polygon", polygon.to_json(), width, height) == polygon


def test_a_ragged_outline_is_simplified_to_at_most_200_points() -> None:
    rng = np.random.default_rng(1)
    angles = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    radii = 300 + rng.uniform(-40, 40, angles.size)
    pts = np.stack([500 + radii * np.cos(angles), 500 + radii * np.sin(angles)], axis=1)
    mask = np.zeros((1000, 1000), np.uint8)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    polygon = geometry_from_mask(mask.astype(bool), "polygon", 1000, 1000)
    assert isinstance(polygon, g.Polygon)
    assert len(polygon.points) <= MAX_PROPOSAL_POINTS
    assert _iou(_raster(polygon, 1000, 1000), mask.astype(bool)) >= 0.85  # 2000 spikes


def test_polygon_outlines_the_largest_component() -> None:
    mask = np.zeros((60, 80), bool)
    mask[5:10, 5:10] = True
    mask[20:50, 30:70] = True
    polygon = geometry_from_mask(mask, "polygon", 80, 60)
    assert isinstance(polygon, g.Polygon)
    xs = [x for x, _ in polygon.points]
    ys = [y for _, y in polygon.points]
    assert (min(xs), min(ys), max(xs), max(ys)) == pytest.approx((30, 20, 70, 50), abs=0.01)


def test_unknown_output_and_wrong_size_are_refused() -> None:
    mask = np.ones((4, 4), bool)
    with pytest.raises(ValidationFailed) as e:
        geometry_from_mask(mask, "ellipse", 4, 4)
    assert e.value.details["field"] == "output"
    with pytest.raises(ValueError):
        geometry_from_mask(mask, "mask", 5, 4)
