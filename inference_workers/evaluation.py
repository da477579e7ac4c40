"""Scoring a model's predictions against human labels: COCO mAP, per-class figures, confusions.

Pure: it takes the evaluated images (size, ground truth, predictions, all as public annotation
JSON in *project* class names) and returns numbers; where they come from (which job, which
images, the labels as of which position) is ``service_layer.model_evaluation``'s business.

What is measured (docs/api.md, "Evaluation"):

* ``kind`` ``bbox`` (detectors) or ``segm`` (segmenters): pycocotools' ``COCOeval`` over every
  prediction, whatever its score. ``map50`` is AP at IoU 0.5 and ``map50_95`` AP averaged over
  IoU 0.5:0.05:0.95, both averaged over the classes that have ground truth, with COCO's
  101-point interpolation, all object sizes and at most 100 predictions per image and class
  (exactly ``COCOeval.stats[1]`` and ``stats[0]``: the other area ranges and detection limits
  are not computed, which makes it ~3x faster). In ``bbox``, polygons and masks count by their
  bounding box; in ``segm``, a box counts as the rectangle it covers. Points and tags are not
  objects and are left out of both.
* ``kind`` ``tags`` (classifiers): whole-image labels, so no AP; the map fields are None.
* Per class, ``tp``/``fp``/``fn``, ``precision`` and ``recall`` count the predictions scoring at
  least ``threshold``, matched as ``COCOeval`` matches them at IoU 0.5 (greedily, highest
  score first, each ground-truth object at most once). Since matching goes by score, a cut at a
  threshold keeps exactly the matches those predictions had among all of them.
* ``confusion`` (same predictions, IoU 0.5): each ground-truth object matched by its own class
  counts as ``(label, label)``. An object left unmatched takes the unmatched prediction of
  another class overlapping it most (IoU >= 0.5; the pairs are taken best overlap first, each
  prediction once) as ``(label, predicted)``, or else is a miss ``(label, None)``; each
  prediction still unmatched is a false alarm on the background ``(None, predicted)``. For tags
  there is no overlap: hits ``(label, label)``, misses ``(label, None)``, false tags
  ``(None, predicted)``.

A prediction without a score ranks as 1.0 (imported predictions may have none).

pycocotools prints its progress on stdout; that is silenced for the time of a run, under a lock
so that two evaluations in two threads never leave ``sys.stdout`` swapped (the evaluation is
CPU-bound Python, so running them one at a time costs little).
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from projections.export_coco import CocoAnnotations

EVALUATION_KINDS = ("bbox", "segm", "tags")
MATCH_IOU = 0.5
MAX_PER_IMAGE_AND_CLASS = 100  # COCO's maxDets for the AP figures
_OBJECT_TYPES = frozenset({"box", "polygon", "mask"})
_QUIET = threading.Lock()


def kind_for_task(task: str) -> str:
    """How a model of ``task`` is scored: ``segm`` for segmenters, ``tags`` for classifiers,
    ``bbox`` for the rest (detectors)."""
    return {"segment": "segm", "classify": "tags"}.get(task, "bbox")


class ImageToScore(Protocol):
    """One image in an evaluation: its size, its ground truth and the model's predictions.

    Annotations are public annotation JSON (``type``, ``label``, ``geometry``; predictions also
    ``score``) with labels in the project's class names; other fields are ignored.
    ``service_layer.model_evaluation.JudgedImage`` is one."""

    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def truth(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def predictions(self) -> Sequence[Mapping[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class EvaluatedImage:
    """An :class:`ImageToScore` for callers with annotations at hand."""

    width: int
    height: int
    truth: Sequence[Mapping[str, Any]]
    predictions: Sequence[Mapping[str, Any]]


def _score(annotation: Mapping[str, Any]) -> float:
    score = annotation.get("score")
    return 1.0 if score is None else float(score)


def evaluate(images: Sequence[ImageToScore], classes: Sequence[str], kind: str,
             threshold: float = 0.0) -> dict[str, Any]:
    """``{"images", "map50", "map50_95", "per_class", "confusion"}`` of ``images``.

    ``classes`` are the project's class names in order (they fix the order of ``per_class``
    and ``confusion``; annotations of other labels are ignored). ``per_class`` lists the
    classes that have ground truth or predictions in these images."""
    if kind not in EVALUATION_KINDS:
        raise ValueError(f"unknown evaluation kind {kind!r}")
    order = {name: n for n, name in enumerate(classes)}
    if kind == "tags":
        return _evaluate_tags(images, order, threshold)
    return _CocoRun(images, list(classes), kind, threshold).result()


def evaluate_task(images: Sequence[ImageToScore], classes: Sequence[str], task: str,
                  threshold: float = 0.0) -> dict[str, Any]:
    """:func:`evaluate` in the kind that fits a model of ``task`` (:func:`kind_for_task`),
    with ``kind`` and the matching ``iou`` added to the result."""
    kind = kind_for_task(task)
    return {**evaluate(images, classes, kind, threshold), "kind": kind, "iou": MATCH_IOU}


# -- objects (bbox / segm) -----------------------------------------------------------------------


class _CocoRun:
    """One COCOeval over the images, then the per-class counts and the confusions from its
    matches."""

    def __init__(self, images: Sequence[ImageToScore], classes: list[str], kind: str,
                 threshold: float) -> None:
        self.classes = classes
        self.kind = kind
        self.threshold = threshold
        convert = CocoAnnotations({"classes": [{"name": c} for c in classes]}, True)
        self.image_count = len(images)
        coco_images = [{"id": n, "width": im.width, "height": im.height}
                       for n, im in enumerate(images, start=1)]
        self.truth = self._objects(convert, images, "truth")
        self.predictions = self._objects(convert, images, "predictions")
        categories = [{"id": n, "name": c} for n, c in enumerate(classes, start=1)]
        with _QUIET, contextlib.redirect_stdout(io.StringIO()):
            self.gt = self._coco(coco_images, self.truth, categories)
            self.dt = self._coco(coco_images, self.predictions, categories)
            self.run = COCOeval(self.gt, self.dt, iouType=kind)
            params = self.run.params
            params.areaRng = [[0.0, 1e10]]  # COCO's "all"
            params.areaRngLbl = ["all"]
            params.maxDets = [MAX_PER_IMAGE_AND_CLASS]
            self.run.evaluate()
            self.run.accumulate()

    @staticmethod
    def _objects(convert: CocoAnnotations, images: Sequence[ImageToScore],
                 side: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        known = convert.category_ids
        for number, image in enumerate(images, start=1):
            annotations: Iterable[Mapping[str, Any]] = getattr(image, side)
            for annotation in annotations:
                if annotation.get("type") not in _OBJECT_TYPES or annotation.get(
                        "label") not in known:
                    continue
                coco = convert.convert({"id": None, "status": None, "source": None,
                                        **annotation}, number)
                coco["id"] = len(out) + 1
                if side == "predictions":
                    coco["score"] = _score(annotation)
                out.append(coco)
        return out

    @staticmethod
    def _coco(images: list[dict[str, Any]], annotations: list[dict[str, Any]],
              categories: list[dict[str, Any]]) -> COCO:
        coco = COCO()
        coco.dataset = {"images": images, "annotations": annotations, "categories": categories}
        coco.createIndex()
        return coco

    def result(self) -> dict[str, Any]:
        precision = self.run.eval["precision"]  # [T, R, K, A=1, M=1]; -1: class without truth
        tp: Counter[int] = Counter()
        fp: Counter[int] = Counter()
        fn: Counter[int] = Counter()
        matched_dt: dict[int, int] = {}  # prediction id -> truth id, at IoU 0.5 above threshold
        scores = {d["id"]: d["score"] for d in self.predictions}
        for entry in self.run.evalImgs:
            if entry is None:
                continue
            category = entry["category_id"]
            matches = entry["dtMatches"][0]  # IoU 0.5 is iouThrs[0]
            ignored = entry["dtIgnore"][0]
            found: set[int] = set()
            for dt_id, gt_id, ignore in zip(entry["dtIds"], matches, ignored, strict=True):
                if ignore or scores[dt_id] < self.threshold:
                    continue
                if gt_id:
                    tp[category] += 1
                    matched_dt[dt_id] = int(gt_id)
                    found.add(int(gt_id))
                else:
                    fp[category] += 1
            real = [g for g, ig in zip(entry["gtIds"], entry["gtIgnore"], strict=True) if not ig]
            fn[category] += sum(1 for g in real if g not in found)
        truth_classes = Counter(a["category_id"] for a in self.truth)
        predicted_classes = Counter(a["category_id"] for a in self.predictions)
        per_class = []
        ap50s: list[float] = []
        for k, name in enumerate(self.classes):
            category = k + 1
            if not truth_classes[category] and not predicted_classes[category]:
                continue
            at50 = precision[0, :, k, 0, 0]
            ap50 = float(np.mean(at50)) if truth_classes[category] and (at50 > -1).all() else None
            every = precision[:, :, k, 0, 0]
            ap = float(np.mean(every)) if ap50 is not None else None
            if ap50 is not None:
                ap50s.append(ap50)
            per_class.append(_class_figures(name, tp[category], fp[category], fn[category],
                                            ap50, ap))
        valid = precision[precision > -1]
        return {
            "images": self.image_count,
            "map50": _rounded(float(np.mean(ap50s)) if ap50s else None),
            "map50_95": _rounded(float(np.mean(valid)) if valid.size else None),
            "per_class": per_class,
            "confusion": self._confusion(matched_dt),
        }

    def _confusion(self, matched_dt: dict[int, int]) -> list[dict[str, Any]]:
        names = {n: c for n, c in enumerate(self.classes, start=1)}
        counts: Counter[tuple[str | None, str | None]] = Counter()
        truth_by_image: dict[int, list[dict[str, Any]]] = {}
        for g in self.truth:
            truth_by_image.setdefault(g["image_id"], []).append(g)
        considered = self._considered()
        predicted_by_image: dict[int, list[dict[str, Any]]] = {}
        for d in self.predictions:
            if d["id"] in considered:
                predicted_by_image.setdefault(d["image_id"], []).append(d)
        matched_gt = set(matched_dt.values())
        for image_id in sorted(set(truth_by_image) | set(predicted_by_image)):
            truths = truth_by_image.get(image_id, [])
            for g in truths:
                if g["id"] in matched_gt:
                    counts[names[g["category_id"]], names[g["category_id"]]] += 1
            open_gt = [g for g in truths if g["id"] not in matched_gt]
            open_dt = [d for d in predicted_by_image.get(image_id, [])
                       if d["id"] not in matched_dt]
            pairs = self._cross_class_pairs(open_gt, open_dt)
            used_gt: set[int] = set()
            used_dt: set[int] = set()
            for _, gi, di in pairs:
                if gi in used_gt or di in used_dt:
                    continue
                used_gt.add(gi)
                used_dt.add(di)
                counts[names[open_gt[gi]["category_id"]],
                       names[open_dt[di]["category_id"]]] += 1
            for gi, g in enumerate(open_gt):
                if gi not in used_gt:
                    counts[names[g["category_id"]], None] += 1
            for di, d in enumerate(open_dt):
                if di not in used_dt:
                    counts[None, names[d["category_id"]]] += 1
        return _confusion_rows(counts, self.classes)

    def _considered(self) -> set[int]:
        """Predictions the per-class counts looked at: scoring at least the threshold and
        among the 100 best of their image and class."""
        kept: set[int] = set()
        for entry in self.run.evalImgs:
            if entry is None:
                continue
            for dt_id, score, ignore in zip(entry["dtIds"], entry["dtScores"],
                                            entry["dtIgnore"][0], strict=True):
                if score >= self.threshold and not ignore:
                    kept.add(dt_id)
        return kept

    def _cross_class_pairs(self, truths: list[dict[str, Any]], predictions: list[dict[str, Any]]
                           ) -> list[tuple[float, int, int]]:
        """(IoU, truth index, prediction index) of different-class pairs overlapping at least
        0.5, best first."""
        if not truths or not predictions:
            return []
        if self.kind == "bbox":
            dts: Any = np.array([d["bbox"] for d in predictions], dtype=np.float64)
            gts: Any = np.array([g["bbox"] for g in truths], dtype=np.float64)
        else:  # COCOeval turned every segmentation into an RLE of its image already
            dts = [self.dt.annToRLE(d) for d in predictions]
            gts = [self.gt.annToRLE(g) for g in truths]
        ious = np.asarray(mask_utils.iou(dts, gts, [0] * len(truths)))
        pairs = [(float(ious[di, gi]), gi, di)
                 for gi, g in enumerate(truths) for di, d in enumerate(predictions)
                 if g["category_id"] != d["category_id"] and ious[di, gi] >= MATCH_IOU]
        pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
        return pairs


# -- tags ----------------------------------------------------------------------------------------


def _evaluate_tags(images: Sequence[ImageToScore], order: Mapping[str, int],
                   threshold: float) -> dict[str, Any]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    seen: set[str] = set()
    counts: Counter[tuple[str | None, str | None]] = Counter()
    for image in images:
        truth = {a["label"] for a in image.truth
                 if a.get("type") == "tag" and a.get("label") in order}
        predicted_all = {a["label"] for a in image.predictions
                         if a.get("type") == "tag" and a.get("label") in order}
        predicted = {a["label"] for a in image.predictions
                     if a.get("type") == "tag" and a.get("label") in order
                     and _score(a) >= threshold}
        seen |= truth | predicted_all
        for label in truth & predicted:
            tp[label] += 1
            counts[label, label] += 1
        for label in predicted - truth:
            fp[label] += 1
            counts[None, label] += 1
        for label in truth - predicted:
            fn[label] += 1
            counts[label, None] += 1
    classes = sorted(seen, key=order.__getitem__)
    return {
        "images": len(images), "map50": None, "map50_95": None,
        "per_class": [_class_figures(c, tp[c], fp[c], fn[c], None, None) for c in classes],
        "confusion": _confusion_rows(counts, list(order)),
    }


# -- shared shapes -------------------------------------------------------------------------------


def _class_figures(label: str, tp: int, fp: int, fn: int, ap50: float | None,
                   ap: float | None) -> dict[str, Any]:
    return {
        "label": label, "ap50": _rounded(ap50), "ap50_95": _rounded(ap),
        "precision": _rounded(tp / (tp + fp) if tp + fp else None),
        "recall": _rounded(tp / (tp + fn) if tp + fn else None),
        "tp": tp, "fp": fp, "fn": fn,
    }


def _rounded(value: float | None) -> float | None:
    """Six decimals: COCO's 101-point averages of exact ones come out as 0.9999999999999999."""
    return None if value is None else round(value, 6)


def _confusion_rows(counts: Counter[tuple[str | None, str | None]],
                    classes: Sequence[str]) -> list[dict[str, Any]]:
    """Rows in class order (the background, None, last) for the truth, then the prediction."""
    rank = {name: n for n, name in enumerate(classes)}

    def key(cell: tuple[str | None, str | None]) -> tuple[int, int]:
        label, predicted = cell
        return (len(rank) if label is None else rank[label],
                len(rank) if predicted is None else rank[predicted])

    return [{"label": label, "predicted": predicted, "count": counts[label, predicted]}
            for label, predicted in sorted(counts, key=key) if counts[label, predicted]]
