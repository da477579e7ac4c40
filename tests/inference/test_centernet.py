"""The built-in CenterNet: its shapes, its decoding, the registry's checks of a state dict, loading
saved weights (safetensors, weights-only ``.pt``, content-addressed files without a suffix) and
refusing a pickle, and the shipped demo model finding shapes on images it never saw."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from domain.errors import ValidationFailed
from inference_workers.architectures import (
    BUILTIN_ARCHITECTURES,
    inspect_state_dict,
    load_state_dict_runner,
)
from inference_workers.architectures.centernet import CenterNet, CenterNetOutput, decode
from inference_workers.letterbox import PAD_VALUE
from inference_workers.model_api import ModelSpec, Prediction
from inference_workers.synthetic_shapes import SHAPE_CLASSES, make_shapes

DEMO = Path(__file__).resolve().parents[2] / "inference_workers" / "demo_model"
CLASSES = ["cat", "dog", "bird"]


def _state(num_classes: int = 3, width: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return CenterNet(num_classes, width=width).state_dict()


def _refusal(tensors: dict[str, torch.Tensor], classes: list[str] = CLASSES,
             **kwargs: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        inspect_state_dict("centernet", tensors, classes, **kwargs)
    return caught.value


def test_forward_gives_stride_4_heads_and_pooled_embeddings() -> None:
    model = CenterNet(5, width=8).eval()
    x = torch.rand(2, 3, 64, 96)
    with torch.inference_mode():
        out = model(x)
        embedding = model.embed(x)
    assert out.heatmap.shape == (2, 5, 16, 24)
    assert out.size.shape == (2, 2, 16, 24)
    assert out.offset.shape == (2, 2, 16, 24)
    assert embedding.shape == (2, 64)  # 8 * width
    # the focal-loss prior: every class starts near p = 0.1
    last = model.heatmap[2]
    assert isinstance(last, torch.nn.Conv2d) and last.bias is not None
    assert torch.sigmoid(last.bias).allclose(torch.full((5,), 0.1), atol=1e-3)


def test_decode_turns_a_peak_into_a_box_in_input_pixels() -> None:
    heatmap = torch.full((1, 3, 16, 16), -10.0)
    heatmap[0, 1, 5, 7] = 2.0  # the peak: class 1 at cell (x 7, y 5)
    heatmap[0, 1, 5, 8] = 1.0  # its neighbour is not a peak (3x3 max-pool)
    heatmap[0, 0, 6, 7] = 1.5  # nor is another class's weaker score next to it
    heatmap[0, 2, 12, 3] = -1.0  # a weaker peak of class 2
    size = torch.zeros(1, 2, 16, 16)
    offset = torch.zeros(1, 2, 16, 16)
    size[0, :, 5, 7] = torch.tensor([4.0, 2.0])  # w, h in cells
    offset[0, :, 5, 7] = torch.tensor([0.5, 0.25])
    size[0, :, 12, 3] = torch.tensor([2.0, 2.0])

    found = decode(CenterNetOutput(heatmap, size, offset), k=10, threshold=0.2)[0]

    assert found.classes.tolist() == [1, 2]
    assert found.scores.tolist() == pytest.approx([torch.sigmoid(torch.tensor(2.0)).item(),
                                                   torch.sigmoid(torch.tensor(-1.0)).item()])
    # centre ((7 + 0.5) * 4, (5 + 0.25) * 4) = (30, 21); 16 x 8 pixels
    assert found.boxes[0].tolist() == pytest.approx([22.0, 17.0, 38.0, 25.0])
    assert found.boxes[1].tolist() == pytest.approx([8.0, 44.0, 16.0, 52.0])  # (12, 48) 8 x 8
    assert len(decode(CenterNetOutput(heatmap, size, offset), k=10, threshold=0.5)[0].scores) == 1


def test_inspect_state_dict_reads_classes_and_width_from_the_tensors() -> None:
    spec = inspect_state_dict("centernet", _state(3, width=8), CLASSES)
    assert spec.format == "state_dict"
    assert (spec.task, spec.layout, spec.architecture) == ("detect", "centernet", "centernet")
    assert spec.classes == CLASSES
    assert spec.input_size == [256, 256]
    assert spec.details["num_classes"] == 3
    assert spec.details["width"] == 8
    assert inspect_state_dict("centernet", _state(3, width=8), CLASSES,
                              input_size=[320, 480]).input_size == [320, 480]


def test_inspect_state_dict_names_the_first_bad_key() -> None:
    tensors = _state()
    del tensors["stage3.0.0.weight"]
    refusal = _refusal(tensors)
    assert refusal.details["field"] == "weights"
    assert "stage3.0.0.weight" in refusal.message and "missing" in refusal.message

    tensors = {**_state(), "extra.weight": torch.zeros(3)}
    refusal = _refusal(tensors)
    assert refusal.details["field"] == "weights"
    assert "extra.weight" in refusal.message and "unexpected" in refusal.message

    tensors = _state()
    tensors["smooth.0.weight"] = torch.zeros(16, 16, 1, 1)
    refusal = _refusal(tensors)
    assert refusal.details == {"field": "weights", "key": "smooth.0.weight"}
    assert "[16, 16, 1, 1]" in refusal.message and "[16, 16, 3, 3]" in refusal.message

    tensors = _state()
    tensors["offset.2.bias"] = torch.tensor([0.0, float("nan")])
    assert "offset.2.bias" in _refusal(tensors).message

    tensors = _state()
    del tensors["heatmap.2.weight"]  # where the class count is read from
    assert "heatmap.2.weight" in _refusal(tensors).message

    tensors = _state()
    tensors["stem.0.0.weight"] = torch.zeros(100_000, 3, 3, 3)  # nothing is built that large
    assert "width" in _refusal(tensors).message


def test_inspect_state_dict_refuses_a_classes_list_of_another_length() -> None:
    refusal = _refusal(_state(3), ["cat", "dog"])
    assert refusal.details["field"] == "classes"
    assert "2" in refusal.message and "3" in refusal.message


def test_inspect_state_dict_refuses_unknown_architectures_and_sizes() -> None:
    with pytest.raises(ValidationFailed) as caught:
        inspect_state_dict("resnet9000", _state(), CLASSES)
    assert caught.value.details["field"] == "architecture"
    assert "centernet" in caught.value.message
    assert _refusal(_state(), input_size=[250, 256]).details["field"] == "input_size"
    assert set(BUILTIN_ARCHITECTURES) == {"centernet", "classifier", "sam"}


def _boxes(predictions: list[Prediction]) -> list[list[float]]:
    return [[p.geometry[k] for k in ("x", "y", "w", "h")] for p in predictions]


def test_saved_weights_load_from_safetensors_pt_and_a_suffixless_store_file(
        tmp_path: Path) -> None:
    state = _state(3, width=8, seed=3)
    spec = inspect_state_dict("centernet", state, CLASSES, input_size=[64, 64])
    save_file({k: v.half() for k, v in state.items()}, str(tmp_path / "m.safetensors"))
    torch.save(state, tmp_path / "m.pt")
    shutil.copy(tmp_path / "m.pt", tmp_path / "0123abcd")  # how the store names files
    image = np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8)

    results = []
    for name in ("m.safetensors", "m.pt", "0123abcd"):
        runner = load_state_dict_runner(spec, tmp_path / name, device="cpu")
        [predictions] = runner.predict([image], threshold=0.0, max_per_image=7)
        assert 0 < len(predictions) <= 7
        assert all(p.type == "box" and p.label in CLASSES for p in predictions)
        for p in predictions:  # clipped to the 80 x 48 image
            x, y, w, h = (p.geometry[k] for k in ("x", "y", "w", "h"))
            assert x >= 0 and y >= 0 and x + w <= 80 + 1e-6 and y + h <= 48 + 1e-6
        results.append(predictions)
        embedded = runner.embed([image, image[:, ::-1].copy(), image])  # type: ignore[attr-defined]
        assert embedded.shape == (3, 64)
        assert torch.equal(embedded[0], embedded[2]) and not torch.equal(embedded[0], embedded[1])
    assert _boxes(results[1]) == _boxes(results[2])  # the same file, named by content
    assert [p.label for p in results[0]] == [p.label for p in results[1]]  # float16 vs 32


class Payload:
    """Anything that is not a tensor: unpickling it would run the pickle's code."""

    def __init__(self) -> None:
        self.value = 1


