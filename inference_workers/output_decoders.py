"""From a model's raw output tensors to :class:`~inference_workers.model_api.Prediction` s in
image pixels, one decoder per output *layout* (``ModelSpec.layout``).

==============  =====================================  =========================================
layout          outputs (batch first)                  gives
==============  =====================================  =========================================
``yolov5``      ``(B, N, 5 + C)``: cx, cy, w, h,       boxes, score = objectness x class score
                objectness, class scores
``yolov8``      ``(B, 4 + C, N)``: cx, cy, w, h,       boxes (YOLOv8 and YOLO11 heads)
                class scores
``yolov8_seg``  ``(B, 4 + C + M, N)`` and prototypes   instance masks: sigmoid(coefficients @
                ``(B, M, h, w)``                       prototypes) > 0.5, cropped to the box
``semantic``    ``(B, C, h, w)`` logits or             one mask per present class, score = mean
                probabilities                          winning probability over its pixels
``classifier``  ``(B, C)`` logits or probabilities     tags
==============  =====================================  =========================================

Outputs are numpy arrays (ONNX Runtime gives them; a torch model's are moved to the CPU): the
work here is many small array operations, which numpy runs on the calling thread (see
:mod:`inference_workers.box_ops` for what torch's thread pool cost on them).

Boxes are in input (letterboxed) pixels, centre format, as Ultralytics exports them; they go
through class-aware NMS (:mod:`inference_workers.box_ops`) and back to image pixels through the
image's :class:`~inference_workers.letterbox.Letterbox`. Every per-pixel map (prototypes,
semantic logits) is sampled once at the image's pixel centres instead of being resized to the
input and then to the image; a mask is sampled only inside its box (Ultralytics' "native"
mask processing, at image resolution), so a 4k image with 300 small instances stays cheap.

Every decoder returns, per image, predictions with ``score >= threshold``, best first, at most
``max_per_image``; boxes clipped to the image (and dropped if nothing is left), masks as COCO
compressed RLE (``domain.rle.encode``), empty masks dropped. A class index beyond the model's
class list is named by its number (registration refuses such class lists; this never fails).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain import rle
from domain.errors import ValidationFailed
from inference_workers.box_ops import batched_nms_indices, xywh_to_xyxy_np
from inference_workers.letterbox import Letterbox
from inference_workers.model_api import Prediction

Array = npt.NDArray[np.floating]

MAX_NMS = 30_000
"""Candidates kept (best first) before NMS, as Ultralytics does: bounds a degenerate output."""

SAMPLE_BUDGET = 1 << 24
"""Values sampled at once when mapping a per-pixel map to an image (bounds the memory: 64 MiB
of float32)."""


@dataclass(frozen=True, slots=True)
class DecodeParams:
    """What the caller asked for: see ``Runner.predict``."""

    threshold: float = 0.25
    iou: float = 0.45
    max_per_image: int = 300


Decoder = Callable[[Sequence[Array], Sequence[Letterbox], Sequence[str], DecodeParams],
                   list[list[Prediction]]]


def label_of(classes: Sequence[str], index: int) -> str:
    return classes[index] if 0 <= index < len(classes) else str(index)


def _wrong_shape(layout: str, expected: str, outputs: Sequence[Array]) -> ValidationFailed:
    shapes = ", ".join(str(tuple(o.shape)) for o in outputs)
    return ValidationFailed(f"the model's outputs ({shapes}) do not have the {layout} layout "
                            f"{expected}", {"field": "layout"})


def _check_batch(outputs: Sequence[Array], boxes: Sequence[Letterbox]) -> None:
    for output in outputs:
        if output.shape[0] != len(boxes):
            raise ValidationFailed(f"the model answered {output.shape[0]} results for "
                                   f"{len(boxes)} images", {"field": "layout"})


def is_probability(values: Array, axis: int) -> bool:
    """Whether ``values`` already are probabilities along ``axis`` (in [0, 1], summing to 1):
    then no softmax is applied."""
    if values.size == 0:
        return True
    if values.min() < 0 or values.max() > 1:
        return False
    return bool((np.abs(values.sum(axis=axis, dtype=np.float64) - 1) <= 1e-3).all())


def softmax(values: Array, axis: int) -> npt.NDArray[np.float32]:
    shifted = np.exp(values - values.max(axis=axis, keepdims=True))
    return (shifted / shifted.sum(axis=axis, keepdims=True)).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# detections: candidates -> NMS -> image pixels
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Kept:
    """The detections kept for one image: xyxy boxes in image pixels and their rows."""

    boxes: npt.NDArray[np.float64]  # (k, 4) image pixels, clipped, non-empty
    scores: npt.NDArray[np.float64]  # (k,)
    classes: npt.NDArray[np.int64]  # (k,)
    rows: npt.NDArray[np.int64]  # (k,) the candidates' rows in the model output


def _keep(xywh: Array, scores: Array, classes: npt.NDArray[np.int64],
          rows: npt.NDArray[np.int64], box: Letterbox, params: DecodeParams) -> _Kept:
    """Class-aware NMS on one image's candidates (already >= threshold), mapped to the image."""
    if scores.size > MAX_NMS:
        top = np.argsort(-scores, kind="stable")[:MAX_NMS]
        xywh, scores, classes, rows = xywh[top], scores[top], classes[top], rows[top]
    xyxy = xywh_to_xyxy_np(xywh)
    kept = batched_nms_indices(xyxy, scores, classes, params.iou, params.max_per_image)
    image_boxes = box.boxes_to_image(xyxy[kept])
    sizes = image_boxes[:, 2:] - image_boxes[:, :2]
    kept = kept[(sizes > 0).all(axis=1)]
    image_boxes = image_boxes[(sizes > 0).all(axis=1)]
    return _Kept(boxes=image_boxes, scores=scores[kept].astype(np.float64),
                 classes=classes[kept].astype(np.int64), rows=rows[kept])


