"""A small image classifier in plain torch: the built-in ``classifier`` architecture.

Why this one: a project whose labels are tags (one class per image) can train a model inside
the tool in seconds on a CPU. It is CenterNet's backbone (``centernet.backbone_stages``, the
same tensor names) with global average pooling and one linear layer, so a classifier can start
from a detector the project trained before (its backbone's tensors fit as they are).

* Input: RGB in ``[0, 1]``, letterboxed (``inference_workers.letterbox``) to ``input_size``
  (default 128x128), normalised inside like CenterNet.
* Output: one logit per class (softmax: single-label).
* ``TagClassifierRunner.predict`` gives tag predictions (``{"type": "tag", "geometry": {}}``):
  the classes whose probability reaches the threshold, best first; ``embed`` the pooled
  features (``8 * width``) for active-learning selection.

``architectures.inspect_state_dict`` reads ``num_classes`` from ``head.weight`` and ``width``
from ``stem.0.0.weight``.
"""

from __future__ import annotations

import torch
from torch import nn

from inference_workers.architectures.centernet import DEFAULT_WIDTH, backbone_stages
from inference_workers.letterbox import letterbox_batch
from inference_workers.model_api import Prediction, RGBImage

DEFAULT_INPUT_SIZE = (128, 128)  # (height, width)


class TagClassifier(nn.Module):
    """``TagClassifier(num_classes, width=16)``: ~0.3 M parameters at width 16."""

    def __init__(self, num_classes: int, width: int = DEFAULT_WIDTH) -> None:
        super().__init__()
        if num_classes < 1 or width < 1:
            raise ValueError("num_classes and width must be positive")
        self.num_classes = num_classes
        self.width = width
        self.stem, self.stage2, self.stage3, self.stage4 = backbone_stages(width)
        self.head = nn.Linear(8 * width, num_classes)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5), persistent=False)
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.25), persistent=False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features: the deepest stage averaged over space, ``(B, 8 * width)``."""
        x = (x - self.mean) / self.std
        return self.stage4(self.stage3(self.stage2(self.stem(x)))).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.embed(x))
        return logits


class TagClassifierRunner:
    """A loaded ``TagClassifier`` behind the ``model_api.Runner`` contract."""

    def __init__(self, model: TagClassifier, classes: list[str], input_size: tuple[int, int],
                 device: torch.device, batch_size: int = 32) -> None:
        self.model = model.eval().to(device)
        self.classes = classes
        self.input_size = input_size
        self.device = device
        self.batch_size = batch_size

    def probabilities(self, images: list[RGBImage]) -> torch.Tensor:
        """Softmax probabilities ``(N, C)``, float32 on the CPU."""
        out = []
        for start in range(0, len(images), self.batch_size):
            batch, _ = letterbox_batch(images[start:start + self.batch_size], self.input_size)
            with torch.inference_mode():
                out.append(torch.softmax(self.model(batch.to(self.device)).float(), 1).cpu())
        return torch.cat(out) if out else torch.zeros(0, len(self.classes))

    def predict(self, images: list[RGBImage], *, threshold: float = 0.25, iou: float = 0.45,
                max_per_image: int = 300) -> list[list[Prediction]]:
        """Per image, a tag for each class whose probability reaches ``threshold``, best
        first, at most ``max_per_image`` (``iou`` does not apply to tags)."""
        results: list[list[Prediction]] = []
        for row in self.probabilities(images):
            scores, order = row.sort(descending=True)
            results.append([
                Prediction(type="tag", label=self.classes[int(c)], geometry={}, score=float(p))
                for p, c in zip(scores.tolist(), order.tolist(), strict=True)
                if p >= threshold][:max(0, max_per_image)])
        return results

    def embed(self, images: list[RGBImage]) -> torch.Tensor:
        """``TagClassifier.embed`` of each image: ``(N, D)`` float32 on the CPU."""
        out = []
        for start in range(0, len(images), self.batch_size):
            batch, _ = letterbox_batch(images[start:start + self.batch_size], self.input_size)
            with torch.inference_mode():
                out.append(self.model.embed(batch.to(self.device)).float().cpu())
        return torch.cat(out) if out else torch.zeros(0, 8 * self.model.width)
