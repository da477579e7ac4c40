"""A benchmark of composite images with exact object masks, for the assist engines.

Interactive segmentation is measured against ground truth masks (mIoU from a box or extreme
points, NoC@85/90 for clicks, as RITM reports them). Public sets (GrabCut, Berkeley, DAVIS)
cannot be downloaded at run time, so the benchmark builds its own from the photographs that
scikit-image ships: an object whose mask is exact by construction is pasted onto a
different photograph at a random position and scale. Objects are

- real photographed objects with exact outlines: coins of ``data.coins()`` (Otsu threshold,
  holes filled, one component each, their own pixels);
- silhouettes: ``data.horse()`` and blobs of ``data.binary_blobs()`` filled with a patch of
  another photograph;
- synthetic shapes: ellipses and random star-shaped polygons filled with a photograph patch,
  and camouflage: a polygon cut from elsewhere in the background's own photograph.

The edge is antialiased (a Gaussian alpha of sigma 0.5-1.2 px around the exact mask) and
the composite gets a little sensor noise, so colours do not separate at a hard step. The
ground truth is the mask before blurring (alpha >= 0.5). Deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt
from scipy import ndimage
from skimage import data, filters, measure, morphology

Rgb = npt.NDArray[np.uint8]
Bool = npt.NDArray[np.bool_]

BACKGROUNDS = ("camera", "brick", "grass", "gravel", "rocket", "coffee", "astronaut",
               "chelsea", "moon", "immunohistochemistry", "hubble_deep_field", "clock")
TEXTURES = ("astronaut", "chelsea", "coffee", "rocket", "brick", "grass", "gravel", "camera",
            "immunohistochemistry", "retina", "colorwheel", "moon")
KINDS = ("coin", "horse", "ellipse", "polygon", "blob", "camouflage")


@dataclass(frozen=True, slots=True)
class Sample:
    """One benchmark image (RGB) and the exact mask of its one object."""

    name: str
    image: Rgb
    mask: Bool


@cache
def _photo(name: str) -> Rgb:
    pixels = np.asarray(getattr(data, name)())
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, :3]).astype(np.uint8)


@cache
def _coins() -> list[tuple[Rgb, Bool]]:
    """Each separate coin of the coins photograph: its pixels (bounding crop) and exact mask."""
    gray = data.coins()
    fg = gray > filters.threshold_otsu(gray)
    fg = ndimage.binary_fill_holes(ndimage.binary_closing(fg, morphology.disk(2)))
    labels = measure.label(fg)
    return [(_photo("coins")[r.slice], labels[r.slice] == r.label)
            for r in measure.regionprops(labels) if 900 <= r.area <= 5000 and r.solidity > 0.9]


def _patch(rng: np.random.Generator, name: str, h: int, w: int) -> Rgb:
    """A ``h x w`` patch of photograph ``name`` (rescaled when the photograph is smaller)."""
    src = _photo(name)
    sh, sw = src.shape[:2]
    scale = max(h / sh, w / sw, rng.uniform(0.5, 1.0))
    if scale > 1 or rng.random() < 0.5:
        src = np.asarray(cv2.resize(src, (max(w, round(sw * scale)), max(h, round(sh * scale))),
                                    interpolation=cv2.INTER_AREA), dtype=np.uint8)
        sh, sw = src.shape[:2]
    y = int(rng.integers(0, sh - h + 1))
    x = int(rng.integers(0, sw - w + 1))
    return src[y:y + h, x:x + w].copy()


def _star_polygon(rng: np.random.Generator, size: int) -> Bool:
    n = int(rng.integers(5, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(0.45, 1.0, n) * size / 2
    c = size / 2
    pts = np.stack([c + radii * np.cos(angles), c + radii * np.sin(angles)], axis=1)
    out = np.zeros((size, size), np.uint8)
    cv2.fillPoly(out, [np.round(pts).astype(np.int32)], 1)
    return out.astype(bool)


def _object(rng: np.random.Generator, kind: str, size: int,
            background: str) -> tuple[Rgb, Bool]:
    """An object's pixels and exact mask, fitting ``size x size``."""
    texture = str(rng.choice([t for t in TEXTURES if t != background]))
    if kind == "coin":
        coins = _coins()
        pixels, mask = coins[int(rng.integers(len(coins)))]
    elif kind == "camouflage":  # a polygon cut from elsewhere in the background's photograph
        mask = _star_polygon(rng, size)
        pixels = _patch(rng, background, size, size)
    elif kind == "horse":
        horse = np.asarray(data.horse())
        mask = ~horse if horse.mean() > 0.5 else horse
        pixels = _patch(rng, texture, *mask.shape)
    elif kind == "blob":
        blobs = data.binary_blobs(256, blob_size_fraction=0.2, volume_fraction=0.3,
                                  rng=int(rng.integers(1 << 30)))
        labels = measure.label(blobs)
        regions = [r for r in measure.regionprops(labels)
                   if r.area > 1500 and r.bbox[0] > 0 and r.bbox[1] > 0
                   and r.bbox[2] < 256 and r.bbox[3] < 256]
        if not regions:
            return _object(rng, "ellipse", size, background)
        r = max(regions, key=lambda r: r.area)
        mask = ndimage.binary_fill_holes(labels[r.slice] == r.label)
        pixels = _patch(rng, texture, *mask.shape)
    elif kind == "ellipse":
        disk = np.zeros((size, size), np.uint8)
        axes = (round(size / 2 * rng.uniform(0.5, 0.98)), round(size / 2 * rng.uniform(0.3, 0.98)))
        cv2.ellipse(disk, (size // 2, size // 2), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        mask = disk.astype(bool)
        pixels = _patch(rng, texture, size, size)
    else:
        mask = _star_polygon(rng, size)
        pixels = _patch(rng, texture, size, size)
    ys, xs = np.nonzero(mask)
    mask = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    pixels = pixels[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = size / max(mask.shape)
    shape = (max(8, round(mask.shape[1] * scale)), max(8, round(mask.shape[0] * scale)))
    pixels = np.asarray(cv2.resize(pixels, shape, interpolation=cv2.INTER_AREA if scale < 1
                                   else cv2.INTER_LINEAR), dtype=np.uint8)
    mask = cv2.resize(mask.astype(np.float32), shape, interpolation=cv2.INTER_LINEAR) >= 0.5
    return pixels, mask


def composite(rng: np.random.Generator, index: int) -> Sample:
    """The ``index``-th composite: kinds take turns, everything else is drawn from ``rng``."""
    kind = KINDS[index % len(KINDS)]
    w = int(rng.integers(400, 641))
    h = int(rng.integers(320, 481))
    background = str(rng.choice(BACKGROUNDS))
    canvas = _patch(rng, background, h, w).astype(np.float32)
    size = int(rng.uniform(0.25, 0.75) * min(w, h))
    pixels, mask = _object(rng, kind, size, background)
    oh, ow = mask.shape
    y = int(rng.integers(0, h - oh + 1))
    x = int(rng.integers(0, w - ow + 1))
    full = np.zeros((h, w), bool)
    full[y:y + oh, x:x + ow] = mask
    layer = np.zeros_like(canvas)
    layer[y:y + oh, x:x + ow] = pixels
    alpha = cv2.GaussianBlur(full.astype(np.float32), (0, 0), float(rng.uniform(0.5, 1.2)))
    alpha[full & (alpha < 0.5)] = 0.5  # the blur keeps the ground truth at alpha >= 0.5
    alpha[~full & (alpha >= 0.5)] = 0.499
    out = alpha[:, :, None] * layer + (1 - alpha[:, :, None]) * canvas
    out += rng.normal(0, 3.0, out.shape)
    image = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return Sample(f"{index:03d}-{kind}-on-{background}", image, full)


def composites(count: int = 48, seed: int = 10) -> Iterator[Sample]:
    """``count`` composites, the same ones for the same ``seed``."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        yield composite(rng, i)


def extreme_points(mask: Bool) -> list[tuple[float, float]]:
    """Left-, top-, right- and bottom-most points of ``mask`` (pixel centres; the middle
    one when several pixels tie), as an annotator would click them."""
    ys, xs = np.nonzero(mask)

    def at(sel: npt.NDArray[np.bool_]) -> tuple[float, float]:
        i = np.flatnonzero(sel)
        k = i[len(i) // 2]
        return float(xs[k]) + 0.5, float(ys[k]) + 0.5

    return [at(xs == xs.min()), at(ys == ys.min()), at(xs == xs.max()), at(ys == ys.max())]
