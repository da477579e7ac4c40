"""Immutable geometry value objects for annotations, their validation and their overlap (IoU).

Five annotation types exist (:data:`ANNOTATION_TYPES`), one value object each. Their public
JSON form (:meth:`to_json`) is::

    box      {"x": 1.0, "y": 2.0, "w": 3.0, "h": 4.0}      (top-left corner, size; pixels)
    polygon  {"points": [[x, y], [x, y], ...]}
    mask     {"rle": {"size": [height, width], "counts": "<COCO compressed RLE>"}}
    point    {"x": 1.0, "y": 2.0}
    tag      {}                                             (a whole-image label)

Coordinates are pixels, the origin is the top-left corner of the image and the image covers
``[0, width] x [0, height]``.

Validation (:func:`parse_geometry`) of untrusted, JSON-decoded input:

* the object must have exactly the keys above, no more and no fewer;
* numbers must be JSON numbers (``int`` or ``float``, never ``bool`` or a string) and finite;
  they are stored as ``float``;
* **image-bounds policy: a shape may stick out of the image by at most 1 px. Such overhang is
  clipped to the image; a shape reaching further out is rejected.** (Annotation tools easily
  let a drag end a pixel past the border; anything more is a bug or the wrong image.) After
  clipping a box must still have ``w > 0`` and ``h > 0`` and a polygon a non-zero area;
* a polygon has 3 to 10,000 points, at least 3 of them distinct; its points are kept as given
  (no closing point is added or removed);
* a mask must have the image's size and at least one foreground pixel; its counts are
  normalized to the canonical compressed form (see :func:`domain.rle.validate`).

Every rejection is a :class:`~domain.errors.ValidationFailed` whose ``details["field"]`` names
the offending part, e.g. ``"geometry.x"`` or ``"geometry.points[3]"``.

Polygon overlap (:func:`iou`) runs in the single writer thread, so its cost is bounded by the
input size whatever the shape (self-intersecting stars, zig-zags, interleaved combs):

* **Fill rule: even-odd.** A point is inside a polygon when a ray from it crosses the ring an
  odd number of times, which is what COCO's polygon rasterisation does; for a simple polygon
  that is simply its interior, for a self-intersecting one (a bow tie, a star) the regions
  covered an odd number of times. (The repair with GEOS' ``make_valid`` used before gave the
  same region for most shapes, not for all, and took 41 s for a 300-point star.)
* **Exact path:** when both polygons are valid (simple) and ``len(a) * len(b) <= 4096``, the
  intersection is computed exactly by GEOS (shapely); the product bounds the edge crossings
  GEOS has to node (~3 ms at worst here).
* **Bounded path**, everything else: a scanline that is exact in x and sampled in y. Along
  each sample row the crossings of every edge are sorted (one numpy sort of at most ~300,000
  crossings, ~25 ms here), giving the exact covered lengths of ``a``, ``b`` and ``a & b`` on
  that row; the areas are those lengths times the height each row stands for. The rows are
  the midpoints of the slabs between consecutive vertex y values (split into sub-rows while
  cheap): each polygon's covered length is linear in y inside such a slab, so a simple
  polygon's area comes out exact, and only the intersection is approximated, where an edge
  of ``a`` crosses one of ``b`` inside a slab. When the edges would cross those rows more
  than 300,000 times (rows crossing thousands of edges), neighbouring slabs are merged into
  groups whose height grows with the number of edges crossing them, until the crossings fit
  (or about 15 rows are left).
* **Accuracy**, measured against exact even-odd areas: within 1e-3 of the exact IoU for
  simple polygons (~1e-7 for ordinary outlines; up to ~1e-3 for random 10,000-point spiky
  shapes whose rows each cross ~2,000 edges) and for self-intersecting ones of up to a few
  dozen points (~1e-4). Shapes built so that rows cross thousands of edges get an estimate:
  within ~3e-3 for stars with thousands of self-intersections, and within a few 1e-2 for
  interleaved combs, whose intersection alternates at a finer pitch than the affordable rows
  (measured up to 3.2e-2). Exact invariants hold on both paths: ``iou(g, g) == 1``,
  ``iou(a, b) == iou(b, a)``, the result does not change when a ring is rotated or reversed,
  and it lies in ``[0, 1]``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, ClassVar, TypeAlias

import numpy as np
import numpy.typing as npt
import shapely
from shapely.errors import GEOSException

from domain import rle as _rle
from domain.errors import ValidationFailed

ANNOTATION_TYPES = ("box", "polygon", "mask", "point", "tag")

OVERHANG_PX = 1.0
"""How far (in pixels) a shape may stick out of the image before it is rejected."""

MAX_POLYGON_POINTS = 10_000

POINT_SIMILARITY_RADIUS_PX = 10.0
"""Two points this far apart (or further) have an IoU-like similarity of 0; see :func:`iou`."""

_MIN_POLYGON_AREA = 1e-9  # px^2; below this a polygon is degenerate (collinear up to rounding)


# --------------------------------------------------------------------------------------------
# value objects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned rectangle: top-left corner ``(x, y)``, width ``w`` and height ``h``."""

    x: float
    y: float
    w: float
    h: float

    kind: ClassVar[str] = "box"

    def to_json(self) -> dict[str, Any]:
        return {"x": float(self.x), "y": float(self.y), "w": float(self.w), "h": float(self.h)}


