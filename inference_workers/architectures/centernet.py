"""A small CenterNet-style detector ("Objects as Points", Zhou et al. 2019) in plain torch.

Why this one: it is the simplest detector that trains well from scratch on a CPU in minutes
(no anchors, no NMS needed in training, one forward), so a project's labels can become a model
inside the tool, and a shipped demo model can be reproduced by ``scripts/train-demo-model``.

* Input: a batch ``(B, 3, H, W)`` of RGB in ``[0, 1]`` (``H``, ``W`` multiples of 16), each
  image letterboxed like Ultralytics (``inference_workers.letterbox``: aspect kept, grey 114
  padding, centred). The model
  normalises inside (``(x - 0.5) / 0.25`` per channel, fixed, not in the state dict), so callers
  never have to know a mean and a std.
* Backbone: four conv-bn-relu stages with stride 2 each (strides 2, 4, 8, 16; ``width``,
  ``2 width``, ``4 width``, ``8 width`` channels), a tiny FPN back to stride 4.
* Heads at stride 4: ``heatmap`` (one logit per class, sigmoid, a peak per object centre),
  ``size`` (box width and height in output cells) and ``offset`` (the centre's sub-cell
  position, in cells).
* Decoding: a 3x3 max-pool over the strongest class keeps local peaks (one class per centre,
  see ``decode``), the top ``k`` peaks become boxes in input pixels; ``CenterNetRunner`` maps
  them back through the letterbox to image pixels and applies class-aware NMS
  (``box_ops.batched_nms``) and ``max_per_image`` (peaks rarely overlap, but the ``Runner``
  contract promises it for every model).
* ``CenterNet.embed`` gives the pooled deepest backbone features per image (active learning).

Parameter names are the state dict's: ``architectures.inspect_state_dict`` reads ``num_classes``
from ``heatmap.2.weight`` and ``width`` from ``stem.0.0.weight``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inference_workers.box_ops import batched_nms
from inference_workers.letterbox import Letterbox, letterbox_batch
from inference_workers.model_api import SCORE_THRESHOLD, Prediction, RawScore, RGBImage
from inference_workers.output_scores import detections_score

OUTPUT_STRIDE = 4
DEFAULT_INPUT_SIZE = (256, 256)  # (height, width)
DEFAULT_WIDTH = 16
MAX_PEAKS = 300  # peaks decoded per image at most


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def _head(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(c_in, c_out, 1)
    )


def backbone_stages(width: int) -> tuple[nn.Sequential, nn.Sequential, nn.Sequential,
                                         nn.Sequential]:
    """The backbone's four stages (strides 2, 4, 8, 16), as ``stem``, ``stage2``, ``stage3``,
    ``stage4``; the built-in classifier has the same, so it can start from a CenterNet's."""
    w = width
    return (
        nn.Sequential(_conv_bn_relu(3, w, 2), _conv_bn_relu(w, w)),
        nn.Sequential(_conv_bn_relu(w, 2 * w, 2), _conv_bn_relu(2 * w, 2 * w)),
        nn.Sequential(_conv_bn_relu(2 * w, 4 * w, 2), _conv_bn_relu(4 * w, 4 * w)),
        # One more conv at stride 16: a receptive field (~120 px) larger than the objects.
        nn.Sequential(_conv_bn_relu(4 * w, 8 * w, 2), _conv_bn_relu(8 * w, 8 * w),
                      _conv_bn_relu(8 * w, 8 * w)),
    )


@dataclass(frozen=True)
class CenterNetOutput:
    """Raw head outputs at stride 4: ``heatmap`` logits ``(B, C, h, w)``, ``size`` and
    ``offset`` ``(B, 2, h, w)`` (x then y, in output cells)."""

    heatmap: torch.Tensor
    size: torch.Tensor
    offset: torch.Tensor


