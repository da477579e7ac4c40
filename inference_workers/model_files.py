"""What an uploaded weights file is: a ``ModelSpec``, or a refusal that says why.

The file comes from the network, so its format is found from its *content* (the extension is
only a hint) and nothing in it runs as Python:

- **ONNX** (a protobuf whose first field is ``ir_version``): parsed with ``onnx.load`` without
  external data, and refused when any tensor points at external data (a path on *our* disk
  chosen by the uploader). An ONNX graph is data for an interpreter with a fixed operator set:
  running it executes no code of the uploader's, so when the graph does not state its output
  shapes it is run once on a zero image to learn them.
- **TorchScript** (a zip with ``*/code/`` or ``*/constants.pkl``): ``torch.jit.load`` unpickles
  with TorchScript's own C++ unpickler, which builds only tensors, containers and TorchScript
  classes (no Python ``GLOBAL`` lookup, so no ``os.system``), and the code in the archive is
  TorchScript: a typed subset of Python compiled and run by the TorchScript interpreter, which
  can call registered torch operators only. That is acceptable with one exception that this
  module closes: a few operators touch the outside world (``torch.save`` writes a file,
  ``torch.from_file`` reads one, the RPC and debug loaders), and a module's ``__setstate__``
  runs *during* ``torch.jit.load``. So the archive's code is scanned for those names before it
  is loaded, and the loaded graph is checked again. What remains is denial of service (a
  ``forward`` that loops or allocates without end), the same as for any model we run.
- **safetensors**: only the header is parsed (``safetensors.safe_open``); a file shorter than
  its header says is refused as truncated.
- **state dict** (a ``torch.save`` zip): ``torch.load(..., weights_only=True)`` only, whose
  unpickler builds tensors and plain containers and refuses any other class. A file that needs
  ``weights_only=False`` is refused; a raw pickle stream (``0x80``...) is refused unread.

The format decides the rest: an ONNX or TorchScript model's layout and class count are read
from its output shapes (``yolov8`` ``(1, 4+C, N)``, ``yolov5`` ``(1, N, 5+C)``, ``yolov8_seg``
``(1, 4+C+M, N)`` + ``(1, M, h, w)``, ``semantic`` ``(1, C, H, W)``, ``classifier`` ``(1, C)``),
a state dict's from a built-in architecture (``architectures.inspect_state_dict``).

Cost, for a 50-63 MB ONNX model on this 2-core machine (under load from other work): about
0.3 s when the graph states its output shapes (read 0.05-0.08 s, protobuf parse 0.07 s,
``onnx.checker`` 0.13-0.18 s), 0.6-0.9 s when it does not and ONNX Runtime has to build a
session and run twice at 128 and 192 pixels (building the session is most of it). Registering
such a model over HTTP took 1.0-1.4 s end to end (``benchmarks/model_registration.py``). The
file is never read whole for hashing here (the caller streams it).
"""

from __future__ import annotations

import ast
import json
import pickle
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from domain.errors import TooLarge, ValidationFailed
from inference_workers.classes_files import names_from_onnx_metadata, parse_classes_file
from inference_workers.model_api import ModelSpec

MAX_MODEL_BYTES = 512 * 1024 * 1024
Shape = tuple[int, ...]
DEFAULT_INPUT_SIZE = 640
# Bounds on the input size a model is probed at (and registered with): the probe run's cost
# grows with the pixels, and no supported model takes more than this.
MIN_INPUT_SIDE, MAX_INPUT_SIDE = 8, 4096
PROBE_SIDES = (128, 192)
# TorchScript code is a few kB to a few MB of text; more is not a model we want to scan.
MAX_TORCHSCRIPT_CODE_BYTES = 64 * 1024 * 1024

TASKS = ("detect", "segment", "classify", "interactive")
LAYOUT_TASKS = {"yolov8": "detect", "yolov5": "detect", "yolov8_seg": "segment",
                "semantic": "segment", "classifier": "classify"}
SUPPORTED_LAYOUTS = ("yolov8 (1, 4+C, N), yolov5 (1, N, 5+C), yolov8_seg (1, 4+C+M, N) with "
                     "prototypes (1, M, h, w), semantic (1, C, H, W), classifier (1, C)")
_FORMATS = "ONNX, a TorchScript archive, safetensors, or a torch.save state dict"
_PICKLE_REFUSAL = ("this file is a pickle that needs weights_only=False to load; a pickle is "
                   "code, so it is refused: save a state_dict (safetensors preferred)")
_ONNX_FLOATS = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16",
                onnx.TensorProto.DOUBLE: "float64"}
# Operators that reach outside the process's tensors: file I/O, RPC, the debug tensor loader.
_TORCHSCRIPT_DENIED = re.compile(
    r"\b(save|from_file|load_tensor|rpc_async|rpc_sync|rpc_remote|_load_for_mobile)\b")