@dataclass(frozen=True, slots=True)
class Polygon:
    """Simple polygon given by its vertices, in order, without a repeated closing vertex."""

    points: tuple[tuple[float, float], ...]

    kind: ClassVar[str] = "polygon"

    def to_json(self) -> dict[str, Any]:
        return {"points": [[float(x), float(y)] for x, y in self.points]}


@dataclass(frozen=True, slots=True)
class Mask:
    """Per-pixel mask as COCO compressed RLE ``{"size": [height, width], "counts": str}``.

    The constructor takes a private copy of ``rle`` (it only checks its shape; use
    :func:`parse_geometry` for untrusted input). Masks are hashable by size and counts; two
    masks are equal when their RLE dicts are equal, which for validated masks (canonical
    counts) means they cover the same pixels.
    """

    rle: dict[str, Any]
    _runs: Any = dataclass_field(default=None, init=False, repr=False, compare=False)
    """The decoded runs when :func:`parse_geometry` made this mask (it has just decoded
    them); :func:`iou` reads them instead of decoding the counts again."""

    kind: ClassVar[str] = "mask"

    def __post_init__(self) -> None:
        rle = self.rle
        size = rle.get("size") if isinstance(rle, dict) else None
        counts = rle.get("counts") if isinstance(rle, dict) else None
        if (
            not isinstance(size, list | tuple)
            or len(size) != 2
            or not all(type(v) is int for v in size)
            or not isinstance(counts, str)
        ):
            raise ValidationFailed(
                "mask rle must be {'size': [height, width], 'counts': str}",
                {"field": "geometry.rle"},
            )
        object.__setattr__(self, "rle", {"size": [size[0], size[1]], "counts": counts})

    def __hash__(self) -> int:
        size = self.rle["size"]
        return hash(("mask", size[0], size[1], self.rle["counts"]))

    @property
    def height(self) -> int:
        return int(self.rle["size"][0])

    @property
    def width(self) -> int:
        return int(self.rle["size"][1])

    @property
    def counts(self) -> str:
        return str(self.rle["counts"])

    def to_json(self) -> dict[str, Any]:
        return {"rle": {"size": [self.height, self.width], "counts": self.counts}}


@dataclass(frozen=True, slots=True)
class Point:
    """A single location (keypoint-like), no extent."""

    x: float
    y: float

    kind: ClassVar[str] = "point"

    def to_json(self) -> dict[str, Any]:
        return {"x": float(self.x), "y": float(self.y)}


@dataclass(frozen=True, slots=True)
class Tag:
    """A label for the whole image; it has no geometry."""

    kind: ClassVar[str] = "tag"

    def to_json(self) -> dict[str, Any]:
        return {}


Geometry: TypeAlias = Box | Polygon | Mask | Point | Tag


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _invalid(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, {"field": field})


