"""The runners end to end: real tiny models (``model_factory``) loaded with ``load_runner``,
run on non-square images of several sizes, compared with the planted answer mapped back by
the numpy reference; batch against one by one; ONNX against TorchScript; refusals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from domain import rle
from domain.errors import ValidationFailed
from inference_workers.model_api import ModelSpec, Prediction
from inference_workers.onnx_runner import OnnxRunner, image_input
from inference_workers.runners import RunnerCache, default_device, load_runner
from inference_workers.torchscript_runner import TorchScriptRunner
from tests.inference import model_factory, reference

NAMES = ["cat", "dog", "bird"]
INPUT = (64, 96)
# (cx, cy, w, h, class, score) in input pixels: two dogs overlapping (one is suppressed), a cat
# on the second dog (another class: kept), a bird
PLANTED = [(40.0, 32.0, 20.0, 16.0, 1, 0.9), (42.0, 33.0, 20.0, 16.0, 1, 0.6),
           (42.0, 33.0, 20.0, 16.0, 0, 0.5), (70.0, 20.0, 12.0, 24.0, 2, 0.8),
           (10.0, 50.0, 6.0, 6.0, 0, 0.1)]
# instances: boxes, and the mask rectangles planted inside them (multiples of 4: the prototype
# grid), in input pixels
INSTANCES = [(40.0, 32.0, 32.0, 24.0, 1, 0.9), (72.0, 24.0, 20.0, 40.0, 2, 0.8)]
MASK_RECTS = [(28, 24, 52, 40), (64, 8, 80, 40)]
SIZES = [(48, 96), (97, 61), (480, 640), (33, 200), (64, 96), (500, 375)]


def spec(format: str, layout: str, *, task: str = "detect", input_size: list[int] | None = None,
         classes: list[str] | None = None) -> ModelSpec:
    return ModelSpec(format=format, task=task, layout=layout, architecture=None,
                     classes=list(NAMES if classes is None else classes), input_size=input_size)


def image(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def expected_boxes(size: tuple[int, int], threshold: float = 0.25, iou: float = 0.45
                   ) -> list[tuple[str, float, np.ndarray]]:
    xywh = np.array([p[:4] for p in PLANTED])
    scores = np.zeros((len(PLANTED), len(NAMES)))
    for i, p in enumerate(PLANTED):
        scores[i, p[4]] = p[5]
    fit = reference.fit(*size, *INPUT)
    kept = reference.detections(xywh, scores, fit, *size, threshold, iou, 300)
    return [(NAMES[c], s, box) for c, s, box, _ in kept]


def assert_boxes(got: list[Prediction], expected: list[tuple[str, float, np.ndarray]]) -> None:
    assert [(p.type, p.label) for p in got] == [("box", e[0]) for e in expected]
    np.testing.assert_allclose([p.score for p in got], [e[1] for e in expected], rtol=1e-5)
    for p, (_, _, box) in zip(got, expected, strict=True):
        g = p.geometry
        np.testing.assert_allclose([g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]], box,
                                   atol=1e-3)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        "yolov8": model_factory.yolov8_onnx(folder / "v8.onnx", NAMES, INPUT, PLANTED),
        "yolov8_static": model_factory.yolov8_onnx(folder / "v8s.onnx", NAMES, INPUT, PLANTED,
                                                   dynamic=False),
        "yolov8_batch3": model_factory.yolov8_onnx(folder / "v8b3.onnx", NAMES, INPUT,
                                                   PLANTED, dynamic=False, batch=3),
        "yolov5": model_factory.yolov5_onnx(folder / "v5.onnx", NAMES, INPUT, PLANTED),
        "yolov8_seg": model_factory.yolov8_seg_onnx(
            folder / "seg.onnx", NAMES, INPUT, INSTANCES, mask_rects=MASK_RECTS),
        "semantic": model_factory.semantic_onnx(folder / "sem.onnx", NAMES, INPUT,
                                                [(8, 8, 40, 40, 1), (60, 30, 90, 60, 2)]),
        "classifier": model_factory.classifier_onnx(folder / "cls.onnx", NAMES,
                                                    [0.1, 0.7, 0.2], INPUT),
        "torchscript": model_factory.torchscript_yolov8(folder / "v8.torchscript", NAMES,
                                                        INPUT, PLANTED),
        "torchscript_seg": model_factory.torchscript_yolov8_seg(
            folder / "seg.torchscript", NAMES, INPUT, PLANTED[:1] + PLANTED[3:4]),
        "seg_boxes": model_factory.yolov8_seg_onnx(folder / "segb.onnx", NAMES, INPUT,
                                                   PLANTED[:1] + PLANTED[3:4]),
        "non_image": model_factory.non_image_input_onnx(folder / "flat.onnx"),
        "torchscript_bare": model_factory.torchscript_yolov8(
            folder / "bare.torchscript", NAMES, INPUT, PLANTED, config=False),
    }


@pytest.mark.parametrize("layout", ["yolov8", "yolov5"])
def test_detectors_find_the_planted_boxes_in_image_pixels(models: dict[str, Path],
                                                          layout: str) -> None:
    runner = load_runner(spec("onnx", layout), models[layout], device="cpu", threads=1)
    images = [image(size, seed) for seed, size in enumerate(SIZES)]
    results = runner.predict(images)
    assert len(results) == len(SIZES)
    for size, got in zip(SIZES, results, strict=True):
        assert_boxes(got, expected_boxes(size))
        h, w = size
        for p in got:  # clipped to the image
            g = p.geometry
            assert g["x"] >= 0 and g["x"] + g["w"] <= w + 1e-9
            assert g["y"] >= 0 and g["y"] + g["h"] <= h + 1e-9


def test_threshold_iou_and_max_per_image_are_honoured(models: dict[str, Path]) -> None:
    runner = load_runner(spec("onnx", "yolov8"), models["yolov8"], device="cpu")
    size = (97, 61)
    assert_boxes(runner.predict([image(size)], threshold=0.05)[0],
                 expected_boxes(size, threshold=0.05))
    assert_boxes(runner.predict([image(size)], iou=0.95)[0], expected_boxes(size, iou=0.95))
    top = runner.predict([image(size)], max_per_image=2)[0]
    assert [p.score for p in top] == pytest.approx([0.9, 0.8])


def test_a_batch_gives_what_one_by_one_gives(models: dict[str, Path]) -> None:
    batched = load_runner(spec("onnx", "yolov8"), models["yolov8"], device="cpu")
    assert isinstance(batched, OnnxRunner) and batched.fixed_batch is None
    batched.batch_size = 4  # 6 images: a full batch and a partial one
    images = [image(size, seed) for seed, size in enumerate(SIZES)]
    single = load_runner(spec("onnx", "yolov8"), models["yolov8_static"], device="cpu")
    assert isinstance(single, OnnxRunner) and single.fixed_batch == 1 and single.batch_size == 1
    assert batched.predict(images) == single.predict(images)
    assert batched.predict(images) == [batched.predict([one])[0] for one in images]


def test_a_fixed_batch_graph_gets_full_batches_padded_with_grey(models: dict[str, Path]
                                                                ) -> None:
    runner = load_runner(spec("onnx", "yolov8"), models["yolov8_batch3"], device="cpu")
    assert isinstance(runner, OnnxRunner) and runner.fixed_batch == runner.batch_size == 3
    images = [image(size, seed) for seed, size in enumerate(SIZES[:4])]  # 3 + 1 (and 2 grey)
    got = runner.predict(images)
    assert len(got) == 4
    for size, predictions in zip(SIZES, got, strict=False):
        assert_boxes(predictions, expected_boxes(size))


def test_a_bad_image_in_a_later_batch_is_refused_and_the_runner_goes_on(
        models: dict[str, Path]) -> None:
    runner = load_runner(spec("onnx", "yolov8"), models["yolov8"], device="cpu")
    assert isinstance(runner, OnnxRunner)
    runner.batch_size = 2
    with pytest.raises(ValidationFailed) as caught:
        runner.predict([image((40, 40)), image((50, 30)), np.zeros((5, 5, 4), np.uint8)])
    assert caught.value.details == {"field": "image"}
    assert_boxes(runner.predict([image((97, 61))])[0], expected_boxes((97, 61)))
    runner.close()  # the letterboxing thread stops; a later call starts another
    assert_boxes(runner.predict([image((97, 61))])[0], expected_boxes((97, 61)))


def test_a_half_precision_graph_is_fed_and_read_in_float16(models: dict[str, Path],
                                                           tmp_path: Path) -> None:
    path = model_factory.half_precision_onnx(models["yolov8"], tmp_path / "half.onnx")
    runner = load_runner(spec("onnx", "yolov8"), path, device="cpu")
    assert isinstance(runner, OnnxRunner) and runner.input_dtype is np.float16
    for size, got in zip(SIZES, runner.predict([image(s) for s in SIZES]), strict=True):
        assert [(p.label, round(p.score, 2)) for p in got] == [
            (label, round(score, 2)) for label, score, _ in expected_boxes(size)]
        for p, (_, _, box) in zip(got, expected_boxes(size), strict=True):
            g = p.geometry  # float16 carries ~3 significant digits
            np.testing.assert_allclose([g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]], box,
                                       atol=0.1 / min(1.0, reference.fit(*size, *INPUT).ratio))


def test_a_torchscript_archive_without_a_size_needs_one(models: dict[str, Path]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_runner(spec("torchscript", "yolov8"), models["torchscript_bare"], device="cpu")
    assert caught.value.details == {"field": "input_size"}
    runner = load_runner(spec("torchscript", "yolov8", input_size=list(INPUT)),
                         models["torchscript_bare"], device="cpu")
    assert_boxes(runner.predict([image((97, 61))])[0], expected_boxes((97, 61)))


def test_a_torchscript_module_of_one_image_at_a_time_is_run_one_by_one(tmp_path: Path) -> None:
    path = model_factory.torchscript_batch_of_one(tmp_path / "one.torchscript", NAMES, INPUT,
                                                  PLANTED)
    runner = load_runner(spec("torchscript", "yolov8"), path, device="cpu")
    assert runner.batch_size > 1
    got = runner.predict([image(size, seed) for seed, size in enumerate(SIZES)])
    assert runner.batch_size == 1
    for size, predictions in zip(SIZES, got, strict=True):
        assert_boxes(predictions, expected_boxes(size))


def test_a_model_failing_at_run_time_is_a_clear_refusal(tmp_path: Path) -> None:
    path = model_factory.torchscript_batch_of_one(tmp_path / "bad.torchscript", NAMES, INPUT,
                                                  PLANTED, always_fail=True)
    runner = load_runner(spec("torchscript", "yolov8"), path, device="cpu")
    for images in ([image((30, 30))], [image((30, 30)), image((40, 20))]):
        with pytest.raises(ValidationFailed) as caught:
            runner.predict(images)
        assert caught.value.details == {"field": "weights"}
        assert "one image at a time" in caught.value.message


def test_a_graph_with_two_inputs_is_refused(tmp_path: Path) -> None:
    path = model_factory.two_input_onnx(tmp_path / "two.onnx")
    with pytest.raises(ValidationFailed) as caught:
        load_runner(spec("onnx", "yolov8"), path, device="cpu")
    assert caught.value.details == {"field": "weights"}
    assert "2 inputs (images, mask)" in caught.value.message


def test_torchscript_answers_as_onnx_does(models: dict[str, Path]) -> None:
    onnx = load_runner(spec("onnx", "yolov8"), models["yolov8"], device="cpu")
    # no input_size given: the archive's config.txt (Ultralytics' metadata) says 64 x 96
    script = load_runner(spec("torchscript", "yolov8"), models["torchscript"], device="cpu")
    assert isinstance(script, TorchScriptRunner) and script.input_size == INPUT
    images = [image(size, seed) for seed, size in enumerate(SIZES)]
    assert script.predict(images) == onnx.predict(images)
    for size, got in zip(SIZES, script.predict(images), strict=True):
        assert_boxes(got, expected_boxes(size))


def test_traced_torchscript_segmenter_gives_masks_as_onnx(models: dict[str, Path]) -> None:
    script = load_runner(spec("torchscript", "yolov8_seg", task="segment"),
                         models["torchscript_seg"], device="cpu")
    onnx = load_runner(spec("onnx", "yolov8_seg", task="segment"), models["seg_boxes"],
                       device="cpu")
    images = [image((120, 90)), image((50, 300), 1)]
    got = script.predict(images)
    assert got == onnx.predict(images)
    assert [p.label for p in got[0]] == ["dog", "bird"]


def _planted_rect(fit: reference.Fit, size: tuple[int, int],
                  rect: tuple[int, int, int, int]) -> np.ndarray:
    """The image pixels whose centres fall inside ``rect`` (input pixels)."""
    xs = (np.arange(size[1]) + 0.5) * fit.ratio + fit.left
    ys = (np.arange(size[0]) + 0.5) * fit.ratio + fit.top
    x0, y0, x1, y1 = rect
    return (ys[:, None] > y0) & (ys[:, None] < y1) & (xs[None] > x0) & (xs[None] < x1)


@pytest.mark.parametrize("size", SIZES)
def test_instance_masks_are_the_planted_rectangles(models: dict[str, Path],
                                                   size: tuple[int, int]) -> None:
    runner = load_runner(spec("onnx", "yolov8_seg", task="segment"), models["yolov8_seg"],
                         device="cpu")
    got = runner.predict([image(size)])[0]
    assert [(p.type, p.label, round(p.score, 4)) for p in got] == [("mask", "dog", 0.9),
                                                                   ("mask", "bird", 0.8)]
    fit = reference.fit(*size, *INPUT)
    for p, rect in zip(got, MASK_RECTS, strict=True):
        mask = rle.decode(p.geometry["rle"]).astype(bool)
        assert mask.shape == size
        expected = _planted_rect(fit, size, rect)
        # exact, except where bilinear rounds the corners off (within a prototype cell, 4
        # input pixels, of two borders)
        xs = (np.arange(size[1]) + 0.5) * fit.ratio + fit.left
        ys = (np.arange(size[0]) + 0.5) * fit.ratio + fit.top
        near_x = (np.abs(xs - rect[0]) < 4) | (np.abs(xs - rect[2]) < 4)
        near_y = (np.abs(ys - rect[1]) < 4) | (np.abs(ys - rect[3]) < 4)
        # a pixel centre right on a border is a tie (logit 0 up to rounding): either way
        on_x = (np.abs(xs - rect[0]) < 1e-6) | (np.abs(xs - rect[2]) < 1e-6)
        on_y = (np.abs(ys - rect[1]) < 1e-6) | (np.abs(ys - rect[3]) < 1e-6)
        skip = (near_y[:, None] & near_x[None]) | on_y[:, None] | on_x[None]
        assert expected[~skip].any()
        np.testing.assert_array_equal(mask[~skip], expected[~skip])
        assert not (mask & ~expected & ~skip).any()


@pytest.mark.parametrize("size", [(48, 96), (480, 640), (500, 375)])
def test_semantic_masks_are_the_planted_regions(models: dict[str, Path],
                                                size: tuple[int, int]) -> None:
    runner = load_runner(spec("onnx", "semantic", task="segment"), models["semantic"],
                         device="cpu")
    got = runner.predict([image(size)], threshold=0.5)[0]
    assert {p.label for p in got} == {"cat", "dog", "bird"}
    fit = reference.fit(*size, *INPUT)
    for p in got:
        mask = rle.decode(p.geometry["rle"]).astype(bool)
        if p.label == "dog":
            assert reference.mask_iou(mask, _planted_rect(fit, size, (8, 8, 40, 40))) >= 0.9
        if p.label == "bird":
            assert reference.mask_iou(mask, _planted_rect(fit, size, (60, 30, 90, 60))) >= 0.9


def test_a_classifier_gives_tags(models: dict[str, Path]) -> None:
    runner = load_runner(spec("onnx", "classifier", task="classify"), models["classifier"],
                         device="cpu")
    got = runner.predict([image((30, 40)), image((300, 20))], threshold=0.15)
    for tags in got:
        assert [(p.type, p.label, p.geometry, round(p.score, 4)) for p in tags] == [
            ("tag", "dog", {}, 0.7), ("tag", "bird", {}, 0.2)]


def test_no_images_no_predictions(models: dict[str, Path]) -> None:
    runner = load_runner(spec("onnx", "yolov8"), models["yolov8"], device="cpu")
    assert runner.predict([]) == []


# --------------------------------------------------------------------------------------------
# refusals and loading
# --------------------------------------------------------------------------------------------


def test_a_graph_whose_input_is_not_an_image_is_refused(models: dict[str, Path]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_runner(spec("onnx", "classifier", task="classify"), models["non_image"],
                    device="cpu")
    assert caught.value.details == {"field": "weights"}
    assert "not an image tensor" in caught.value.message


def test_symbolic_spatial_axes_need_an_input_size() -> None:
    assert image_input(["batch", 3, "h", "w"], [320, 256], "images") == ((320, 256), None)
    assert image_input([4, 3, 64, 64], None, "images") == ((64, 64), 4)
    with pytest.raises(ValidationFailed) as caught:
        image_input(["batch", 3, "h", "w"], None, "images")
    assert caught.value.details == {"field": "input_size"}


def test_garbage_weights_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not a model at all" * 50)
    with pytest.raises(ValidationFailed) as caught:
        load_runner(spec("onnx", "yolov8"), garbage, device="cpu")
    assert caught.value.details == {"field": "weights"}
    with pytest.raises(ValidationFailed) as caught:
        load_runner(spec("torchscript", "yolov8", input_size=[64, 64]), garbage, device="cpu")
    assert caught.value.details == {"field": "weights"}


def test_unknown_format_and_layout_are_refused(models: dict[str, Path]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_runner(spec("keras", "yolov8"), models["yolov8"], device="cpu")
    assert caught.value.details == {"field": "format"}
    with pytest.raises(ValidationFailed) as caught:
        load_runner(spec("onnx", "detr"), models["yolov8"], device="cpu")
    assert caught.value.details == {"field": "layout"}


def test_images_that_are_not_rgb_are_refused(models: dict[str, Path]) -> None:
    runner = load_runner(spec("onnx", "yolov8"), models["yolov8"], device="cpu")
    with pytest.raises(ValidationFailed) as caught:
        runner.predict([np.zeros((10, 10), np.uint8)])
    assert caught.value.details == {"field": "image"}


def test_the_cache_loads_once_and_evicts_the_least_recently_used(models: dict[str, Path]
                                                                 ) -> None:
    cache = RunnerCache(capacity=2)
    v8 = cache.get("a", spec("onnx", "yolov8"), models["yolov8"], device="cpu")
    assert cache.get("a", spec("onnx", "yolov8"), models["yolov8"], device="cpu") is v8
    v5 = cache.get("b", spec("onnx", "yolov5"), models["yolov5"], device="cpu")
    assert cache.get("a", spec("onnx", "yolov8"), models["yolov8"], device="cpu") is v8
    cache.get("c", spec("onnx", "classifier", task="classify"), models["classifier"],
              device="cpu")
    assert len(cache) == 2
    assert cache.get("a", spec("onnx", "yolov8"), models["yolov8"], device="cpu") is v8
    assert cache.get("b", spec("onnx", "yolov5"), models["yolov5"], device="cpu") is not v5


def test_default_device_is_a_torch_device() -> None:
    assert default_device() in {"cpu", "cuda"}


def test_fewer_names_than_classes_names_the_rest_by_number(models: dict[str, Path]) -> None:
    runner = load_runner(replace(spec("onnx", "yolov8"), classes=["cat"]), models["yolov8"],
                         device="cpu")
    labels = [p.label for p in runner.predict([image((64, 96))])[0]]
    assert labels == ["1", "2", "cat"]
