"""Deterministic synthetic images of labelled shapes (circles, rectangles, triangles).

Why: the demo's model, the trainer's tests and the detector tests need images whose true boxes
are known, without downloading anything. ``skimage.draw.random_shapes`` draws non-overlapping
filled shapes of random colours on white and returns each one's label and bounding box.

``random_shapes`` also draws ellipses, which look too much like circles to be a fair class of
their own; a draw with an ellipse is drawn again (from the same seeded generator, so the set
stays deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from skimage.draw import random_shapes

from inference_workers.model_api import RGBImage

SHAPE_CLASSES = ["circle", "rectangle", "triangle"]


@dataclass(frozen=True)
class ShapesImage:
    """One image and its shapes: ``boxes`` are ``[x, y, w, h]`` in image pixels (clipped to the
    image), ``labels`` the shape names, in the same order."""

    image: RGBImage
    boxes: list[list[float]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def make_shapes(n: int, size: tuple[int, int] = (256, 256), *, seed: int = 0,
                max_shapes: int = 4, min_size: int = 16, max_size: int = 64) -> list[ShapesImage]:
    """``n`` images of ``size`` = (height, width), each with 1 to ``max_shapes`` shapes whose
    sides are ``min_size`` to ``max_size`` pixels. The same arguments give the same images."""
    rng = np.random.default_rng(seed)
    return [_draw(size, rng, max_shapes, min_size, max_size) for _ in range(n)]


def _draw(size: tuple[int, int], rng: np.random.Generator, max_shapes: int, min_size: int,
          max_size: int) -> ShapesImage:
    height, width = size
    while True:
        image, found = random_shapes(
            size, max_shapes, min_shapes=1, min_size=min_size, max_size=max_size,
            intensity_range=((0, 200),), rng=rng, channel_axis=-1,
        )
        if all(name in SHAPE_CLASSES for name, _ in found):
            break
    boxes: list[list[float]] = []
    labels: list[str] = []
    for name, ((r0, r1), (c0, c1)) in found:
        x0, x1 = max(0, int(c0)), min(width, int(c1))
        y0, y1 = max(0, int(r0)), min(height, int(r1))
        if x1 > x0 and y1 > y0:
            boxes.append([float(x0), float(y0), float(x1 - x0), float(y1 - y0)])
            labels.append(name)
    return ShapesImage(image=np.ascontiguousarray(image, dtype=np.uint8), boxes=boxes,
                       labels=labels)
