"""Running a TorchScript archive (``torch.jit.save``; Ultralytics' ``.torchscript`` export).

Why this is safe to load from an upload: a TorchScript archive is a zip of TorchScript source
(a restricted, statically typed subset of Python that torch compiles itself) and tensor data;
``torch.jit.load`` reads it with torch's own deserializer and never unpickles arbitrary Python
objects or imports modules named by the file, unlike ``torch.load`` of a pickled model. (torch
2.13 deprecates TorchScript in favour of ``torch.export``; archives still load, and the
deprecation warning is silenced around the load only.)

The archive does not say its input size: ``ModelInfo.input_size`` gives it, else Ultralytics'
``config.txt`` extra file (``imgsz``). The same layouts as ONNX are decoded
(:mod:`inference_workers.output_decoders`); a module returning a tuple or list (YOLOv8-seg:
detections and prototypes) gives its tensors in order. Everything runs under
``torch.inference_mode`` on ``device``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from domain.errors import ValidationFailed
from inference_workers.letterbox import BatchPreparer, Letterbox
from inference_workers.model_api import (
    SCORE_THRESHOLD,
    ModelInfo,
    Prediction,
    RawScore,
    RGBImage,
)
from inference_workers.output_decoders import DecodeParams, decode, decoder_for
from inference_workers.output_scores import score_outputs

DEFAULT_BATCH = 8

_RUN_ERRORS = (RuntimeError, torch.jit.Error)
"""What a module raises when it cannot run a batch (a shape it does not take, a TorchScript
``raise``: ``torch.jit.Error`` is not a RuntimeError)."""


def _tensors(output: Any) -> list[torch.Tensor]:
    """The tensors of a module's output, flattened in order (tensor, tuple, list, dict)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    if isinstance(output, dict):
        return [t for item in output.values() for t in _tensors(item)]
    return []


def archive_config(extra: dict[str, Any]) -> dict[str, Any]:
    """Ultralytics' ``config.txt`` (JSON) from a loaded archive's extra files, or ``{}``."""
    raw = extra.get("config.txt") or b""
    try:
        config = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return config if isinstance(config, dict) else {}


def _input_size(info: ModelInfo, config: dict[str, Any]) -> tuple[int, int]:
    size: Any = info.input_size or config.get("imgsz")
    if isinstance(size, int):
        size = [size, size]
    if (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) and v > 0 for v in size)):
        return int(size[0]), int(size[1])
    raise ValidationFailed("a TorchScript archive does not say its input size; give "
                           "input_size", {"field": "input_size"})


def _failed(error: Exception) -> ValidationFailed:
    return ValidationFailed(f"the TorchScript model failed on an image: {error}",
                            {"field": "weights"})


class TorchScriptRunner:
    """A TorchScript archive loaded with ``torch.jit.load``, ready to predict."""

    def __init__(self, info: ModelInfo, path: Path | str, *, device: str = "cpu",
                 threads: int | None = None, batch_size: int = DEFAULT_BATCH) -> None:
        decoder_for(info.layout)
        self.layout = info.layout
        self.classes = list(info.classes)
        self.device = torch.device(device if device != "cuda" or torch.cuda.is_available()
                                   else "cpu")
        if threads is not None:
            torch.set_num_threads(threads)  # torch's pool is per process: the worker's choice
        extra: dict[str, Any] = {"config.txt": ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.module = torch.jit.load(str(path), map_location=self.device,
                                             _extra_files=extra)
        except Exception as error:  # torch raises RuntimeError and others on a bad archive
            raise ValidationFailed(f"not a TorchScript archive torch can load: {error}",
                                   {"field": "weights"}) from error
        self.module.eval()
        self.input_size = _input_size(info, archive_config(extra))
        parameter = next(iter(self.module.parameters()), None)
        self.dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() \
            else torch.float32
        self.batch_size = max(1, batch_size)
        self.preparer = BatchPreparer(self.input_size)

    def run(self, batch: torch.Tensor) -> list[np.ndarray]:
        """The raw outputs (float32 numpy arrays) for a preprocessed input batch."""
        with torch.inference_mode():
            output = self.module(batch.to(self.device, self.dtype))  # _RUN_ERRORS: see predict
        tensors = _tensors(output)
        if not tensors:
            raise ValidationFailed("the TorchScript module returned no tensor",
                                   {"field": "weights"})
        return [t.float().cpu().numpy() for t in tensors]

    def predict(self, images: list[RGBImage], *, threshold: float = 0.25, iou: float = 0.45,
                max_per_image: int = 300) -> list[list[Prediction]]:
        params = DecodeParams(threshold=threshold, iou=iou, max_per_image=max_per_image)
        result: list[list[Prediction]] = []
        for outputs, boxes in self._batches(images):
            result.extend(decode(self.layout, outputs, boxes, self.classes, params))
        return result

    def score(self, images: list[RGBImage], *, threshold: float = SCORE_THRESHOLD,
              iou: float = 0.45, max_per_image: int = 100) -> list[RawScore]:
        """``model_api.Scorer``, as for ONNX (``output_scores``): a module returning a tuple
        whose extra tensor is ``(B, d)`` or ``(B, C, h, w)`` gives the embedding."""
        params = DecodeParams(threshold=threshold, iou=iou, max_per_image=max_per_image)
        result: list[RawScore] = []
        for outputs, boxes in self._batches(images):
            result.extend(score_outputs(self.layout, outputs, boxes, self.classes, params))
        return result

    def _batches(self, images: list[RGBImage]
                 ) -> Iterator[tuple[list[np.ndarray], Sequence[Letterbox]]]:
        """Each batch's float32 outputs and letterboxes."""
        for _count, batch, boxes in self.preparer.batches(images, self.batch_size):
            try:
                outputs = self.run(batch)
            except _RUN_ERRORS as error:
                if batch.shape[0] == 1:
                    raise _failed(error) from error
                # a traced module may have its batch of 1 baked in: one by one from now on
                self.batch_size = 1
                try:
                    outputs = [np.concatenate(parts) for parts in
                               zip(*(self.run(batch[i:i + 1]) for i in range(batch.shape[0])),
                                   strict=True)]
                except _RUN_ERRORS as single_error:
                    raise _failed(single_error) from single_error
            yield outputs, boxes

    def close(self) -> None:
        """Stop the letterboxing thread."""
        self.preparer.close()