def _number(value: object, field: str, what: str) -> float:
    """A finite JSON number as float; bools, strings, NaN and infinities are rejected."""
    if type(value) is float:
        if math.isfinite(value):
            return value
        raise _invalid(f"{what} must be a finite number", field)
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            raise _invalid(f"{what} must be a finite number", field) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{what} must be a number, not {type(value).__name__}", field)
    return _number(float(value) if isinstance(value, float) else int(value), field, what)


def _check_keys(raw: object, expected: frozenset[str], kind: str) -> dict[str, Any]:
    if type(raw) is not dict:
        if isinstance(raw, dict):
            raw = dict(raw)
        else:
            keys = ", ".join(sorted(expected))
            message = f"{kind} geometry must be an object" + (f" with {keys}" if keys else "")
            raise _invalid(message, "geometry")
    assert isinstance(raw, dict)
    if raw.keys() != expected:
        extra = sorted(str(k) for k in raw if k not in expected)
        if extra:
            raise _invalid(
                f"{kind} geometry has unexpected key(s): {', '.join(extra)}",
                f"geometry.{extra[0]}",
            )
        missing = sorted(expected - raw.keys())
        raise _invalid(f"{kind} geometry is missing {', '.join(missing)}", f"geometry.{missing[0]}")
    return raw


def _outside(width: int, height: int) -> str:
    return f"more than {OVERHANG_PX:g} px outside the image (width {width}, height {height})"


def _make_box(x: float, y: float, w: float, h: float, width: int, height: int) -> Box:
    if w <= 0:
        raise _invalid("box w must be greater than 0", "geometry.w")
    if h <= 0:
        raise _invalid("box h must be greater than 0", "geometry.h")
    right = x + w
    bottom = y + h
    if x < -OVERHANG_PX or right > width + OVERHANG_PX:
        raise _invalid(f"box reaches {_outside(width, height)}", "geometry.x")
    if y < -OVERHANG_PX or bottom > height + OVERHANG_PX:
        raise _invalid(f"box reaches {_outside(width, height)}", "geometry.y")
    # Clip the overhang; untouched sides keep their exact input values.
    if x < 0 or right > width:
        x = max(x, 0.0)
        w = min(right, width) - x
        if w <= 0:
            raise _invalid("box has no width inside the image", "geometry.w")
    if y < 0 or bottom > height:
        y = max(y, 0.0)
        h = min(bottom, height) - y
        if h <= 0:
            raise _invalid("box has no height inside the image", "geometry.h")
    return Box(x, y, w, h)


def _clip(v: float, limit: int, field: str, what: str, width: int, height: int) -> float:
    if v < 0:
        if v < -OVERHANG_PX:
            raise _invalid(f"{what} lies {_outside(width, height)}", field)
        return 0.0
    if v > limit:
        if v > limit + OVERHANG_PX:
            raise _invalid(f"{what} lies {_outside(width, height)}", field)
        return float(limit)
    return v


_BOX_KEYS = frozenset(("x", "y", "w", "h"))
_POINT_KEYS = frozenset(("x", "y"))
_POLYGON_KEYS = frozenset(("points",))
_MASK_KEYS = frozenset(("rle",))
_TAG_KEYS: frozenset[str] = frozenset()


def _parse_box(raw: object, width: int, height: int) -> Box:
    d = _check_keys(raw, _BOX_KEYS, "box")
    return _make_box(
        _number(d["x"], "geometry.x", "box x"),
        _number(d["y"], "geometry.y", "box y"),
        _number(d["w"], "geometry.w", "box w"),
        _number(d["h"], "geometry.h", "box h"),
        width,
        height,
    )


def _parse_point(raw: object, width: int, height: int) -> Point:
    d = _check_keys(raw, _POINT_KEYS, "point")
    x = _number(d["x"], "geometry.x", "point x")
    y = _number(d["y"], "geometry.y", "point y")
    return Point(
        _clip(x, width, "geometry.x", "point", width, height),
        _clip(y, height, "geometry.y", "point", width, height),
    )


def _shoelace(points: Sequence[tuple[float, float]]) -> float:
    """Signed area (counter-clockwise in a y-up frame is positive); shifted to the first
    vertex to limit cancellation."""
    x0, y0 = points[0]
    total = 0.0
    px, py = 0.0, 0.0
    for x, y in points[1:]:
        qx, qy = x - x0, y - y0
        total += px * qy - qx * py
        px, py = qx, qy
    return total / 2.0


