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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

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
    if len(set(out)) < 3:
        raise _invalid("polygon needs at least 3 distinct points", "geometry.points")
    if abs(_shoelace(out)) < _MIN_POLYGON_AREA:
        raise _invalid("polygon has zero area", "geometry.points")
    return Polygon(tuple(out))


def _parse_mask(raw: object, width: int, height: int) -> Mask:
    d = _check_keys(raw, _MASK_KEYS, "mask")
    try:
        normalized = _rle.validate(d["rle"], height, width)
    except ValidationFailed as exc:
        field = str(exc.details.get("field", "rle"))
        raise ValidationFailed(exc.message, {"field": f"geometry.{field}"}) from None
    return Mask(normalized)


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


_REPAIR_GRID_PX = 1e-9


def _shape(points: tuple[tuple[float, float], ...]) -> Any:
    polygon = shapely.Polygon(points)
    if not polygon.is_valid:
        # Snap to a fine grid first: GEOS' repair of nearly coincident vertices (think 1e-98
        # next to 0) otherwise depends on the vertex order.
        snapped = shapely.set_precision(polygon, _REPAIR_GRID_PX, mode="pointwise")
        polygon = shapely.make_valid(snapped)
    return polygon


def _canonical_ring(points: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    """The same ring, started at its smallest vertex and walked in the direction that gives
    the lexicographically smallest sequence: rotated or reversed copies of one polygon map to
    one sequence, so GEOS (whose repair of self-intersections depends on vertex order) sees
    identical input for them."""
    best: tuple[tuple[float, float], ...] | None = None
    lowest = min(points)
    for ring in (points, points[::-1]):
        for i, p in enumerate(ring):
            if p == lowest:
                candidate = ring[i:] + ring[:i]
                if best is None or candidate < best:
                    best = candidate
    assert best is not None
    return best


def _polygon_iou(a: Polygon, b: Polygon) -> float:
    ring_a, ring_b = _canonical_ring(a.points), _canonical_ring(b.points)
    if ring_a == ring_b:
        return 1.0
    if ring_b < ring_a:  # a fixed order makes the result exactly symmetric
        ring_a, ring_b = ring_b, ring_a
    sa, sb = _shape(ring_a), _shape(ring_b)
    area_a, area_b = float(sa.area), float(sb.area)
    try:
        inter = float(shapely.intersection(sa, sb).area)
    except GEOSException:  # pragma: no cover - robustness against GEOS topology errors
        grid = 1e-6
        sa, sb = shapely.set_precision(sa, grid), shapely.set_precision(sb, grid)
        inter = float(shapely.intersection(sa, sb).area)
    union = area_a + area_b - inter
    if union <= 0:
        return 0.0
    return max(0.0, min(1.0, inter / union))


def _point_similarity(a: Point, b: Point) -> float:
    distance = math.hypot(a.x - b.x, a.y - b.y)
    if distance <= 1e-9:
        return 1.0
    return max(0.0, 1.0 - distance / POINT_SIMILARITY_RADIUS_PX)


def iou(a: Geometry, b: Geometry) -> float:
    """Overlap of two geometries of the same type, in ``[0, 1]``, symmetric.

    * box, polygon, mask: intersection area over union area (polygons exactly, via shapely;
      a self-intersecting polygon is first repaired with ``shapely.make_valid``);
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
        return _rle.iou(a.rle, b.rle)
    if isinstance(a, Point):
        assert isinstance(b, Point)
        return _point_similarity(a, b)
    if isinstance(a, Tag):
        return 1.0
    raise ValueError(f"not a geometry: {type(a).__name__}")
