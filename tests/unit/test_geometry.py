"""domain.geometry: value objects, validation of untrusted input, bbox/area and IoU."""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain import rle
from domain.errors import ValidationFailed
from domain.geometry import (
    ANNOTATION_TYPES,
    Box,
    Geometry,
    Mask,
    Point,
    Polygon,
    Tag,
    _canonical_ring,
    _checked_points,
    _plain_points,
    _scanline_iou,
    area,
    bbox,
    box_from_extreme_points,
    iou,
    parse_geometry,
)

W, H = 640, 480


def rejected(kind: str, raw: object, match: str = "", width: int = W, height: int = H) -> Any:
    with pytest.raises(ValidationFailed, match=match) as excinfo:
        parse_geometry(kind, raw, width, height)
    assert "field" in excinfo.value.details
    return excinfo.value


def square_mask(y0: int, x0: int, size: int, height: int = 20, width: int = 30) -> dict[str, Any]:
    mask = np.zeros((height, width), bool)
    mask[y0 : y0 + size, x0 : x0 + size] = True
    return rle.encode(mask)


# ------------------------------------------------------------------------------------------
# value objects and JSON form
# ------------------------------------------------------------------------------------------


def test_annotation_types() -> None:
    assert ANNOTATION_TYPES == ("box", "polygon", "mask", "point", "tag")
    assert [c.kind for c in (Box, Polygon, Mask, Point, Tag)] == list(ANNOTATION_TYPES)


def test_json_forms_are_exact() -> None:
    assert parse_geometry("box", {"x": 1, "y": 2, "w": 3, "h": 4}, W, H).to_json() == {
        "x": 1.0,
        "y": 2.0,
        "w": 3.0,
        "h": 4.0,
    }
    polygon = parse_geometry("polygon", {"points": [[0, 0], [4, 0], [0, 3]]}, W, H)
    assert polygon.to_json() == {"points": [[0.0, 0.0], [4.0, 0.0], [0.0, 3.0]]}
    assert parse_geometry("point", {"x": 5, "y": 6.5}, W, H).to_json() == {"x": 5.0, "y": 6.5}
    assert parse_geometry("tag", {}, W, H).to_json() == {}
    encoded = square_mask(2, 3, 4)
    assert parse_geometry("mask", {"rle": encoded}, 30, 20).to_json() == {"rle": encoded}


def test_numbers_are_stored_as_floats() -> None:
    box = parse_geometry("box", {"x": 1, "y": 2, "w": 3, "h": 4}, W, H)
    assert isinstance(box, Box)
    assert all(type(v) is float for v in (box.x, box.y, box.w, box.h))
    data = box.to_json()
    assert all(type(v) is float for v in data.values())


def test_value_objects_are_frozen_and_hashable() -> None:
    box = Box(1.0, 2.0, 3.0, 4.0)
    with pytest.raises(AttributeError):
        box.x = 5.0  # type: ignore[misc]
    mask = Mask(square_mask(0, 0, 2))
    assert hash(mask) == hash(Mask(square_mask(0, 0, 2)))
    assert mask == Mask(square_mask(0, 0, 2))
    assert mask != Mask(square_mask(0, 0, 3))
    assert len({box, Box(1.0, 2.0, 3.0, 4.0), mask, Tag(), Tag()}) == 3


def test_mask_keeps_a_private_copy_of_its_rle() -> None:
    raw = square_mask(0, 0, 2)
    mask = Mask(raw)
    raw["size"][0] = 99
    assert mask.height == 20 and mask.width == 30
    mask.to_json()["rle"]["size"][0] = 99
    assert mask.height == 20


# ------------------------------------------------------------------------------------------
# validation rules
# ------------------------------------------------------------------------------------------


def test_unknown_kind() -> None:
    error = rejected("circle", {}, "unknown annotation type")
    assert error.details == {"field": "kind"}
    rejected(["box"], {}, "unknown annotation type")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (float("nan"), "box x must be a finite number"),
        (float("inf"), "box x must be a finite number"),
        (float("-inf"), "box x must be a finite number"),
        (10**400, "box x must be a finite number"),
        (True, "box x must be a number, not bool"),
        ("10", "box x must be a number, not str"),
        (None, "box x must be a number"),
        ([1], "box x must be a number"),
    ],
)
def test_box_numbers(value: object, match: str) -> None:
    error = rejected("box", {"x": value, "y": 0, "w": 1, "h": 1}, match)
    assert error.details == {"field": "geometry.x"}


