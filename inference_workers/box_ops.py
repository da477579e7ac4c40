"""Boxes as detectors output them: format conversions, IoU and class-aware non-maximum
suppression.

torchvision is not a dependency (no build of it imports beside torch 2.13 here), so NMS is
written out: greedy, best score first, a box suppressed when its IoU with a kept box of the
same class is *above* ``iou`` (torchvision's rule). Classes are kept apart with the batched
offset trick: every box is shifted by ``class * (largest coordinate + 1)``, so boxes of two
classes can never overlap and one pass serves all classes. The pass stops at ``max_det`` kept
boxes.

Two faces, one implementation: the torch functions (``batched_nms``, ``box_iou``...) take and
give tensors on any device, for torch models; the work itself is done in numpy on the CPU
(``batched_nms_indices``), which the decoders call directly on ONNX Runtime's numpy outputs.
Why numpy: a detector's candidates are a few hundred small rows, and torch parallelises even
such small element-wise operations over its intra-op threads, which then contend with ONNX
Runtime's own threads (and with other processes): decoding 8 images took 150-230 ms of CPU
with torch's 2 threads on a loaded 2-core machine, 8-10 ms with one. numpy runs them on the
calling thread for about a microsecond each.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

FloatArray = npt.NDArray[np.floating]

NMS_BLOCK = 1024
"""Candidates compared at once in :func:`nms_indices`: a block's IoU matrix (1M values) bounds
the memory whatever the number of candidates."""


# --------------------------------------------------------------------------------------------
# numpy: what the decoders use
# --------------------------------------------------------------------------------------------


def xywh_to_xyxy_np(boxes: FloatArray) -> npt.NDArray[np.float64]:
    """``(..., 4)`` centre x, centre y, width, height -> corners x0, y0, x1, y1 (float64)."""
    b = np.asarray(boxes, dtype=np.float64)
    half = b[..., 2:4] / 2
    return np.concatenate((b[..., 0:2] - half, b[..., 0:2] + half), axis=-1)


def iou_matrix(a: FloatArray, b: FloatArray) -> npt.NDArray[np.float64]:
    """IoU of every xyxy box of ``a`` ``(n, 4)`` with every one of ``b`` ``(m, 4)``: ``(n, m)``
    (0 where both boxes are empty)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms_indices(boxes: FloatArray, scores: FloatArray, iou: float,
                max_det: int | None = None) -> npt.NDArray[np.int64]:
    """Greedy NMS of xyxy ``boxes`` ``(n, 4)``: indices of the kept boxes, best score first
    (ties: the earlier box first), at most ``max_det``.

    The candidates, best first, are taken in blocks of :data:`NMS_BLOCK`: the block's boxes
    that overlap a box kept from an earlier block go at once (one IoU matrix), then the
    block's own greedy pass walks its thresholded IoU matrix row by row, one vectorised step
    per kept box.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = boxes.shape[0]
    limit = n if max_det is None else max_det
    if n == 0 or limit <= 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ordered = boxes[order]
    kept: list[int] = []
    for start in range(0, n, NMS_BLOCK):
        block = ordered[start:start + NMS_BLOCK]
        alive = np.ones(block.shape[0], dtype=bool)
        if kept:
            alive &= ~(iou_matrix(block, ordered[kept]) > iou).any(axis=1)
        overlaps = iou_matrix(block, block) > iou
        for i in np.flatnonzero(alive):
            if not alive[i]:
                continue
            kept.append(start + int(i))
            if len(kept) == limit:
                return order[kept].astype(np.int64)
            alive[i + 1:] &= ~overlaps[i, i + 1:]
    return order[kept].astype(np.int64)


def batched_nms_indices(boxes: FloatArray, scores: FloatArray, classes: npt.ArrayLike,
                        iou: float, max_det: int | None = None) -> npt.NDArray[np.int64]:
    """Class-aware NMS: boxes of different ``classes`` never suppress each other. Indices of
    the kept boxes, best score first, at most ``max_det``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if boxes.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    # shift each class into its own region of the plane: no overlap across classes (float64:
    # a thousand classes of 8k-pixel images keep their precision)
    low = boxes.min()
    span = boxes.max() - low + 1
    offsets = np.asarray(classes, dtype=np.float64)[:, None] * span
    return nms_indices(boxes - low + offsets, scores, iou, max_det)


# --------------------------------------------------------------------------------------------
# torch: the same for tensors (torch models, any device)
# --------------------------------------------------------------------------------------------


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` centre x, centre y, width, height -> corners x0, y0, x1, y1."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)


def xyxy_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` corners -> centre x, centre y, width, height."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), dim=-1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every xyxy box of ``a`` ``(n, 4)`` with every one of ``b`` ``(m, 4)``:
    ``(n, m)`` float64 on ``a``'s device."""
    matrix = iou_matrix(a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy())
    return torch.from_numpy(matrix).to(a.device)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou: float,
        max_det: int | None = None) -> torch.Tensor:
    """:func:`nms_indices` for tensors: the kept indices, on ``boxes``' device."""
    kept = nms_indices(boxes.detach().cpu().double().numpy(),
                       scores.detach().cpu().double().numpy(), iou, max_det)
    return torch.from_numpy(kept).to(boxes.device)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou: float,
                max_det: int | None = None) -> torch.Tensor:
    """:func:`batched_nms_indices` for tensors: the kept indices, on ``boxes``' device."""
    kept = batched_nms_indices(boxes.detach().cpu().double().numpy(),
                               scores.detach().cpu().double().numpy(),
                               classes.detach().cpu().numpy(), iou, max_det)
    return torch.from_numpy(kept).to(boxes.device)
