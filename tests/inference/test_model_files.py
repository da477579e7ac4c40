"""inference_workers.model_files: what an uploaded weights file is, or a refusal that says why.

The models are real and built here: tiny torch nets exported to ONNX (the legacy exporter, with
and without Ultralytics' metadata) or to TorchScript, graphs written with ``onnx.helper`` for
the exact output shapes of each layout, and state dicts of the built-in CenterNet. The hostile
files (pickles with ``__reduce__``, a TorchScript ``__setstate__`` that writes a file) each
try to create a marker file: the test checks it was never created.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from safetensors.torch import save_file
from torch import nn

from domain.errors import DomainError, TooLarge, ValidationFailed
from inference_workers.model_files import inspect_model, load_state_dict, weights_format

NAMES3 = ["cat", "dog", "bird"]


def names_literal(names: Sequence[str]) -> str:
    """``names`` metadata as Ultralytics writes it: ``str({0: 'cat', 1: 'dog'})``."""
    return str(dict(enumerate(names)))


def ultralytics_metadata(names: Sequence[str], task: str = "detect",
                         imgsz: tuple[int, int] = (64, 64)) -> dict[str, str]:
    return {"author": "Labelwright tests", "stride": "32", "task": task, "batch": "1",
            "imgsz": str(list(imgsz)), "names": names_literal(names)}


# ------------------------------------------------------------------------------------------
# model builders
# ------------------------------------------------------------------------------------------


class TinyYolov8(nn.Module):
    """A conv net with a YOLOv8-shaped head: (B, 4+C, anchors) over strides 8 and 16."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.p3 = nn.Conv2d(3, 8, 3, stride=8, padding=1)
        self.p4 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.head = nn.Conv2d(8, 4 + classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.p3(x)
        p4 = self.p4(p3)
        return torch.cat([self.head(p3).flatten(2), self.head(p4).flatten(2)], dim=2)


class TinyYolov8Seg(TinyYolov8):
    """TinyYolov8 with 32 mask coefficients per anchor and prototypes at stride 8."""

    def __init__(self, classes: int, masks: int = 32) -> None:
        super().__init__(classes + masks)
        self.protos = nn.Conv2d(8, masks, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        return super().forward(x), self.protos(self.p3(x))


class TinyYolov5(TinyYolov8):
    """The same trunk with a YOLOv5-shaped head: (B, anchors, 5+C)."""

    def __init__(self, classes: int) -> None:
        super().__init__(classes + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).transpose(1, 2)


class Flat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(10, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def export_onnx(module: nn.Module, path: Path, *, input_shape: tuple[int, ...] = (1, 3, 64, 64),
                outputs: Sequence[str] = ("output0",), metadata: dict[str, str] | None = None,
                dynamic: dict[str, dict[int, str]] | None = None) -> Path:
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(module, (torch.zeros(input_shape),), str(path), input_names=["images"],
                          output_names=list(outputs), dynamic_axes=dynamic, opset_version=17,
                          dynamo=False)
    if metadata:
        model = onnx.load(str(path))
        for key, value in metadata.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(path))
    return path


def graph_onnx(path: Path, outputs: Sequence[Sequence[int | str]], *,
               inputs: Sequence[tuple[str, Sequence[int | str], int]] = (
                   ("images", (1, 3, 64, 64), TensorProto.FLOAT),),
               metadata: dict[str, str] | None = None, weights: int = 0) -> Path:
    """A graph with the given inputs whose outputs are zeros of the given shapes (symbolic
    dims in the declared shapes are 7 at run time). ``weights`` floats of initializer make
    the file as large as a real model."""
    nodes, initializers = [], []
    for i, shape in enumerate(outputs):
        concrete = [d if isinstance(d, int) else 7 for d in shape]
        initializers.append(helper.make_tensor(f"shape{i}", TensorProto.INT64, [len(shape)],
                                               concrete))
        nodes.append(helper.make_node("ConstantOfShape", [f"shape{i}"], [f"output{i}"],
                                      value=helper.make_tensor("v", TensorProto.FLOAT, [1],
                                                               [0.0])))
    if weights:
        initializers.append(onnx.numpy_helper.from_array(
            np.random.default_rng(0).standard_normal(weights).astype(np.float32), "weights"))
        nodes.append(helper.make_node("ReduceSum", ["weights"], ["weights_sum"], keepdims=0))
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(name, dtype, list(shape)) for name, shape, dtype in inputs],
        [helper.make_tensor_value_info(f"output{i}", TensorProto.FLOAT, list(shape))
         for i, shape in enumerate(outputs)],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


@contextlib.contextmanager
def torchscript_warnings() -> Iterator[None]:
    """torch 2.13 deprecates TorchScript (DeprecationWarning); archives still work."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def centernet_state_dict(classes: int) -> dict[str, torch.Tensor]:
    from inference_workers.architectures.centernet import CenterNet

    torch.manual_seed(0)
    return CenterNet(classes, width=8).state_dict()


class RunsACommand:
    """Unpickling this runs ``touch marker``: the pickle attack every refusal here blocks."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def refusal(path: Path, file_name: str | None = None, **kwargs: object) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        inspect_model(path, file_name or path.name, **kwargs)  # type: ignore[arg-type]
    return caught.value


# ------------------------------------------------------------------------------------------
# ONNX: every layout
# ------------------------------------------------------------------------------------------


def test_yolov8_export_with_ultralytics_metadata(tmp_path: Path) -> None:
    path = export_onnx(TinyYolov8(3), tmp_path / "best.onnx", metadata=ultralytics_metadata(NAMES3),
                       dynamic={"images": {0: "batch"}, "output0": {0: "batch"}})
    spec = inspect_model(path, "best.onnx")
    assert (spec.format, spec.task, spec.layout) == ("onnx", "detect", "yolov8")
    assert spec.classes == NAMES3 and spec.input_size == [64, 64]
    assert spec.details["output_shapes"] == [[1, 7, 64 + 16]]
    assert spec.details | {"output_shapes": None} == {
        "input_name": "images", "input_dtype": "float32", "output_names": ["output0"],
        "output_shapes": None, "num_classes": 3, "dynamic_batch": True, "opset": 17,
        "stride": 32, "imgsz": [64, 64]}


def test_yolov8_export_without_metadata_takes_the_classes_file(tmp_path: Path) -> None:
    path = export_onnx(TinyYolov8(3), tmp_path / "m.onnx")
    spec = inspect_model(path, "m.onnx", classes=("data.yaml", b"names: [a, b, c]\n"))
    assert spec.layout == "yolov8" and spec.classes == ["a", "b", "c"]
    assert spec.details["dynamic_batch"] is False and "stride" not in spec.details
    missing = refusal(path)
    assert missing.details["field"] == "classes" and "3 classes" in missing.message


def test_the_classes_file_wins_over_the_metadata(tmp_path: Path) -> None:
    path = export_onnx(TinyYolov8(3), tmp_path / "m.onnx", metadata=ultralytics_metadata(NAMES3))
    spec = inspect_model(path, "m.onnx", classes=("c.names", b"x\ny\nz\n"))
    assert spec.classes == ["x", "y", "z"]


def test_dynamic_height_and_width_are_probed_at_the_asked_size(tmp_path: Path) -> None:
    axes = {"images": {0: "b", 2: "h", 3: "w"}, "output0": {0: "b", 2: "anchors"}}
    path = export_onnx(TinyYolov8(3), tmp_path / "m.onnx", dynamic=axes,
                       metadata={"names": names_literal(NAMES3)})
    spec = inspect_model(path, "m.onnx", input_size=[128, 96])
    assert spec.input_size == [128, 96] and spec.layout == "yolov8"
    assert spec.details["output_shapes"] == [[1, 7, 16 * 12 + 8 * 6]]
    default = inspect_model(path, "m.onnx")  # nothing says the size: 640, probed smaller
    assert default.input_size == [640, 640] and default.details["output_shapes"] == [[1, 7, None]]
    with_imgsz = export_onnx(TinyYolov8(3), tmp_path / "i.onnx", dynamic=axes,
                             metadata=ultralytics_metadata(NAMES3, imgsz=(96, 96)))
    assert inspect_model(with_imgsz, "i.onnx").input_size == [96, 96]


def test_yolov8_seg_export(tmp_path: Path) -> None:
    path = export_onnx(TinyYolov8Seg(3), tmp_path / "seg.onnx", outputs=("output0", "output1"),
                       metadata=ultralytics_metadata(NAMES3, "segment"))
    spec = inspect_model(path, "seg.onnx")
    assert (spec.task, spec.layout, spec.classes) == ("segment", "yolov8_seg", NAMES3)
    assert spec.details["mask_channels"] == 32
    assert spec.details["output_shapes"] == [[1, 4 + 3 + 32, 80], [1, 32, 8, 8]]


@pytest.mark.parametrize(("outputs", "layout", "task", "classes"), [
    ([(1, 84, 8400)], "yolov8", "detect", 80),
    ([(1, 25200, 85)], "yolov5", "detect", 80),
    ([(1, 6, 2100)], "yolov8", "detect", 2),
    ([(1, 2100, 7)], "yolov5", "detect", 2),
    ([(1, 116, 8400), (1, 32, 160, 160)], "yolov8_seg", "segment", 80),
    ([(1, 32, 160, 160), (1, 38, 8400)], "yolov8_seg", "segment", 2),
    ([(1, 21, 512, 512)], "semantic", "segment", 21),
    ([(1, 1000)], "classifier", "classify", 1000),
    ([(1, 5, 1, 1)], "classifier", "classify", 5),
])
def test_layouts_from_static_output_shapes(tmp_path: Path, outputs: list[tuple[int, ...]],
                                           layout: str, task: str, classes: int) -> None:
    names = [f"c{i}" for i in range(classes)]
    path = graph_onnx(tmp_path / "m.onnx", outputs, metadata={"names": names_literal(names)})
    spec = inspect_model(path, "m.onnx")
    assert (spec.layout, spec.task, spec.classes) == (layout, task, names)
    assert spec.details["num_classes"] == classes


def test_the_dimension_that_follows_the_input_size_is_the_anchors(tmp_path: Path) -> None:
    # At 128 and 192 pixels this head has fewer anchors (320, 720) than 5 + 400 channels: by
    # proportions it would pass for YOLOv8; the anchors growing with the input says YOLOv5.
    axes = {"images": {0: "b", 2: "h", 3: "w"}, "output0": {0: "b", 1: "anchors"}}
    path = export_onnx(TinyYolov5(400), tmp_path / "v5.onnx", dynamic=axes)
    refused = refusal(path)
    assert refused.details == {"field": "classes", "model_classes": 400}
    names = "\n".join(f"c{i}" for i in range(400)).encode()
    spec = inspect_model(path, "v5.onnx", classes=("c.txt", names))
    assert spec.layout == "yolov5" and spec.details["output_shapes"] == [[1, None, 405]]


def test_symbolic_output_dims_are_learned_by_running_once(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "m.onnx", [(1, "channels", "anchors")],
                      inputs=[("images", ("batch", 3, "h", "w"), TensorProto.FLOAT)])
    spec = inspect_model(path, "m.onnx", classes=("c.txt", b"a\nb\nc\n"), input_size=[32])
    assert (spec.layout, spec.input_size) == ("yolov8", [32, 32])  # (1, 7, 7): 4 + 3
    assert spec.details["output_shapes"] == [[1, 7, 7]]


def test_the_class_count_decides_an_ambiguous_shape(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "m.onnx", [(1, 10, 10)])  # yolov8 with 6 or yolov5 with 5
    ambiguous = refusal(path)
    assert "ambiguous" in ambiguous.message and "yolov8" in ambiguous.message
    six = inspect_model(path, "m.onnx", classes=("c.txt", b"a\nb\nc\nd\ne\nf\n"))
    five = inspect_model(path, "m.onnx", classes=("c.txt", b"a\nb\nc\nd\ne\n"))
    assert (six.layout, five.layout) == ("yolov8", "yolov5")


def test_float16_input(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "m.onnx", [(1, 3)],
                      inputs=[("x", (1, 3, 224, 224), TensorProto.FLOAT16)],
                      metadata={"names": names_literal(NAMES3)})
    spec = inspect_model(path, "m.onnx", task="classify")
    assert spec.details["input_dtype"] == "float16" and spec.layout == "classifier"


def test_format_is_found_by_content_not_extension(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "model.bin", [(1, 3)])
    assert weights_format(path, "model.bin") == "onnx"
    sd = tmp_path / "weights.bin"
    save_file({"w": torch.zeros(2)}, str(sd))
    assert weights_format(sd, "weights.onnx") == "safetensors"


# ------------------------------------------------------------------------------------------
# TorchScript
# ------------------------------------------------------------------------------------------


def test_torchscript_scripted_with_ultralytics_config(tmp_path: Path) -> None:
    import json

    path = tmp_path / "best.torchscript"
    config = json.dumps({"stride": 32, "task": "detect", "imgsz": [64, 64],
                         "names": dict(enumerate(NAMES3))})
    with torchscript_warnings():
        torch.jit.save(torch.jit.script(TinyYolov8(3).eval()), str(path),
                       _extra_files={"config.txt": config})
    spec = inspect_model(path, "best.torchscript")
    assert (spec.format, spec.layout, spec.task, spec.classes) == (
        "torchscript", "yolov8", "detect", NAMES3)
    assert spec.input_size == [64, 64] and spec.details["stride"] == 32


def test_torchscript_traced_segmenter_with_a_classes_file(tmp_path: Path) -> None:
    path = tmp_path / "seg.pt"
    with torchscript_warnings():
        traced = torch.jit.trace(TinyYolov8Seg(3).eval(), torch.zeros(1, 3, 64, 64))
        torch.jit.save(traced, str(path))
    assert weights_format(path, "seg.pt") == "torchscript"
    spec = inspect_model(path, "seg.pt", classes=("c.txt", b"a\nb\nc\n"), input_size=[64, 64])
    assert (spec.layout, spec.details["mask_channels"]) == ("yolov8_seg", 32)


class WritesAFileOnLoad(nn.Module):
    """A TorchScript module whose ``__setstate__``, run by ``torch.jit.load``, writes a file."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))

    @torch.jit.export
    def __getstate__(self) -> tuple[bool, str]:
        return (self.training, self.marker)

    @torch.jit.export
    def __setstate__(self, state: tuple[bool, str]) -> None:
        self.training = state[0]
        self.marker = state[1]
        torch.save(torch.zeros(1), state[1])


def test_torchscript_that_writes_files_is_refused_before_it_loads(tmp_path: Path) -> None:
    marker = tmp_path / "written-by-the-model"
    path = tmp_path / "evil.pt"
    with torchscript_warnings():
        torch.jit.save(torch.jit.script(WritesAFileOnLoad(str(marker))), str(path))
    assert not marker.exists()
    refused = refusal(path, classes=("c.txt", b"a\nb\nc\n"))
    assert "'save'" in refused.message and refused.details["reason"] == "denied_operator"
    assert not marker.exists()


# ------------------------------------------------------------------------------------------
# state dicts
# ------------------------------------------------------------------------------------------


def test_safetensors_state_dict_of_a_builtin_architecture(tmp_path: Path) -> None:
    path = tmp_path / "centernet.safetensors"
    save_file(centernet_state_dict(3), str(path))
    spec = inspect_model(path, path.name, architecture="centernet",
                         classes=("c.txt", b"a\nb\nc\n"))
    assert (spec.format, spec.architecture, spec.task, spec.classes) == (
        "state_dict", "centernet", "detect", ["a", "b", "c"])
    assert refusal(path, architecture="centernet").details["field"] == "classes"
    assert refusal(path, classes=("c.txt", b"a\n")).details["field"] == "architecture"
    sam = refusal(path, architecture="sam", classes=("c.txt", b"a\n"))
    assert "not a SAM model" in sam.message and sam.details["field"] == "weights"
    wrong_task = refusal(path, architecture="centernet", classes=("c.txt", b"a\nb\nc\n"),
                         task="classify")
    assert wrong_task.details["field"] == "task"


def test_torch_save_state_dict_and_its_wrappers(tmp_path: Path) -> None:
    tensors = centernet_state_dict(2)
    for name, saved in [("plain.pt", tensors), ("lightning.ckpt", {"state_dict": tensors,
                                                                    "epoch": 3}),
                        ("trainer.pth", {"model": tensors})]:
        torch.save(saved, tmp_path / name)
        loaded = load_state_dict(tmp_path / name)
        assert loaded.keys() == tensors.keys()
        assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    spec = inspect_model(tmp_path / "plain.pt", "plain.pt", architecture="centernet",
                         classes=("c.json", b'["x", "y"]'))
    assert spec.format == "state_dict" and spec.classes == ["x", "y"]


def test_a_state_dict_of_other_things_is_refused(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(1), "epoch": 3}, tmp_path / "m.pt")
    with pytest.raises(ValidationFailed, match="'epoch' is not a named tensor"):
        load_state_dict(tmp_path / "m.pt")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(ValidationFailed, match="holds a list"):
        load_state_dict(tmp_path / "list.pt")


# ------------------------------------------------------------------------------------------
# refusals
# ------------------------------------------------------------------------------------------


def test_garbage_named_onnx(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    assert refusal(path).details["field"] == "weights"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"")
    assert "empty" in refusal(path).message


def test_over_the_size_limit(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "m.onnx", [(1, 3)])
    with pytest.raises(TooLarge) as caught:
        inspect_model(path, "m.onnx", max_bytes=100)
    assert caught.value.details["field"] == "weights"


@pytest.mark.parametrize("file_name", ["model.pt", "model.pkl", "model.onnx", "model.pth"])
def test_a_raw_pickle_is_refused_unread(tmp_path: Path, file_name: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / file_name
    path.write_bytes(pickle.dumps(RunsACommand(marker)))
    refused = refusal(path, architecture="centernet", classes=("c.txt", b"a\n"))
    assert "raw pickle" in refused.message and "a pickle is code" in refused.message
    assert refused.details["reason"] == "pickle" and not marker.exists()


def test_a_torch_save_of_a_custom_object_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"model": RunsACommand(marker)}, path)
    assert weights_format(path, "model.pt") == "torch"
    refused = refusal(path, architecture="centernet", classes=("c.txt", b"a\n"))
    assert "weights_only=False" in refused.message and refused.details["reason"] == "pickle"
    assert not marker.exists()
    with pytest.raises(ValidationFailed, match="a pickle is code"):
        load_state_dict(path)
    assert not marker.exists()


def test_a_truncated_safetensors_file(tmp_path: Path) -> None:
    whole = tmp_path / "whole.safetensors"
    save_file(centernet_state_dict(2), str(whole))
    data = whole.read_bytes()
    for cut in (len(data) - 100, 40):
        path = tmp_path / "cut.safetensors"
        path.write_bytes(data[:cut])
        for kwargs in ({"architecture": "centernet", "classes": ("c.txt", b"a\nb\n")}, {}):
            refused = refusal(path, **kwargs)
            assert "truncated" in refused.message and refused.details["reason"] == "truncated"
        with pytest.raises(ValidationFailed, match="truncated"):
            load_state_dict(path)


def test_onnx_with_external_data(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "m.onnx", [(1, 3)], weights=1000)
    model = onnx.load(str(path))
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    refused = refusal(path, classes=("c.txt", b"a\nb\nc\n"))
    assert "external data" in refused.message and refused.details["reason"] == "external_data"


def test_onnx_whose_input_is_not_an_image(tmp_path: Path) -> None:
    path = export_onnx(Flat(), tmp_path / "flat.onnx", input_shape=(1, 10),
                       metadata={"names": names_literal(["a", "b"])})
    refused = refusal(path)
    assert refused.message == "the model's input is (1, 10) float, not an image tensor (N, 3, H, W)"
    assert refused.details["field"] == "weights"


def test_onnx_with_two_inputs(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "m.onnx", [(1, 3)], inputs=[
        ("images", (1, 3, 64, 64), TensorProto.FLOAT), ("scale", (1, 2), TensorProto.FLOAT)])
    assert "2 inputs" in refusal(path, classes=("c.txt", b"a\nb\nc\n")).message


def test_onnx_with_a_fixed_batch_or_int_pixels(tmp_path: Path) -> None:
    batch4 = graph_onnx(tmp_path / "b.onnx", [(1, 3)],
                        inputs=[("images", (4, 3, 64, 64), TensorProto.FLOAT)])
    assert "fixed batch of 4" in refusal(batch4).message
    uint8 = graph_onnx(tmp_path / "u.onnx", [(1, 3)],
                       inputs=[("images", (1, 3, 64, 64), TensorProto.UINT8)])
    assert "(1, 3, 64, 64) uint8, not an image tensor" in refusal(uint8).message


def test_classes_file_with_fewer_names_than_the_model(tmp_path: Path) -> None:
    path = export_onnx(TinyYolov8(3), tmp_path / "m.onnx", metadata=ultralytics_metadata(NAMES3))
    refused = refusal(path, classes=("classes.txt", b"cat\ndog\n"))
    assert refused.details == {"field": "classes", "names": 2, "model_classes": 3}
    assert "the classes file has 2 names but the model has 3 classes" in refused.message


def test_a_weird_layout_with_three_classes(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "m.onnx", [(1, 7)])
    refused = refusal(path, classes=("c.txt", b"a\nb\nc\n"))
    assert "3 names but the model has 7 classes" in refused.message
    odd = graph_onnx(tmp_path / "odd.onnx", [(1, 2, 3, 4, 5)])
    assert "fit none of the layouts" in refusal(odd, classes=("c.txt", b"a\n")).message


def test_a_task_that_does_not_fit_the_outputs(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "m.onnx", [(1, 84, 8400)])
    refused = refusal(path, task="classify", classes=("c.txt", b"\n".join(
        f"c{i}".encode() for i in range(80))))
    assert refused.details["field"] == "task" and "yolov8" in refused.message


def test_a_fixed_input_size_is_not_overridden(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "m.onnx", [(1, 3)], metadata={"names": names_literal(NAMES3)})
    assert refusal(path, input_size=[320, 320]).details["field"] == "input_size"
    assert refusal(path, input_size=[100_000]).details["field"] == "input_size"


def test_pose_models_are_refused_by_their_metadata(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "m.onnx", [(1, 56, 8400)],
                      metadata=ultralytics_metadata(["person"], "pose"))
    assert "'pose'" in refusal(path).message


def test_a_yaml_bomb_classes_file(tmp_path: Path) -> None:
    path = graph_onnx(tmp_path / "m.onnx", [(1, 3)])
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi",
                                                                     strict=True))
    refused = refusal(path, classes=("data.yaml", (bomb + "names: *i\n").encode()))
    assert refused.details["field"] == "classes" and "aliases" in refused.message


def test_a_zip_that_is_no_model(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "neither a TorchScript archive" in refusal(path).message


def test_a_zip_bomb_named_pt_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\0" * (80 * 1024 * 1024))
    assert path.stat().st_size < 1024 * 1024
    refused = refusal(path, architecture="centernet", classes=("c.txt", b"a\n"))
    assert "expand" in refused.message


# ------------------------------------------------------------------------------------------
# properties: any bytes are a model or a refusal, never another exception
# ------------------------------------------------------------------------------------------


def _inspect_or_refuse(path: Path, file_name: str) -> None:
    try:
        inspect_model(path, file_name, architecture="centernet", classes=("c.txt", b"a\nb\nc\n"))
    except DomainError as refused:
        assert isinstance(refused, (ValidationFailed, TooLarge)), refused


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=3000),
       file_name=st.sampled_from(["m.onnx", "m.pt", "m.safetensors", "m.pth", "m.torchscript"]),
       prefix=st.sampled_from([b"", b"\x08", b"PK\x03\x04", b"\x10\x00\x00\x00\x00\x00\x00\x00{"]))
def test_random_bytes_are_refused_cleanly(tmp_path: Path, data: bytes, file_name: str,
                                          prefix: bytes) -> None:
    path = tmp_path / file_name
    path.write_bytes(prefix + data)
    _inspect_or_refuse(path, file_name)


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One small valid file of each format, to mutate."""
    folder = tmp_path_factory.mktemp("valid")
    export_onnx(TinyYolov8(3), folder / "m.onnx", input_shape=(1, 3, 32, 32),
                metadata=ultralytics_metadata(NAMES3))
    tensors = centernet_state_dict(3)
    torch.save(tensors, folder / "m.pt")
    save_file(tensors, str(folder / "m.safetensors"))
    with torchscript_warnings():
        torch.jit.save(torch.jit.script(TinyYolov8(3).eval()), str(folder / "m.torchscript"))
    return {path.name: path.read_bytes() for path in folder.iterdir()}


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["m.onnx", "m.pt", "m.safetensors", "m.torchscript"]),
       edits=st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), min_size=1,
                      max_size=8),
       near_the_ends=st.booleans(), cut=st.one_of(st.none(), st.integers(1, 10**7)))
def test_mutated_models_are_a_model_or_a_refusal(tmp_path: Path, valid_files: dict[str, bytes],
                                                 name: str, edits: list[tuple[int, int]],
                                                 near_the_ends: bool, cut: int | None) -> None:
    """Mutations of valid files (headers and zip directories are at the ends: edits land
    there half the time) give a spec or a refusal, never another exception. Zips damaged this
    way found zlib.error and NotImplementedError escaping zipfile."""
    data = bytearray(valid_files[name])
    for position, value in edits:
        if near_the_ends:
            position = position % 2048 if position % 2 else len(data) - 1 - position % 2048
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data) + 1]
    path = tmp_path / name
    path.write_bytes(bytes(data))
    _inspect_or_refuse(path, name)
