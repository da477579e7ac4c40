"""Loading registered weights into a :class:`~inference_workers.model_api.Runner`, by format.

* ``onnx``: :class:`~inference_workers.onnx_runner.OnnxRunner` (ONNX Runtime);
* ``torchscript``: :class:`~inference_workers.torchscript_runner.TorchScriptRunner`;
* ``state_dict``: a built-in architecture written in torch
  (``inference_workers.architectures.load_state_dict_runner``, imported only when needed).

:class:`RunnerCache` keeps the last few loaded runners, so a worker running shard after shard of
one job loads the weights once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import torch

from domain.errors import ValidationFailed
from inference_workers.model_api import ModelInfo, Runner


def default_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_runner(info: ModelInfo, weights: Path, *, device: str | None = None,
                threads: int | None = None) -> Runner:
    """Load ``weights`` (a file of ``info.format``) to predict on ``device`` (default: the
    best there is) with ``threads`` CPU threads for the runtime (default: its own choice)."""
    device = device or default_device()
    if info.format == "onnx":
        from inference_workers.onnx_runner import OnnxRunner

        return OnnxRunner(info, weights, device=device, threads=threads)
    if info.format == "torchscript":
        from inference_workers.torchscript_runner import TorchScriptRunner

        return TorchScriptRunner(info, weights, device=device, threads=threads)
    if info.format == "state_dict":
        from inference_workers.architectures import load_state_dict_runner

        if threads is not None:  # torch's pool is per process: the worker's choice
            torch.set_num_threads(threads)
        return load_state_dict_runner(info, weights, device=device)
    raise ValidationFailed(f"unknown model format {info.format!r}; a runner loads onnx, "
                           f"torchscript or state_dict", {"field": "format"})


class RunnerCache:
    """The ``capacity`` most recently used runners, keyed by ``(key, device)``, where ``key``
    names the weights (their sha256, or their path). Thread-safe for the bookkeeping; a runner
    itself serves one caller at a time."""

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = max(1, capacity)
        self._runners: OrderedDict[tuple[str, str], Runner] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, info: ModelInfo, weights: Path, *, device: str | None = None,
            threads: int | None = None) -> Runner:
        """The cached runner of ``key`` on ``device``, loading it (and evicting the least
        recently used beyond ``capacity``) if needed."""
        device = device or default_device()
        cache_key = (key, device)
        with self._lock:
            runner = self._runners.get(cache_key)
            if runner is not None:
                self._runners.move_to_end(cache_key)
                return runner
        runner = load_runner(info, weights, device=device, threads=threads)
        with self._lock:
            self._runners[cache_key] = runner
            self._runners.move_to_end(cache_key)
            evicted = []
            while len(self._runners) > self.capacity:
                evicted.append(self._runners.popitem(last=False)[1])
        for old in evicted:
            _close(old)
        return runner

    def __len__(self) -> int:
        return len(self._runners)

    def clear(self) -> None:
        with self._lock:
            runners = list(self._runners.values())
            self._runners.clear()
        for runner in runners:
            _close(runner)


def _close(runner: Runner) -> None:
    """Let an evicted runner stop its helper thread (a runner without ``close`` has none)."""
    close = getattr(runner, "close", None)
    if callable(close):
        close()
