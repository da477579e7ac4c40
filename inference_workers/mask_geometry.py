"""A proposed object mask (one boolean per pixel) as the geometry an assist request asked for.

Every mask-producing assist engine (GrabCut, SAM) ends with the same step, so it lives here:

- ``mask``: the mask itself as COCO compressed RLE (``domain.rle.encode``, canonical counts);
- ``box``: the mask's bounding box in pixel-edge coordinates (a pixel ``(i, j)`` covers
  ``[j, j + 1] x [i, i + 1]``), so a box around a single pixel is 1 x 1;
- ``polygon``: the outer contour of the largest connected component, simplified with
  Douglas-Peucker (``cv2.approxPolyDP``). Contour vertices are pixel centres, the mask's edge
  lies half a pixel further out, so each vertex is pushed out by 0.5 px (a mitre offset of
  its edges). The tolerance starts at ``POLYGON_TOLERANCE_PX`` (0.5 px: at 1 px a 25 px wide
  ellipse lost 5 % IoU) and doubles until at most ``MAX_PROPOSAL_POINTS`` vertices remain (a
  proposal is a starting point an annotator edits by hand: 200 handles are already a lot).
  The tests hold the polygon to IoU >= 0.95 with convex masks 25 px across or more.

An empty mask is not a proposal: it is refused as ``ValidationFailed`` (field ``points``)
with a message saying the clicks found no object, which the client shows instead of a blank.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from domain import geometry as g
from domain import rle as _rle
from domain.errors import ValidationFailed

OUTPUTS = ("box", "mask", "polygon")
POLYGON_TOLERANCE_PX = 0.5
MAX_PROPOSAL_POINTS = 200


def _no_object() -> ValidationFailed:
    return ValidationFailed(
        "no object was found from these points; click inside the object or draw a larger box",
        {"field": "points"},
    )


def mask_box(mask: npt.NDArray[np.bool_]) -> tuple[int, int, int, int] | None:
    """``(x, y, w, h)`` of the smallest box of whole pixels holding every set pixel, or None
    for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def largest_component(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The largest 8-connected component of ``mask`` (the mask itself when it has one)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                               connectivity=8)
    if count <= 2:
        return mask
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.asarray(labels == biggest)


def outline(mask: npt.NDArray[np.bool_]) -> list[tuple[float, float]]:
    """The simplified outer contour of the largest component, in image coordinates."""
    part = largest_component(mask).astype(np.uint8)
    contours, _ = cv2.findContours(part, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    tolerance = POLYGON_TOLERANCE_PX
    simple = cv2.approxPolyDP(contour, tolerance, True)
    while len(simple) > MAX_PROPOSAL_POINTS:
        tolerance *= 2
        simple = cv2.approxPolyDP(contour, tolerance, True)
    xy = simple.reshape(-1, 2).astype(np.float64) + 0.5  # pixel centres
    if len(xy) < 3 or abs(cv2.contourArea(xy.astype(np.float32))) < 1.0:
        # a line or a dot of pixels: its whole-pixel box, as a polygon
        x, y, w, h = mask_box(part.astype(bool)) or (0, 0, 1, 1)
        return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    return [(float(x), float(y)) for x, y in _pushed_out(xy, 0.5)]


def _pushed_out(ring: npt.NDArray[np.float64], distance: float) -> npt.NDArray[np.float64]:
    """Each vertex of the closed ``ring`` moved ``distance`` outwards along the mean of its two
    edges' outward normals (concave corners move the right way too)."""
    edges = np.roll(ring, -1, axis=0) - ring
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    normals /= np.maximum(np.hypot(normals[:, 0], normals[:, 1]), 1e-9)[:, None]
    x, y = ring[:, 0], ring[:, 1]
    if float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)) < 0:  # counter-clockwise (y down)
        normals = -normals
    at_vertex = normals + np.roll(normals, 1, axis=0)  # this vertex's two edges
    at_vertex /= np.maximum(np.hypot(at_vertex[:, 0], at_vertex[:, 1]), 1e-9)[:, None]
    # a mitre: both edges move by ``distance`` (capped at sharp corners)
    cos_half = np.sum(at_vertex * normals, axis=1)
    return ring + distance * at_vertex / np.clip(cos_half, 0.5, 1.0)[:, None]


def geometry_from_mask(mask: npt.NDArray[np.bool_], output: str, width: int,
                       height: int) -> g.Geometry:
    """``mask`` (``height x width`` booleans) as a ``box``, ``mask`` or ``polygon`` geometry of
    a ``width x height`` image."""
    if mask.shape != (height, width):
        raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]}, image {width}x{height}")
    if output not in OUTPUTS:
        raise ValidationFailed(f"unknown assist output {output!r}",
                               {"field": "output", "allowed": list(OUTPUTS)})
    mask = mask.astype(bool, copy=False)
    box = mask_box(mask)
    if box is None:
        raise _no_object()
    if output == "box":
        return g.Box(*(float(v) for v in box))
    if output == "mask":
        return g.Mask(_rle.encode(mask))
    points = [[x, y] for x, y in outline(mask)]
    return g.parse_geometry("polygon", {"points": points}, width, height)
