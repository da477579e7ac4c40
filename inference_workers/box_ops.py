"""Boxes as detectors output them: format conversions, IoU and class-aware non-maximum
suppression, in torch (so they run where the model's output is, CPU or CUDA).

torchvision is not a dependency (no build of it imports beside torch 2.13 here), so NMS is
written out: greedy, best score first, a box suppressed when its IoU with a kept box of the
same class is *above* ``iou`` (torchvision's rule). Classes are kept apart with the batched
offset trick: every box is shifted by ``class * (largest coordinate + 1)``, so boxes of two
classes can never overlap and one pass serves all classes. The loop stops at ``max_det`` kept
boxes, so its cost is bounded by ``max_det`` vectorised IoU rows, whatever the candidates.
"""

from __future__ import annotations

import torch


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` centre x, centre y, width, height -> corners x0, y0, x1, y1."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)


def xyxy_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` corners -> centre x, centre y, width, height."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), dim=-1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` xyxy -> areas (0 for inverted boxes)."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(
        min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box of ``a`` ``(n, 4)`` with every box of ``b`` ``(m, 4)``, xyxy: ``(n, m)``
    (0 where both boxes are empty)."""
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(inter.dtype).tiny),
                       torch.zeros_like(inter))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou: float,
        max_det: int | None = None) -> torch.Tensor:
    """Greedy NMS of xyxy ``boxes`` ``(n, 4)``: indices of the kept boxes, best score first
    (ties: the earlier box first), at most ``max_det``."""
    if boxes.shape[0] == 0 or max_det == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    ordered = boxes[order]
    areas = box_area(ordered)
    limit = boxes.shape[0] if max_det is None else max_det
    keep: list[torch.Tensor] = []
    remaining = torch.arange(ordered.shape[0], device=boxes.device)
    while remaining.numel() > 0 and len(keep) < limit:
        best = remaining[0]
        keep.append(best)
        rest = remaining[1:]
        if rest.numel() == 0:
            break
        top_left = torch.maximum(ordered[best, :2], ordered[rest, :2])
        bottom_right = torch.minimum(ordered[best, 2:], ordered[rest, 2:])
        inter = (bottom_right - top_left).clamp(min=0).prod(-1)
        union = areas[best] + areas[rest] - inter
        overlap = torch.where(union > 0, inter / union.clamp(min=torch.finfo(inter.dtype).tiny),
                              torch.zeros_like(inter))
        remaining = rest[overlap <= iou]
    return order[torch.stack(keep)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou: float,
                max_det: int | None = None) -> torch.Tensor:
    """Class-aware NMS: boxes of different ``classes`` never suppress each other. Indices of the
    kept boxes, best score first, at most ``max_det``."""
    if boxes.shape[0] == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    # shift each class into its own region of the plane: no overlap across classes (in float64:
    # a thousand classes of 8k-pixel images would lose float32 precision)
    boxes = boxes.to(torch.float64)
    low = boxes.min()
    span = boxes.max() - low + 1
    offsets = classes.to(boxes.dtype)[:, None] * span
    return nms(boxes - low + offsets, scores, iou, max_det)