@pytest.mark.parametrize("kind", ["point", "polygon"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), False, "1"])
def test_point_and_polygon_numbers(kind: str, value: object) -> None:
    if kind == "point":
        rejected("point", {"x": 1, "y": value}, "point y must be")
    else:
        error = rejected("polygon", {"points": [[0, 0], [5, value], [5, 5]]}, "point 1 y")
        assert error.details == {"field": "geometry.points[1]"}


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("box", {"x": 0, "y": 0, "w": 1, "h": 1, "label": "cat"}),
        ("point", {"x": 0, "y": 0, "z": 0}),
        ("polygon", {"points": [[0, 0], [1, 0], [0, 1]], "closed": True}),
        ("mask", {"rle": {"size": [H, W], "counts": "0"}, "score": 1}),
        ("tag", {"x": 1}),
    ],
)
def test_extra_keys_are_rejected(kind: str, raw: dict[str, Any]) -> None:
    rejected(kind, raw, "unexpected key")


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("box", {"x": 0, "y": 0, "w": 1}),
        ("point", {"x": 0}),
        ("polygon", {}),
        ("mask", {}),
    ],
)
def test_missing_keys_are_rejected(kind: str, raw: dict[str, Any]) -> None:
    rejected(kind, raw, "missing")


@pytest.mark.parametrize("kind", ANNOTATION_TYPES)
@pytest.mark.parametrize("raw", [None, [], "x", 3])
def test_non_objects_are_rejected(kind: str, raw: object) -> None:
    rejected(kind, raw, "must be an object")


def test_box_overhang_of_1px_is_clipped() -> None:
    box = parse_geometry("box", {"x": -1, "y": -0.5, "w": 11, "h": 10.5}, W, H)
    assert box == Box(0.0, 0.0, 10.0, 10.0)
    box = parse_geometry("box", {"x": 600, "y": 400, "w": 41, "h": 81}, W, H)
    assert box == Box(600.0, 400.0, 40.0, 80.0)
    box = parse_geometry("box", {"x": -1, "y": -1, "w": W + 2, "h": H + 2}, W, H)
    assert box == Box(0.0, 0.0, float(W), float(H))


@pytest.mark.parametrize(
    "raw",
    [
        {"x": -1.5, "y": 0, "w": 10, "h": 10},
        {"x": 0, "y": -1.5, "w": 10, "h": 10},
        {"x": 600, "y": 0, "w": 41.5, "h": 10},
        {"x": 0, "y": 400, "w": 10, "h": 81.5},
        {"x": 1000, "y": 0, "w": 10, "h": 10},
    ],
)
def test_box_further_out_is_rejected(raw: dict[str, Any]) -> None:
    rejected("box", raw, "outside the image")


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"x": 0, "y": 0, "w": 0, "h": 10}, "w must be greater than 0"),
        ({"x": 0, "y": 0, "w": 10, "h": -1}, "h must be greater than 0"),
        ({"x": -1, "y": 0, "w": 1, "h": 10}, "no width inside the image"),
        ({"x": 0, "y": H, "w": 10, "h": 0.5}, "no height inside the image"),
    ],
)
def test_degenerate_boxes_are_rejected(raw: dict[str, Any], match: str) -> None:
    rejected("box", raw, match)


def test_point_rules() -> None:
    assert parse_geometry("point", {"x": 0, "y": H}, W, H) == Point(0.0, float(H))
    assert parse_geometry("point", {"x": -1, "y": H + 1}, W, H) == Point(0.0, float(H))
    assert parse_geometry("point", {"x": W + 0.5, "y": -0.25}, W, H) == Point(float(W), 0.0)
    rejected("point", {"x": -1.5, "y": 0}, "outside the image")
    rejected("point", {"x": 0, "y": H + 1.5}, "outside the image")


def test_polygon_overhang_is_clipped_per_vertex() -> None:
    polygon = parse_geometry("polygon", {"points": [[-1, -1], [W + 1, 0], [10, H + 0.5]]}, W, H)
    assert polygon == Polygon(((0.0, 0.0), (float(W), 0.0), (10.0, float(H))))
    error = rejected("polygon", {"points": [[0, 0], [10, -1.5], [10, 10]]}, "outside the image")
    assert error.details == {"field": "geometry.points[1]"}