def test_a_pickle_that_needs_weights_only_false_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"stem.0.0.weight": torch.zeros(8, 3, 3, 3), "payload": Payload()}, path)
    spec = inspect_state_dict("centernet", _state(), CLASSES)
    with pytest.raises(ValidationFailed) as caught:
        load_state_dict_runner(spec, path, device="cpu")
    assert caught.value.details["field"] == "weights"
    assert "pickle" in caught.value.message and "weights_only" in caught.value.message


def test_the_runner_maps_boxes_back_through_the_letterbox() -> None:
    runner = load_state_dict_runner(_demo_spec(), DEMO / "shapes-centernet.safetensors",
                                    device="cpu")
    [sample] = make_shapes(1, size=(256, 128), seed=5)  # 256 high, 128 wide
    padded = np.full((256, 256, 3), PAD_VALUE, dtype=np.uint8)
    padded[:, 64:192] = sample.image  # what the letterbox does to it
    doubled = sample.image.repeat(2, axis=0).repeat(2, axis=1)  # shrinks back exactly

    alone, in_padding, twice = runner.predict([sample.image, padded, doubled], threshold=0.2)

    assert alone, "the demo model finds the shapes"
    expected = np.array(_boxes(alone))
    shifted = np.array(_boxes(in_padding))
    shifted[:, 0] -= 64
    np.testing.assert_allclose(shifted, expected, atol=1e-3)
    np.testing.assert_allclose(np.array(_boxes(twice)) / 2, expected, atol=1e-3)
    assert [p.label for p in twice] == [p.label for p in alone]


