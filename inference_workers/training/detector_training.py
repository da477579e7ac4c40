"""Training the built-in CenterNet detector on labelled boxes.

Why here: the active-learning ``train`` job turns a project's labels into a model version, and
``scripts/train-demo-model`` makes the demo's model the same way, so both share one trainer.
Inputs stay plain (RGB ``uint8`` arrays, boxes ``[x, y, w, h]`` in image pixels, label names);
the result is a state dict that ``architectures.inspect_state_dict`` accepts.

Recipe ("Objects as Points"): Gaussian heatmaps per class (CenterNet's radius for IoU >= 0.7),
penalty-reduced focal loss on them, L1 on size (weight 0.1) and offset at the centre cells.
Augmentation with kornia: a random scale/shift (boxes follow), colour jitter, and an exact
horizontal flip. AdamW, linear warm-up then cosine decay. Deterministic for a seed on the CPU
(the caller's global RNG is left as it was).

A train job passes its own held-out images (``held_out``, split by image id), ``patience``
(early stopping on the held-out mAP@0.5, keeping the best epoch's weights: ``early_stopping``)
and ``stop`` (asked before each batch: a cancelled job stops within one batch). Images may be a
lazy sequence: each is letterboxed to the input size as it is read, and only that is kept.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import kornia.augmentation as K
import numpy as np
import torch
import torch.nn.functional as F

from domain.errors import ValidationFailed
from inference_workers.architectures import choose_device
from inference_workers.architectures.centernet import (
    OUTPUT_STRIDE,
    CenterNet,
    CenterNetOutput,
    CenterNetRunner,
    decode,
    gaussian_radius,
)
from inference_workers.letterbox import PAD_VALUE, letterbox
from inference_workers.model_api import Prediction, RGBImage
from inference_workers.training.early_stopping import BestEpoch, Stop, TrainingStopped

Progress = Callable[[dict[str, Any]], None]
"""Called after each epoch with ``{"epoch", "epochs", "loss", "val_loss", "val_metric",
"seconds"}`` (``val_metric``: the held-out mAP@0.5, None without held-out images); raise to
stop."""

SIZE_WEIGHT = 0.1
MIN_BOX_PIXELS = 2.0  # a box thinner than this after augmentation is not a target


class _Batch:
    """Letterboxed images (uint8, ``(N, 3, H, W)``) and their boxes (x1 y1 x2 y2 in input
    pixels) with class indices."""

    def __init__(self, images: torch.Tensor, boxes: list[torch.Tensor],
                 classes: list[torch.Tensor]) -> None:
        self.images = images
        self.boxes = boxes
        self.classes = classes


def train_centernet(
    images: Sequence[RGBImage],
    targets: Sequence[Mapping[str, Any]],
    classes: Sequence[str],
    *,
    epochs: int = 30,
    batch_size: int = 16,
    lr: float = 2e-3,
    seed: int = 0,
    device: str | None = None,
    input_size: int | tuple[int, int] = 256,
    width: int = 16,
    validation_fraction: float = 0.1,
    initial_state: Mapping[str, torch.Tensor] | None = None,
    progress: Progress | None = None,
    held_out: tuple[Sequence[RGBImage], Sequence[Mapping[str, Any]]] | None = None,
    patience: int | None = None,
    stop: Stop | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train a ``CenterNet(len(classes), width)`` on ``images`` and their ``targets`` (per
    image ``{"boxes": [[x, y, w, h], ...], "labels": [name, ...]}``, image pixels).

    ``validation_fraction`` of the images (at least one when there are two or more) is held
    out: its loss is measured each epoch and its mAP@0.5 (COCOeval) at the end.
    ``initial_state`` starts from earlier weights (a base model; tensors whose shapes do not
    fit, such as the heatmap's last layer of a model with other classes, start afresh).
    ``held_out`` (images, targets) replaces the split: every image of ``images`` trains.
    ``patience``: stop once the held-out mAP@0.5 (ties: loss) has not improved for that many
    epochs, and return the best epoch's weights (``best_epoch`` in the metrics). ``stop``:
    asked before each batch; True raises ``TrainingStopped``.
    Returns the float32 CPU state dict and JSON-safe metrics."""
    _check_inputs(targets, classes, epochs, batch_size)
    if held_out is not None:
        _check_inputs(held_out[1], classes, epochs, batch_size)
    size = (input_size, input_size) if isinstance(input_size, int) else input_size
    torch_device = choose_device(device)
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        index = {name: i for i, name in enumerate(classes)}
        if held_out is None:
            split = np.random.default_rng(seed).permutation(len(images))
            n_val = _validation_count(len(images), validation_fraction)
            val_ids, train_ids = split[:n_val].tolist(), split[n_val:].tolist()
            train = _prepare([images[i] for i in train_ids], [targets[i] for i in train_ids],
                             index, size)
            val = _prepare([images[i] for i in val_ids], [targets[i] for i in val_ids], index,
                           size)
        else:
            val_ids, train_ids = [], list(range(len(images)))
            train = _prepare(images, targets, index, size)
            val = _prepare(held_out[0], held_out[1], index, size)
        model = CenterNet(len(classes), width=width)
        reused = _start_from(model, initial_state) if initial_state is not None else 0
        model.to(torch_device)
        best = BestEpoch(patience) if patience is not None else None
        history, last_maps = _fit(model, train, val, epochs, batch_size, lr, torch_device, progress,
                       list(classes), best, stop, started)
        if best is not None:
            best.restore(model)
    model.eval()
    metrics: dict[str, Any] = {
        "epochs": history,
        "train_images": len(train.images),
        "validation_images": len(val.images),
        "final_loss": history[-1]["loss"],
        "seconds": round(time.perf_counter() - started, 1),
        "tensors_from_base": reused,
    }
    if best is not None and best.best is not None:
        metrics["best_epoch"] = best.best["epoch"]
        metrics.update(best.best.get("maps") or {"map50": -1.0, "map": -1.0})
    elif held_out is not None:
        metrics.update(last_maps or {"map50": -1.0, "map": -1.0})
    elif val_ids:
        runner = CenterNetRunner(model, list(classes), size, torch_device)
        found = runner.predict([images[i] for i in val_ids], threshold=0.01, max_per_image=100)
        metrics.update(detection_map(found, [targets[i] for i in val_ids], classes))
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return state, metrics


