"""Where a model and the team's labels disagree, image by image, and which labels look wrong.

Pure, like :mod:`inference_workers.evaluation` (whose inputs it takes: :class:`ImageToScore`,
public annotation JSON in project class names); which images, predictions and labels are
judged is ``service_layer.model_evaluation``'s business, shared with the evaluation.

**Per image** (``kind`` ``bbox``/``segm``: boxes, polygons and masks; points and tags are left
out, as in the evaluation), with the predictions scoring at least ``threshold`` (a prediction
without a score ranks as 1.0):

1. *Matches*: predictions, best score first, each take the label of **their own class** they
   overlap most (IoU >= 0.5, each label once), exactly as ``COCOeval`` matches.
2. *Confused*: the labels left take the unmatched prediction of **another class** that
   overlaps them most (IoU >= 0.5; pairs best overlap first, each prediction once): the model
   found the object but called it something else.
3. *Missed*: labels still left: no prediction of any class there.
4. *False positives*: predictions still left: the model is confident of an object nobody
   labelled.

IoU is pycocotools' (the evaluation's): in ``bbox`` polygons and masks count by their
bounding box, in ``segm`` a box counts as the rectangle it covers. Summed over the images,
these are exactly the evaluation's ``confusion`` off the diagonal (``(label, None)``,
``(None, predicted)``, ``(label, other)``), which the tests check. Tags (``kind`` ``tags``,
classifiers) have no place: a label tag the model did not give is missed, a given tag nobody
set is a false positive, and a missed tag paired with a false one (the most confident first)
is one confusion.

**Score** (worst first): each disagreement weighs what the model staked on it. A missed label
counts 1 (the model said nothing there: nothing to discount); a false positive or a
confusion counts the prediction's score (a 0.95 "dog" where nobody drew one is worse than a
0.3 one). ``score = missed + sum(score of each false positive) + sum(score of each
confusion)``: 0 exactly when the model agrees with every label, and every disagreement adds
to it.

**Label suspects** (cleanlab's *confident learning* (Northcutt et al. 2021) carried over to
objects, written here): the labels the model disagrees with so strongly that the label,
rather than the model, may be wrong.

* Per class ``c``, the model's *self-confidence* ``t_c``: the mean, over the labels of class
  ``c``, of the best score of a ``c`` prediction overlapping the label (IoU >= 0.5; 0 when
  there is none): cleanlab's per-class threshold (the mean predicted probability of the
  given class over the examples given it). A class without labels uses the mean score of
  its predictions.
* ``other_class``: a label of class ``y`` overlapped (IoU >= 0.5) by a prediction of class
  ``j != y`` scoring at least ``max(t_j, threshold)`` and more than the best ``y`` prediction
  there (the most confident such ``j``): cleanlab's off-diagonal of the confident joint.
  ``confidence`` is that score.
* ``nothing_found``: a label of class ``c`` that no prediction of any class or score touches
  (IoU < 0.1 with all of them), for a class the model reliably finds elsewhere: it matched at
  least 80 % of the other labels of ``c``, and there are at least 5 of them.
  ``confidence`` is that recall (how sure one can be that the model would have seen it).
  With nothing to ask the model about the background, this is how "the model confidently
  finds nothing there" can be measured from its detections alone.

For tags the same holds with the image in place of the overlap. Suspects come most confident
first.

Cost: a few numpy/pycocotools calls per image; 1,000 images of 5 boxes and ~6 labels take
~0.13 s of CPU (``benchmarks/blind_spots.py``; the gathering before it ~0.2 s).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pycocotools import mask as mask_utils

from inference_workers.evaluation import (
    EVALUATION_KINDS,
    MATCH_IOU,
    ImageToScore,
    kind_for_task,
)
from projections.export_coco import CocoAnnotations

NOTHING_IOU = 0.1
"""A label no prediction overlaps this much is one the model found nothing at all near."""
RELIABLE_RECALL = 0.8
"""The share of a class's other labels the model must have found for ``nothing_found``."""
RELIABLE_LABELS = 5
"""The least number of other labels of a class that makes its recall worth trusting."""