# What zipfile raises on a damaged or hostile archive (an encrypted entry: RuntimeError).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
               NotImplementedError, RuntimeError, zlib.error)
_TORCHSCRIPT_DENIED_KINDS = ("aten::save", "aten::from_file", "debugprims::load_tensor",
                             "prim::rpc_async", "prim::rpc_sync", "prim::rpc_remote")


def _refuse(message: str, field: str = "weights", **details: Any) -> ValidationFailed:
    return ValidationFailed(message, {"field": field, **details})


def inspect_model(path: Path, file_name: str, *, classes: tuple[str, bytes] | None = None,
                  task: str | None = None, architecture: str | None = None,
                  input_size: list[int] | None = None,
                  max_bytes: int | None = None) -> ModelSpec:
    """What the weights at ``path`` (uploaded as ``file_name``) are, with ``classes`` the
    uploaded classes file ``(file name, bytes)`` if any. ``task``, ``architecture`` and
    ``input_size`` are what the uploader said; each is checked against the file. Refusals are
    ``ValidationFailed`` (``details["field"]``: ``weights``, ``classes``, ``task``,
    ``architecture`` or ``input_size``) or ``TooLarge`` over ``max_bytes`` (default
    ``MAX_MODEL_BYTES``)."""
    limit = MAX_MODEL_BYTES if max_bytes is None else max_bytes
    size = path.stat().st_size
    if size == 0:
        raise _refuse("the weights file is empty")
    if size > limit:
        raise TooLarge(f"the weights file is {size:,} bytes; the limit is {limit:,}",
                       {"field": "weights", "limit": limit})
    if task is not None and task not in TASKS:
        raise _refuse(f"unknown task {task!r}; one of {', '.join(TASKS)}", "task")
    asked_size = _asked_input_size(input_size)
    class_names = parse_classes_file(*classes) if classes is not None else None
    kind = weights_format(path, file_name)
    if kind == "onnx":
        return _inspect_onnx(path, class_names, task, asked_size)
    if kind == "torchscript":
        return _inspect_torchscript(path, class_names, task, asked_size)
    if kind == "safetensors":
        _check_safetensors_header(path)  # a truncated file says so, whatever else is missing
    return _inspect_state_dict(path, class_names, task, architecture, asked_size)