def _parse_polygon(raw: object, width: int, height: int) -> Polygon:
    d = _check_keys(raw, _POLYGON_KEYS, "polygon")
    points = d["points"]
    if not isinstance(points, list | tuple):
        raise _invalid("polygon points must be a list of [x, y] pairs", "geometry.points")
    if len(points) > MAX_POLYGON_POINTS:
        raise _invalid(
            f"polygon has {len(points)} points; at most {MAX_POLYGON_POINTS} are allowed",
            "geometry.points",
        )
    if len(points) < 3:
        raise _invalid("polygon needs at least 3 distinct points", "geometry.points")
    out = _plain_points(points, width, height)
    if out is None:
        out = _checked_points(points, width, height)
    if len(set(out[:3])) < 3 and len(set(out)) < 3:  # the first three usually decide
        raise _invalid("polygon needs at least 3 distinct points", "geometry.points")
    if abs(_shoelace(out)) < _MIN_POLYGON_AREA:
        raise _invalid("polygon has zero area", "geometry.points")
    return Polygon(tuple(out))


_PAIR_TYPES = frozenset((list, tuple))
_NUMBER_TYPES = frozenset((float, int))


def _plain_points(
    points: Sequence[Any], width: int, height: int
) -> list[tuple[float, float]] | None:
    """The common case in bulk (a 10,000-point polygon in ~2 ms rather than ~9 ms): every
    point an ``[x, y]`` list or tuple of ``float``/``int``, finite and at most 1 px outside
    the image. The result is exactly what :func:`_checked_points` gives; None sends any other
    input there, which names the offending point."""
    if not set(map(type, points)) <= _PAIR_TYPES or set(map(len, points)) != {2}:
        return None
    if not set(map(type, itertools.chain.from_iterable(points))) <= _NUMBER_TYPES:
        return None
    try:
        flat = np.fromiter(itertools.chain.from_iterable(points), np.float64, 2 * len(points))
    except (OverflowError, ValueError):
        return None
    xy = flat.reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    if not (
        bool(np.isfinite(flat).all())
        and x.min() >= -OVERHANG_PX
        and x.max() <= width + OVERHANG_PX
        and y.min() >= -OVERHANG_PX
        and y.max() <= height + OVERHANG_PX
    ):
        return None
    # clip exactly like _clip: below 0 -> 0.0, above the limit -> the limit, else unchanged
    x = np.where(x < 0, 0.0, np.where(x > width, float(width), x))
    y = np.where(y < 0, 0.0, np.where(y > height, float(height), y))
    return list(zip(x.tolist(), y.tolist(), strict=True))


def _checked_points(points: Sequence[Any], width: int, height: int) -> list[tuple[float, float]]:
    """Point by point, raising ``ValidationFailed`` for the first offending point."""
    out: list[tuple[float, float]] = []
    for i, p in enumerate(points):
        field = f"geometry.points[{i}]"
        if not isinstance(p, list | tuple) or len(p) != 2:
            raise _invalid(f"polygon point {i} must be an [x, y] pair", field)
        x = _number(p[0], field, f"polygon point {i} x")
        y = _number(p[1], field, f"polygon point {i} y")
        what = f"polygon point {i}"
        out.append(
            (
                _clip(x, width, field, what, width, height),
                _clip(y, height, field, what, width, height),
            )
        )
    return out


def _parse_mask(raw: object, width: int, height: int) -> Mask:
    d = _check_keys(raw, _MASK_KEYS, "mask")
    try:
        normalized, runs = _rle.validate_with_runs(d["rle"], height, width)
    except ValidationFailed as exc:
        name = str(exc.details.get("field", "rle"))
        raise ValidationFailed(exc.message, {"field": f"geometry.{name}"}) from None
    mask = Mask(normalized)
    object.__setattr__(mask, "_runs", runs)
    return mask


def _mask_runs(mask: Mask) -> Any:
    if mask._runs is not None:
        return mask._runs
    return _rle.runs_of(mask.rle)