_OBJECT_TYPES = frozenset({"box", "polygon", "mask"})
_SUSPECT_OTHER = "other_class"
_SUSPECT_NOTHING = "nothing_found"


def _score(annotation: Mapping[str, Any]) -> float:
    score = annotation.get("score")
    return 1.0 if score is None else float(score)


@dataclass(slots=True)
class ImageDisagreement:
    """One image's disagreements: indexes into its ``truth`` and ``predictions``."""

    missed: list[int] = field(default_factory=list)
    false_positives: list[int] = field(default_factory=list)
    confused: list[tuple[int, int]] = field(default_factory=list)  # (truth, prediction)
    score: float = 0.0

    def counts(self) -> dict[str, Any]:
        """``missed``, ``false_positives``, ``confused`` and ``score`` (6 decimals)."""
        return {"missed": len(self.missed), "false_positives": len(self.false_positives),
                "confused": len(self.confused), "score": round(self.score, 6)}


@dataclass(frozen=True, slots=True)
class LabelSuspect:
    """A label the model strongly disagrees with (``image`` indexes the images given)."""

    image: int
    annotation_id: str | None
    label: str
    predicted: str | None
    confidence: float
    reason: str  # "other_class" | "nothing_found"
    threshold: float  # what ``confidence`` had to reach (t_j, or the least recall)


@dataclass(frozen=True, slots=True)
class BlindSpots:
    """:func:`find_blind_spots`' answer: one :class:`ImageDisagreement` per image given (in
    their order), and the label suspects, most confident first."""

    images: list[ImageDisagreement]
    suspects: list[LabelSuspect]


@dataclass(slots=True)
class _Judged:
    """One image's kept annotations, their overlaps and the matching at the threshold."""

    truth: list[Mapping[str, Any]]
    predictions: list[Mapping[str, Any]]
    scores: npt.NDArray[np.float64]
    ious: npt.NDArray[np.float64]  # (predictions, truth)
    disagreement: ImageDisagreement


def find_blind_spots(images: Sequence[ImageToScore], classes: Sequence[str], kind: str,
                     threshold: float = 0.0) -> BlindSpots:
    """The disagreements of each image and the label suspects (module docstring).

    ``classes`` are the project's class names (annotations of other labels are ignored);
    ``kind`` is ``bbox``, ``segm`` or ``tags`` (``evaluation.kind_for_task``); predictions
    scoring under ``threshold`` are not counted."""
    if kind not in EVALUATION_KINDS:
        raise ValueError(f"unknown evaluation kind {kind!r}")
    known = frozenset(classes)
    judged = [_judge(image, known, kind, threshold) for image in images]
    return BlindSpots([j.disagreement for j in judged], _suspects(judged, threshold))


# -- one image -----------------------------------------------------------------------------------


def _judge(image: ImageToScore, known: frozenset[str], kind: str, threshold: float) -> _Judged:
    types = frozenset({"tag"}) if kind == "tags" else _OBJECT_TYPES
    truth = [a for a in image.truth if a.get("type") in types and a.get("label") in known]
    predictions = [a for a in image.predictions
                   if a.get("type") in types and a.get("label") in known]
    scores = np.array([_score(p) for p in predictions], dtype=np.float64)
    if kind == "tags":
        # No place: a tag "overlaps" every tag of the image.
        ious = np.ones((len(predictions), len(truth)), dtype=np.float64)
    else:
        ious = _overlaps(image, truth, predictions, kind)
    same = np.array([[p["label"] == t["label"] for t in truth] for p in predictions],
                    dtype=bool).reshape(len(predictions), len(truth))
    counted = scores >= threshold
    matched = _match_own_class(ious, same, scores, counted)
    disagreement = ImageDisagreement()
    open_truth = [t for t in range(len(truth)) if t not in matched]
    taken = set(matched.values())
    open_predictions = [p for p in range(len(predictions)) if counted[p] and p not in taken]
    if kind == "tags":
        pairs = _tag_pairs(open_truth, open_predictions, scores)
    else:
        pairs = _cross_class_pairs(open_truth, open_predictions, ious, same)
    confused_truth = {t for t, _ in pairs}
    confused_predictions = {p for _, p in pairs}
    disagreement.confused = pairs
    disagreement.missed = [t for t in open_truth if t not in confused_truth]
    disagreement.false_positives = [p for p in open_predictions if p not in confused_predictions]
    disagreement.score = (len(disagreement.missed)
                          + float(sum(scores[p] for p in disagreement.false_positives))
                          + float(sum(scores[p] for _, p in pairs)))
    return _Judged(truth, predictions, scores, ious, disagreement)


