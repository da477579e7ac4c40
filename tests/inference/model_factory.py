"""Real tiny models, written to a path, for the inference tests (nothing is downloaded).

Each builder makes a small torch network and exports it (ONNX through the legacy TorchScript
exporter, ``dynamo=False``; or a TorchScript archive) with the metadata Ultralytics writes:
``names`` as a Python dict literal (``"{0: 'cat', 1: 'dog'}"``), ``stride``, ``imgsz``,
``task``, ``batch``. The ONNX input is ``images`` (``(B, 3, H, W)`` float in [0, 1], RGB) with a
dynamic batch axis unless ``dynamic=False``.

The *planted* models have a real conv trunk whose contribution is multiplied by zero, plus a
constant: whatever the image, they output exactly the planted detections (zeros elsewhere), so
a test knows the right answer in the letterboxed input space and can check the decoding and the
mapping back to image pixels against its own reference. ``random_yolov8_onnx`` is a real,
randomly initialised conv net in the YOLOv8 layout, for throughput benchmarks.

A planted detection is ``(cx, cy, w, h, class_index, score)`` in input pixels (the letterboxed
``imgsz`` space), centre format, as YOLO heads output it.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import onnx
import torch
from torch import nn

Planted = tuple[float, float, float, float, int, float]
"""``(cx, cy, w, h, class_index, score)`` in input pixels."""

Region = tuple[int, int, int, int, int]
"""``(x0, y0, x1, y1, class_index)`` in input pixels, end-exclusive."""

MASK_DIM = 32  # YOLOv8-seg's number of prototypes

YOLOV8N_WIDTH = 28
"""``random_yolov8_onnx(width=...)`` for YOLOv8n's cost (2.2 GFLOPs at 320x320)."""