def _parse_tag(raw: object, width: int, height: int) -> Tag:
    _check_keys(raw, _TAG_KEYS, "tag")
    return Tag()


_PARSERS: dict[str, Callable[[object, int, int], Geometry]] = {
    "box": _parse_box,
    "polygon": _parse_polygon,
    "mask": _parse_mask,
    "point": _parse_point,
    "tag": _parse_tag,
}


def parse_geometry(kind: str, raw: object, width: int, height: int) -> Geometry:
    """Validate untrusted JSON-decoded ``raw`` as a ``kind`` geometry on a ``width`` x
    ``height`` image, following the rules in the module docstring. Returns the value object
    (with at most 1 px of overhang clipped away) or raises ``ValidationFailed``."""
    parser = _PARSERS.get(kind) if type(kind) is str else None
    if parser is None:
        raise _invalid(
            f"unknown annotation type {kind!r}; expected one of {', '.join(ANNOTATION_TYPES)}",
            "kind",
        )
    return parser(raw, width, height)


def box_from_extreme_points(points: Sequence[Sequence[float]], width: int, height: int) -> Box:
    """The tight box through 4 extreme points (leftmost, topmost, rightmost, bottommost, in
    any order), validated and clipped like any box."""
    if not isinstance(points, list | tuple) or len(points) != 4:
        raise _invalid("extreme points must be exactly 4 [x, y] points", "points")
    xs: list[float] = []
    ys: list[float] = []
    for i, p in enumerate(points):
        field = f"points[{i}]"
        if not isinstance(p, list | tuple) or len(p) != 2:
            raise _invalid(f"extreme point {i} must be an [x, y] pair", field)
        xs.append(_number(p[0], field, f"extreme point {i} x"))
        ys.append(_number(p[1], field, f"extreme point {i} y"))
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 <= x0 or y1 <= y0:
        raise _invalid("extreme points span no area (they lie on one line)", "points")
    return _make_box(x0, y0, x1 - x0, y1 - y0, width, height)


# --------------------------------------------------------------------------------------------
# measures
# --------------------------------------------------------------------------------------------


def bbox(g: Geometry) -> tuple[float, float, float, float] | None:
    """``(x, y, w, h)`` bounding box; ``(x, y, 0, 0)`` for a point, ``None`` for a tag."""
    if isinstance(g, Box):
        return (float(g.x), float(g.y), float(g.w), float(g.h))
    if isinstance(g, Polygon):
        xs = [p[0] for p in g.points]
        ys = [p[1] for p in g.points]
        x0, y0 = min(xs), min(ys)
        return (float(x0), float(y0), float(max(xs) - x0), float(max(ys) - y0))
    if isinstance(g, Mask):
        return _rle.to_bbox(g.rle)
    if isinstance(g, Point):
        return (float(g.x), float(g.y), 0.0, 0.0)
    return None


def area(g: Geometry) -> float:
    """Area in px^2: box ``w*h``, polygon by the shoelace formula, mask pixel count; 0 for
    points and tags."""
    if isinstance(g, Box):
        return float(g.w * g.h)
    if isinstance(g, Polygon):
        return abs(_shoelace(g.points))
    if isinstance(g, Mask):
        return float(_rle.area(g.rle))
    return 0.0


def _box_iou(a: Box, b: Box) -> float:
    # Areas are computed from the edges, like the intersection, so iou(g, g) is exactly 1.
    ax1, ay1, bx1, by1 = a.x + a.w, a.y + a.h, b.x + b.w, b.y + b.h
    iw = min(ax1, bx1) - max(a.x, b.x)
    ih = min(ay1, by1) - max(a.y, b.y)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (ax1 - a.x) * (ay1 - a.y) + (bx1 - b.x) * (by1 - b.y) - inter
    if union <= 0:
        return 0.0
    return min(1.0, inter / union)


# Polygon IoU -------------------------------------------------------------------------------
#
# See "Polygon overlap" in the module docstring for the semantics, the cost bound and the
# accuracy; benchmarks/geometry_worst_case.py measures it.