class CenterNet(nn.Module):
    """``CenterNet(num_classes, width=16)``: ~0.3 M parameters at width 16."""

    output_stride = OUTPUT_STRIDE

    def __init__(self, num_classes: int, width: int = DEFAULT_WIDTH) -> None:
        super().__init__()
        if num_classes < 1 or width < 1:
            raise ValueError("num_classes and width must be positive")
        self.num_classes = num_classes
        self.width = width
        w = width
        self.stem, self.stage2, self.stage3, self.stage4 = backbone_stages(width)
        neck = 2 * w
        self.lateral4 = nn.Conv2d(8 * w, neck, 1)
        self.lateral3 = nn.Conv2d(4 * w, neck, 1)
        self.lateral2 = nn.Conv2d(2 * w, neck, 1)
        self.smooth = _conv_bn_relu(neck, neck)
        self.heatmap = _head(neck, num_classes)
        self.size = _head(neck, 2)
        self.offset = _head(neck, 2)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5), persistent=False)
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.25), persistent=False)
        # Focal-loss prior: start every class at p = 0.1 so early training is not swamped by
        # the background (CenterNet's -2.19).
        last = self.heatmap[2]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.constant_(last.bias, -2.19)

    def _backbone(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = (x - self.mean) / self.std
        c2 = self.stage2(self.stem(x))
        c3 = self.stage3(c2)
        c4 = self.stage4(c3)
        return c2, c3, c4

    def forward(self, x: torch.Tensor) -> CenterNetOutput:
        return self._heads(*self._backbone(x))

    def _heads(self, c2: torch.Tensor, c3: torch.Tensor, c4: torch.Tensor) -> CenterNetOutput:
        p4 = self.lateral4(c4)
        p3 = self.lateral3(c3) + F.interpolate(p4, size=c3.shape[-2:], mode="nearest")
        p2 = self.lateral2(c2) + F.interpolate(p3, size=c2.shape[-2:], mode="nearest")
        features = self.smooth(p2)
        return CenterNetOutput(
            heatmap=self.heatmap(features), size=self.size(features), offset=self.offset(features)
        )

    def forward_and_embed(self, x: torch.Tensor) -> tuple[CenterNetOutput, torch.Tensor]:
        """``forward`` and ``embed`` in one pass over the backbone."""
        c2, c3, c4 = self._backbone(x)
        return self._heads(c2, c3, c4), c4.mean(dim=(2, 3))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features: the deepest backbone stage averaged over space,
        ``(B, 8 * width)``."""
        return self._backbone(x)[2].mean(dim=(2, 3))


@dataclass(frozen=True)
class Detections:
    """Decoded peaks of one image: ``boxes`` ``(N, 4)`` x1 y1 x2 y2 in input pixels, ``scores``
    ``(N,)``, ``classes`` ``(N,)`` class indices; best first."""

    boxes: torch.Tensor
    scores: torch.Tensor
    classes: torch.Tensor


def decode(output: CenterNetOutput, *, k: int = 100, threshold: float = 0.0) -> list[Detections]:
    """Peaks of the heatmap, the top ``k`` over all classes per image, those with score >=
    ``threshold``, as boxes in input pixels.

    A peak is the strongest score of *all classes* in its 3x3 cells, not only of its own
    class (the paper's per-class max-pool): an undecided object otherwise comes out twice,
    e.g. as a circle (0.6) and as a rectangle (0.3) at the same centre. On the demo's shapes
    that took the precision at threshold 0.25 from 0.76 to 0.998 at the same recall (0.991),
    mAP@0.5 0.986 -> 0.990. The price: of two objects of different classes whose centres are
    within one cell (4 input pixels), only the stronger is found."""
    heat = torch.sigmoid(output.heatmap.float())
    batch, classes, height, width = heat.shape
    strongest = heat.max(dim=1, keepdim=True).values
    peaks = heat * (F.max_pool2d(strongest, 3, stride=1, padding=1) == heat)
    k = min(k, classes * height * width)
    scores, flat = peaks.view(batch, -1).topk(k)
    cls = flat // (height * width)
    cell = flat % (height * width)
    ys = (cell // width).float()
    xs = (cell % width).float()
    size = output.size.float().view(batch, 2, -1)
    offset = output.offset.float().view(batch, 2, -1)
    index = cell.unsqueeze(1).expand(-1, 2, -1)
    w, h = size.gather(2, index).clamp(min=0).unbind(1)
    dx, dy = offset.gather(2, index).unbind(1)
    cx, cy = xs + dx, ys + dy
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=2) * OUTPUT_STRIDE
    result = []
    for i in range(batch):
        keep = scores[i] >= threshold
        result.append(Detections(boxes[i][keep], scores[i][keep], cls[i][keep]))
    return result


class CenterNetRunner:
    """A loaded ``CenterNet`` behind the ``model_api.Runner`` contract."""

    def __init__(self, model: CenterNet, classes: list[str], input_size: tuple[int, int],
                 device: torch.device, batch_size: int = 8) -> None:
        self.model = model.eval().to(device)
        self.classes = classes
        self.input_size = input_size
        self.device = device
        self.batch_size = batch_size

    def predict(self, images: list[RGBImage], *, threshold: float = 0.25, iou: float = 0.45,
                max_per_image: int = 300) -> list[list[Prediction]]:
        results: list[list[Prediction]] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            results.extend(self._predict_batch(chunk, threshold, iou, max_per_image))
        return results

    def embed(self, images: list[RGBImage]) -> torch.Tensor:
        """``CenterNet.embed`` of each image, letterboxed as for ``predict``: ``(N, D)`` float32
        on the CPU (for active-learning selection)."""
        out = []
        for start in range(0, len(images), self.batch_size):
            batch, _ = letterbox_batch(images[start : start + self.batch_size], self.input_size)
            with torch.inference_mode():
                out.append(self.model.embed(batch.to(self.device)).float().cpu())
        return torch.cat(out) if out else torch.zeros(0, 8 * self.model.width)

    def score(self, images: list[RGBImage], *, threshold: float = SCORE_THRESHOLD,
              iou: float = 0.45, max_per_image: int = 100) -> list[RawScore]:
        """``model_api.Scorer``: the boxes of ``predict`` (one forward pass also gives the
        embedding, ``CenterNet.embed``), per class its best box's confidence."""
        results: list[RawScore] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            batch, placements = letterbox_batch(chunk, self.input_size)
            with torch.inference_mode():
                output, embedding = self.model.forward_and_embed(batch.to(self.device))
                decoded = decode(output, k=max(1, min(max_per_image, MAX_PEAKS)),
                                 threshold=threshold)
            features = embedding.float().cpu().numpy()
            for i, (found, placement) in enumerate(zip(decoded, placements, strict=True)):
                predictions = self._to_predictions(found, placement, iou, max_per_image)
                results.append(detections_score(predictions, self.classes,
                                                self.model.num_classes, features[i]))
        return results

    def _predict_batch(self, images: list[RGBImage], threshold: float, iou: float,
                       max_per_image: int) -> list[list[Prediction]]:
        batch, placements = letterbox_batch(images, self.input_size)
        with torch.inference_mode():
            decoded = decode(self.model(batch.to(self.device)),
                             k=max(1, min(max_per_image, MAX_PEAKS)), threshold=threshold)
        return [self._to_predictions(found, placement, iou, max_per_image)
                for found, placement in zip(decoded, placements, strict=True)]

    def _to_predictions(self, found: Detections, placement: Letterbox, iou: float,
                        max_per_image: int) -> list[Prediction]:
        if max_per_image <= 0 or len(found.scores) == 0:
            return []
        boxes = torch.from_numpy(placement.boxes_to_image(found.boxes.cpu().numpy()))
        scores, classes = found.scores.cpu(), found.classes.cpu()
        visible = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores, classes = boxes[visible], scores[visible], classes[visible]
        keep = batched_nms(boxes, scores, classes, iou, max_per_image)
        return [_box_prediction(boxes[i], float(scores[i]), self.classes[int(classes[i])])
                for i in keep.tolist()]


def _box_prediction(box: torch.Tensor, score: float, label: str) -> Prediction:
    x1, y1, x2, y2 = (float(v) for v in box)
    geometry: dict[str, Any] = {"x": x1, "y": y1, "w": x2 - x1, "h": y2 - y1}
    return Prediction(type="box", label=label, geometry=geometry, score=score)


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius of a centre's Gaussian: the shift that keeps IoU >= ``min_overlap``
    with the true box (the smallest of the paper's three cases), in the box's units."""
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * a1 * c1)) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)