def anchors_for(imgsz: tuple[int, int], strides: Sequence[int] = (8, 16, 32)) -> int:
    """How many candidate boxes a YOLOv8 head has for an input size (one per grid cell)."""
    return sum((imgsz[0] // s) * (imgsz[1] // s) for s in strides)


def names_literal(names: Sequence[str]) -> str:
    """The ``names`` metadata as Ultralytics writes it: ``str({0: 'cat', 1: 'dog'})``."""
    return str(dict(enumerate(names)))


def ultralytics_metadata(names: Sequence[str], imgsz: tuple[int, int], task: str,
                         stride: int = 32) -> dict[str, str]:
    return {
        "description": "Labelwright test model (tiny, planted outputs)",
        "author": "Labelwright tests",
        "version": "8.3.0",
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "stride": str(stride),
        "task": task,
        "batch": "1",
        "imgsz": str(list(imgsz)),
        "names": names_literal(names),
    }


class _Trunk(nn.Module):
    """A real conv trunk reduced to one number per image: multiplied by 0 it only carries the
    batch size into the constant output (and keeps the graph an image model)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(1, 2, 3)) * 0.0  # (B,)


class _Constant(nn.Module):
    """Outputs ``constant`` (one image's output) for every image of the batch."""

    def __init__(self, constant: torch.Tensor) -> None:
        super().__init__()
        self.trunk = _Trunk()
        self.register_buffer("constant", constant.unsqueeze(0).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        zero = self.trunk(x)
        shape = [-1] + [1] * (self.constant.dim() - 1)
        return self.constant + zero.reshape(shape)


class _ConstantPair(nn.Module):
    """Two constant outputs (YOLOv8-seg: detections and prototypes)."""

    def __init__(self, first: torch.Tensor, second: torch.Tensor) -> None:
        super().__init__()
        self.trunk = _Trunk()
        self.register_buffer("first", first.unsqueeze(0).float())
        self.register_buffer("second", second.unsqueeze(0).float())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zero = self.trunk(x)
        return (self.first + zero.reshape(-1, 1, 1),
                self.second + zero.reshape(-1, 1, 1, 1))


def _export(module: nn.Module, path: Path | str, imgsz: tuple[int, int],
            output_names: list[str], metadata: Mapping[str, str], *, dynamic: bool = True,
            input_shape: tuple[int, ...] | None = None, input_name: str = "images") -> Path:
    path = Path(path)
    module.eval()
    shape = input_shape or (1, 3, imgsz[0], imgsz[1])
    axes: dict[str, dict[int, str]] | None = None
    if dynamic:
        axes = {input_name: {0: "batch"}}
        axes.update({name: {0: "batch"} for name in output_names})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(module, (torch.zeros(shape),), str(path), input_names=[input_name],
                          output_names=output_names, dynamic_axes=axes, opset_version=17,
                          dynamo=False)
    graph = onnx.load(str(path))
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=value)
    onnx.save(graph, str(path))
    return path


def _check_planted(planted: Sequence[Planted], classes: int, anchors: int) -> None:
    if len(planted) > anchors:
        raise ValueError(f"{len(planted)} planted detections do not fit in {anchors} anchors")
    for det in planted:
        if not 0 <= det[4] < classes:
            raise ValueError(f"class index {det[4]} outside 0..{classes - 1}")


def yolov8_output(names: Sequence[str], imgsz: tuple[int, int],
                  planted: Sequence[Planted], extra: int = 0) -> torch.Tensor:
    """One image's ``(4 + C + extra, N)`` YOLOv8 output with the planted detections in the
    first columns (class scores of the other classes 0, other columns all 0)."""
    anchors = anchors_for(imgsz)
    _check_planted(planted, len(names), anchors)
    out = torch.zeros(4 + len(names) + extra, anchors)
    for column, (cx, cy, w, h, cls, score) in enumerate(planted):
        out[0:4, column] = torch.tensor([cx, cy, w, h])
        out[4 + cls, column] = score
    return out


def yolov8_onnx(path: Path | str, names: Sequence[str], imgsz: tuple[int, int] = (64, 64),
                planted: Sequence[Planted] = (), *, dynamic: bool = True,
                batch: int = 1) -> Path:
    """A detector in the YOLOv8/11 layout: ``output0`` ``(B, 4 + C, N)``; with
    ``dynamic=False`` the graph takes exactly ``batch`` images."""
    module = _Constant(yolov8_output(names, imgsz, planted))
    return _export(module, path, imgsz, ["output0"],
                   ultralytics_metadata(names, imgsz, "detect"), dynamic=dynamic,
                   input_shape=(batch, 3, imgsz[0], imgsz[1]))


def yolov5_onnx(path: Path | str, names: Sequence[str], imgsz: tuple[int, int] = (64, 64),
                planted: Sequence[Planted] = (), *, dynamic: bool = True) -> Path:
    """A detector in the YOLOv5 layout: ``output0`` ``(B, N, 5 + C)``; a planted score ``s`` is
    split as objectness ``sqrt(s)`` times class score ``sqrt(s)``."""
    anchors = 3 * anchors_for(imgsz)
    _check_planted(planted, len(names), anchors)
    out = torch.zeros(anchors, 5 + len(names))
    for row, (cx, cy, w, h, cls, score) in enumerate(planted):
        root = float(score) ** 0.5
        out[row, 0:5] = torch.tensor([cx, cy, w, h, root])
        out[row, 5 + cls] = root
    return _export(_Constant(out), path, imgsz, ["output0"],
                   ultralytics_metadata(names, imgsz, "detect"), dynamic=dynamic)


def yolov8_seg_outputs(names: Sequence[str], imgsz: tuple[int, int],
                       planted: Sequence[Planted],
                       mask_rects: Sequence[tuple[int, int, int, int]] | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's YOLOv8-seg outputs (see :func:`yolov8_seg_onnx`)."""
    if len(planted) > MASK_DIM:
        raise ValueError(f"at most {MASK_DIM} planted instances")
    ph, pw = imgsz[0] // 4, imgsz[1] // 4
    out = yolov8_output(names, imgsz, planted, extra=MASK_DIM)
    protos = torch.full((MASK_DIM, ph, pw), -20.0)
    for i, (cx, cy, w, h, _cls, _score) in enumerate(planted):
        if mask_rects is not None:
            x0, y0, x1, y1 = mask_rects[i]
        else:
            x0, y0, x1, y1 = (round(cx - w / 2), round(cy - h / 2), round(cx + w / 2),
                              round(cy + h / 2))
        out[4 + len(names) + i, i] = 1.0
        protos[i, max(0, y0 // 4):max(0, y1 // 4), max(0, x0 // 4):max(0, x1 // 4)] = 20.0
    return out, protos


def yolov8_seg_onnx(path: Path | str, names: Sequence[str], imgsz: tuple[int, int] = (64, 64),
                    planted: Sequence[Planted] = (),
                    mask_rects: Sequence[tuple[int, int, int, int]] | None = None, *,
                    dynamic: bool = True) -> Path:
    """An instance segmenter in the YOLOv8-seg layout: ``output0`` ``(B, 4 + C + 32, N)`` and
    ``output1`` prototypes ``(B, 32, H/4, W/4)``.

    Planted instance ``i`` (at most 32) has mask coefficients ``e_i`` and prototype ``i`` is
    +20 inside its rectangle and -20 outside, so its mask is that rectangle (then cropped to
    its box). ``mask_rects`` gives each rectangle ``(x0, y0, x1, y1)`` in input pixels
    (multiples of 4 map exactly onto the prototype grid); by default the box itself.
    """
    out, protos = yolov8_seg_outputs(names, imgsz, planted, mask_rects)
    return _export(_ConstantPair(out, protos), path, imgsz, ["output0", "output1"],
                   ultralytics_metadata(names, imgsz, "segment"), dynamic=dynamic)


def semantic_onnx(path: Path | str, names: Sequence[str], imgsz: tuple[int, int] = (64, 64),
                  planted_regions: Sequence[Region] = (), *, dynamic: bool = True) -> Path:
    """A semantic segmenter: ``output0`` logits ``(B, C, H, W)`` at the input size. Class 0
    wins everywhere (logit 2) except inside the planted regions (their class: logit 6)."""
    logits = torch.zeros(len(names), imgsz[0], imgsz[1])
    logits[0] = 2.0
    for x0, y0, x1, y1, cls in planted_regions:
        if not 0 <= cls < len(names):
            raise ValueError(f"class index {cls} outside 0..{len(names) - 1}")
        logits[cls, y0:y1, x0:x1] = 6.0
    return _export(_Constant(logits), path, imgsz, ["output0"],
                   ultralytics_metadata(names, imgsz, "segment"), dynamic=dynamic)


def classifier_onnx(path: Path | str, names: Sequence[str], planted_scores: Sequence[float],
                    imgsz: tuple[int, int] = (64, 64), *, dynamic: bool = True) -> Path:
    """An image classifier: ``output0`` ``(B, C)`` equal to ``planted_scores`` (probabilities
    or logits: the decoder applies softmax when they are not probabilities)."""
    if len(planted_scores) != len(names):
        raise ValueError("one planted score per class")
    module = _Constant(torch.tensor(list(planted_scores), dtype=torch.float32))
    return _export(module, path, imgsz, ["output0"],
                   ultralytics_metadata(names, imgsz, "classify"), dynamic=dynamic)


class _ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        nn.init.kaiming_normal_(conv.weight)  # keeps the activations' spread through the depth
        super().__init__(conv, nn.BatchNorm2d(c_out), nn.SiLU())


class _RandomYolov8(nn.Module):
    """A small real detector in the YOLOv8 output layout: a strided conv backbone, one head per
    stride (8, 16, 32) predicting 4 box numbers and C class logits per cell, decoded into
    centre-format boxes in input pixels and sigmoid class scores (a negative class bias keeps
    the candidates above 0.25 few, as for a trained model on an empty scene)."""

    def __init__(self, classes: int, imgsz: tuple[int, int], width: int = 16) -> None:
        super().__init__()
        self.imgsz = imgsz
        self.stem = nn.Sequential(_ConvBlock(3, width, 2), _ConvBlock(width, width * 2, 2),
                                  _ConvBlock(width * 2, width * 2, 1),
                                  _ConvBlock(width * 2, width * 4, 2),
                                  _ConvBlock(width * 4, width * 4, 1))  # stride 8
        self.down16 = nn.Sequential(_ConvBlock(width * 4, width * 8, 2),
                                    _ConvBlock(width * 8, width * 8, 1))
        self.down32 = nn.Sequential(_ConvBlock(width * 8, width * 16, 2),
                                    _ConvBlock(width * 16, width * 16, 1))
        self.heads = nn.ModuleList(nn.Conv2d(c, 4 + classes, 1)
                                   for c in (width * 4, width * 8, width * 16))
        for head in self.heads:
            assert isinstance(head, nn.Conv2d) and head.bias is not None
            nn.init.normal_(head.weight, std=6.0 / head.in_channels ** 0.5)
            nn.init.constant_(head.bias[4:], -4.0)
        self.strides = (8, 16, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p8 = self.stem(x)
        p16 = self.down16(p8)
        p32 = self.down32(p16)
        outputs = []
        for feature, head, stride in zip((p8, p16, p32), self.heads, self.strides, strict=True):
            raw = head(feature)  # (B, 4 + C, h, w)
            b, _, h, w = raw.shape
            ys = torch.arange(h, dtype=x.dtype).view(1, h, 1).expand(1, h, w)
            xs = torch.arange(w, dtype=x.dtype).view(1, 1, w).expand(1, h, w)
            cx = (xs + torch.sigmoid(raw[:, 0])) * stride
            cy = (ys + torch.sigmoid(raw[:, 1])) * stride
            bw = torch.sigmoid(raw[:, 2]) * 4 * stride
            bh = torch.sigmoid(raw[:, 3]) * 4 * stride
            scores = torch.sigmoid(raw[:, 4:])
            box = torch.stack((cx, cy, bw, bh), dim=1)
            outputs.append(torch.cat((box, scores), dim=1).reshape(b, raw.shape[1], h * w))
        return torch.cat(outputs, dim=2)


def random_yolov8_onnx(path: Path | str, names: Sequence[str],
                       imgsz: tuple[int, int] = (320, 320), *, seed: int = 0,
                       dynamic: bool = True, width: int = 16) -> Path:
    """A small real conv net with random weights in the YOLOv8 layout (benchmarks). At 320x320
    it costs 0.75 GFLOPs with the default ``width`` (16); ``width=28`` costs about what YOLOv8n
    does (2.2 GFLOPs), :data:`YOLOV8N_WIDTH`."""
    torch.manual_seed(seed)
    module = _RandomYolov8(len(names), imgsz, width)
    return _export(module, path, imgsz, ["output0"],
                   ultralytics_metadata(names, imgsz, "detect"), dynamic=dynamic)


@contextlib.contextmanager
def _torchscript() -> Iterator[None]:
    """torch 2.13 deprecates TorchScript (``torch.jit.*`` warn); archives are still made and
    loaded, so the warning is silenced around these calls only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _ultralytics_config(names: Sequence[str], imgsz: tuple[int, int], task: str) -> str:
    """The ``config.txt`` extra file of an Ultralytics TorchScript export (JSON metadata)."""
    return json.dumps({"description": "Labelwright test model (tiny, planted outputs)",
                       "stride": 32, "task": task, "batch": 1, "imgsz": list(imgsz),
                       "names": dict(enumerate(names))})


def torchscript_yolov8(path: Path | str, names: Sequence[str], imgsz: tuple[int, int] = (64, 64),
                       planted: Sequence[Planted] = (), *, config: bool = True) -> Path:
    """The planted YOLOv8 detector as a TorchScript archive (``torch.jit.script``), with the
    metadata in the ``config.txt`` extra file as Ultralytics writes it (JSON), unless
    ``config=False``."""
    path = Path(path)
    module = _Constant(yolov8_output(names, imgsz, planted)).eval()
    extra = {"config.txt": _ultralytics_config(names, imgsz, "detect")} if config else {}
    with _torchscript():
        scripted = torch.jit.script(module)
        torch.jit.save(scripted, str(path), _extra_files=extra)
    return path


def torchscript_yolov8_seg(path: Path | str, names: Sequence[str],
                           imgsz: tuple[int, int] = (64, 64),
                           planted: Sequence[Planted] = ()) -> Path:
    """The planted YOLOv8-seg model traced (``torch.jit.trace``) instead of scripted, to check
    both kinds of archive load (masks: the boxes, as :func:`yolov8_seg_onnx` by default)."""
    path = Path(path)
    out, protos = yolov8_seg_outputs(names, imgsz, planted)
    module = _ConstantPair(out, protos).eval()
    with _torchscript():
        traced = torch.jit.trace(module, torch.zeros(1, 3, *imgsz))
        torch.jit.save(traced, str(path),
                       _extra_files={"config.txt": _ultralytics_config(names, imgsz, "segment")})
    return path


class _BatchOfOne(nn.Module):
    """The planted detector, but it refuses batches of more than one image (as a module traced
    with its batch baked in does), or every batch when ``always_fail``."""

    def __init__(self, constant: torch.Tensor, always_fail: bool) -> None:
        super().__init__()
        self.inner = _Constant(constant)
        self.always_fail = always_fail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.always_fail or x.shape[0] != 1:
            raise RuntimeError("shape mismatch: this module takes one image at a time")
        return self.inner(x)


def torchscript_batch_of_one(path: Path | str, names: Sequence[str],
                             imgsz: tuple[int, int] = (64, 64), planted: Sequence[Planted] = (),
                             *, always_fail: bool = False) -> Path:
    """A TorchScript archive of the planted detector that fails on batches of more than one
    image (or on everything, ``always_fail``)."""
    path = Path(path)
    module = _BatchOfOne(yolov8_output(names, imgsz, planted), always_fail).eval()
    with _torchscript():
        torch.jit.save(torch.jit.script(module), str(path),
                       _extra_files={"config.txt": _ultralytics_config(names, imgsz, "detect")})
    return path


def two_input_onnx(path: Path | str, imgsz: tuple[int, int] = (64, 64)) -> Path:
    """A graph with two image-shaped inputs (``a + b``): a runner feeds only one."""
    shape = ["batch", 3, imgsz[0], imgsz[1]]
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Add", ["images", "mask"], ["output0"])], "two_inputs",
        [onnx.helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT, shape),
         onnx.helper.make_tensor_value_info("mask", onnx.TensorProto.FLOAT, shape)],
        [onnx.helper.make_tensor_value_info("output0", onnx.TensorProto.FLOAT, shape)])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def half_precision_onnx(source: Path | str, path: Path | str) -> Path:
    """``source`` (a one-input, one-output float32 graph) taking and giving float16, as a model
    exported with ``half=True`` does: a Cast in front of the input and after the output."""
    model = onnx.load(str(source))
    graph = model.graph
    graph_input, graph_output = graph.input[0], graph.output[0]
    inner_input, inner_output = graph_input.name, graph_output.name
    for node in graph.node:  # the float graph now reads and writes renamed tensors
        node.output[:] = [f"{inner_output}_float" if o == inner_output else o
                          for o in node.output]
    graph_input.name = f"{inner_input}_half"
    graph_input.type.tensor_type.elem_type = onnx.TensorProto.FLOAT16
    graph_output.type.tensor_type.elem_type = onnx.TensorProto.FLOAT16
    graph.node.insert(0, onnx.helper.make_node("Cast", [graph_input.name], [inner_input],
                                               to=onnx.TensorProto.FLOAT))
    graph.node.append(onnx.helper.make_node("Cast", [f"{inner_output}_float"], [inner_output],
                                            to=onnx.TensorProto.FLOAT16))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


class _Flat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(10, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def non_image_input_onnx(path: Path | str) -> Path:
    """A graph whose input is ``(1, 10)`` float: not an image (for refusal tests)."""
    return _export(_Flat(), path, (1, 10), ["output0"],
                   {"names": names_literal(["a", "b"]), "task": "classify"}, dynamic=False,
                   input_shape=(1, 10), input_name="input")


class _FeatureClassifier(nn.Module):
    """A classifier whose logits follow the image: ``mean RGB (B, 3) @ weights (3, C) * 10``,
    and a second output of features: a real conv feature map ``(B, F, h, w)`` (or its spatial
    mean ``(B, F)``). With ``nan_below``, an image whose mean red is below it gets NaN logits
    (``0 * sqrt(negative)``): a model gone wrong on some inputs."""

    def __init__(self, classes: int, features: int, feature_map: bool,
                 nan_below: float | None) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(7)
        self.register_buffer("weights", torch.randn(3, classes, generator=generator))
        self.conv = nn.Conv2d(3, features, 3, stride=4, padding=1)
        self.feature_map = feature_map
        self.nan_below = nan_below

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        means = x.mean(dim=(2, 3))  # (B, 3)
        logits = means @ self.weights * 10.0
        if self.nan_below is not None:
            logits = logits + 0.0 * torch.sqrt(means[:, :1] - self.nan_below)
        features = torch.relu(self.conv(x))
        return logits, features if self.feature_map else features.mean(dim=(2, 3))


def feature_classifier_weights(classes: int) -> torch.Tensor:
    """The ``(3, C)`` weights ``feature_classifier_onnx`` multiplies the mean RGB with."""
    return torch.randn(3, classes, generator=torch.Generator().manual_seed(7))


def feature_classifier_onnx(path: Path | str, names: Sequence[str],
                            imgsz: tuple[int, int] = (64, 64), *, features: int = 8,
                            feature_map: bool = True, nan_below: float | None = None) -> Path:
    """A classifier (``output0`` ``(B, C)`` logits of the image's mean colour, see
    ``_FeatureClassifier``) with a features output ``features`` (``(B, F, h, w)``, or
    ``(B, F)`` when not ``feature_map``): what a score job pools into embeddings."""
    module = _FeatureClassifier(len(names), features, feature_map, nan_below)
    return _export(module, path, imgsz, ["output0", "features"],
                   ultralytics_metadata(names, imgsz, "classify"))