def _start_from(model: CenterNet, initial: Mapping[str, torch.Tensor]) -> int:
    """Copy the base model's tensors whose names and shapes fit (a base model with other
    classes or another width keeps what fits: its heatmap's last layer starts afresh, or
    nothing is reused); how many were copied."""
    own = model.state_dict()
    fitting = {k: v.to(own[k].dtype) for k, v in initial.items()
               if k in own and tuple(v.shape) == tuple(own[k].shape)}
    model.load_state_dict(fitting, strict=False)
    return len(fitting)


def _fit(model: CenterNet, train: _Batch, val: _Batch, epochs: int, batch_size: int, lr: float,
         device: torch.device, progress: Progress | None, classes: list[str],
         best: BestEpoch | None, stop: Stop | None, started: float
         ) -> tuple[list[dict[str, Any]], dict[str, float] | None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = warmup_cosine(optimizer, epochs * math.ceil(len(train.images) / batch_size))
    augment = _Augmentation()
    history: list[dict[str, Any]] = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train.images)).tolist()
        losses = []
        for start in range(0, len(order), batch_size):
            if stop is not None and stop():
                raise TrainingStopped
            ids = order[start : start + batch_size]
            images, boxes = augment(train.images[ids].float().div_(255.0),
                                    [train.boxes[i] for i in ids])
            loss = centernet_loss(model(images.to(device)),
                                  *_targets(boxes, [train.classes[i] for i in ids],
                                            model.num_classes, images.shape[-2:], device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        val_loss, maps = _validate(model, val, batch_size, device, classes,
                                   measure=best is not None or progress is not None)
        record: dict[str, Any] = {
            "epoch": epoch, "epochs": epochs, "loss": round(float(np.mean(losses)), 4),
            "val_loss": val_loss, "val_metric": maps["map50"] if maps else None,
            "seconds": round(time.perf_counter() - started, 2)}
        history.append(record)
        if progress is not None:
            progress(dict(record))
        record["maps"] = maps  # for the best epoch's figures; not shown per epoch
        if best is not None and best.observe(model, record):
            break
    last_maps = history[-1].get("maps")
    for record in history:
        record.pop("maps", None)
    return history, last_maps


def warmup_cosine(optimizer: torch.optim.Optimizer, total: int
                  ) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up (a tenth of the steps, at most 100), then cosine decay to 5 % of the
    rate, stepped once per batch (both built-in trainers)."""
    warmup = min(100, total // 10 + 1)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (step + 1) / warmup if step < warmup
        else 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))),
    )


def _validate(model: CenterNet, val: _Batch, batch_size: int, device: torch.device,
              classes: list[str], measure: bool) -> tuple[float | None, dict[str, float] | None]:
    """The held-out loss and (``measure``) COCO mAP@0.5 and mAP@0.5:0.95, both in one pass;
    boxes are compared in input pixels (IoU does not change under the letterbox's uniform
    scale and shift)."""
    if len(val.images) == 0:
        return None, None
    model.eval()
    total, count = 0.0, 0
    found: list[list[Prediction]] = []
    truth: list[dict[str, Any]] = []
    with torch.inference_mode():
        for start in range(0, len(val.images), batch_size):
            ids = list(range(start, min(start + batch_size, len(val.images))))
            images = val.images[ids].float().div_(255.0)
            output = model(images.to(device))
            loss = centernet_loss(output,
                                  *_targets([val.boxes[i] for i in ids],
                                            [val.classes[i] for i in ids], model.num_classes,
                                            images.shape[-2:], device))
            total += float(loss) * len(ids)
            count += len(ids)
            if not measure:
                continue
            for i, peaks in zip(ids, decode(output, k=100, threshold=0.01), strict=True):
                found.append([_input_prediction(box, float(score), classes[int(c)])
                              for box, score, c in zip(peaks.boxes.cpu(), peaks.scores.cpu(),
                                                       peaks.classes.cpu(), strict=True)])
                xyxy = val.boxes[i].tolist()
                truth.append({"boxes": [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in xyxy],
                              "labels": [classes[c] for c in val.classes[i].tolist()]})
    maps = detection_map(found, truth, classes) if measure else None
    return round(total / count, 4), maps


def _input_prediction(box: torch.Tensor, score: float, label: str) -> Prediction:
    x1, y1, x2, y2 = (float(v) for v in box)
    return Prediction(type="box", label=label, score=score,
                      geometry={"x": x1, "y": y1, "w": x2 - x1, "h": y2 - y1})


class _Augmentation:
    """Random scale 0.75-1.25 and shift up to 10 % (half the batches' images), colour jitter,
    horizontal flip; boxes follow the geometry and are clipped to the input."""

    def __init__(self) -> None:
        self.geometry = K.AugmentationSequential(
            K.RandomAffine(degrees=0.0, translate=(0.1, 0.1), scale=(0.75, 1.25), p=0.5),
            data_keys=["input", "bbox_xyxy"],
        )
        self.colour = K.ColorJitter(0.3, 0.3, 0.3, 0.05, p=0.8)

    def __call__(self, images: torch.Tensor,
                 boxes: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        count = max([len(b) for b in boxes] + [1])
        padded = torch.zeros(len(boxes), count, 4)
        for i, b in enumerate(boxes):
            padded[i, : len(b)] = b
        grey = PAD_VALUE / 255.0
        # The affine pads with zeros: shifting by the letterbox grey makes its padding grey.
        moved, moved_boxes = self.geometry(images - grey, padded)
        images = (moved + grey).clamp_(0.0, 1.0)
        images = self.colour(images).clamp_(0.0, 1.0)
        height, width = images.shape[-2:]
        flip = torch.rand(len(images)) < 0.5
        images[flip] = images[flip].flip(-1)
        out = []
        for i, b in enumerate(boxes):
            box = moved_boxes[i, : len(b)].clone()
            if flip[i]:
                box[:, [0, 2]] = width - box[:, [2, 0]]
            box[:, [0, 2]] = box[:, [0, 2]].clamp(0, width)
            box[:, [1, 3]] = box[:, [1, 3]].clamp(0, height)
            out.append(box)
        return images, out


def _targets(boxes: list[torch.Tensor], classes: list[torch.Tensor], num_classes: int,
             input_hw: torch.Size, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Heatmaps ``(B, C, h, w)``; per object: flat batch-cell index, size and offset (cells)."""
    out_h, out_w = input_hw[0] // OUTPUT_STRIDE, input_hw[1] // OUTPUT_STRIDE
    heat = torch.zeros(len(boxes), num_classes, out_h, out_w)
    index, size, offset = [], [], []
    ys, xs = torch.arange(out_h).float()[:, None], torch.arange(out_w).float()[None, :]
    for b, (image_boxes, image_classes) in enumerate(zip(boxes, classes, strict=True)):
        for box, cls in zip(image_boxes.tolist(), image_classes.tolist(), strict=True):
            x1, y1, x2, y2 = box
            if x2 - x1 < MIN_BOX_PIXELS or y2 - y1 < MIN_BOX_PIXELS:
                continue
            w, h = (x2 - x1) / OUTPUT_STRIDE, (y2 - y1) / OUTPUT_STRIDE
            cx, cy = (x1 + x2) / 2 / OUTPUT_STRIDE, (y1 + y2) / 2 / OUTPUT_STRIDE
            ix, iy = min(int(cx), out_w - 1), min(int(cy), out_h - 1)
            sigma = (2 * max(0, int(gaussian_radius(h, w))) + 1) / 6
            blob = torch.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma**2))
            torch.maximum(heat[b, cls], blob, out=heat[b, cls])
            index.append(b * out_h * out_w + iy * out_w + ix)
            size.append((w, h))
            offset.append((cx - ix, cy - iy))
    return (heat.to(device), torch.tensor(index, dtype=torch.long, device=device),
            torch.tensor(size, device=device).view(-1, 2),
            torch.tensor(offset, device=device).view(-1, 2))


def centernet_loss(output: CenterNetOutput, heat: torch.Tensor, index: torch.Tensor,
                   size: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Focal loss on the heatmaps (alpha 2, beta 4, over the number of objects) plus L1 on
    size (x 0.1) and offset at the objects' centre cells."""
    logits = output.heatmap
    positive = heat.eq(1.0).float()
    negative_weight = (1 - heat).pow(4)
    p = torch.sigmoid(logits)
    pos_loss = F.logsigmoid(logits) * (1 - p).pow(2) * positive
    neg_loss = F.logsigmoid(-logits) * p.pow(2) * negative_weight * (1 - positive)
    objects = max(1, len(index))
    loss = -(pos_loss.sum() + neg_loss.sum()) / objects
    if len(index):
        predicted_size = output.size.permute(0, 2, 3, 1).reshape(-1, 2)[index]
        predicted_offset = output.offset.permute(0, 2, 3, 1).reshape(-1, 2)[index]
        loss = loss + SIZE_WEIGHT * F.l1_loss(predicted_size, size, reduction="sum") / objects
        loss = loss + F.l1_loss(predicted_offset, offset, reduction="sum") / objects
    return loss


def detection_map(predictions: Sequence[Sequence[Prediction]],
                  targets: Sequence[Mapping[str, Any]],
                  classes: Sequence[str]) -> dict[str, float]:
    """COCO box mAP@0.5 and mAP@0.5:0.95 (pycocotools COCOeval) of box predictions against
    targets in the trainer's shape; -1.0 where there is nothing to measure."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    index = {name: i + 1 for i, name in enumerate(classes)}
    gt: dict[str, Any] = {"images": [], "annotations": [],
                          "categories": [{"id": i, "name": n} for n, i in index.items()]}
    dt: list[dict[str, Any]] = []
    for image_id, (found, target) in enumerate(zip(predictions, targets, strict=True), 1):
        gt["images"].append({"id": image_id})
        for box, label in zip(target.get("boxes", []), target.get("labels", []), strict=True):
            gt["annotations"].append({
                "id": len(gt["annotations"]) + 1, "image_id": image_id,
                "category_id": index[label], "bbox": [float(v) for v in box],
                "area": float(box[2]) * float(box[3]), "iscrowd": 0,
            })
        dt.extend({"image_id": image_id, "category_id": index[p.label], "score": p.score,
                   "bbox": [p.geometry[k] for k in ("x", "y", "w", "h")]}
                  for p in found if p.type == "box" and p.label in index)
    if not gt["annotations"] or not dt:
        return {"map50": -1.0, "map": -1.0}
    with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints its tables
        truth = COCO()
        truth.dataset = gt
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(dt), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {"map50": round(float(evaluation.stats[1]), 4),
            "map": round(float(evaluation.stats[0]), 4)}


def _prepare(images: Sequence[RGBImage], targets: Sequence[Mapping[str, Any]],
             index: dict[str, int], size: tuple[int, int]) -> _Batch:
    if len(images) != len(targets):
        raise ValidationFailed(f"{len(images)} images but {len(targets)} targets",
                               {"field": "targets"})
    tensors, boxes, classes = [], [], []
    for number, (image, target) in enumerate(zip(images, targets, strict=True)):
        _check_image(number, image)
        placed, where = letterbox(image, size)
        tensors.append(torch.from_numpy(placed).permute(2, 0, 1))
        xywh = np.array([[float(v) for v in box] for box in target["boxes"]],
                        dtype=np.float64).reshape(-1, 4)
        xyxy = where.boxes_to_input(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1))
        boxes.append(torch.from_numpy(xyxy).float())
        classes.append(torch.tensor([index[label] for label in target["labels"]],
                                    dtype=torch.long))
    stacked = torch.stack(tensors) if tensors else torch.zeros(0, 3, *size, dtype=torch.uint8)
    return _Batch(stacked, boxes, classes)


def _validation_count(n: int, fraction: float) -> int:
    if n < 2 or fraction <= 0:
        return 0
    return min(n - 1, max(1, round(n * fraction)))


def _check_image(number: int, image: RGBImage) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValidationFailed(f"image {number} is not an RGB uint8 (H, W, 3) array",
                               {"field": "images"})


def _check_inputs(targets: Sequence[Mapping[str, Any]], classes: Sequence[str], epochs: int,
                  batch_size: int) -> None:
    """The targets and settings (each image is checked as it is prepared: images may be a
    lazy sequence that decodes them)."""
    if not targets:
        raise ValidationFailed("there are no labelled images to train on", {"field": "images"})
    if not classes or len(set(classes)) != len(classes):
        raise ValidationFailed("classes must be a non-empty list of distinct names",
                               {"field": "classes"})
    if epochs < 1 or batch_size < 1:
        raise ValidationFailed("epochs and batch_size must be at least 1", {"field": "epochs"})
    known = set(classes)
    for number, target in enumerate(targets):
        boxes, labels = target.get("boxes", []), target.get("labels", [])
        if len(boxes) != len(labels):
            raise ValidationFailed(f"image {number}: {len(boxes)} boxes but {len(labels)} labels",
                                   {"field": "targets"})
        for box, label in zip(boxes, labels, strict=True):
            if label not in known:
                raise ValidationFailed(f"image {number}: label {label!r} is not one of the classes",
                                       {"field": "labels"})
            if len(box) != 4 or not all(math.isfinite(float(v)) for v in box) or min(box[2:]) < 0:
                raise ValidationFailed(f"image {number}: box {list(box)} is not [x, y, w, h]",
                                       {"field": "targets"})