def _overlaps(image: ImageToScore, truth: Sequence[Mapping[str, Any]],
              predictions: Sequence[Mapping[str, Any]], kind: str) -> npt.NDArray[np.float64]:
    """IoU ``(predictions, truth)`` as the evaluation's COCOeval computes it."""
    if not truth or not predictions:
        return np.zeros((len(predictions), len(truth)), dtype=np.float64)
    dts = [_coco_shape(a, image.width, image.height, kind) for a in predictions]
    gts = [_coco_shape(a, image.width, image.height, kind) for a in truth]
    if kind == "bbox":
        return np.asarray(mask_utils.iou(np.array(dts, dtype=np.float64),
                                         np.array(gts, dtype=np.float64), [0] * len(gts)),
                          dtype=np.float64).reshape(len(dts), len(gts))
    return np.asarray(mask_utils.iou(dts, gts, [0] * len(gts)),
                      dtype=np.float64).reshape(len(dts), len(gts))


def _coco_shape(annotation: Mapping[str, Any], width: int, height: int, kind: str) -> Any:
    """The annotation's ``bbox`` (``kind`` bbox) or RLE (segm), as the COCO export writes
    them (``CocoAnnotations.convert``) and ``COCO.annToRLE`` reads them."""
    coco = _CONVERT.convert({"id": None, "status": None, "source": None, **annotation,
                             "label": "object"}, 0)
    if kind == "bbox":
        return coco["bbox"]
    segmentation = coco["segmentation"]
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if isinstance(segmentation["counts"], list):
        return mask_utils.frPyObjects(segmentation, height, width)
    return segmentation


_CONVERT = CocoAnnotations({"classes": [{"name": "object"}]}, False)


def _match_own_class(ious: npt.NDArray[np.float64], same: npt.NDArray[np.bool_],
                     scores: npt.NDArray[np.float64], counted: npt.NDArray[np.bool_]
                     ) -> dict[int, int]:
    """truth -> prediction: COCOeval's greedy matching (best score first; each takes the free
    label of its class it overlaps most, the later one on a tie)."""
    matched: dict[int, int] = {}
    if not ious.size:
        return matched
    free = np.ones(ious.shape[1], dtype=bool)
    for p in np.argsort(-scores, kind="stable"):
        if not counted[p]:
            continue
        row = np.where(same[p] & free & (ious[p] >= MATCH_IOU), ious[p], -1.0)
        best = row.max()
        if best < 0:
            continue
        t = int(np.flatnonzero(row == best)[-1])
        free[t] = False
        matched[t] = int(p)
    return matched


def _cross_class_pairs(open_truth: list[int], open_predictions: list[int],
                       ious: npt.NDArray[np.float64], same: npt.NDArray[np.bool_]
                       ) -> list[tuple[int, int]]:
    """(truth, prediction) of different classes overlapping >= 0.5, best overlap first, each
    once (the evaluation's ``_cross_class_pairs``)."""
    candidates = sorted(((float(ious[p, t]), t, p) for t in open_truth for p in open_predictions
                         if not same[p, t] and ious[p, t] >= MATCH_IOU),
                        key=lambda c: (-c[0], c[1], c[2]))
    pairs: list[tuple[int, int]] = []
    used_truth: set[int] = set()
    used_predictions: set[int] = set()
    for _, t, p in candidates:
        if t in used_truth or p in used_predictions:
            continue
        used_truth.add(t)
        used_predictions.add(p)
        pairs.append((t, p))
    return pairs