def _box_predictions(kept: _Kept, classes: Sequence[str]) -> list[Prediction]:
    # plain Python numbers first: reading numpy scalars one by one cost 7 us a box
    return [Prediction(type="box", label=label_of(classes, c),
                       geometry={"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}, score=s)
            for (x0, y0, x1, y1), s, c in zip(kept.boxes.tolist(), kept.scores.tolist(),
                                              kept.classes.tolist(), strict=True)]


def _candidates(class_scores: Array, threshold: float
                ) -> tuple[npt.NDArray[np.int64], Array, npt.NDArray[np.int64]]:
    """One image's ``(C, n)`` class scores (class-major, as YOLOv8 outputs them: each row
    contiguous) -> the columns whose best class reaches ``threshold``: their index, best
    score and best class."""
    if class_scores.shape[0] == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, np.empty(0, dtype=np.float32), empty
    best = class_scores.max(axis=0)
    columns = np.flatnonzero(best >= threshold)
    chosen = class_scores[:, columns]
    return columns, best[columns], chosen.argmax(axis=0).astype(np.int64)


def decode_yolov8(outputs: Sequence[Array], boxes: Sequence[Letterbox],
                  classes: Sequence[str], params: DecodeParams) -> list[list[Prediction]]:
    """``(B, 4 + C, N)``: the class scores are the scores (no objectness)."""
    out = outputs[0]
    if out.ndim != 3 or out.shape[1] < 5:
        raise _wrong_shape("yolov8", "(batch, 4 + classes, candidates)", outputs)
    _check_batch(outputs[:1], boxes)
    result = []
    for image, box in zip(out, boxes, strict=True):
        columns, scores, cls = _candidates(image[4:], params.threshold)
        kept = _keep(image[:4, columns].T, scores, cls, columns, box, params)
        result.append(_box_predictions(kept, classes))
    return result


def decode_yolov5(outputs: Sequence[Array], boxes: Sequence[Letterbox],
                  classes: Sequence[str], params: DecodeParams) -> list[list[Prediction]]:
    """``(B, N, 5 + C)``: score = objectness x class score."""
    out = outputs[0]
    if out.ndim != 3 or out.shape[2] < 6:
        raise _wrong_shape("yolov5", "(batch, candidates, 5 + classes)", outputs)
    _check_batch(outputs[:1], boxes)
    result = []
    for image, box in zip(out, boxes, strict=True):
        # a class score cannot exceed 1, so rows below the threshold in objectness are out
        live = np.flatnonzero(image[:, 4] >= params.threshold)
        rows = image[live]
        columns, scores, cls = _candidates((rows[:, 5:] * rows[:, 4:5]).T, params.threshold)
        kept = _keep(rows[columns, :4], scores, cls, live[columns], box, params)
        result.append(_box_predictions(kept, classes))
    return result


# --------------------------------------------------------------------------------------------
# masks
# --------------------------------------------------------------------------------------------


def _pixel_span(low: float, high: float, size: int) -> tuple[int, int]:
    """The pixel indices ``i`` with ``low <= i < high`` (Ultralytics' crop_mask rule)."""
    return max(0, min(size, int(np.ceil(low)))), max(0, min(size, int(np.ceil(high))))


def _mask_prediction(mask: npt.NDArray[np.bool_], label: str, score: float
                     ) -> Prediction | None:
    if not mask.any():
        return None
    return Prediction(type="mask", label=label, geometry={"rle": rle.encode(mask)}, score=score)


def decode_yolov8_seg(outputs: Sequence[Array], boxes: Sequence[Letterbox],
                      classes: Sequence[str], params: DecodeParams) -> list[list[Prediction]]:
    """``(B, 4 + C + M, N)`` and prototypes ``(B, M, h, w)``: each kept instance's mask is
    ``coefficients @ prototypes > 0`` (sigmoid > 0.5) inside its box."""
    detections = [o for o in outputs if o.ndim == 3]
    prototypes = [o for o in outputs if o.ndim == 4]
    if len(detections) != 1 or len(prototypes) != 1:
        raise _wrong_shape("yolov8_seg", "(batch, 4 + classes + masks, candidates) and "
                           "(batch, masks, h, w)", outputs)
    out, protos = detections[0], prototypes[0]
    n_masks = protos.shape[1]
    n_classes = out.shape[1] - 4 - n_masks
    if n_classes < 1:
        raise _wrong_shape("yolov8_seg", f"with {n_masks} mask coefficients per candidate",
                           outputs)
    _check_batch([out, protos], boxes)
    result = []
    for image, image_protos, box in zip(out, protos, boxes, strict=True):
        columns, scores, cls = _candidates(image[4:4 + n_classes], params.threshold)
        kept = _keep(image[:4, columns].T, scores, cls, columns, box, params)
        coefficients = image[4 + n_classes:, kept.rows].T.astype(np.float32)  # (k, M)
        _, ph, pw = image_protos.shape
        logits = (coefficients @ image_protos.reshape(n_masks, -1).astype(np.float32)
                  ).reshape(-1, ph, pw)
        h, w = box.image_size
        predictions = []
        for k in range(len(kept.scores)):
            x0, y0, x1, y1 = kept.boxes[k]
            r0, r1 = _pixel_span(y0, y1, h)
            c0, c1 = _pixel_span(x0, x1, w)
            mask = np.zeros((h, w), dtype=bool)
            mask[r0:r1, c0:c1] = box.sample_to_image(logits[k:k + 1], (r0, r1), (c0, c1))[0] > 0
            prediction = _mask_prediction(mask, label_of(classes, int(kept.classes[k])),
                                          float(kept.scores[k]))
            if prediction is not None:
                predictions.append(prediction)
        result.append(predictions)
    return result


def decode_semantic(outputs: Sequence[Array], boxes: Sequence[Letterbox],
                    classes: Sequence[str], params: DecodeParams) -> list[list[Prediction]]:
    """``(B, C, h, w)``: per image pixel the most probable class; one mask per class present,
    scored by the mean of the winning probability over its pixels."""
    out = outputs[0]
    if out.ndim != 4 or out.shape[1] < 1:
        raise _wrong_shape("semantic", "(batch, classes, height, width)", outputs)
    _check_batch(outputs[:1], boxes)
    probabilities = is_probability(out, 1)
    result = []
    for image, box in zip(out, boxes, strict=True):
        h, w = box.image_size
        n_classes = image.shape[0]
        winner = np.empty((h, w), dtype=np.int64)
        confidence = np.empty((h, w), dtype=np.float32)
        band = max(1, SAMPLE_BUDGET // max(1, n_classes * w))
        for r0 in range(0, h, band):
            r1 = min(h, r0 + band)
            sampled = box.sample_to_image(image, (r0, r1))
            if not probabilities:
                sampled = softmax(sampled, axis=0)
            winner[r0:r1] = sampled.argmax(axis=0)
            confidence[r0:r1] = sampled.max(axis=0)
        counts = np.bincount(winner.ravel(), minlength=n_classes)
        sums = np.bincount(winner.ravel(), weights=confidence.ravel(), minlength=n_classes)
        present = [int(c) for c in np.flatnonzero(counts)
                   if sums[c] / counts[c] >= params.threshold]
        present.sort(key=lambda c: (-sums[c] / counts[c], c))
        predictions = []
        for c in present[:params.max_per_image]:
            prediction = _mask_prediction(winner == c, label_of(classes, c),
                                          float(sums[c] / counts[c]))
            if prediction is not None:
                predictions.append(prediction)
        result.append(predictions)
    return result


# --------------------------------------------------------------------------------------------
# tags
# --------------------------------------------------------------------------------------------


def decode_classifier(outputs: Sequence[Array], boxes: Sequence[Letterbox],
                      classes: Sequence[str], params: DecodeParams) -> list[list[Prediction]]:
    """``(B, C)`` logits (softmax applied) or probabilities: one tag per class reaching the
    threshold, best first."""
    out = outputs[0]
    if out.ndim != 2 or out.shape[1] < 1:
        raise _wrong_shape("classifier", "(batch, classes)", outputs)
    _check_batch(outputs[:1], boxes)
    scores = out if is_probability(out, 1) else softmax(out.astype(np.float64), axis=1)
    result = []
    for row in scores.astype(np.float64):
        order = np.argsort(-row, kind="stable")
        chosen = [int(c) for c in order if row[c] >= params.threshold][:params.max_per_image]
        result.append([Prediction(type="tag", label=label_of(classes, c), geometry={},
                                  score=float(row[c])) for c in chosen])
    return result


DECODERS: dict[str, Decoder] = {
    "yolov5": decode_yolov5,
    "yolov8": decode_yolov8,
    "yolov8_seg": decode_yolov8_seg,
    "semantic": decode_semantic,
    "classifier": decode_classifier,
}
"""The layouts the ONNX and TorchScript runners read (``ModelSpec.layout``)."""


def decoder_for(layout: str) -> Decoder:
    """The decoder of ``layout``, or ``ValidationFailed`` naming the layouts there are."""
    try:
        return DECODERS[layout]
    except KeyError:
        raise ValidationFailed(f"unknown output layout {layout!r}; a runner reads "
                               f"{', '.join(sorted(DECODERS))}", {"field": "layout"}) from None


def decode(layout: str, outputs: Sequence[Array], boxes: Sequence[Letterbox],
           classes: Sequence[str], params: DecodeParams) -> list[list[Prediction]]:
    """Decode a batch's outputs (numpy, batch first) for the images letterboxed as ``boxes``."""
    return decoder_for(layout)(outputs, boxes, classes, params)
