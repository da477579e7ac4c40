"""From a model's raw output tensors to :class:`~inference_workers.model_api.RawScore` s (score
jobs), by output layout, for the runners that read layouts (ONNX, TorchScript).

=============  ===================================================================
layout         scored as
=============  ===================================================================
``classifier``  ``(B, C)``: the probabilities (softmax when the values are not
               already probabilities: :func:`~output_decoders.is_probability`)
``yolov5``,    the decoded boxes (``output_decoders``) with confidence >=
``yolov8``     ``threshold``; probabilities: per class, its best box's confidence
``yolov8_seg`` its detection part decoded as ``yolov8`` (masks are not needed)
``semantic``   not scored: ``CannotScore``
=============  ===================================================================

Embeddings: an output the layout's decoder does not read, ``(B, d)`` or a feature map
``(B, C, h, w)`` (global-average-pooled to ``(B, C)``), is the image's embedding (the first such
output, in the graph's order); a model with none has no embedding. An image whose outputs hold
NaN or infinity gets NaN probabilities (the score job fails that image: never a silent
"no boxes").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from inference_workers.letterbox import Letterbox
from inference_workers.model_api import CannotScore, Prediction, RawScore
from inference_workers.output_decoders import (
    DecodeParams,
    _wrong_shape,
    decode_yolov5,
    decode_yolov8,
    is_probability,
    softmax,
)

Array = npt.NDArray[np.floating]


def _embeddings(outputs: Sequence[Array], used: set[int], count: int
                ) -> npt.NDArray[np.float32] | None:
    """``(count, d)`` from the first output not in ``used`` that is ``(B, d)`` or
    ``(B, C, h, w)`` (pooled over space), or None."""
    for i, output in enumerate(outputs):
        if i in used or output.shape[0] != count:
            continue
        if output.ndim == 2:
            return np.asarray(output, dtype=np.float32)
        if output.ndim == 4:
            return np.asarray(output.mean(axis=(2, 3), dtype=np.float64), dtype=np.float32)
    return None


def _not_finite(outputs: Sequence[Array], count: int) -> npt.NDArray[np.bool_]:
    """Per image of the batch: whether any of its outputs holds NaN or infinity."""
    bad = np.zeros(count, dtype=bool)
    for output in outputs:
        if output.shape[0] == count and output.size:
            bad |= ~np.isfinite(output.reshape(count, -1)).all(axis=1)
    return bad


def _class_index(label: str, index_of: dict[str, int]) -> int:
    found = index_of.get(label)
    return found if found is not None else int(label)  # decoders name unknown classes by number


def detections_score(predictions: Sequence[Prediction], classes: Sequence[str],
                     n_classes: int, embedding: npt.NDArray[np.float32] | None) -> RawScore:
    """One image's box predictions (image pixels, best first) as a ``RawScore``."""
    index_of = {name: i for i, name in enumerate(classes)}
    boxes = np.array([[p.geometry["x"], p.geometry["y"], p.geometry["x"] + p.geometry["w"],
                       p.geometry["y"] + p.geometry["h"]] for p in predictions],
                     dtype=np.float64).reshape(-1, 4)
    scores = np.array([p.score for p in predictions], dtype=np.float64)
    cls = np.array([_class_index(p.label, index_of) for p in predictions], dtype=np.int64)
    probabilities = np.zeros(n_classes, dtype=np.float32)
    if cls.size:
        np.maximum.at(probabilities, cls, scores.astype(np.float32))
    return RawScore(probabilities, boxes, scores, cls, embedding)


def score_outputs(layout: str, outputs: Sequence[Array], boxes: Sequence[Letterbox],
                  classes: Sequence[str], params: DecodeParams) -> list[RawScore]:
    """Score one batch's outputs (numpy, batch first) for the images letterboxed as ``boxes``."""
    count = len(boxes)
    if layout == "classifier":
        out = outputs[0]
        if out.ndim != 2 or out.shape[1] < 1:
            raise _wrong_shape("classifier", "(batch, classes)", outputs)
        probs = out if is_probability(out, 1) else softmax(out.astype(np.float64), axis=1)
        probs = np.asarray(probs, dtype=np.float32)
        embeddings = _embeddings(outputs, {0}, count)
        used_outputs: Sequence[Array] = outputs
        detected: list[list[Prediction]] | None = None
    elif layout in ("yolov5", "yolov8"):
        decoder = decode_yolov5 if layout == "yolov5" else decode_yolov8
        detected = decoder(outputs, boxes, classes, params)
        n_classes = outputs[0].shape[2] - 5 if layout == "yolov5" else outputs[0].shape[1] - 4
        embeddings = _embeddings(outputs, {0}, count)
        used_outputs = outputs[:1]
    elif layout == "yolov8_seg":
        three = [i for i, o in enumerate(outputs) if o.ndim == 3]
        four = [i for i, o in enumerate(outputs) if o.ndim == 4]
        if not three or not four:
            raise _wrong_shape("yolov8_seg", "(batch, 4 + classes + masks, candidates) and "
                               "(batch, masks, h, w)", outputs)
        out, protos = outputs[three[0]], outputs[four[0]]
        n_classes = out.shape[1] - 4 - protos.shape[1]
        if n_classes < 1:
            raise _wrong_shape("yolov8_seg", f"with {protos.shape[1]} mask coefficients per "
                               "candidate", outputs)
        detections = out[:, :4 + n_classes]
        detected = decode_yolov8([detections], boxes, classes, params)
        embeddings = _embeddings(outputs, {three[0], four[0]}, count)
        used_outputs = [detections]
    else:
        raise CannotScore(f"a {layout} model gives no per-image class probabilities; score "
                          "jobs run classifiers and detectors")
    bad = _not_finite(used_outputs, count)
    result: list[RawScore] = []
    for i in range(count):
        embedding = embeddings[i] if embeddings is not None else None
        if detected is None:
            score = RawScore(probs[i], embedding=embedding)
        else:
            score = detections_score(detected[i], classes, n_classes, embedding)
        if bad[i]:
            score = RawScore(np.full_like(score.probabilities, np.nan), score.boxes,
                             score.box_scores, score.box_classes, score.embedding)
        result.append(score)
    return result
