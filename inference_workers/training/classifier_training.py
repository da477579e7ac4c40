"""Training the built-in tag classifier (``architectures.classifier``) on labelled images.

Inputs stay plain, as for the detector's trainer: RGB ``uint8`` arrays (a lazy sequence is
fine: each image is letterboxed to the input size as it is read), one class name per image,
and the held-out images with theirs. Cross-entropy, AdamW with the detector's warm-up and
cosine decay, kornia augmentation (a random scale/shift, colour jitter, horizontal flip: the
tag does not depend on any of them), early stopping on the held-out accuracy (ties: loss)
keeping the best epoch's weights. Deterministic for a seed on the CPU (the caller's global
RNG is left as it was).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import kornia.augmentation as K
import numpy as np
import torch
import torch.nn.functional as F

from domain.errors import ValidationFailed
from inference_workers.architectures import choose_device
from inference_workers.architectures.classifier import DEFAULT_INPUT_SIZE, TagClassifier
from inference_workers.letterbox import PAD_VALUE, letterbox
from inference_workers.model_api import RGBImage
from inference_workers.training.detector_training import Progress, warmup_cosine
from inference_workers.training.early_stopping import BestEpoch, Stop, TrainingStopped


def train_classifier(
    images: Sequence[RGBImage],
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    held_out: tuple[Sequence[RGBImage], Sequence[str]],
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    device: str | None = None,
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
    width: int = 16,
    initial_state: Mapping[str, torch.Tensor] | None = None,
    progress: Progress | None = None,
    patience: int | None = None,
    stop: Stop | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train a ``TagClassifier(len(classes), width)``; ``val_metric`` is the held-out
    accuracy. ``initial_state``: a base model's tensors where names and shapes fit (a
    classifier's, or a CenterNet's backbone). Returns the float32 CPU state dict and JSON-safe
    metrics (``accuracy`` of the returned weights, ``best_epoch`` with ``patience``)."""
    if not labels or len(images) != len(labels):
        raise ValidationFailed("there are no labelled images to train on", {"field": "images"})
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValidationFailed("a classifier needs at least two distinct classes",
                               {"field": "classes"})
    index = {name: i for i, name in enumerate(classes)}
    for label in [*labels, *held_out[1]]:
        if label not in index:
            raise ValidationFailed(f"label {label!r} is not one of the classes",
                                   {"field": "labels"})
    torch_device = choose_device(device)
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        train_x, train_y = _prepare(images, labels, index, input_size)
        val_x, val_y = _prepare(held_out[0], held_out[1], index, input_size)
        model = TagClassifier(len(classes), width=width)
        reused = 0
        if initial_state is not None:
            own = model.state_dict()
            fitting = {k: v.to(own[k].dtype) for k, v in initial_state.items()
                       if k in own and tuple(v.shape) == tuple(own[k].shape)}
            model.load_state_dict(fitting, strict=False)
            reused = len(fitting)
        model.to(torch_device)
        best = BestEpoch(patience) if patience is not None else None
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        schedule = warmup_cosine(optimizer, epochs * math.ceil(len(train_x) / batch_size))
        augment = K.AugmentationSequential(
            K.RandomAffine(degrees=0.0, translate=(0.1, 0.1), scale=(0.8, 1.2), p=0.5),
            K.ColorJitter(0.3, 0.3, 0.3, 0.05, p=0.8),
            K.RandomHorizontalFlip(p=0.5),
        )
        grey = PAD_VALUE / 255.0
        history: list[dict[str, Any]] = []
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(train_x)).tolist()
            losses = []
            for start in range(0, len(order), batch_size):
                if stop is not None and stop():
                    raise TrainingStopped
                ids = order[start:start + batch_size]
                # The affine pads with zeros: shifting by the letterbox grey pads with grey.
                batch = (augment(train_x[ids].float().div_(255.0) - grey) + grey).clamp_(0, 1)
                loss = F.cross_entropy(model(batch.to(torch_device)),
                                       train_y[ids].to(torch_device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(loss.item())
            val_loss, accuracy = _validate(model, val_x, val_y, batch_size, torch_device)
            record = {"epoch": epoch, "epochs": epochs, "loss": round(float(np.mean(losses)), 4),
                      "val_loss": val_loss, "val_metric": accuracy,
                      "seconds": round(time.perf_counter() - started, 2)}
            history.append(record)
            if progress is not None:
                progress(dict(record))
            if best is not None and best.observe(model, record):
                break
        if best is not None:
            best.restore(model)
    model.eval()
    chosen = best.best if best is not None and best.best is not None else history[-1]
    metrics: dict[str, Any] = {
        "epochs": history, "train_images": len(train_x), "validation_images": len(val_x),
        "final_loss": history[-1]["loss"], "seconds": round(time.perf_counter() - started, 1),
        "tensors_from_base": reused, "accuracy": chosen["val_metric"],
    }
    if best is not None:
        metrics["best_epoch"] = chosen["epoch"]
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return state, metrics


def _validate(model: TagClassifier, x: torch.Tensor, y: torch.Tensor, batch_size: int,
              device: torch.device) -> tuple[float | None, float | None]:
    if len(x) == 0:
        return None, None
    model.eval()
    total, correct = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            logits = model(x[start:start + batch_size].float().div_(255.0).to(device))
            truth = y[start:start + batch_size].to(device)
            total += float(F.cross_entropy(logits, truth, reduction="sum"))
            correct += int((logits.argmax(1) == truth).sum())
    return round(total / len(x), 4), round(correct / len(x), 4)


def _prepare(images: Sequence[RGBImage], labels: Sequence[str], index: dict[str, int],
             size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    if len(images) != len(labels):
        raise ValidationFailed(f"{len(images)} images but {len(labels)} labels",
                               {"field": "labels"})
    tensors = []
    for number, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValidationFailed(f"image {number} is not an RGB uint8 (H, W, 3) array",
                                   {"field": "images"})
        placed, _ = letterbox(image, size)
        tensors.append(torch.from_numpy(placed).permute(2, 0, 1))
    stacked = torch.stack(tensors) if tensors else torch.zeros(0, 3, *size, dtype=torch.uint8)
    return stacked, torch.tensor([index[label] for label in labels], dtype=torch.long)