_EXACT_MAX_VERTEX_PAIRS = 4_096
"""Both polygons valid and ``len(a) * len(b)`` at most this: exact overlay (shapely/GEOS).
The product bounds the number of edge crossings GEOS has to node (two valid interleaved
64-point combs: ~3 ms)."""

_SCAN_CROSSINGS = 300_000
"""Budget of (edge, sample row) crossings of the scanline method (~25 ms here)."""

_SCAN_REFINE_CROSSINGS = 60_000
"""Sub-rows are added to the vertex slabs only while the crossings stay under this."""

_SCAN_MAX_SUBROWS = 64
_SCAN_MIN_ROWS = 15  # merged slabs: 20,000 edges crossing 15 rows are about the budget
_SCAN_MAX_ROWS = 1 << 18
_X_BITS = 40  # x is quantised to 2**40 steps across the pair's bounding box (~1e-8 px)
_X_MAX = (1 << _X_BITS) - 1
_ROW_SHIFT = _X_BITS + 1  # sort key: row << 41 | x << 1 | polygon (0 = a, 1 = b)


def _least_rotation(ring: Sequence[tuple[float, float]]) -> int:
    """Start index of the lexicographically smallest rotation of ``ring`` (Booth's
    algorithm, O(n) comparisons even when a vertex repeats many times)."""
    n = len(ring)
    doubled = list(ring) + list(ring)
    failure = [-1] * (2 * n)
    k = 0
    for j in range(1, 2 * n):
        sj = doubled[j]
        i = failure[j - k - 1]
        while i != -1 and sj != doubled[k + i + 1]:
            if sj < doubled[k + i + 1]:
                k = j - i - 1
            i = failure[i]
        if sj != doubled[k + i + 1]:  # i == -1
            if sj < doubled[k]:  # k + i + 1 == k
                k = j
            failure[j - k] = -1
        else:
            failure[j - k] = i + 1
    return k


def _canonical_ring(points: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    """The same ring, rotated and possibly reversed into the lexicographically smallest
    sequence: rotated or reversed copies of one polygon map to one sequence, so GEOS sees
    identical input for them."""
    forward = _least_rotation(points)
    backward_ring = points[::-1]
    backward = _least_rotation(backward_ring)
    a = points[forward:] + points[:forward]
    b = backward_ring[backward:] + backward_ring[:backward]
    return min(a, b)


def _exact_polygon_iou(a: Polygon, b: Polygon) -> float | None:
    """IoU by exact overlay when both polygons are valid (simple); None otherwise."""
    ring_a, ring_b = _canonical_ring(a.points), _canonical_ring(b.points)
    if ring_a == ring_b:
        return 1.0
    if ring_b < ring_a:  # a fixed order makes the result exactly symmetric
        ring_a, ring_b = ring_b, ring_a
    sa, sb = shapely.Polygon(ring_a), shapely.Polygon(ring_b)
    if not (sa.is_valid and sb.is_valid):
        return None
    try:
        inter = float(shapely.intersection(sa, sb).area)
    except GEOSException:  # pragma: no cover - robustness against GEOS topology errors
        return None
    union = float(sa.area) + float(sb.area) - inter
    if union <= 0:
        return 0.0
    return max(0.0, min(1.0, inter / union))


_Edges: TypeAlias = tuple[npt.NDArray[np.float64], ...]


def _edges(points: tuple[tuple[float, float], ...]) -> _Edges:
    """Non-horizontal edges as ``(x0, y0, x1, y1)`` arrays, each oriented upwards
    (``y0 < y1``): a ring and its reversal or rotation give the same edges."""
    flat = np.fromiter(itertools.chain.from_iterable(points), np.float64, 2 * len(points))
    p = flat.reshape(-1, 2)
    q = np.roll(p, -1, axis=0)
    down = p[:, 1] > q[:, 1]
    lo = np.where(down[:, None], q, p)
    hi = np.where(down[:, None], p, q)
    keep = lo[:, 1] < hi[:, 1]
    lo, hi = lo[keep], hi[keep]
    return lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]


