"""What the rest of Labelwright knows about running a model: the shapes passed in and out.

* ``ModelSpec``: what inspecting an uploaded weights file found (``model_files.inspect_model``);
  its fields become the ``ModelRegistered`` event's.
* ``ModelInfo``: what a runner needs to load weights again: the registered ``domain.model.Model``
  aggregate and a ``ModelSpec`` both fit it.
* ``Prediction``: one model output in image pixels, in the geometry of the public API (box
  ``{"x","y","w","h"}``, polygon ``{"points"}``, mask ``{"rle": {"size": [h, w], "counts"}}``,
  tag ``{}``), labelled with the *model's* class name (the job maps it onto the project's).
* ``Runner``: loaded weights that predict on a batch of RGB ``uint8`` images ``(H, W, 3)`` of any
  sizes (each is letterboxed to the model's input and mapped back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

RGBImage = npt.NDArray[np.uint8]  # (H, W, 3), RGB


@dataclass(frozen=True)
class ModelSpec:
    """What a weights file is, found by inspecting it (nothing is run from an upload before
    it has been inspected)."""

    format: str  # onnx | torchscript | state_dict
    task: str  # detect | segment | classify | interactive
    layout: str  # yolov5 | yolov8 | yolov8_seg | semantic | classifier | centernet | sam
    architecture: str | None  # built-in architecture of a state dict (centernet, ...)
    classes: list[str]  # the model's class names, in its output order ([] if unknown)
    input_size: list[int] | None  # [height, width] the model takes (None: any)
    details: dict[str, Any] = field(default_factory=dict)  # JSON-safe facts (input name...)


class ModelInfo(Protocol):
    """What loading a registered model needs (``domain.model.Model`` fits this)."""

    @property
    def format(self) -> str: ...
    @property
    def task(self) -> str: ...
    @property
    def layout(self) -> str: ...
    @property
    def architecture(self) -> str | None: ...
    @property
    def classes(self) -> list[str]: ...
    @property
    def input_size(self) -> list[int] | None: ...
    @property
    def details(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Prediction:
    """One output of a model on one image, in image pixels."""

    type: str  # box | polygon | mask | tag
    label: str  # the model's class name
    geometry: dict[str, Any]
    score: float


class Runner(Protocol):
    """Loaded weights, ready to predict. Not thread-safe: one caller at a time."""

    batch_size: int

    def predict(self, images: list[RGBImage], *, threshold: float = 0.25, iou: float = 0.45,
                max_per_image: int = 300) -> list[list[Prediction]]:
        """Per image, its predictions with score >= ``threshold`` after class-aware NMS at
        ``iou``, best first, at most ``max_per_image``."""
        ...


@dataclass(frozen=True)
class RawScore:
    """What a model says about one image, for a score job (``Scorer.score``).

    ``probabilities``: ``(classes,)`` in the model's class order: a classifier's softmax (or the
    probabilities it outputs), a detector's highest box confidence per class (0 where none).
    ``boxes``: a detector's boxes ``(n, 4)`` x1 y1 x2 y2 in image pixels after NMS, best first,
    with ``box_scores`` ``(n,)`` and ``box_classes`` ``(n,)`` (class indices); ``None`` for a
    classifier. ``embedding``: ``(d,)`` penultimate or pooled backbone features, or ``None``
    when the model exposes none."""

    probabilities: npt.NDArray[np.float32]
    boxes: npt.NDArray[np.float64] | None = None
    box_scores: npt.NDArray[np.float64] | None = None
    box_classes: npt.NDArray[np.int64] | None = None
    embedding: npt.NDArray[np.float32] | None = None


SCORE_THRESHOLD = 0.1
"""The lowest box confidence a detector's ``score`` keeps (below it, a box is background)."""


class Scorer(Protocol):
    """A runner that can score images for active learning (every built-in runner; a runner
    without ``score`` cannot run score jobs)."""

    def score(self, images: list[RGBImage], *, threshold: float = SCORE_THRESHOLD,
              iou: float = 0.45, max_per_image: int = 100) -> list[RawScore]:
        """Per image, its ``RawScore`` (boxes with confidence >= ``threshold`` after
        class-aware NMS at ``iou``, at most ``max_per_image``)."""
        ...


class CannotScore(Exception):
    """This model cannot be scored (a layout with no class probabilities per image)."""