def weights_format(path: Path, file_name: str) -> str:
    """``onnx``, ``torchscript``, ``safetensors`` or ``torch`` (a ``torch.save`` zip), from the
    first bytes (and, for a zip, its list of entries); ValidationFailed for anything else."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(16)
    suffix = Path(file_name).suffix.lower()
    if head[:1] == b"\x80":
        raise _refuse("this file is a raw pickle stream (not a torch.save zip or safetensors); "
                      "a pickle is code, so it is refused unread: save a state_dict "
                      "(safetensors preferred)", reason="pickle")
    if head[:4] == b"PK\x03\x04":
        return _zip_format(path)
    if len(head) >= 9 and head[8:9] == b"{":
        header_bytes = int.from_bytes(head[:8], "little")
        if header_bytes + 8 <= size:
            return "safetensors"
        if suffix == ".safetensors" or head[9:10] == b'"':
            raise _refuse(f"the safetensors file is truncated: its header alone says "
                          f"{header_bytes + 8:,} bytes, the file has {size:,}",
                          reason="truncated")
    if suffix == ".safetensors":
        raise _refuse("not a safetensors file: it does not start with a header length and "
                      "a JSON header")
    if head[:1] == b"\x08" or suffix == ".onnx":
        return "onnx"
    raise _refuse(f"not a model file Labelwright reads ({_FORMATS}); it starts with bytes "
                  f"{head[:8].hex(' ')}")


def _zip_format(path: Path) -> str:
    """A torch zip (``torch.save`` or ``torch.jit.save``), told apart by its entries. torch
    stores tensors uncompressed (only TorchScript's code text is deflated), so entries that
    would expand past ``MAX_TORCHSCRIPT_CODE_BYTES``, or stored ones whose sizes disagree, are
    refused before torch reads them: a zip bomb never reaches its reader."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except _ZIP_ERRORS as exc:
        raise _refuse(f"a damaged zip archive ({_first_line(exc)})") from None
    expanded = sum(i.file_size for i in infos if i.compress_type != zipfile.ZIP_STORED)
    if expanded > MAX_TORCHSCRIPT_CODE_BYTES or any(
            i.compress_type == zipfile.ZIP_STORED and i.file_size != i.compress_size
            for i in infos):
        raise _refuse(f"a zip archive whose entries expand to more than torch writes "
                      f"(compressed entries of {expanded:,} bytes, or sizes that disagree); "
                      f"refused unread")
    parts = [info.filename.split("/", 2) for info in infos]
    if any(len(p) >= 2 and (p[1] == "code" or p[1] == "constants.pkl") for p in parts):
        return "torchscript"
    if any(len(p) == 2 and p[1] == "data.pkl" for p in parts):
        return "torch"
    raise _refuse(f"a zip archive that is neither a TorchScript archive nor a torch.save "
                  f"state dict ({_FORMATS} are read)")


# ------------------------------------------------------------------------------------------
# ONNX
# ------------------------------------------------------------------------------------------


def _inspect_onnx(path: Path, class_names: list[str] | None, task: str | None,
                  asked_size: list[int] | None) -> ModelSpec:
    model = _load_onnx(path)
    graph = model.graph
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    _refuse_unsupported_ultralytics_task(metadata.get("task"))
    image = _image_input(graph)
    input_size = _input_size(image.height, image.width, asked_size,
                             _metadata_imgsz(metadata.get("imgsz")))
    static = _static_output_shapes(graph)
    outputs = (_Outputs(static, None) if static is not None else
               _probe_onnx_outputs(path, image, input_size))
    names, names_source = _class_names(class_names, metadata.get("names"))
    reading = _reading(outputs, names, names_source, task,
                       metadata.get("task") if task is None else None)
    names = _require_names(names, reading)
    details: dict[str, Any] = {
        "input_name": image.name,
        "input_dtype": image.dtype,
        "output_names": [output.name for output in graph.output],
        "output_shapes": outputs.described(),
        "num_classes": reading.classes,
        "dynamic_batch": image.dynamic_batch,
        "opset": _default_opset(model),
    }
    if reading.mask_channels is not None:
        details["mask_channels"] = reading.mask_channels
    details.update(_ultralytics_facts(metadata))
    return ModelSpec(format="onnx", task=LAYOUT_TASKS[reading.layout], layout=reading.layout,
                     architecture=None, classes=names, input_size=input_size, details=details)


def _load_onnx(path: Path) -> onnx.ModelProto:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning-like errors...
        raise _refuse(f"not an ONNX model: the file does not parse as one "
                      f"({_first_line(exc)})") from None
    if not model.graph.node or model.ir_version <= 0:
        raise _refuse("not an ONNX model: the file holds no graph")
    external = [t.name for t in _all_tensors(model)
                if t.data_location == onnx.TensorProto.EXTERNAL or t.external_data]
    if external:
        raise _refuse(f"the ONNX model keeps {len(external)} tensor(s) in external data files "
                      f"(first: {external[0][:80]!r}); upload a single self-contained .onnx "
                      f"file (onnx.save with save_as_external_data=False)",
                      reason="external_data")
    try:
        onnx.checker.check_model(str(path))  # from the file: no re-serialising
    except Exception as exc:  # ValidationError, and C++ errors surfacing as others
        raise _refuse(f"the ONNX model is not valid: {_first_line(exc)}") from None
    return model


def _all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor of the model: initializers and node attributes, in subgraphs and
    functions too."""
    graphs: list[onnx.GraphProto] = [model.graph]
    nodes: list[onnx.NodeProto] = [node for function in model.functions
                                   for node in function.node]
    while graphs or nodes:
        if graphs:
            graph = graphs.pop()
            yield from graph.initializer
            for sparse in graph.sparse_initializer:
                yield sparse.values
                yield sparse.indices
            nodes.extend(graph.node)
            continue
        node = nodes.pop()
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("sparse_tensor"):
                yield attribute.sparse_tensor.values
                yield attribute.sparse_tensor.indices
            if attribute.HasField("g"):
                graphs.append(attribute.g)
            graphs.extend(attribute.graphs)


@dataclass(frozen=True)
class _ImageInput:
    name: str
    dtype: str
    height: int | None  # None: dynamic
    width: int | None
    dynamic_batch: bool


def _image_input(graph: onnx.GraphProto) -> _ImageInput:
    """The graph's one input, which must be an image tensor (N, 3, H, W) of floats."""
    initializers = {tensor.name for tensor in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        listed = ", ".join(f"{i.name} {_describe_value(i)}" for i in inputs[:4])
        raise _refuse(f"the model has {len(inputs)} inputs ({listed}); Labelwright feeds it one "
                      f"image tensor (N, 3, H, W)")
    value = inputs[0]
    not_image = _refuse(f"the model's input is {_describe_value(value)}, not an image tensor "
                        f"(N, 3, H, W)")
    tensor_type = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        raise not_image
    dims = [_dim(d) for d in tensor_type.shape.dim]
    if (len(dims) != 4 or dims[1] != 3 or tensor_type.elem_type not in _ONNX_FLOATS
            or any(isinstance(d, int) and d <= 0 for d in dims[2:])):
        raise not_image
    if isinstance(dims[0], int) and dims[0] != 1:
        raise _refuse(f"the model's input has a fixed batch of {dims[0]}; Labelwright needs "
                      f"a batch of 1 or a dynamic batch")
    return _ImageInput(name=value.name, dtype=_ONNX_FLOATS[tensor_type.elem_type],
                       height=dims[2] if isinstance(dims[2], int) else None,
                       width=dims[3] if isinstance(dims[3], int) else None,
                       dynamic_batch=not isinstance(dims[0], int))


def _dim(dim: onnx.TensorShapeProto.Dimension) -> int | str:
    if dim.HasField("dim_value") and dim.dim_value > 0:
        return int(dim.dim_value)
    return dim.dim_param or "?"


def _describe_value(value: onnx.ValueInfoProto) -> str:
    """``(1, 10) float`` / ``(batch, 3, 640, 640) float16`` / ``a sequence``."""
    if not value.type.HasField("tensor_type"):
        return f"a {value.type.WhichOneof('value') or 'value of no type'}"
    tensor_type = value.type.tensor_type
    try:
        dtype = onnx.TensorProto.DataType.Name(tensor_type.elem_type).lower()
    except ValueError:
        dtype = "unknown"
    if not tensor_type.HasField("shape"):
        return f"a {dtype} tensor of unknown shape"
    return f"({', '.join(str(_dim(d)) for d in tensor_type.shape.dim)}) {dtype}"


def _static_output_shapes(graph: onnx.GraphProto) -> list[tuple[int, ...]] | None:
    """The outputs' shapes when the graph states every dimension (else None: probe)."""
    shapes: list[tuple[int, ...]] = []
    for output in graph.output:
        if not output.type.HasField("tensor_type"):
            raise _refuse(f"the model's output {output.name!r} is {_describe_value(output)}, "
                          f"not a tensor; supported layouts: {SUPPORTED_LAYOUTS}")
        tensor_type = output.type.tensor_type
        if not tensor_type.HasField("shape"):
            return None
        dims = [_dim(d) for d in tensor_type.shape.dim]
        if not all(isinstance(d, int) for d in dims[1:]):
            return None
        batch = dims[0] if dims and isinstance(dims[0], int) else 1
        shapes.append((batch, *(int(d) for d in dims[1:])) if dims else ())
    return shapes


def _probe_onnx_outputs(path: Path, image: _ImageInput, input_size: list[int]) -> _Outputs:
    """Run the graph on zero images to learn the shapes its symbolic dimensions take (safe:
    ONNX Runtime interprets operators, it runs no code of the file's)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # its errors come back in the refusal, not on stderr
    options.intra_op_num_threads = 2
    # No graph optimisation: a session made for two small runs gains nothing from constant
    # folding (which would reduce a model's large initializers once more) or fusions.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/RuntimeException types
        raise _refuse(f"ONNX Runtime cannot load the model: {_first_line(exc)}") from None

    def run(size: list[int]) -> list[Shape]:
        zeros = np.zeros((1, 3, *size), dtype=image.dtype)
        try:
            outputs = session.run(None, {image.name: zeros})
        except Exception as exc:  # ORT's own error types
            raise _refuse(f"running the model once on a zero image (1, 3, {size[0]}, "
                          f"{size[1]}) failed: {_first_line(exc)}") from None
        shapes = []
        for output in outputs:
            if not isinstance(output, np.ndarray):
                raise _refuse(f"the model outputs a {type(output).__name__}, not tensors; "
                              f"supported layouts: {SUPPORTED_LAYOUTS}")
            shapes.append(tuple(int(d) for d in output.shape))
        return shapes

    return _probe(run, input_size, (image.height is not None, image.width is not None))


def _default_opset(model: onnx.ModelProto) -> int | None:
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            return int(opset.version)
    return None


# ------------------------------------------------------------------------------------------
# TorchScript
# ------------------------------------------------------------------------------------------


def _inspect_torchscript(path: Path, class_names: list[str] | None, task: str | None,
                         asked_size: list[int] | None) -> ModelSpec:
    _check_torchscript_code(path)
    extra = {"config.txt": ""}
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript; loading archives still works.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as exc:  # torch raises RuntimeError and its own error classes
        raise _refuse(f"not a loadable TorchScript archive: {_first_line(exc)}") from None
    _check_torchscript_graph(module)
    metadata = _torchscript_config(extra.get("config.txt", ""))
    _refuse_unsupported_ultralytics_task(metadata.get("task"))
    input_size = _input_size(None, None, asked_size, _metadata_imgsz(metadata.get("imgsz")))
    outputs = _probe(lambda size: _run_torchscript(module, size), input_size, (False, False))
    names, names_source = _class_names(class_names, metadata.get("names"))
    reading = _reading(outputs, names, names_source, task,
                       metadata.get("task") if task is None else None)
    names = _require_names(names, reading)
    details: dict[str, Any] = {"output_shapes": outputs.described(),
                               "num_classes": reading.classes, "dynamic_batch": True}
    if reading.mask_channels is not None:
        details["mask_channels"] = reading.mask_channels
    details.update(_ultralytics_facts(metadata))
    return ModelSpec(format="torchscript", task=LAYOUT_TASKS[reading.layout],
                     layout=reading.layout, architecture=None, classes=names,
                     input_size=input_size, details=details)


def _check_torchscript_code(path: Path) -> None:
    """Refuse an archive whose code names an operator that reaches outside its tensors,
    *before* loading it: ``torch.jit.load`` already runs the modules' ``__setstate__``."""
    try:
        with zipfile.ZipFile(path) as archive:
            code = [info for info in archive.infolist()
                    if info.filename.split("/")[1:2] == ["code"] and not info.is_dir()
                    and not info.filename.endswith(".debug_pkl")]
            total = sum(info.file_size for info in code)
            if total > MAX_TORCHSCRIPT_CODE_BYTES:
                raise _refuse(f"the TorchScript archive holds {total:,} bytes of code; at "
                              f"most {MAX_TORCHSCRIPT_CODE_BYTES:,} are read")
            texts = [archive.read(info).decode("utf-8", errors="replace") for info in code]
    except _ZIP_ERRORS as exc:
        raise _refuse(f"a damaged TorchScript archive ({_first_line(exc)})") from None
    for text in texts:
        found = _TORCHSCRIPT_DENIED.search(text)
        if found:
            raise _refuse(f"the TorchScript code uses {found.group(1)!r}, an operator that "
                          f"reads or writes outside the model (files, RPC); such an archive is "
                          f"refused", reason="denied_operator")


def _check_torchscript_graph(module: torch.jit.ScriptModule) -> None:
    """The same check on the compiled ``forward`` (calls inlined), in case the code's text
    hid a name."""
    try:
        graph = module.inlined_graph
    except Exception as exc:  # a module without forward
        raise _refuse(f"the TorchScript archive has no usable forward: {_first_line(exc)}") \
            from None
    blocks: list[torch.Graph | torch.Block] = [graph]
    while blocks:
        block = blocks.pop()
        for node in block.nodes():
            if node.kind() in _TORCHSCRIPT_DENIED_KINDS:
                raise _refuse(f"the TorchScript model calls {node.kind()}, an operator that "
                              f"reads or writes outside the model; such an archive is refused",
                              reason="denied_operator")
            blocks.extend(node.blocks())


def _run_torchscript(module: torch.jit.ScriptModule, input_size: list[int]) -> list[Shape]:
    zeros = torch.zeros(1, 3, *input_size)
    try:
        module.eval()
        with torch.inference_mode():
            output = module(zeros)
    except Exception as exc:  # whatever the model's code raises
        raise _refuse(f"running the TorchScript model once on a zero image (1, 3, "
                      f"{input_size[0]}, {input_size[1]}) failed: {_first_line(exc)}") from None
    tensors = list(_output_tensors(output))
    if not tensors:
        raise _refuse(f"the TorchScript model returns a {type(output).__name__}, not tensors; "
                      f"supported layouts: {SUPPORTED_LAYOUTS}")
    return [tuple(int(d) for d in tensor.shape) for tensor in tensors]


def _output_tensors(output: Any, depth: int = 0) -> Iterator[torch.Tensor]:
    """The tensors of a model's output: itself, or those in (nested) tuples and lists, in
    order (Ultralytics' segmenters return ``(detections, prototypes)``)."""
    if isinstance(output, torch.Tensor):
        yield output
    elif isinstance(output, (tuple, list)) and depth < 3:
        for item in output:
            yield from _output_tensors(item, depth + 1)
    else:
        raise _refuse(f"the model's output holds a {type(output).__name__}; supported layouts: "
                      f"{SUPPORTED_LAYOUTS}")


def _torchscript_config(text: str) -> dict[str, str]:
    """Ultralytics' ``config.txt`` extra file (JSON metadata) as ONNX metadata would hold it
    (each value as text), or ``{}``."""
    if not text or len(text) > 1024 * 1024:
        return {}
    try:
        config = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(config, dict):
        return {}
    texts = {str(key): _text(value) for key, value in config.items()}
    return {key: value for key, value in texts.items() if value is not None}


def _text(value: Any) -> str | None:
    """A metadata value as the text ONNX metadata would hold (``names`` as JSON)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------------------
# state dicts
# ------------------------------------------------------------------------------------------


def _inspect_state_dict(path: Path, class_names: list[str] | None, task: str | None,
                        architecture: str | None, asked_size: list[int] | None) -> ModelSpec:
    from inference_workers.architectures import BUILTIN_ARCHITECTURES, inspect_state_dict

    known = ", ".join(sorted(BUILTIN_ARCHITECTURES))
    if not architecture:
        raise _refuse(f"this file is a state dict: weights without the network's code. Name "
                      f"its `architecture` (built in: {known})", "architecture")
    if architecture not in BUILTIN_ARCHITECTURES:
        raise _refuse(f"unknown architecture {architecture!r}; built in: {known}",
                      "architecture")
    if BUILTIN_ARCHITECTURES[architecture].task == "interactive":  # SAM: clicks in, no classes
        if task is not None and task != "interactive":
            raise _refuse(f"task {task!r} does not fit a {architecture} model (task "
                          f"'interactive')", "task")
        spec = inspect_state_dict(architecture, load_state_dict(path), class_names or [],
                                  input_size=asked_size)
        return replace(spec, format="state_dict")
    if class_names is None:
        raise _refuse("a state dict carries no class names: upload a classes file with it",
                      "classes")
    spec = inspect_state_dict(architecture, load_state_dict(path), class_names,
                              input_size=asked_size)
    if task is not None and task != spec.task:
        raise _refuse(f"task {task!r} does not fit a {architecture} model (task "
                      f"{spec.task!r})", "task")
    return replace(spec, format="state_dict")


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file or of a ``torch.save`` state dict, recognised by
    content. Never unpickles code: ``torch.load(weights_only=True)`` only. A flat mapping of
    names to tensors is required; a ``{"state_dict": {...}}`` or ``{"model": {...}}`` wrapper
    (Lightning, some trainers) is unwrapped once."""
    kind = weights_format(path, path.name)
    if kind == "safetensors":
        return _load_safetensors(path)
    if kind != "torch":
        raise _refuse(f"this is {'a TorchScript archive' if kind == 'torchscript' else 'ONNX'}, "
                      f"not a state dict")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        if _is_weights_only_refusal(exc):
            raise _refuse(_PICKLE_REFUSAL, reason="pickle") from None
        if isinstance(exc, pickle.UnpicklingError):  # torch's first line is boilerplate
            raise _refuse("not a readable torch.save state dict: its pickle is damaged or holds "
                          "something weights_only=True does not read") from None
        raise _refuse(f"not a readable torch.save file: {_first_line(exc)}") from None
    return _flat_tensors(loaded)


def _is_weights_only_refusal(exc: Exception) -> bool:
    """torch's weights-only unpickler met a class it does not build (``GLOBAL``): the file
    needs ``weights_only=False`` (a damaged pickle fails with other words)."""
    return "GLOBAL" in str(exc)


def _check_safetensors_header(path: Path) -> None:
    """Parse the header only: ``safe_open`` checks that the tensors' byte ranges cover the
    file exactly, so a truncated file is refused here without reading any tensor."""
    _load_safetensors(path, header_only=True)


def _load_safetensors(path: Path, *, header_only: bool = False) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            if header_only:
                return {}
            return {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        message = _first_line(exc)
        lowered = message.lower()
        if any(word in lowered for word in ("incomplete", "truncated", "not fully covered",
                                            "out of bounds")):
            raise _refuse(f"the safetensors file is truncated or damaged: {message}",
                          reason="truncated") from None
        raise _refuse(f"not a readable safetensors file: {message}") from None


def _flat_tensors(loaded: Any) -> dict[str, torch.Tensor]:
    if isinstance(loaded, Mapping):
        for wrapper in ("state_dict", "model"):
            inner = loaded.get(wrapper)
            if isinstance(inner, Mapping) and _is_flat(inner):
                loaded = inner
                break
    if not isinstance(loaded, Mapping):
        raise _refuse(f"the file holds a {type(loaded).__name__}, not a state dict (names "
                      f"mapped to tensors)")
    if not _is_flat(loaded):
        bad = next(k for k, v in loaded.items()
                   if not isinstance(k, str) or not isinstance(v, torch.Tensor))
        raise _refuse(f"the state dict's entry {str(bad)[:80]!r} is not a named tensor: a "
                      f"state dict maps names to tensors")
    if not loaded:
        raise _refuse("the state dict holds no tensors")
    return {key: value for key, value in loaded.items()}


def _is_flat(mapping: Mapping[Any, Any]) -> bool:
    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in mapping.items())


# ------------------------------------------------------------------------------------------
# output shapes, layouts and classes (ONNX and TorchScript)
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outputs:
    """The model's output shapes (batch 1), and which dimensions change with the input size
    (None: not known, the shapes are those at the registered input size)."""

    shapes: list[Shape]
    varying: list[tuple[bool, ...]] | None

    def described(self) -> list[list[int | None]]:
        """JSON for ``details["output_shapes"]``: null where a dimension follows the input
        size."""
        if self.varying is None:
            return [list(shape) for shape in self.shapes]
        return [[None if varies else d for d, varies in zip(shape, varying, strict=True)]
                for shape, varying in zip(self.shapes, self.varying, strict=True)]


def _probe(run: Callable[[list[int]], list[Shape]], input_size: list[int],
           fixed: tuple[bool, bool]) -> _Outputs:
    """The output shapes of a model whose graph does not state them, from running it on zero
    images. A large model at 640x640 takes seconds on a CPU, so it runs at two small sizes
    (``PROBE_SIDES``, multiples of a stride of 64) instead: the dimensions that change are the
    anchors or pixels, those that do not are channels, which tells the YOLOv8 layout from the
    YOLOv5 one better than their proportions. A model that refuses the small sizes runs once at
    ``input_size``."""
    small = [input_size[i] if fixed[i] else PROBE_SIDES[0] for i in (0, 1)]
    larger = [input_size[i] if fixed[i] else PROBE_SIDES[1] for i in (0, 1)]
    if small == larger or max(input_size) <= PROBE_SIDES[1]:
        return _Outputs(run(input_size), None)
    try:
        first, second = run(small), run(larger)
    except ValidationFailed:
        return _Outputs(run(input_size), None)
    if [len(shape) for shape in first] != [len(shape) for shape in second]:
        return _Outputs(run(input_size), None)
    varying = [tuple(a != b for a, b in zip(one, two, strict=True))
               for one, two in zip(first, second, strict=True)]
    return _Outputs(first, varying)


@dataclass(frozen=True)
class _Reading:
    """One way to read the output shapes: a layout with its class count."""

    layout: str
    classes: int
    plausible: bool  # fits the usual proportions (more anchors than channels, ...)
    mask_channels: int | None = None

    def describe(self) -> str:
        return f"{self.layout} with {self.classes:,} classes"


def _readings(outputs: _Outputs) -> list[_Reading]:
    """Every supported layout the output shapes fit."""
    shapes = outputs.shapes
    if not shapes or any(len(s) < 2 or s[0] != 1 for s in shapes):
        return []
    if len(shapes) == 1:
        shape = shapes[0]
        if len(shape) == 2:
            return [_Reading("classifier", shape[1], True)]
        if len(shape) == 4:
            if shape[2] == shape[3] == 1:  # a classifier that kept its pooled spatial dims
                return [_Reading("classifier", shape[1], True)]
            return [_Reading("semantic", shape[1], True)]
        if len(shape) == 3:
            channels, anchors = shape[1], shape[2]
            v8_plausible, v5_plausible = anchors > channels, channels > anchors
            if outputs.varying is not None and outputs.varying[0][1] != outputs.varying[0][2]:
                v8_plausible, v5_plausible = outputs.varying[0][2], outputs.varying[0][1]
            found = []
            if channels > 4:
                found.append(_Reading("yolov8", channels - 4, v8_plausible))
            if anchors > 5:
                found.append(_Reading("yolov5", anchors - 5, v5_plausible))
            return found
        return []
    found = []
    if len(shapes) == 2:
        ranks = sorted((len(s), s) for s in shapes)
        (det_rank, det), (proto_rank, protos) = ranks
        if det_rank == 3 and proto_rank == 4:
            masks = protos[1]
            if det[1] > 4 + masks:
                found.append(_Reading("yolov8_seg", det[1] - 4 - masks, det[2] > det[1],
                                      masks))
    if all(len(s) in (2, 4) for s in shapes[1:]):
        # A classifier or detector with feature outputs after its own (``(1, d)`` or
        # ``(1, C, h, w)``): the score job's embeddings (``output_scores``).
        first = _Outputs(shapes[:1], outputs.varying[:1] if outputs.varying else None)
        # Less plausible than YOLOv8-seg's (detections, prototypes) when both fit.
        found.extend(replace(r, plausible=r.plausible and not found)
                     for r in _readings(first) if r.layout != "semantic")
    return found


def _reading(outputs: _Outputs, names: list[str] | None, names_source: str,
             task: str | None, metadata_task: str | None) -> _Reading:
    """The layout of the outputs: the shapes' readings narrowed by the class count (when the
    names are known), then by the task asked for, then by the metadata's task."""
    readings = _readings(outputs)
    shapes = " + ".join(_shape_text(s) for s in outputs.described()) or "(none)"
    if not readings:
        raise _refuse(f"the model's outputs {shapes} fit none of the layouts Labelwright runs: "
                      f"{SUPPORTED_LAYOUTS}")
    if names is not None:
        matching = [r for r in readings if r.classes == len(names)]
        if not matching:
            read = " or ".join(r.describe() for r in readings)
            raise _refuse(f"{names_source} has {len(names):,} names but the model has "
                          f"{readings[0].classes:,} classes (outputs {shapes} read as {read})",
                          "classes", names=len(names), model_classes=readings[0].classes)
        readings = matching
    elif len(readings) > 1:
        readings = [r for r in readings if r.plausible] or readings
    if task is not None:
        fitting = [r for r in readings if LAYOUT_TASKS[r.layout] == task]
        if not fitting:
            read = " or ".join(f"{r.describe()} (task {LAYOUT_TASKS[r.layout]})"
                               for r in readings)
            raise _refuse(f"task {task!r} does not fit the model's outputs {shapes}: they read "
                          f"as {read}", "task")
        readings = fitting
    if len(readings) > 1 and metadata_task in TASKS:
        readings = [r for r in readings if LAYOUT_TASKS[r.layout] == metadata_task] or readings
    if len(readings) > 1:
        read = " or ".join(r.describe() for r in readings)
        raise _refuse(f"the model's outputs {shapes} are ambiguous: {read}. A classes file "
                      f"(its number of names) decides; supported layouts: {SUPPORTED_LAYOUTS}")
    if readings[0].classes < 1:
        raise _refuse(f"the model's outputs {shapes} have no classes")
    return readings[0]


def _class_names(from_file: list[str] | None,
                 metadata_names: str | None) -> tuple[list[str] | None, str]:
    """The classes file wins; else the model's ``names`` metadata; else None."""
    if from_file is not None:
        return from_file, "the classes file"
    if metadata_names:
        return names_from_onnx_metadata(metadata_names), "the model's `names` metadata"
    return None, ""


def _require_names(names: list[str] | None, reading: _Reading) -> list[str]:
    if names is None:
        raise _refuse(f"the model has {reading.classes:,} classes but no class names: upload a "
                      f"classes file (.names / classes.txt, data.yaml, COCO JSON or a JSON list) "
                      f"with {reading.classes:,} names", "classes",
                      model_classes=reading.classes)
    return names


def _refuse_unsupported_ultralytics_task(metadata_task: str | None) -> None:
    if metadata_task in ("pose", "obb"):
        raise _refuse(f"the model's metadata says task {metadata_task!r}; Labelwright runs "
                      f"detection, segmentation and classification models only")


def _asked_input_size(input_size: list[int] | None) -> list[int] | None:
    """The uploader's ``input_size``: ``[side]`` or ``[height, width]``."""
    if input_size is None:
        return None
    if (not isinstance(input_size, (list, tuple)) or len(input_size) not in (1, 2)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in input_size)):
        raise _refuse("input_size is [side] or [height, width] in pixels", "input_size")
    size = [input_size[0], input_size[-1]]
    if not all(MIN_INPUT_SIDE <= side <= MAX_INPUT_SIDE for side in size):
        raise _refuse(f"input_size sides must be {MIN_INPUT_SIDE} to {MAX_INPUT_SIDE} pixels",
                      "input_size")
    return size


def _input_size(height: int | None, width: int | None, asked: list[int] | None,
                from_metadata: list[int] | None) -> list[int]:
    """[height, width]: the graph's own where fixed, else what was asked, else the metadata's
    ``imgsz``, else ``DEFAULT_INPUT_SIZE``."""
    if height is not None and width is not None:
        if asked is not None and asked != [height, width]:
            raise _refuse(f"the model's input is fixed at {height}x{width}; input_size "
                          f"{asked[0]}x{asked[1]} does not fit it", "input_size")
        if not (1 <= height <= MAX_INPUT_SIDE and 1 <= width <= MAX_INPUT_SIDE):
            raise _refuse(f"the model's input is {height}x{width}; at most {MAX_INPUT_SIDE} "
                          f"pixels a side are supported")
        return [height, width]
    fill = asked or from_metadata or [DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE]
    return [height if height is not None else fill[0], width if width is not None else fill[1]]


def _metadata_imgsz(value: str | None) -> list[int] | None:
    """Ultralytics' ``imgsz`` metadata (``[640, 640]``), when readable and within bounds."""
    if not value or len(value) > 100:
        return None
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(parsed, int):
        parsed = [parsed]
    if (not isinstance(parsed, (list, tuple)) or len(parsed) not in (1, 2)
            or not all(isinstance(v, int) and MIN_INPUT_SIDE <= v <= MAX_INPUT_SIDE
                       for v in parsed)):
        return None
    return [int(parsed[0]), int(parsed[-1])]


def _ultralytics_facts(metadata: Mapping[str, str]) -> dict[str, Any]:
    """``stride`` and ``imgsz`` from Ultralytics metadata, when present and readable."""
    facts: dict[str, Any] = {}
    stride = metadata.get("stride", "").strip()
    if stride.isdigit() and len(stride) <= 4:
        facts["stride"] = int(stride)
    imgsz = _metadata_imgsz(metadata.get("imgsz"))
    if imgsz is not None:
        facts["imgsz"] = imgsz
    return facts


def _shape_text(shape: Sequence[int | None]) -> str:
    """``(1, 84, N)``: N where the dimension follows the input size."""
    return f"({', '.join('N' if d is None else str(d) for d in shape)})"


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__
