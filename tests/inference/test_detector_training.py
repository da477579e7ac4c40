"""The CenterNet trainer: a few seconds on tiny synthetic shapes lower the loss, the same seed gives
the same weights, the result is a state dict the registry accepts, bad inputs are refused, and
the COCOeval mAP it reports is right on known cases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from domain.errors import ValidationFailed
from inference_workers.architectures import inspect_state_dict
from inference_workers.model_api import Prediction
from inference_workers.synthetic_shapes import SHAPE_CLASSES, make_shapes
from inference_workers.training.detector_training import detection_map, train_centernet


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny convolutions gain nothing from a second thread, and torch's threads spin badly on a
    busy 2-core machine (the training test took 40 s there instead of 3)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny(n: int = 40, seed: int = 1) -> tuple[list[Any], list[dict[str, Any]]]:
    samples = make_shapes(n, size=(64, 64), seed=seed, max_shapes=2, min_size=10, max_size=32)
    return ([s.image for s in samples],
            [{"boxes": s.boxes, "labels": s.labels} for s in samples])


def test_make_shapes_is_deterministic_and_boxes_are_tight() -> None:
    first, again = make_shapes(5, seed=7), make_shapes(5, seed=7)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.image, b.image)
        assert (a.boxes, a.labels) == (b.boxes, b.labels)
    for sample in first:
        assert sample.image.shape == (256, 256, 3) and sample.image.dtype == np.uint8
        assert set(sample.labels) <= set(SHAPE_CLASSES) and sample.labels
        drawn = (sample.image != 255).any(axis=2)
        covered = np.zeros_like(drawn)
        for x, y, w, h in (map(int, box) for box in sample.boxes):
            inside = drawn[y:y + h, x:x + w]
            # every side of a box touches its shape
            assert inside[0].any() and inside[-1].any()
            assert inside[:, 0].any() and inside[:, -1].any()
            covered[y:y + h, x:x + w] = True
        assert not (drawn & ~covered).any()


def test_a_few_seconds_of_training_lower_the_loss_deterministically() -> None:
    images, targets = _tiny()
    seen: list[dict[str, Any]] = []

    state, metrics = train_centernet(images, targets, SHAPE_CLASSES, epochs=6, batch_size=8,
                                     input_size=64, width=8, seed=3, device="cpu",
                                     validation_fraction=0.1, progress=seen.append)

    assert [p["epoch"] for p in seen] == [1, 2, 3, 4, 5, 6]
    losses = [p["loss"] for p in metrics["epochs"]]
    assert losses[-1] < 0.8 * losses[0], losses
    assert metrics["train_images"] == 36 and metrics["validation_images"] == 4
    assert seen[-1]["val_loss"] is not None
    assert -1.0 <= metrics["map50"] <= 1.0
    spec = inspect_state_dict("centernet", state, SHAPE_CLASSES)
    assert spec.details["width"] == 8

    again, _ = train_centernet(images, targets, SHAPE_CLASSES, epochs=6, batch_size=8,
                               input_size=64, width=8, seed=3, device="cpu")
    assert all(torch.equal(state[k], again[k]) for k in state)


def test_training_starts_from_a_base_model_and_leaves_the_global_rng_alone() -> None:
    images, targets = _tiny(16)
    base, _ = train_centernet(images, targets, SHAPE_CLASSES, epochs=1, input_size=64, width=8,
                              validation_fraction=0.0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tuned, metrics = train_centernet(images, targets, SHAPE_CLASSES, epochs=1, input_size=64,
                                     width=8, initial_state=base, validation_fraction=0.0)
    assert torch.equal(torch.rand(3), expected)
    assert metrics["validation_images"] == 0 and "map50" not in metrics
    assert not torch.equal(base["heatmap.2.weight"], tuned["heatmap.2.weight"])
    assert metrics["tensors_from_base"] == len(base)

    # a base model with other classes: all but the heatmap's last layer carries over
    _, other = train_centernet(images, targets, [*SHAPE_CLASSES, "star"], epochs=1,
                               input_size=64, width=8, initial_state=base,
                               validation_fraction=0.0)
    assert other["tensors_from_base"] == len(base) - 2


@pytest.mark.parametrize(("images", "targets", "classes", "field"), [
    ([], [], SHAPE_CLASSES, "images"),
    ([np.zeros((8, 8, 3), np.uint8)], [{"boxes": [[0, 0, 4, 4]], "labels": ["star"]}],
     SHAPE_CLASSES, "labels"),
    ([np.zeros((8, 8, 3), np.uint8)], [{"boxes": [[0, 0, 4]], "labels": ["circle"]}],
     SHAPE_CLASSES, "targets"),
    ([np.zeros((8, 8), np.uint8)], [{"boxes": [], "labels": []}], SHAPE_CLASSES, "images"),
    ([np.zeros((8, 8, 3), np.uint8)], [{"boxes": [], "labels": []}], ["a", "a"], "classes"),
])
def test_bad_training_inputs_are_refused(images: list[Any], targets: list[dict[str, Any]],
                                         classes: list[str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        train_centernet(images, targets, classes, epochs=1)
    assert caught.value.details["field"] == field


def _box(label: str, box: list[float], score: float) -> Prediction:
    x, y, w, h = box
    return Prediction(type="box", label=label, geometry={"x": x, "y": y, "w": w, "h": h},
                      score=score)


def test_detection_map_is_one_for_exact_boxes_and_drops_with_misses() -> None:
    targets = [{"boxes": [[10, 10, 20, 20], [50, 50, 30, 10]], "labels": ["circle", "triangle"]},
               {"boxes": [[0, 0, 5, 5]], "labels": ["rectangle"]}]
    exact = [[_box("circle", [10, 10, 20, 20], 0.9), _box("triangle", [50, 50, 30, 10], 0.8)],
             [_box("rectangle", [0, 0, 5, 5], 0.7)]]
    assert detection_map(exact, targets, SHAPE_CLASSES) == {"map50": 1.0, "map": 1.0}

    wrong_class = [exact[0], [_box("circle", [0, 0, 5, 5], 0.7)]]
    scores = detection_map(wrong_class, targets, SHAPE_CLASSES)
    assert scores["map50"] < 1.0
    assert detection_map([[], []], targets, SHAPE_CLASSES) == {"map50": -1.0, "map": -1.0}
