"""The classical assist engine: OpenCV GrabCut seeded by a box, extreme points or clicks.

It needs no weights, so every install has mask proposals. GrabCut (Rother et al., 2004) fits
two colour models (object, background: Gaussian mixtures) and cuts the image along strong
edges between them; what the annotator gave decides the seeds:

- ``box`` (two corners): outside the box is sure background, inside probable object.
- ``extreme_points`` (left-, top-, right-, bottom-most points): the tight box through them as
  above, and the object's inside near each point (a short stroke from the point towards the
  box centre) plus the quadrilateral through the four points, shrunk towards its centre, as
  sure object: the boundary touches the box there, which a plain box does not say.
- ``clicks`` (positive +1 / negative -1; ``previous`` are the earlier clicks of the same
  proposal, refined by recomputing from the whole history): a disk around each positive click
  is sure object, around each negative one sure background; a disk around the positive clicks
  is probable object, the rest of a crop reaching ``click_reach`` of the image around them
  probable background, beyond it sure background (a region, not the whole image: on the
  whole image one click let the object model take half of a similar-looking background).
- refining a proposal that started with a box or extreme points (``started_with``): their
  seeds, then the clicks' disks on top.

GrabCut works on a crop around the seeds (the box plus a margin, or the clicks' region)
scaled to at most ``work_size`` px on its long side; the resulting mask is scaled back with
bilinear interpolation (smooth edges), so a call costs about the same on a 1024 px or a 4K
image. GrabCut's cost is mostly its first max-flow, which grows faster than the pixel count:
384 px took 3x the time of 256 px; 320 px is where the box mIoU stayed above 0.80 (256 px:
0.78). Post-processing keeps only the components holding object seeds (or the largest),
drops a component a negative click touches, fills holes (but not those a negative click
made) and smooths the edge with a small opening and closing. When a box's colour models
find nothing (the object looks like its surroundings), the box's middle is taken as sure
object and the cut is made again: a box says the object is in it.

Choices and numbers come from ``benchmarks/assist_quality.py`` and ``assist_speed.py`` (the
composite dataset of ``inference_workers/assist_dataset.py``).
Deterministic: OpenCV's RNG (GrabCut's k-means) is seeded before every call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from domain import geometry as g
from domain.assist import AssistRequest, Points
from domain.errors import NotFound, ValidationFailed
from inference_workers.mask_geometry import geometry_from_mask

MAX_CLICKS = 100
OVERHANG_PX = 1.0

Image = npt.NDArray[np.uint8]
Seeds = npt.NDArray[np.uint8]


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, {"field": "points"})


@dataclass(frozen=True, slots=True)
class Tuning:
    """The knobs the benchmark tuned (defaults are the chosen values)."""

    work_size: int = 320  # long side of the crop GrabCut runs on (256: box mIoU 0.78)
    iterations: int = 2  # 4: box mIoU +0.004, a third slower
    box_margin: float = 0.15  # crop margin around the box, as a share of its size
    click_radius: float = 0.012  # seed disk radius, share of the crop's long side
    click_reach: float = 0.2  # clicks: the crop reaches this far around positive clicks
    # (share of the image's long side); outside it is sure background
    click_region: float = 0.5  # probable-object radius around a positive click (of the reach)
    extreme_stroke: float = 0.12  # stroke from an extreme point towards the centre (share)
    extreme_core: float = 0.5  # the extreme-point quadrilateral shrunk to this share
    smooth: int = 1  # radius of the final opening/closing, in crop px (0: none)


class GrabCutEngine:
    """An :class:`domain.assist.AssistEngine` for the ``box``, ``extreme_points`` and
    ``clicks`` modes. ``image_path_for(sha256)`` gives the file of an image; the last
    ``cache_size`` decoded images are kept (a proposal is refined click after click on the
    same image)."""

    def __init__(self, image_path_for: Callable[[str], Path], cache_size: int = 8,
                 tuning: Tuning | None = None) -> None:
        self._path_for = image_path_for
        self._cache: OrderedDict[str, Image] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.tuning = tuning or Tuning()

    # ------------------------------------------------------------------ interface

    def propose(self, request: AssistRequest) -> g.Geometry:
        width, height = request.image.width, request.image.height
        if width < 2 or height < 2:
            raise _refuse(f"the image is {width}x{height} px: too small to find an object in")
        if request.mode == "clicks":
            points = _checked(tuple(request.previous) + tuple(request.points), width, height)
        else:
            points = _checked(request.points, width, height)
        if request.mode == "extreme_points" and request.output == "box":
            # the tight box through the points is exact: nothing to segment
            return g.box_from_extreme_points([(x, y) for x, y, _ in points], width, height)
        image = self.image(request.image.sha256, width, height)
        mask = self.segment(image, request.mode, points, request.started_with)
        return geometry_from_mask(mask, request.output, width, height)

    def segment(self, image: Image, mode: str, points: Points,
                started_with: str | None = None) -> npt.NDArray[np.bool_]:
        """The object mask (``image``'s size) for checked ``points`` in ``mode``. A refinement
        (``mode`` "clicks") of a proposal that ``started_with`` a box or extreme points has
        those 2 or 4 points first, then the clicks."""
        if mode == "clicks" and started_with in ("box", "extreme_points"):
            first = 2 if started_with == "box" else 4
            mode, points, clicks = started_with, points[:first], points[first:]
        else:
            clicks = ()
        if mode == "box":
            return self._from_box(image, points, clicks)
        if mode == "extreme_points":
            return self._from_extreme_points(image, points, clicks)
        if mode == "clicks":
            return self._from_clicks(image, points)
        raise ValidationFailed(f"assist mode {mode!r} is not served by GrabCut",
                               {"field": "mode"})

    def image(self, sha256: str, width: int, height: int) -> Image:
        """The decoded pixels (BGR) of an image, from the cache when it holds them."""
        with self._lock:
            found = self._cache.get(sha256)
            if found is not None:
                self._cache.move_to_end(sha256)
                return found
        path = self._path_for(sha256)
        decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)  # EXIF orientation applied
        if decoded is None:
            raise NotFound("the image's file cannot be read for assist", {"field": "image"})
        if decoded.shape[:2] != (height, width):  # the recorded size is the truth for geometry
            decoded = cv2.resize(decoded, (width, height), interpolation=cv2.INTER_AREA)
        pixels: Image = np.asarray(decoded, dtype=np.uint8)
        with self._lock:
            self._cache[sha256] = pixels
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return pixels

    # ------------------------------------------------------------------ modes

    def _from_box(self, image: Image, points: Points, clicks: Points) -> npt.NDArray[np.bool_]:
        if len(points) != 2:
            raise _refuse("box needs exactly 2 points: two opposite corners")
        (ax, ay, _), (bx, by, _) = points
        x0, x1, y0, y1 = min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise _refuse("the box has (nearly) zero area: drag a box around the object")
        crop = _Crop.around(image, _spanning((x0, y0, x1, y1), clicks), self.tuning)
        seeds = crop.box_seeds((x0, y0, x1, y1))
        inside = int(np.count_nonzero(seeds == cv2.GC_PR_FGD))
        rejected = self._paint_clicks(seeds, crop, clicks)
        mask = self._cut(crop.pixels, seeds, rejected)
        if not clicks and np.count_nonzero(mask) < 0.1 * inside:
            # The colour models took the object for background (it looks like its
            # surroundings): a box says the object is in it, so insist on its middle.
            ys, xs = np.nonzero(seeds == cv2.GC_PR_FGD)
            centre = (round(float(xs.mean())), round(float(ys.mean())))
            axes = (max(1, round((xs.max() - xs.min()) * 0.15)),
                    max(1, round((ys.max() - ys.min()) * 0.15)))
            cv2.ellipse(seeds, centre, axes, 0, 0, 360, cv2.GC_FGD, -1)
            mask = self._cut(crop.pixels, seeds, rejected)
        return crop.back(mask)

    def _from_extreme_points(self, image: Image, points: Points,
                             clicks: Points) -> npt.NDArray[np.bool_]:
        if len(points) != 4:
            raise _refuse("extreme_points needs exactly 4 points (left, top, right, bottom)")
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise _refuse("the extreme points enclose (nearly) zero area")
        t = self.tuning
        crop = _Crop.around(image, _spanning((x0 - 0.5, y0 - 0.5, x1 + 0.5, y1 + 0.5), clicks), t)
        seeds = crop.box_seeds((x0 - 0.5, y0 - 0.5, x1 + 0.5, y1 + 0.5))
        local = np.array([crop.to_crop(x, y) for x, y, _ in _ordered_extremes(points)])
        centre = local.mean(axis=0)
        side = max(seeds.shape)
        if t.extreme_core > 0:
            core = centre + t.extreme_core * (local - centre)
            cv2.fillPoly(seeds, [np.round(core).astype(np.int32)], cv2.GC_FGD)
        for p in local:
            towards = centre - p
            norm = float(np.hypot(*towards)) or 1.0
            start = p + towards / norm * 2.0  # the point itself sits on the boundary
            end = p + towards / norm * max(3.0, t.extreme_stroke * side)
            end = p + (end - p) * min(1.0, norm / max(float(np.hypot(*(end - p))), 1e-9))
            cv2.line(seeds, _px(start), _px(end), cv2.GC_FGD, max(1, round(side / 150)))
        rejected = self._paint_clicks(seeds, crop, clicks)
        return crop.back(self._cut(crop.pixels, seeds, rejected))

    def _from_clicks(self, image: Image, points: Points) -> npt.NDArray[np.bool_]:
        if not any(s > 0 for _, _, s in points):
            raise _refuse("clicks need at least one positive click on the object")
        t = self.tuning
        h, w = image.shape[:2]
        reach = t.click_reach * max(h, w)
        xs = [x for x, _, s in points if s > 0]
        ys = [y for _, y, s in points if s > 0]
        roi = (max(0.0, min(xs) - reach), max(0.0, min(ys) - reach),
               min(float(w), max(xs) + reach), min(float(h), max(ys) + reach))
        crop = _Crop.around(image, roi, dataclasses.replace(t, box_margin=0.0))
        seeds = crop.box_seeds(roi)
        seeds[seeds == cv2.GC_PR_FGD] = cv2.GC_PR_BGD
        region = max(2, round(t.click_region * reach * crop.scale))
        for x, y, s in points:
            if s > 0:
                cv2.circle(seeds, _px(crop.to_crop(x, y)), region, cv2.GC_PR_FGD, -1)
        rejected = self._paint_clicks(seeds, crop, points)
        mask = self._cut(crop.pixels, seeds, rejected)
        if np.count_nonzero(mask) < 1.5 * np.count_nonzero(seeds == cv2.GC_FGD):
            # Nothing told the object from its surroundings (same colours): the clicks'
            # regions are a better start than their seed disks alone.
            mask = _painted(seeds.shape, [(crop.to_crop(x, y), s) for x, y, s in points],
                            region)
        return crop.back(mask)

    def _paint_clicks(self, seeds: Seeds, crop: _Crop, clicks: Points) -> Seeds:
        """A disk of sure object around each positive click, of sure background around each
        negative one; later clicks win where disks overlap. Returns where the negative disks
        are (1), slightly grown."""
        radius = max(1, round(self.tuning.click_radius * max(seeds.shape)))
        rejected = np.zeros_like(seeds)
        for x, y, s in clicks:
            at = _px(crop.to_crop(x, y))
            cv2.circle(seeds, at, radius, cv2.GC_FGD if s > 0 else cv2.GC_BGD, -1)
            if s < 0:
                cv2.circle(rejected, at, radius + 2, 1, -1)
        return rejected

    # ------------------------------------------------------------------ the cut

    def _cut(self, pixels: Image, seeds: Seeds, rejected: Seeds) -> npt.NDArray[np.bool_]:
        t = self.tuning
        seeds = seeds.copy()
        if not (seeds == cv2.GC_BGD).any() and not (seeds == cv2.GC_PR_BGD).any():
            seeds[0, :] = seeds[-1, :] = cv2.GC_PR_BGD  # GrabCut needs a background sample
        background = np.zeros((1, 65), np.float64)
        foreground = np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)
        # cv2.error: a colour model without samples (e.g. a one-colour crop): seeds stay
        with contextlib.suppress(cv2.error):
            cv2.grabCut(pixels, seeds, (0, 0, 0, 0), background, foreground, t.iterations,
                        cv2.GC_INIT_WITH_MASK)
        mask = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
        return _tidy(mask, seeds, rejected.astype(bool), t.smooth)


def _tidy(mask: npt.NDArray[np.bool_], seeds: Seeds, rejected: npt.NDArray[np.bool_],
          smooth: int) -> npt.NDArray[np.bool_]:
    """Keep the components holding object seeds (or else the largest), drop those a negative
    click touches (``rejected``) unless they hold object seeds, fill the holes no background
    seed is in, smooth the edge."""
    sure_fg = seeds == cv2.GC_FGD
    sure_bg = seeds == cv2.GC_BGD
    if smooth > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * smooth + 1, 2 * smooth + 1))
        m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
        mask = (m.astype(bool) | sure_fg) & ~sure_bg
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count > 1 and rejected.any():
        touched = np.setdiff1d(np.unique(labels[rejected]), np.unique(labels[sure_fg]))
        touched = touched[touched > 0]
        if touched.size and touched.size < count - 1:  # something must stay
            mask = mask & ~np.isin(labels, touched)
            count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count > 2:
        seeded = np.unique(labels[sure_fg & mask])
        seeded = seeded[seeded > 0]
        if seeded.size:
            mask = np.isin(labels, seeded)
        else:
            areas = np.bincount(labels.ravel())
            areas[0] = 0
            mask = labels == int(np.argmax(areas))
    # holes: background components not touching the crop's border
    count, labels = cv2.connectedComponents((~mask).astype(np.uint8), connectivity=4)
    if count > 2:
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        kept = np.unique(labels[sure_bg])
        fill = np.setdiff1d(np.arange(1, count), np.union1d(border, kept))
        if fill.size:
            mask = mask | np.isin(labels, fill)
    return mask


class _Crop:
    """A region of the image, scaled to GrabCut's working size, and the way back."""

    def __init__(self, image: Image, x0: int, y0: int, x1: int, y1: int, scale: float):
        self.image_shape = image.shape[:2]
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1
        self.scale = scale
        region = image[y0:y1, x0:x1]
        size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
        self.pixels: Image = (region if scale == 1.0 else
                              np.asarray(cv2.resize(region, size, interpolation=cv2.INTER_AREA)))

    @classmethod
    def around(cls, image: Image, box: tuple[float, float, float, float], t: Tuning) -> _Crop:
        h, w = image.shape[:2]
        x0, y0, x1, y1 = box
        mx = t.box_margin * (x1 - x0) + 8
        my = t.box_margin * (y1 - y0) + 8
        cx0, cy0 = max(0, math.floor(x0 - mx)), max(0, math.floor(y0 - my))
        cx1, cy1 = min(w, math.ceil(x1 + mx)), min(h, math.ceil(y1 + my))
        scale = min(1.0, t.work_size / max(cx1 - cx0, cy1 - cy0))
        return cls(image, cx0, cy0, cx1, cy1, scale)

    def to_crop(self, x: float, y: float) -> npt.NDArray[np.float64]:
        """Crop pixel coordinates (index space) of image point ``(x, y)``."""
        return np.array([(x - self.x0) * self.scale - 0.5, (y - self.y0) * self.scale - 0.5])

    def box_seeds(self, box: tuple[float, float, float, float]) -> Seeds:
        """Outside ``box`` sure background, inside probable object."""
        h, w = self.pixels.shape[:2]
        seeds = np.full((h, w), cv2.GC_BGD, np.uint8)
        x0, y0, x1, y1 = box
        a = np.clip(np.floor([(x0 - self.x0) * self.scale, (y0 - self.y0) * self.scale]), 0, None)
        b = np.ceil([(x1 - self.x0) * self.scale, (y1 - self.y0) * self.scale])
        seeds[int(a[1]):max(int(a[1]) + 1, int(b[1])), int(a[0]):max(int(a[0]) + 1, int(b[0]))] \
            = cv2.GC_PR_FGD
        return seeds

    def back(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """``mask`` (crop size) as a mask of the whole image."""
        out = np.zeros(self.image_shape, bool)
        size = (self.x1 - self.x0, self.y1 - self.y0)
        if mask.shape[::-1] == size:
            out[self.y0:self.y1, self.x0:self.x1] = mask
        else:
            up = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
            out[self.y0:self.y1, self.x0:self.x1] = up > 0.5
        return out


def _painted(shape: tuple[int, ...], clicks: list[tuple[npt.NDArray[np.float64], int]],
             radius: int) -> npt.NDArray[np.bool_]:
    """Disks around the clicks, in order: a positive one adds a disk of ``radius``, a
    negative one takes away a disk of half of it (the mask when colours do not help)."""
    painted = np.zeros(shape[:2], np.uint8)
    for p, s in clicks:
        cv2.circle(painted, _px(p), radius if s > 0 else max(1, radius // 2), int(s > 0), -1)
    return painted.astype(bool)


def _spanning(box: tuple[float, float, float, float],
              clicks: Points) -> tuple[float, float, float, float]:
    """``box`` grown to hold every click (a click outside the box must be in the crop)."""
    x0, y0, x1, y1 = box
    for x, y, _ in clicks:
        x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
    return x0, y0, x1, y1


def _px(p: npt.NDArray[np.float64]) -> tuple[int, int]:
    return round(float(p[0])), round(float(p[1]))


def _ordered_extremes(points: Points) -> Points:
    """The four points as left, top, right, bottom (clients may send them in any order)."""
    rest = list(points)
    ordered = []
    for key in (lambda p: p[0], lambda p: p[1], lambda p: -p[0], lambda p: -p[1]):
        best = min(rest, key=key)
        rest.remove(best)
        ordered.append(best)
    return tuple(ordered)


def _checked(points: Points, width: int, height: int) -> Points:
    """Points as floats clipped to the image; more than 1 px outside, non-numbers, signs other
    than +1/-1 and more than ``MAX_CLICKS`` points are refused."""
    if len(points) > MAX_CLICKS:
        raise _refuse(f"{len(points)} clicks: at most {MAX_CLICKS} per proposal")
    if not points:
        raise _refuse("no points given")
    out = []
    for i, p in enumerate(points):
        try:
            x, y, sign = float(p[0]), float(p[1]), int(p[2])
        except (TypeError, ValueError, IndexError):
            raise _refuse(f"point {i} must be [x, y, +1 or -1]") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise _refuse(f"point {i} is not a finite number")
        if sign not in (1, -1):
            raise _refuse(f"point {i} must be positive (+1) or negative (-1), got {sign}")
        if not (-OVERHANG_PX <= x <= width + OVERHANG_PX
                and -OVERHANG_PX <= y <= height + OVERHANG_PX):
            raise _refuse(f"point {i} ({x:g}, {y:g}) lies outside the {width}x{height} image")
        out.append((min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height)), sign))
    return tuple(out)
