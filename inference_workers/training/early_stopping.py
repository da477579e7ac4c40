"""Early stopping for the built-in trainers: keep the best epoch's weights, stop when the
held-out figures have not improved for ``patience`` epochs.

"Best" is the highest held-out metric (mAP@0.5 for a detector, accuracy for a classifier),
ties broken by the lower held-out loss; without a metric (nothing held out measured it), the
lowest held-out loss; without either, the last epoch. The weights are copied to the CPU when
an epoch is the best so far (a ~1 MB copy for the built-in models).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

Stop = Callable[[], bool]
"""Asked before each batch: True stops training (the job was cancelled, the worker stops)."""


class TrainingStopped(Exception):
    """Training was stopped from outside (``Stop`` said so); nothing is returned."""


class BestEpoch:
    """Tracks the best epoch and its weights; ``observe`` says whether to stop now."""

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.best: dict[str, Any] | None = None
        self._key: tuple[float, float] | None = None
        self._state: dict[str, torch.Tensor] | None = None

    def observe(self, model: nn.Module, record: dict[str, Any]) -> bool:
        """Note an epoch's record (``epoch``, ``val_loss``, ``val_metric``); True when
        ``patience`` epochs have passed since the best one."""
        metric, loss = record.get("val_metric"), record.get("val_loss")
        key = (metric if metric is not None else float("-inf"),
               -loss if loss is not None else float("-inf"))
        if self._key is None or key > self._key or (metric is None and loss is None):
            self._key, self.best = key, dict(record)
            self._state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        assert self.best is not None
        return (self.patience is not None
                and record["epoch"] - int(self.best["epoch"]) >= self.patience)

    def restore(self, model: nn.Module) -> None:
        """Load the best epoch's weights back into ``model``."""
        if self._state is not None:
            model.load_state_dict(self._state)