def _tag_pairs(open_truth: list[int], open_predictions: list[int],
               scores: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """A missed tag and a false one, paired: the labels in order, the most confident false
    tags first."""
    ranked = sorted(open_predictions, key=lambda p: (-scores[p], p))
    return list(zip(open_truth, ranked, strict=False))


# -- label suspects ------------------------------------------------------------------------------


def _suspects(judged: Sequence[_Judged], threshold: float) -> list[LabelSuspect]:
    own_best: list[npt.NDArray[np.float64]] = []  # per image: best own-class score per label
    self_confidence: defaultdict[str, list[float]] = defaultdict(list)
    predicted_scores: defaultdict[str, list[float]] = defaultdict(list)
    found: defaultdict[str, list[bool]] = defaultdict(list)
    for j in judged:
        best = np.zeros(len(j.truth), dtype=np.float64)
        for t, label in enumerate(a["label"] for a in j.truth):
            near = [p for p in range(len(j.predictions))
                    if j.predictions[p]["label"] == label and j.ious[p, t] >= MATCH_IOU]
            best[t] = max((j.scores[p] for p in near), default=0.0)
            self_confidence[label].append(float(best[t]))
            found[label].append(bool(near))
        own_best.append(best)
        for p, prediction in enumerate(j.predictions):
            predicted_scores[prediction["label"]].append(float(j.scores[p]))
    thresholds = {c: float(np.mean(v)) for c, v in predicted_scores.items()}
    thresholds.update({c: float(np.mean(v)) for c, v in self_confidence.items()})
    hits = {c: (sum(v), len(v)) for c, v in found.items()}

    out: list[LabelSuspect] = []
    for n, (j, best) in enumerate(zip(judged, own_best, strict=True)):
        for t, label_annotation in enumerate(j.truth):
            label = label_annotation["label"]
            annotation_id = label_annotation.get("id")
            rivals = [(float(j.scores[p]), p) for p in range(len(j.predictions))
                      if j.predictions[p]["label"] != label and j.ious[p, t] >= MATCH_IOU
                      and j.scores[p] > best[t]
                      and j.scores[p] >= max(thresholds[j.predictions[p]["label"]], threshold)]
            if rivals:
                confidence, p = max(rivals, key=lambda r: (r[0], -r[1]))
                rival = j.predictions[p]["label"]
                out.append(LabelSuspect(n, annotation_id, label, rival, round(confidence, 6),
                                        _SUSPECT_OTHER, round(thresholds[rival], 6)))
                continue
            if j.ious.shape[0] and float(j.ious[:, t].max()) >= NOTHING_IOU:
                continue
            hit, total = hits[label]
            others, other_hits = total - 1, hit  # this label was not found: all hits are others
            if others >= RELIABLE_LABELS and other_hits / others >= RELIABLE_RECALL:
                out.append(LabelSuspect(n, annotation_id, label, None,
                                        round(other_hits / others, 6), _SUSPECT_NOTHING,
                                        RELIABLE_RECALL))
    out.sort(key=lambda s: (-s.confidence, s.image, str(s.annotation_id)))
    return out


def inspect_task(images: Sequence[ImageToScore], classes: Sequence[str], task: str,
                 threshold: float = 0.0) -> dict[str, Any]:
    """:func:`find_blind_spots` for a model of ``task`` (``evaluation.kind_for_task``), as
    JSON: ``{"kind", "images": [counts, with "suspects": how many on the image], "suspects":
    [{"image", "annotation_id", "label", "predicted", "confidence", "reason",
    "threshold"}]}`` (``service_layer.blind_spots.Inspector``)."""
    kind = kind_for_task(task)
    found = find_blind_spots(images, classes, kind, threshold)
    per_image = Counter(s.image for s in found.suspects)
    return {
        "kind": kind,
        "images": [{**d.counts(), "suspects": per_image[n]} for n, d in enumerate(found.images)],
        "suspects": [{"image": s.image, "annotation_id": s.annotation_id, "label": s.label,
                      "predicted": s.predicted, "confidence": s.confidence, "reason": s.reason,
                      "threshold": s.threshold} for s in found.suspects],
    }