def _crossings(rows: npt.NDArray[np.float64], y0: npt.NDArray[np.float64],
               y1: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """For each edge, its first row and how many rows it crosses: the rows ``r`` with
    ``y0 <= rows[r] < y1`` (half-open, so every row meets an even number of each ring's
    edges and a vertex lying on a row is counted once)."""
    first = np.searchsorted(rows, y0)
    return first, np.searchsorted(rows, y1) - first


def _sample_rows(
    y0: npt.NDArray[np.float64], y1: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Sample rows (sorted y values) and the height each one stands for.

    The rows are the midpoints of slabs whose bounds are vertex y values. Every vertex y is
    a bound while the edges cross those rows at most ``_SCAN_CROSSINGS`` times (then each
    polygon's covered length is linear in y inside a slab, so its area is exact), with equal
    sub-rows added while that stays under ``_SCAN_REFINE_CROSSINGS``. Otherwise neighbouring
    slabs are merged into groups whose height grows with the number of edges crossing them
    (rows are dear there), slabs crossed by few edges staying alone, until the crossings fit
    in the budget."""
    ys = np.unique(np.concatenate((y0, y1)))
    slabs = ys.size - 1
    first, count = _crossings(ys, y0, y1)  # the slabs each edge spans
    crossings = int(count.sum())
    if crossings <= _SCAN_CROSSINGS:
        k = max(1, min(_SCAN_MAX_SUBROWS, _SCAN_REFINE_CROSSINGS // max(1, crossings),
                       _SCAN_MAX_ROWS // max(1, slabs)))
        bounds = ys
    else:
        k = 1
        # how many edges cross each slab
        per_slab = np.cumsum(np.bincount(first, minlength=slabs + 1)
                             - np.bincount(first + count, minlength=slabs + 1))[:slabs]
        # Merge neighbouring slabs into groups about ``scale * per_slab`` high (or a slab
        # alone if it is higher): a row then costs about ``1 / scale`` crossings per unit of
        # height wherever it is, and the budget sets the scale (one or two rounds).
        height = np.diff(ys)
        scale = (ys[-1] - ys[0]) / _SCAN_CROSSINGS
        while True:
            step = height / (np.maximum(per_slab, 1) * scale)
            done = np.floor(np.cumsum(step) - step)  # whole groups below each slab
            starts = np.flatnonzero(np.diff(done, prepend=-1.0) > 0)
            bounds = np.append(ys[starts], ys[-1])
            rows = (bounds[:-1] + bounds[1:]) * 0.5
            used = int(_crossings(rows, y0, y1)[1].sum())
            if used <= _SCAN_CROSSINGS or rows.size <= _SCAN_MIN_ROWS:
                break
            scale *= 1.1 * used / _SCAN_CROSSINGS
    height = np.diff(bounds)
    fraction = (np.arange(k, dtype=np.float64) + 0.5) / k
    rows = bounds[:-1, None] + height[:, None] * fraction[None, :]
    # rounding must not carry a row out of its slab: the rows stay sorted
    rows = np.minimum(np.maximum(rows, bounds[:-1, None]), bounds[1:, None]).ravel()
    return rows, np.repeat(height / k, k)


def _scanline_iou(a: Polygon, b: Polygon) -> float:
    """Even-odd IoU from coverage lengths along sample rows: exact in x, sampled in y."""
    ea, eb = _edges(a.points), _edges(b.points)
    x0, y0, x1, y1 = (np.concatenate((u, v)) for u, v in zip(ea, eb, strict=True))
    if y0.size == 0:
        return 0.0
    left = min(float(x0.min()), float(x1.min()))
    right = max(float(x0.max()), float(x1.max()))
    if not right > left:
        return 0.0
    rows, weight = _sample_rows(y0, y1)
    first, count = _crossings(rows, y0, y1)
    total = int(count.sum())
    if total == 0:
        return 0.0
    # One crossing per (edge, row), sorted by a key of its row, its x quantised to 2**40
    # steps across the pair's bounding box, and its polygon (0: a, 1: b).
    scale = _X_MAX / (right - left)
    n_edges = y0.size
    edge = np.repeat(np.arange(n_edges), count)
    row = np.repeat(first - (np.cumsum(count) - count), count)
    row += np.arange(total)
    t = rows[row]
    t -= y0[edge]
    t *= (1.0 / np.maximum(y1 - y0, 1e-300))[edge]  # t in [0, 1] whatever dy is
    x = ((x1 - x0) * scale)[edge]
    x *= t
    x += ((x0 - left) * scale)[edge]
    np.clip(x, 0.0, float(_X_MAX), out=x)
    key = x.astype(np.int64)
    key <<= 1
    key |= (np.arange(n_edges) >= ea[0].size).astype(np.int64)[edge]
    row <<= _ROW_SHIFT
    key |= row
    key.sort()
    # Inside a row, even-odd: a point is in a polygon after an odd number of its crossings.
    # Every row holds an even number of each polygon's crossings, so the running parities
    # restart at each row by themselves, and the segment from a row's last crossing to the
    # next row's first one has in_a = in_b = 0.
    in_b = np.bitwise_xor.accumulate((key[:-1] & 1).astype(np.uint8))
    in_a = np.zeros(total - 1, dtype=np.uint8)  # parity of all crossings so far ...
    in_a[0::2] = 1
    in_a ^= in_b  # ... is in_a ^ in_b
    key >>= 1  # row << 40 | x
    segment = np.diff(key)
    segment &= _X_MAX  # the x steps within a row (exact integers)
    key >>= _X_BITS
    length = weight[key[:-1]]
    length *= segment
    area_a = float(np.multiply(length, in_a, out=x[:-1]).sum())
    area_b = float(np.multiply(length, in_b, out=x[:-1]).sum())
    inter = float(np.multiply(length, in_a & in_b, out=x[:-1]).sum())
    union = area_a + area_b - inter
    if union <= 0:
        return 0.0
    return max(0.0, min(1.0, inter / union))


def _polygon_iou(a: Polygon, b: Polygon) -> float:
    if a.points == b.points:
        return 1.0
    if b.points < a.points:  # a fixed order: exactly symmetric whatever the method
        a, b = b, a
    if len(a.points) * len(b.points) <= _EXACT_MAX_VERTEX_PAIRS:
        exact = _exact_polygon_iou(a, b)
        if exact is not None:
            return exact
    return _scanline_iou(a, b)


def _point_similarity(a: Point, b: Point) -> float:
    distance = math.hypot(a.x - b.x, a.y - b.y)
    if distance <= 1e-9:
        return 1.0
    return max(0.0, 1.0 - distance / POINT_SIMILARITY_RADIUS_PX)


def iou(a: Geometry, b: Geometry) -> float:
    """Overlap of two geometries of the same type, in ``[0, 1]``, symmetric.

    * box, polygon, mask: intersection area over union area (polygons with the even-odd fill
      rule, exactly or within the bounded-cost approximation described in the module
      docstring);
    * point: points have no area, so this is a similarity instead: 1.0 for the same point
      (within 1e-9 px), decaying linearly with distance to 0 at 10 px and beyond;
    * tag: always 1.0.

    Raises ``ValueError`` for geometries of different types (or masks of different sizes).
    """
    if type(a) is not type(b):
        kind_a = getattr(a, "kind", type(a).__name__)
        kind_b = getattr(b, "kind", type(b).__name__)
        raise ValueError(f"cannot compute the IoU of a {kind_a} and a {kind_b}")
    if isinstance(a, Box):
        assert isinstance(b, Box)
        return _box_iou(a, b)
    if isinstance(a, Polygon):
        assert isinstance(b, Polygon)
        return _polygon_iou(a, b)
    if isinstance(a, Mask):
        assert isinstance(b, Mask)
        if (a.height, a.width) != (b.height, b.width):
            raise ValueError(
                f"cannot compare a {a.height}x{a.width} mask with a {b.height}x{b.width} mask"
            )
        if a.counts == b.counts:
            return 1.0 if _mask_runs(a)[1::2].any() else 0.0
        return _rle.iou_of_runs(_mask_runs(a), _mask_runs(b), a.height * a.width)
    if isinstance(a, Point):
        assert isinstance(b, Point)
        return _point_similarity(a, b)
    if isinstance(a, Tag):
        return 1.0
    raise ValueError(f"not a geometry: {type(a).__name__}")