@pytest.mark.parametrize(
    ("points", "match"),
    [
        ([[0, 0], [10, 10]], "at least 3 distinct points"),
        ([[0, 0], [10, 10], [0, 0]], "at least 3 distinct points"),
        ([[0, 0], [10, 10], [10, 10], [0, 0]], "at least 3 distinct points"),
        ([[0, 0], [5, 5], [10, 10]], "zero area"),
        ([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3], [0.7, 0.7]], "zero area"),
        ([[-1, 0], [-1, 10], [-0.5, 5]], "zero area"),  # all in the overhang: clipped to x=0
        ([[0, 0], [1, 0], [0, 1, 2]], "must be an \\[x, y\\] pair"),
        ([[0, 0], [1, 0], "0,1"], "must be an \\[x, y\\] pair"),
        ("0,0 1,0 0,1", "list of \\[x, y\\] pairs"),
        ([[i % 100, i // 100] for i in range(10_001)], "at most 10000"),
    ],
)
def test_polygon_rules(points: object, match: str) -> None:
    rejected("polygon", {"points": points}, match)


def test_polygon_with_10000_points_is_accepted() -> None:
    n = 10_000
    points = [
        [200 + 100 * math.cos(2 * math.pi * i / n), 200 + 100 * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]
    polygon = parse_geometry("polygon", {"points": points}, W, H)
    assert isinstance(polygon, Polygon) and len(polygon.points) == n
    assert area(polygon) == pytest.approx(math.pi * 100**2, rel=1e-6)


def test_mask_rules() -> None:
    encoded = square_mask(2, 3, 4)
    mask = parse_geometry("mask", {"rle": encoded}, 30, 20)
    assert mask == Mask(encoded)
    runs = rle.runs_from_counts(encoded["counts"]).tolist()
    assert parse_geometry("mask", {"rle": {"size": [20, 30], "counts": runs}}, 30, 20) == mask
    error = rejected("mask", {"rle": encoded}, "mask size 20x30 does not match the image 480x640")
    assert error.details == {"field": "geometry.rle.size"}
    rejected("mask", {"rle": rle.encode(np.zeros((20, 30)))}, "empty", 30, 20)
    rejected("mask", {"rle": {"size": [20, 30], "counts": "3P"}}, "truncated", 30, 20)
    rejected("mask", {"rle": "abc"}, "must be an object", 30, 20)


def test_tag_rules() -> None:
    assert parse_geometry("tag", {}, W, H) == Tag()
    rejected("tag", {"name": "cat"}, "unexpected key")


def test_box_from_extreme_points() -> None:
    box = box_from_extreme_points([(10, 50), (30, 20), (60, 40), (35, 70)], W, H)
    assert box == Box(10.0, 20.0, 50.0, 50.0)
    clipped = box_from_extreme_points([[-1, 5], [5, 0], [W + 1, 5], [5, 10]], W, H)
    assert clipped == Box(0.0, 0.0, float(W), 10.0)
    with pytest.raises(ValidationFailed, match="span no area"):
        box_from_extreme_points([(5, 5)] * 4, W, H)
    with pytest.raises(ValidationFailed, match="exactly 4"):
        box_from_extreme_points([(0, 0), (5, 5), (3, 9)], W, H)
    with pytest.raises(ValidationFailed, match="finite"):
        box_from_extreme_points([(0, 0), (5, 5), (3, 9), (math.nan, 1)], W, H)
    with pytest.raises(ValidationFailed, match="outside the image"):
        box_from_extreme_points([(0, 0), (5, 5), (3, 9), (W + 2, 1)], W, H)


# ------------------------------------------------------------------------------------------
# bbox, area, iou: examples
# ------------------------------------------------------------------------------------------


def test_bbox_and_area() -> None:
    box = Box(1.0, 2.0, 3.0, 4.0)
    assert bbox(box) == (1.0, 2.0, 3.0, 4.0) and area(box) == 12.0
    triangle = Polygon(((0.0, 0.0), (4.0, 1.0), (1.0, 3.0)))
    assert bbox(triangle) == (0.0, 0.0, 4.0, 3.0) and area(triangle) == 5.5
    mask = Mask(square_mask(2, 3, 4))
    assert bbox(mask) == (3.0, 2.0, 4.0, 4.0) and area(mask) == 16.0
    assert bbox(Point(3.0, 4.0)) == (3.0, 4.0, 0.0, 0.0) and area(Point(3.0, 4.0)) == 0.0
    assert bbox(Tag()) is None and area(Tag()) == 0.0


def test_iou_examples() -> None:
    assert iou(Box(0, 0, 10, 10), Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou(Box(0, 0, 10, 10), Box(10, 0, 10, 10)) == 0.0
    square = Polygon(((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)))
    shifted = Polygon(((5.0, 0.0), (15.0, 0.0), (15.0, 10.0), (5.0, 10.0)))
    assert iou(square, shifted) == pytest.approx(50 / 150)
    # a self-intersecting "bow tie" is repaired (make_valid) rather than crashing
    bow_tie = Polygon(((0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0), (0.0, 5.0)))
    assert 0.0 < iou(square, bow_tie) <= 1.0
    a, b = Mask(square_mask(0, 0, 4)), Mask(square_mask(0, 2, 4))
    assert iou(a, b) == pytest.approx(8 / 24)
    assert iou(Point(0, 0), Point(0, 0)) == 1.0
    assert iou(Point(0, 0), Point(3, 4)) == pytest.approx(0.5)
    assert iou(Point(0, 0), Point(10, 0)) == 0.0
    assert iou(Point(0, 0), Point(100, 0)) == 0.0
    assert iou(Tag(), Tag()) == 1.0


def test_iou_of_different_types_is_an_error() -> None:
    with pytest.raises(ValueError, match="box and a polygon"):
        iou(Box(0, 0, 1, 1), Polygon(((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))))
    with pytest.raises(ValueError):
        iou(Tag(), Point(0, 0))
    with pytest.raises(ValueError):
        iou(Mask(square_mask(0, 0, 2)), Mask(square_mask(0, 0, 2, height=10)))


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------

coords_x = st.floats(-1, W + 1, allow_nan=False)
coords_y = st.floats(-1, H + 1, allow_nan=False)


@st.composite
def boxes(draw: st.DrawFn) -> Box:
    x = draw(st.floats(0, W - 1))
    y = draw(st.floats(0, H - 1))
    w = draw(st.floats(0.5, W - x))
    h = draw(st.floats(0.5, H - y))
    g = parse_geometry("box", {"x": x, "y": y, "w": w, "h": h}, W, H)
    assert isinstance(g, Box)
    return g


@st.composite
def polygons(draw: st.DrawFn) -> Polygon:
    n = draw(st.integers(3, 12))
    use_ints = draw(st.booleans())
    if use_ints:
        points = draw(
            st.lists(st.tuples(st.integers(-1, 60), st.integers(-1, 60)), min_size=n, max_size=n)
        )
    else:
        points = draw(st.lists(st.tuples(coords_x, coords_y), min_size=n, max_size=n))
    try:
        g = parse_geometry("polygon", {"points": [list(p) for p in points]}, W, H)
    except ValidationFailed:
        assume(False)
        raise
    assert isinstance(g, Polygon)
    return g


@st.composite
def masks(draw: st.DrawFn) -> Mask:
    pixels = draw(st.lists(st.tuples(st.integers(0, 11), st.integers(0, 15)), min_size=1))
    array = np.zeros((12, 16), bool)
    for y, x in pixels:
        array[y, x] = True
    if draw(st.booleans()):  # a solid block too, for large overlaps
        y0, x0 = draw(st.integers(0, 11)), draw(st.integers(0, 15))
        array[y0 : y0 + 6, x0 : x0 + 8] = True
    g = parse_geometry("mask", {"rle": rle.encode(array)}, 16, 12)
    assert isinstance(g, Mask)
    return g


@st.composite
def points(draw: st.DrawFn) -> Point:
    g = parse_geometry("point", {"x": draw(coords_x), "y": draw(coords_y)}, W, H)
    assert isinstance(g, Point)
    return g


def same_kind_pairs() -> st.SearchStrategy[tuple[Geometry, Geometry]]:
    return st.one_of(
        st.tuples(boxes(), boxes()),
        st.tuples(polygons(), polygons()),
        st.tuples(masks(), masks()),
        st.tuples(points(), points()),
        st.just((Tag(), Tag())),
    )


@settings(deadline=None)
@given(same_kind_pairs())
def test_iou_is_symmetric_and_bounded(pair: tuple[Geometry, Geometry]) -> None:
    a, b = pair
    value = iou(a, b)
    assert 0.0 <= value <= 1.0
    assert iou(b, a) == value


@settings(deadline=None)
@given(st.one_of(boxes(), polygons(), masks(), points(), st.just(Tag())))
def test_iou_with_itself_is_one(g: Geometry) -> None:
    assert iou(g, g) == 1.0


@settings(deadline=None)
@given(st.one_of(boxes(), polygons(), masks(), points(), st.just(Tag())))
def test_json_round_trip(g: Geometry) -> None:
    data = g.to_json()
    again = parse_geometry(
        g.kind, data, W if not isinstance(g, Mask) else 16, H if not isinstance(g, Mask) else 12
    )
    assert again == g
    assert again.to_json() == data


@settings(deadline=None)
@given(coords_x, coords_y, st.floats(-2, W + 2), st.floats(-2, H + 2))
def test_any_accepted_box_lies_in_the_image(x: float, y: float, w: float, h: float) -> None:
    try:
        box = parse_geometry("box", {"x": x, "y": y, "w": w, "h": h}, W, H)
    except ValidationFailed:
        return
    assert isinstance(box, Box)
    assert box.x >= 0 and box.y >= 0 and box.w > 0 and box.h > 0
    assert box.x + box.w <= W + 1e-9 and box.y + box.h <= H + 1e-9
    assert parse_geometry("box", box.to_json(), W, H) == box


def as_polygon(box: Box) -> Polygon:
    x0, y0, x1, y1 = box.x, box.y, box.x + box.w, box.y + box.h
    return Polygon(((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


@settings(deadline=None)
@given(boxes(), boxes())
def test_box_iou_equals_polygon_iou_of_the_same_rectangles(a: Box, b: Box) -> None:
    assert iou(a, b) == pytest.approx(iou(as_polygon(a), as_polygon(b)), abs=1e-9)
    assert area(a) == pytest.approx(area(as_polygon(a)))
    assert bbox(as_polygon(a)) == pytest.approx(bbox(a))


@settings(deadline=None)
@given(masks())
def test_mask_bbox_and_area_agree_with_its_pixels(g: Mask) -> None:
    pixels = rle.decode(g.rle)
    ys, xs = np.nonzero(pixels)
    assert area(g) == float(pixels.sum())
    assert bbox(g) == (
        float(xs.min()),
        float(ys.min()),
        float(xs.max() - xs.min() + 1),
        float(ys.max() - ys.min() + 1),
    )


@settings(deadline=None)
@given(polygons(), st.integers(0, 11), st.booleans())
def test_polygon_iou_ignores_start_vertex_and_orientation(
    g: Polygon, shift: int, reverse: bool
) -> None:
    pts = list(g.points)
    shift %= len(pts)
    pts = pts[shift:] + pts[:shift]
    if reverse:
        pts.reverse()
    assert iou(g, Polygon(tuple(pts))) == pytest.approx(1.0, abs=1e-9)


# ------------------------------------------------------------------------------------------
# bounded cost: the IoU runs in the single writer thread, so no accepted geometry may stall it
# (benchmarks/geometry_worst_case.py has the precise numbers)
# ------------------------------------------------------------------------------------------

BIG = 10_000  # a 100 megapixel image


def star(n: int, cx: float = 5000.0, cy: float = 5000.0, r: float = 4000.0) -> Polygon:
    """A regular star polygon {n/k} with k close to n/2: every edge crosses nearly all the
    others, ~n**2/4 self-intersections (a 300-point one took 41 s with make_valid)."""
    k = n // 2
    while math.gcd(n, k) != 1:
        k -= 1
    return Polygon(
        tuple(
            (cx + r * math.cos(2 * math.pi * i * k / n), cy + r * math.sin(2 * math.pi * i * k / n))
            for i in range(n)
        )
    )


def comb(n: int, vertical: bool = False, offset: float = 0.0) -> Polygon:
    """A valid comb with ~n/4 teeth; a horizontal and a vertical one interleave, and their
    edges cross ~n**2/16 times."""
    teeth = max(1, (n - 4) // 4)
    pitch = 8000.0 / teeth
    x0, y0 = 1000.0 + offset, 1000.0 - offset
    pts = [(x0, y0)]
    for i in range(teeth):
        y = y0 + i * pitch
        pts += [(x0 + 8000, y), (x0 + 8000, y + pitch / 2), (x0 + 400, y + pitch / 2),
                (x0 + 400, y + pitch)]
    pts.append((x0, y0 + 8000))
    if vertical:
        pts = [(y, x) for x, y in pts]
    return Polygon(tuple(pts))


def zigzag(n: int, seed: int = 0) -> Polygon:
    """A valid zig-zag whose teeth all have distinct heights: every row crosses ~n edges."""
    rng = np.random.default_rng(seed)
    xs = np.linspace(1000, 9000, n - 2)
    ys = np.where(np.arange(n - 2) % 2 == 0, 9000.0, rng.uniform(1100, 8900, n - 2))
    points = zip(xs.tolist(), ys.tolist(), strict=True)
    return Polygon(((9000.0, 1000.0), (1000.0, 1000.0), *points))


def radial(rng: np.random.Generator, n: int, cx: float, cy: float, r: float) -> Polygon:
    """A random star-shaped (hence valid) polygon: vertices at sorted random angles."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.3, 1.0, n)
    return Polygon(tuple(zip((cx + radii * np.cos(angles)).tolist(),
                             (cy + radii * np.sin(angles)).tolist(), strict=True)))


def even_odd_region(points: tuple[tuple[float, float], ...]) -> Any:
    """Exact even-odd region of a ring, independently of domain.geometry: the faces of its
    noded linework that a ray from an inner point leaves an odd number of times."""
    ring = shapely.LineString([*points, points[0]])
    noded = shapely.unary_union(ring)
    p = np.asarray(points, float)
    q = np.roll(p, -1, axis=0)
    odd = []
    for face in shapely.polygonize(getattr(noded, "geoms", [noded])).geoms:
        x, y = shapely.get_coordinates(face.representative_point())[0]
        crossing = (p[:, 1] <= y) != (q[:, 1] <= y)
        t = (y - p[crossing, 1]) / (q[crossing, 1] - p[crossing, 1])
        if int((p[crossing, 0] + t * (q[crossing, 0] - p[crossing, 0]) > x).sum()) % 2:
            odd.append(face)
    return shapely.union_all(odd) if odd else shapely.Polygon()


def exact_iou(a: Polygon, b: Polygon) -> float:
    ra, rb = even_odd_region(a.points), even_odd_region(b.points)
    inter = ra.intersection(rb).area
    union = ra.area + rb.area - inter
    return float(inter / union) if union > 0 else 0.0


def timed(f: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = f()
    return time.perf_counter() - start, value


PROPOSAL = Polygon(((1000.0, 1500.0), (8500.0, 1000.0), (9000.0, 8000.0), (1500.0, 9000.0)))


@pytest.mark.parametrize("n", [300, 1_000, 10_000])
@pytest.mark.parametrize("shape", ["star", "combs", "zigzag"])
def test_polygon_iou_of_the_worst_accepted_polygons_is_fast(shape: str, n: int) -> None:
    if shape == "star":
        made = star(n), star(n, cx=5100)
    elif shape == "combs":
        made = comb(n), comb(n, vertical=True, offset=100)
    else:
        made = zigzag(n), zigzag(n, seed=1)
    # what the API accepts: parse them like a command would
    a, b = (parse_geometry("polygon", p.to_json(), BIG, BIG) for p in made)
    assert isinstance(a, Polygon) and isinstance(b, Polygon)
    for other in (b, PROPOSAL):
        elapsed, value = timed(functools.partial(iou, a, other))
        assert 0.0 < value < 1.0
        # ~25 ms here; the bound is loose for noisy CI machines (the old repair took 41 s
        # for a 300-point star and did not finish a 10,000-point one)
        assert elapsed < 2.0
        assert iou(other, a) == value


def test_bounded_iou_is_close_to_exact_on_pathological_polygons() -> None:
    # the bounded path (sampled rows) on shapes where every row crosses hundreds of edges
    for a, b in (
        (star(61), PROPOSAL),  # ~900 self-intersections (the exact reference is slow)
        (star(41), star(41, cx=5100)),
        (comb(400), comb(400, vertical=True, offset=100)),  # ~10,000 crossings
        (zigzag(2_000), PROPOSAL),  # rows cross ~1,000 edges: sampled rows
        (zigzag(2_000), zigzag(2_000, seed=1)),
    ):
        assert iou(a, b) == pytest.approx(exact_iou(a, b), abs=3e-3)


@settings(deadline=None, max_examples=60)
@given(st.integers(0, 2**32 - 1), st.integers(3, 400), st.integers(3, 400))
def test_bounded_iou_agrees_with_exact_iou_on_valid_polygons(seed: int, n: int, m: int) -> None:
    rng = np.random.default_rng(seed)
    a = radial(rng, n, 300, 250, 200)
    b = radial(rng, m, 300 + rng.uniform(-150, 150), 250 + rng.uniform(-150, 150),
               rng.uniform(20, 300))
    sa, sb = shapely.Polygon(a.points), shapely.Polygon(b.points)
    assume(sa.is_valid and sb.is_valid)
    inter = sa.intersection(sb).area
    exact = inter / (sa.area + sb.area - inter)
    assert iou(a, b) == pytest.approx(exact, abs=1e-3)
    assert _scanline_iou(a, b) == pytest.approx(exact, abs=1e-3)  # whatever the sizes


@settings(deadline=None, max_examples=60)
@given(polygons(), polygons())
def test_polygon_iou_uses_the_even_odd_rule(a: Polygon, b: Polygon) -> None:
    """Self-intersecting polygons: the regions covered an odd number of times (COCO's
    rasterisation does the same)."""
    assert iou(a, b) == pytest.approx(exact_iou(a, b), abs=1e-3)


def test_a_bow_tie_is_its_two_triangles() -> None:
    bow_tie = Polygon(((0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0)))
    left = Polygon(((0.0, 0.0), (5.0, 5.0), (0.0, 10.0)))
    # area 50 of the bow tie; the left triangle (25) lies inside it
    assert iou(bow_tie, left) == pytest.approx(0.5, abs=1e-9)


@st.composite
def tangled_polygons(draw: st.DrawFn) -> Polygon:
    """Larger random polygons, nearly always self-intersecting many times (the bounded path)."""
    n = draw(st.integers(20, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    xy = np.random.default_rng(seed).uniform(0, 500, (n, 2))
    if draw(st.booleans()):  # near-degenerate: coordinates on a tiny grid
        xy = np.round(xy / 100) * 100 + np.random.default_rng(seed).uniform(0, 1e-7, (n, 2))
    return Polygon(tuple(map(tuple, xy.tolist())))


@settings(deadline=None, max_examples=60)
@given(tangled_polygons(), tangled_polygons(), st.integers(0, 299), st.booleans())
def test_bounded_iou_invariants_hold_exactly(a: Polygon, b: Polygon, shift: int,
                                              reverse: bool) -> None:
    value = iou(a, b)
    assert 0.0 <= value <= 1.0
    assert iou(b, a) == value
    assert iou(a, a) == 1.0
    pts = list(b.points)
    shift %= len(pts)
    pts = pts[shift:] + pts[:shift]
    if reverse:
        pts.reverse()
    moved = Polygon(tuple(pts))
    assert iou(a, moved) == value
    assert iou(b, moved) == 1.0
    assert _scanline_iou(b, moved) == 1.0


def test_canonical_ring_is_linear_when_the_lowest_vertex_repeats() -> None:
    def ring(visits: int) -> tuple[tuple[float, float], ...]:
        points: list[tuple[float, float]] = []
        for i in range(visits):
            points += [(0.0, 0.0), (1.0 + (i * 7919 % visits) * 0.01, 5.0)]
        return tuple(points)

    small = ring(300)
    assert _canonical_ring(small) == min(
        r[i:] + r[:i] for r in (small, small[::-1]) for i in range(len(r))
    )
    # 5,000 visits to the same lowest vertex: trying every rotation from it took ~0.4 s
    elapsed, _ = timed(functools.partial(_canonical_ring, ring(5_000)))
    assert elapsed < 0.5


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.integers(-2, W + 2), st.floats(-2, W + 2), st.just(-0.0)),
            st.one_of(st.integers(-2, H + 2), st.floats(-2, H + 2), st.just(-0.0)),
        ),
        min_size=3,
        max_size=20,
    ),
    st.booleans(),
)
def test_polygon_fast_path_validates_exactly_like_the_per_point_path(
    points: list[tuple[float, float]], as_lists: bool
) -> None:
    raw = [list(p) for p in points] if as_lists else points
    fast = _plain_points(raw, W, H)
    try:
        slow = _checked_points(raw, W, H)
    except ValidationFailed:
        assert fast is None
        return
    assert fast is not None
    assert fast == slow
    assert [tuple(map(math.copysign, (1.0, 1.0), p)) for p in fast] == [
        tuple(map(math.copysign, (1.0, 1.0), p)) for p in slow
    ]  # -0.0 stays -0.0, like before
    assert all(type(v) is float for p in fast for v in p)


def test_polygon_validation_is_fast_and_cost_does_not_depend_on_shape() -> None:
    for polygon in (star(10_000), zigzag(10_000), comb(10_000)):
        raw = polygon.to_json()
        elapsed, parsed = timed(functools.partial(parse_geometry, "polygon", raw, BIG, BIG))
        assert parsed == polygon
        assert elapsed < 1.0  # ~3 ms here


def noisy_counts(n_runs: int, seed: int = 0, size: int = BIG) -> tuple[dict[str, Any], np.ndarray]:
    runs = np.random.default_rng(seed).integers(1, 90, n_runs)
    runs[-1] = size * size - int(runs[:-1].sum())
    return {"size": [size, size], "counts": rle.counts_from_runs(runs)}, runs


def test_mask_validation_and_iou_of_a_100_megapixel_mask_are_fast() -> None:
    # ~1.5 MiB of counts: more than a command (1 MiB) can carry
    a, _ = noisy_counts(1_000_000)
    b, _ = noisy_counts(1_000_000, seed=1)
    elapsed, ma = timed(lambda: parse_geometry("mask", {"rle": a}, BIG, BIG))
    assert elapsed < 2.0  # ~20 ms here (was ~0.2 s)
    mb = parse_geometry("mask", {"rle": b}, BIG, BIG)
    assert isinstance(ma, Mask) and isinstance(mb, Mask)
    assert ma.rle == a  # already canonical: returned as given
    elapsed, value = timed(lambda: iou(ma, mb))
    assert elapsed < 2.0  # ~15 ms here with the runs kept from validation (was ~0.2 s)
    assert value == rle.iou(a, b)
    assert iou(Mask(a), Mask(b)) == value  # masks made without parse_geometry decode
    assert iou(ma, Mask(a)) == 1.0


@settings(deadline=None)
@given(st.lists(st.integers(0, 2**20), min_size=1, max_size=40), st.data())
def test_mask_validation_returns_canonical_counts_for_any_spelling(
    runs: list[int], data: st.DataObject
) -> None:
    """A counts string may spell a value with more characters than needed, or hold empty
    runs; validation answers the canonical string (and the given one when it is already)."""
    total = sum(runs)
    assume(sum(runs[1::2]) > 0)
    canonical = rle.counts_from_runs(rle._canonical(np.array(runs, np.int64)))
    # spell some values with redundant characters
    values = np.array(runs, np.int64)
    values[3:] -= np.array(runs, np.int64)[1:-2]
    chars = [_spell(v, data.draw(st.integers(0, 2))) for v in values.tolist()]
    counts = "".join(chars)
    assert rle.runs_from_counts(counts).tolist() == runs
    result = rle.validate({"size": [1, total], "counts": counts}, 1, total)
    assert result["counts"] == canonical
    if counts == canonical:
        assert result["counts"] is counts


def _spell(value: int, extra: int) -> str:
    """``value`` in pycocotools' alphabet with ``extra`` redundant characters."""
    out = []
    more = True
    x = value
    while more:
        c = x & 0x1F
        x >>= 5
        more = x != -1 if c & 0x10 else x != 0
        out.append(c)
    for _ in range(min(extra, 7 - len(out))):
        out.append(0x1F if value < 0 else 0)
    return "".join(chr(48 + (c | (0x20 if i < len(out) - 1 else 0))) for i, c in enumerate(out))
