"""Running an ONNX model with ONNX Runtime: the first-class format (any exporter writes it, and
the runtime needs no Python code from the upload).

The graph says what it takes: its one input must be an image tensor ``(batch, 3, h, w)``
(float32, float16 or float64); ``h`` and ``w`` come from the graph, or from
``ModelInfo.input_size`` when they are symbolic. When the batch axis is symbolic, images go
``batch_size`` at a time; a fixed batch of ``b`` is filled up to ``b`` with grey images
(usually ``b`` is 1: one by one).
Images are letterboxed, RGB, divided by 255, NCHW (Ultralytics' preprocessing); the outputs are
decoded by ``ModelInfo.layout`` (:mod:`inference_workers.output_decoders`).

Providers: CUDA first when asked for ``device="cuda"`` and this onnxruntime build has it, then
the CPU. ``threads`` sets ONNX Runtime's intra-op pool (the worker pins it so two workers on
one machine do not fight over cores); inter-op stays 1, the graphs here are sequential.
Its threads do not spin-wait between operators (``spinning=False``): between two runs the
runner letterboxes (on a thread of its own, overlapping the next run: ``BatchPreparer``) and
decodes, and spinning threads took those cores. Measured with ``benchmarks/inference_runner.py``
on a loaded 2-core machine: 0.64 of the bare loop's throughput with spinning, 0.99 without.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

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
"""Images per run when the graph's batch axis is dynamic (enough to amortise a run's fixed cost
on the CPU; the worker may set ``batch_size``)."""

_INPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
                "tensor(double)": np.float64}


def providers_for(device: str) -> list[str]:
    """The execution providers to ask for, best first."""
    available = ort.get_available_providers()
    if device.startswith("cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def image_input(shape: list[Any], input_size: list[int] | None, name: str
                ) -> tuple[tuple[int, int], int | None]:
    """From an ONNX input's shape (ints, or names/None for symbolic axes): the input size
    (h, w) and the fixed batch size (None: dynamic). ``ValidationFailed`` if it is not an
    image tensor."""
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise ValidationFailed(f"the model's input {name!r} has shape {shape}, not an image "
                               f"tensor (batch, 3, height, width)", {"field": "weights"})
    h, w = shape[2], shape[3]
    if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
        size = (h, w)
    elif input_size is not None and len(input_size) == 2:
        size = (int(input_size[0]), int(input_size[1]))
    else:
        raise ValidationFailed(f"the model's input {name!r} has no fixed size ({shape}); "
                               f"give input_size", {"field": "input_size"})
    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    return size, batch


class OnnxRunner:
    """An ONNX model loaded into an ``onnxruntime.InferenceSession``, ready to predict."""

    def __init__(self, info: ModelInfo, path: Path | str, *, device: str = "cpu",
                 threads: int | None = None, batch_size: int = DEFAULT_BATCH,
                 spinning: bool = False) -> None:
        decoder_for(info.layout)  # an unknown layout fails now, not on the first image
        self.layout = info.layout
        self.classes = list(info.classes)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            with warnings.catch_warnings():  # onnxruntime warns when CUDA is asked but absent
                warnings.simplefilter("ignore", UserWarning)
                self.session = ort.InferenceSession(str(path), sess_options=options,
                                                    providers=providers_for(device))
        except Exception as error:  # onnxruntime raises its own untyped errors on bad graphs
            raise ValidationFailed(f"ONNX Runtime cannot load this model: {error}",
                                   {"field": "weights"}) from error
        self.device = "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValidationFailed(f"the model takes {len(inputs)} inputs "
                                   f"({', '.join(i.name for i in inputs)}); a runner feeds it "
                                   f"one image tensor", {"field": "weights"})
        graph_input = inputs[0]
        self.input_name = graph_input.name
        self.input_size, self.fixed_batch = image_input(list(graph_input.shape),
                                                        info.input_size, graph_input.name)
        if graph_input.type not in _INPUT_TYPES:
            raise ValidationFailed(f"the model's input is {graph_input.type}, not a float "
                                   f"image tensor", {"field": "weights"})
        self.input_dtype = _INPUT_TYPES[graph_input.type]
        self.output_names = [output.name for output in self.session.get_outputs()]
        self.batch_size = self.fixed_batch or max(1, batch_size)
        self.preparer = BatchPreparer(self.input_size, self.fixed_batch)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """The raw outputs for an input batch (``(B, 3, h, w)``, already preprocessed)."""
        try:
            outputs = self.session.run(self.output_names, {self.input_name: batch})
        except Exception as error:  # onnxruntime's errors are untyped (Fail, InvalidArgument...)
            raise ValidationFailed(f"the model failed on a batch of {batch.shape[0]} images: "
                                   f"{error}", {"field": "weights"}) from error
        return [np.asarray(output) for output in outputs]

    def _batches(self, images: list[RGBImage]
                 ) -> Iterator[tuple[list[np.ndarray], Sequence[Letterbox]]]:
        """Each batch's float32 outputs (the fill-up images cut off) and letterboxes."""
        for count, tensor, boxes in self.preparer.batches(images, self.batch_size):
            batch = tensor.numpy()
            if self.input_dtype is not np.float32:
                batch = batch.astype(self.input_dtype)
            yield [o[:count].astype(np.float32, copy=False) for o in self.run(batch)], boxes

    def predict(self, images: list[RGBImage], *, threshold: float = 0.25, iou: float = 0.45,
                max_per_image: int = 300) -> list[list[Prediction]]:
        params = DecodeParams(threshold=threshold, iou=iou, max_per_image=max_per_image)
        result: list[list[Prediction]] = []
        for outputs, boxes in self._batches(images):
            result.extend(decode(self.layout, outputs, boxes, self.classes, params))
        return result

    def score(self, images: list[RGBImage], *, threshold: float = SCORE_THRESHOLD,
              iou: float = 0.45, max_per_image: int = 100) -> list[RawScore]:
        """``model_api.Scorer``: probabilities, boxes and an embedding from an output the
        decoder does not read (``output_scores``)."""
        params = DecodeParams(threshold=threshold, iou=iou, max_per_image=max_per_image)
        result: list[RawScore] = []
        for outputs, boxes in self._batches(images):
            result.extend(score_outputs(self.layout, outputs, boxes, self.classes, params))
        return result

    def close(self) -> None:
        """Stop the letterboxing thread (the session goes with the runner)."""
        self.preparer.close()