def _demo_spec() -> ModelSpec:
    classes = (DEMO / "classes.txt").read_text().split()
    from safetensors.torch import load_file

    return inspect_state_dict("centernet", load_file(DEMO / "shapes-centernet.safetensors"),
                              classes)


def _iou(a: list[float], b: list[float]) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    h = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _matches(predictions: list[Prediction], boxes: list[list[float]],
             labels: list[str]) -> int:
    """Greedy one-to-one matching, best score first: same label and IoU >= 0.5."""
    free = list(range(len(boxes)))
    matched = 0
    for p in sorted(predictions, key=lambda p: -p.score):
        box = [p.geometry[k] for k in ("x", "y", "w", "h")]
        candidates = [(i, _iou(box, boxes[i])) for i in free if labels[i] == p.label]
        best = max(candidates, key=lambda c: c[1], default=None)
        if best is not None and best[1] >= 0.5:
            free.remove(best[0])
            matched += 1
    return matched


def test_the_shipped_demo_model_finds_shapes_on_new_images() -> None:
    weights = DEMO / "shapes-centernet.safetensors"
    assert weights.stat().st_size < 2_000_000
    spec = _demo_spec()
    assert spec.classes == SHAPE_CLASSES
    runner = load_state_dict_runner(spec, weights, device="cpu")
    samples = make_shapes(40, seed=424242)  # neither the training nor the held-out seed

    found = runner.predict([s.image for s in samples], threshold=0.3)

    truth = sum(len(s.boxes) for s in samples)
    predicted = sum(len(f) for f in found)
    matched = sum(_matches(f, s.boxes, s.labels) for f, s in zip(found, samples, strict=True))
    assert matched / truth >= 0.85, (matched, truth)
    assert matched / predicted >= 0.8, (matched, predicted)
