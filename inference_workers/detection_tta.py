"""Localisation stability of a detector under test-time augmentation (active learning).

A detector that is sure of an object finds the same box when the image is flipped or zoomed
out; one that is guessing moves its boxes, loses them or finds new ones. For each image the
score job runs the detector on the image and on each augmented copy (:data:`AUGMENTATIONS`,
made with kornia on the image's own canvas, so a letterboxing runner sees a real change):

* ``hflip``: mirrored left-right;
* ``scale``: zoomed out by :data:`TTA_SCALE` (0.8) about the image centre (resized, bilinear,
  and framed in the letterbox grey 114); zooming *out* keeps every object in view, so no box
  is lost to a crop (a 1.2x zoom would cut off the objects near the border and count them
  unstable). A resize and a paste, not an affine warp: kornia's ``warp_affine`` cost 14 ms
  per 320 px image on one core, the resize 0.5 ms.

The augmented copy's boxes are mapped back to the original frame (exactly the inverse of the
resize) and matched to the un-augmented boxes greedily by IoU (the best pair first, each box used
once, classes ignored: this is about *where*). Per augmentation the IoUs of the matched pairs
and a 0 for every box left unmatched on either side are collected; ``stability`` is 1 - the mean
of all of them over the augmentations: 0 = every box found again exactly, 1 = nothing
found again. An image with no box in any pass is 0 (stable: nothing, every time).

Cost: one forward pass per augmentation more than scoring alone (3 passes with the two).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from kornia.geometry.transform import hflip, resize

from inference_workers.box_ops import iou_matrix
from inference_workers.letterbox import PAD_VALUE
from inference_workers.model_api import RGBImage

TTA_SCALE = 0.8
"""The zoom of the ``scale`` augmentation (< 1: zoomed out, every object stays in view)."""

Boxes = npt.NDArray[np.float64]  # (n, 4) x1 y1 x2 y2 in image pixels


@dataclass(frozen=True)
class Augmentation:
    """One test-time augmentation: ``apply`` to a batch ``(B, 3, H, W)`` of uint8 images of one
    size (the same size out), ``boxes_back`` maps boxes found on an augmented ``(h, w)`` image
    back to the original's frame."""

    name: str
    apply: Callable[[torch.Tensor], torch.Tensor]
    boxes_back: Callable[[Boxes, tuple[int, int]], Boxes]


def _flip_back(boxes: Boxes, size: tuple[int, int]) -> Boxes:
    width = size[1]
    out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
    out[:, [0, 2]] = width - boxes.reshape(-1, 4)[:, [2, 0]]
    return out


def _zoomed(size: tuple[int, int], scale: float) -> tuple[int, int, int, int]:
    """Where a zoomed-out image of ``size`` sits on its canvas: its height, width, top, left."""
    h, w = size
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    return nh, nw, (h - nh) // 2, (w - nw) // 2


def _zoom(batch: torch.Tensor, scale: float = TTA_SCALE) -> torch.Tensor:
    """Zoomed out about the centre on the same canvas: resized by ``scale`` (kornia, bilinear
    with half-pixel centres, like the letterbox) and framed in the letterbox grey."""
    h, w = batch.shape[-2:]
    nh, nw, top, left = _zoomed((h, w), scale)
    small = resize(batch.float(), (nh, nw), interpolation="bilinear", align_corners=False)
    canvas = torch.full_like(batch, PAD_VALUE)
    canvas[..., top:top + nh, left:left + nw] = small.round_().clamp_(0, 255).to(batch.dtype)
    return canvas


def _zoom_back(boxes: Boxes, size: tuple[int, int], scale: float = TTA_SCALE) -> Boxes:
    """Inverse of ``_zoom`` for box edges (the resize maps edges onto edges)."""
    nh, nw, top, left = _zoomed(size, scale)
    out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
    out[:, [0, 2]] = (out[:, [0, 2]] - left) * size[1] / nw
    out[:, [1, 3]] = (out[:, [1, 3]] - top) * size[0] / nh
    return out


AUGMENTATIONS: tuple[Augmentation, ...] = (
    Augmentation("hflip", hflip, _flip_back),
    Augmentation("scale", _zoom, _zoom_back),
)


def augment(images: Sequence[RGBImage], augmentation: Augmentation) -> list[RGBImage]:
    """``images`` (RGB uint8, any sizes) augmented, each on its own canvas (images of one size
    go through kornia together)."""
    out: list[RGBImage | None] = [None] * len(images)
    by_size: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        by_size.setdefault(image.shape, []).append(i)
    for indices in by_size.values():
        batch = torch.from_numpy(np.stack([images[i] for i in indices])).permute(0, 3, 1, 2)
        with torch.inference_mode():
            pixels = augmentation.apply(batch).permute(0, 2, 3, 1)
        for i, array in zip(indices, pixels.contiguous().numpy(), strict=True):
            out[i] = array
    return [image for image in out if image is not None]


def matched_ious(reference: Boxes, found: Boxes) -> list[float]:
    """Greedy one-to-one matching by IoU, best pair first: the matched pairs' IoUs and a 0 for
    each box of either side left unmatched (pairs that do not overlap are not matched)."""
    n, m = len(reference), len(found)
    if n == 0 or m == 0:
        return [0.0] * (n + m)
    ious = iou_matrix(reference.reshape(-1, 4), found.reshape(-1, 4))
    order = np.argsort(-ious, axis=None, kind="stable")
    used_ref = np.zeros(n, dtype=bool)
    used_found = np.zeros(m, dtype=bool)
    matched: list[float] = []
    for flat in order.tolist():
        r, f = divmod(flat, m)
        value = float(ious[r, f])
        if value <= 0.0 or len(matched) == min(n, m):
            break
        if used_ref[r] or used_found[f]:
            continue
        used_ref[r] = used_found[f] = True
        matched.append(value)
    unmatched = (n - len(matched)) + (m - len(matched))
    return matched + [0.0] * unmatched


def localisation_stability(reference: Boxes, augmented: Sequence[Boxes]) -> float:
    """1 - the mean IoU of ``reference`` boxes with each augmentation's boxes (already mapped
    back), unmatched boxes counting 0; 0.0 when there is no box at all. In [0, 1]."""
    values: list[float] = []
    for found in augmented:
        values.extend(matched_ious(reference, found))
    if not values:
        return 0.0
    return float(min(1.0, max(0.0, 1.0 - float(np.mean(values)))))
