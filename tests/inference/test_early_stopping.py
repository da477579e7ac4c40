"""Early stopping of the built-in trainers: the best epoch's weights come back, and patience
counts epochs since the best one."""

from __future__ import annotations

import torch
from torch import nn

from inference_workers.training.early_stopping import BestEpoch


def _epoch(model: nn.Linear, value: float) -> None:
    with torch.no_grad():
        model.weight.fill_(value)


def test_the_best_epoch_is_kept_and_patience_stops_training() -> None:
    model = nn.Linear(2, 1)
    best = BestEpoch(patience=2)
    records = [(0.5, 1.0), (0.7, 0.9), (0.6, 0.8), (0.7, 0.95), (0.65, 0.7)]
    stopped_at = None
    for epoch, (metric, loss) in enumerate(records, 1):
        _epoch(model, float(epoch))
        if best.observe(model, {"epoch": epoch, "val_metric": metric, "val_loss": loss}):
            stopped_at = epoch
            break
    # Epoch 4 ties epoch 2's metric with a worse loss: epoch 2 stays the best, 4 stops.
    assert stopped_at == 4 and best.best is not None and best.best["epoch"] == 2
    best.restore(model)
    assert torch.all(model.weight == 2.0)


def test_without_a_metric_the_loss_decides_and_without_either_the_last_epoch() -> None:
    model = nn.Linear(2, 1)
    by_loss = BestEpoch(patience=None)
    for epoch, loss in enumerate([0.9, 0.5, 0.7], 1):
        _epoch(model, float(epoch))
        assert not by_loss.observe(model, {"epoch": epoch, "val_metric": None, "val_loss": loss})
    assert by_loss.best is not None and by_loss.best["epoch"] == 2
    last = BestEpoch(patience=1)
    for epoch in (1, 2, 3):
        _epoch(model, float(epoch))
        assert not last.observe(model, {"epoch": epoch, "val_metric": None, "val_loss": None})
    last.restore(model)
    assert torch.all(model.weight == 3.0)
