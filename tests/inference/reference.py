"""An independent reference for the inference tests, in plain numpy (no torch, nothing from
``inference_workers``): the letterbox geometry worked out from Ultralytics' rules, a bilinear
resize with half-pixel centres (cv2's INTER_LINEAR), per-class greedy NMS, and decoders that
take the other route Ultralytics takes for masks (resize to the input, cut the padding, resize
to the image) instead of the runners' one-step sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fit:
    ratio: float
    new_h: int
    new_w: int
    top: int
    left: int
    bottom: int
    right: int


def fit(h: int, w: int, in_h: int, in_w: int) -> Fit:
    """Where an ``h x w`` image goes in an ``in_h x in_w`` input (Ultralytics' LetterBox,
    auto=False, centred, scale-up allowed)."""
    ratio = min(in_h / h, in_w / w)
    # Ultralytics rounds the size with Python's round(): half to even, as np.round
    new_w, new_h = int(np.round(w * ratio)), int(np.round(h * ratio))
    # the padding's +-0.1 shift leaves no half-way case: plain rounding up from .5
    half_h, half_w = (in_h - new_h) / 2, (in_w - new_w) / 2
    top, bottom = int(np.floor(half_h - 0.1 + 0.5)), int(np.floor(half_h + 0.1 + 0.5))
    left, right = int(np.floor(half_w - 0.1 + 0.5)), int(np.floor(half_w + 0.1 + 0.5))
    return Fit(ratio, new_h, new_w, top, left, bottom, right)


def resize_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Half-pixel-centre bilinear resize of ``(h, w, ...)`` to ``(out_h, out_w, ...)`` in
    float64 (no antialiasing), the formula of cv2.INTER_LINEAR."""
    h, w = image.shape[:2]
    src = image.astype(np.float64)

    def axis(out: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = (np.arange(out) + 0.5) * (size / out) - 0.5
        pos = np.clip(pos, 0, size - 1)
        low = np.floor(pos).astype(int)
        high = np.minimum(low + 1, size - 1)
        return low, high, pos - low

    y0, y1, fy = axis(out_h, h)
    x0, x1, fx = axis(out_w, w)
    extra = (1,) * (image.ndim - 2)
    fy = fy.reshape(-1, 1, *extra)
    fx = fx.reshape(1, -1, *extra)
    top = src[y0][:, x0] * (1 - fx) + src[y0][:, x1] * fx
    bottom = src[y1][:, x0] * (1 - fx) + src[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def to_image(boxes_xyxy: np.ndarray, f: Fit, h: int, w: int) -> np.ndarray:
    """Ultralytics' scale_boxes: input pixels -> image pixels, clipped."""
    out = boxes_xyxy.astype(np.float64).copy()
    out[:, [0, 2]] = np.clip((out[:, [0, 2]] - f.left) / f.ratio, 0, w)
    out[:, [1, 3]] = np.clip((out[:, [1, 3]] - f.top) / f.ratio, 0, h)
    return out


def iou_one(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = ix * iy
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(  # noqa: E731
        b[..., 3] - b[..., 1], 0, None)
    union = area(box) + area(others) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float,
        max_det: int) -> list[int]:
    """Greedy NMS class by class, then all classes merged best first (ties: lower index)."""
    kept: list[int] = []
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        members = members[np.argsort(-scores[members], kind="stable")]
        alive = list(members)
        while alive:
            best = alive.pop(0)
            kept.append(int(best))
            if alive:
                overlaps = iou_one(boxes[best], boxes[np.array(alive)])
                alive = [a for a, o in zip(alive, overlaps, strict=True) if o <= iou]
    kept.sort(key=lambda i: (-scores[i], i))
    return kept[:max_det]


def detections(xywh: np.ndarray, class_scores: np.ndarray, f: Fit, h: int, w: int,
               threshold: float, iou: float, max_det: int
               ) -> list[tuple[int, float, np.ndarray, int]]:
    """``(n, 4)`` centre boxes in input pixels and ``(n, C)`` scores -> kept detections
    ``(class, score, xyxy in image pixels, candidate row)``, best first."""
    best = class_scores.max(axis=1)
    cls = class_scores.argmax(axis=1)
    rows = np.flatnonzero(best >= threshold)
    xyxy = np.stack([xywh[:, 0] - xywh[:, 2] / 2, xywh[:, 1] - xywh[:, 3] / 2,
                     xywh[:, 0] + xywh[:, 2] / 2, xywh[:, 1] + xywh[:, 3] / 2], axis=1)
    kept = nms(xyxy[rows].astype(np.float64), best[rows], cls[rows], iou, max_det)
    out = []
    for k in kept:
        box = to_image(xyxy[rows][k:k + 1], f, h, w)[0]
        if box[2] > box[0] and box[3] > box[1]:
            out.append((int(cls[rows][k]), float(best[rows][k]), box, int(rows[k])))
    return out


def map_to_image(maps: np.ndarray, f: Fit, in_h: int, in_w: int, h: int, w: int) -> np.ndarray:
    """``(k, mh, mw)`` maps covering the input -> ``(k, h, w)``: resized to the input, the
    padding cut, resized to the image (the two-step route)."""
    stacked = np.moveaxis(maps, 0, -1)
    at_input = resize_bilinear(stacked, in_h, in_w)
    cut = at_input[f.top:f.top + f.new_h, f.left:f.left + f.new_w]
    return np.moveaxis(resize_bilinear(cut, h, w), -1, 0)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
