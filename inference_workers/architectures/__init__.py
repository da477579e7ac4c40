"""Built-in architectures written in torch: what a state dict may be, and how it runs.

A state dict (``.safetensors``, or a ``.pt``/``.pth`` that ``torch.load`` reads with
``weights_only=True``) is only tensors: the code that runs them is ours. So registering one
names an architecture of ``BUILTIN_ARCHITECTURES``, and ``inspect_state_dict`` checks that the
tensors are exactly that architecture's (names and shapes), reading its hyper-parameters
(``num_classes``, ``width``) from the tensors themselves. ``load_state_dict_runner`` builds the
module again from the registered ``ModelSpec`` and returns a ``model_api.Runner``.

Reading the file is ``model_files.load_state_dict``'s (by content, ``torch.load`` with
``weights_only=True`` only): a pickle that needs ``weights_only=False`` is refused, since
unpickling it would run its code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from domain.errors import ValidationFailed
from inference_workers.architectures import centernet, classifier, sam
from inference_workers.model_api import ModelInfo, ModelSpec, Runner

log = logging.getLogger(__name__)

# Upper bounds on what the tensors may claim, checked before anything is built from them.
MAX_CLASSES = 5000
MAX_WIDTH = 256


@dataclass(frozen=True)
class BuiltinArchitecture:
    """One architecture: how to read its hyper-parameters from tensors, build it, run it.

    An architecture that is not a classes-and-width network (SAM: an ``interactive`` model,
    no classes, no ``Runner``) gives its own ``inspect`` instead, and ``runner=None``: it
    pre-labels nothing."""

    name: str
    task: str
    layout: str
    default_input_size: tuple[int, int]
    hyperparameters: Callable[[Mapping[str, torch.Tensor]], dict[str, int]] | None = None
    build: Callable[[dict[str, int]], nn.Module] | None = None
    runner: Callable[[nn.Module, list[str], tuple[int, int], torch.device], Runner] | None = None
    inspect: Callable[..., ModelSpec] | None = None  # (tensors, classes, *, input_size)
    details: Mapping[str, int] | None = None  # fixed facts shown with the model


def _centernet_hyperparameters(tensors: Mapping[str, torch.Tensor]) -> dict[str, int]:
    return _sizes(_leading_dim(tensors, "heatmap.2.weight"), "heatmap.2.weight", tensors)


def _sizes(num_classes: int, classes_key: str, tensors: Mapping[str, torch.Tensor]
           ) -> dict[str, int]:
    """The class count (read from ``classes_key``) and the backbone's width, within bounds."""
    width = _leading_dim(tensors, "stem.0.0.weight")
    if not 1 <= num_classes <= MAX_CLASSES:
        raise _bad_weights(f"{classes_key} claims {num_classes} classes "
                           f"(1 to {MAX_CLASSES} are allowed)")
    if not 1 <= width <= MAX_WIDTH:
        raise _bad_weights(f"stem.0.0.weight claims width {width} (1 to {MAX_WIDTH} allowed)")
    return {"num_classes": num_classes, "width": width}


def _centernet_runner(model: nn.Module, classes: list[str], input_size: tuple[int, int],
                      device: torch.device) -> Runner:
    assert isinstance(model, centernet.CenterNet)
    return centernet.CenterNetRunner(model, classes, input_size, device)


def _classifier_hyperparameters(tensors: Mapping[str, torch.Tensor]) -> dict[str, int]:
    head = tensors.get("head.weight")
    if head is None:
        raise _bad_weights("missing tensor 'head.weight'", key="head.weight")
    if head.dim() != 2:
        raise _bad_weights(f"tensor 'head.weight' has shape {list(head.shape)}, the "
                           "architecture needs a 2-d linear weight", key="head.weight")
    return _sizes(int(head.shape[0]), "head.weight", tensors)


def _classifier_runner(model: nn.Module, classes: list[str], input_size: tuple[int, int],
                       device: torch.device) -> Runner:
    assert isinstance(model, classifier.TagClassifier)
    return classifier.TagClassifierRunner(model, classes, input_size, device)


BUILTIN_ARCHITECTURES: dict[str, BuiltinArchitecture] = {
    "centernet": BuiltinArchitecture(
        name="centernet",
        task="detect",
        layout="centernet",
        default_input_size=centernet.DEFAULT_INPUT_SIZE,
        hyperparameters=_centernet_hyperparameters,
        build=lambda hp: centernet.CenterNet(hp["num_classes"], width=hp["width"]),
        runner=_centernet_runner,
        details={"output_stride": centernet.OUTPUT_STRIDE},
    ),
    "classifier": BuiltinArchitecture(
        name="classifier",
        task="classify",
        layout="classifier",
        default_input_size=classifier.DEFAULT_INPUT_SIZE,
        hyperparameters=_classifier_hyperparameters,
        build=lambda hp: classifier.TagClassifier(hp["num_classes"], width=hp["width"]),
        runner=_classifier_runner,
    ),
    "sam": BuiltinArchitecture(
        name="sam",
        task="interactive",
        layout="sam",
        default_input_size=(sam.SAM_INPUT_SIDE, sam.SAM_INPUT_SIDE),
        inspect=sam.inspect_sam_state_dict,
    ),
}


def builtin_architecture(name: str | None) -> BuiltinArchitecture:
    """The built-in architecture called ``name`` (ValidationFailed, field ``architecture``)."""
    found = BUILTIN_ARCHITECTURES.get(name or "")
    if found is None:
        known = ", ".join(sorted(BUILTIN_ARCHITECTURES))
        raise ValidationFailed(
            f"a state dict needs a built-in architecture ({known}); got {name!r}",
            {"field": "architecture"},
        )
    return found


def inspect_state_dict(architecture: str, tensors: Mapping[str, torch.Tensor],
                       classes: list[str], *,
                       input_size: list[int] | None = None) -> ModelSpec:
    """Check that ``tensors`` are exactly ``architecture``'s (every name, every shape,
    finite floats) and describe them. The first bad key is named in the ValidationFailed
    (field ``weights``); a ``classes`` list of another length than the heatmap's is refused
    (field ``classes``). ``num_batches_tracked`` counters may be missing (inference never reads
    them)."""
    arch = builtin_architecture(architecture)
    if arch.inspect is not None:
        spec: ModelSpec = arch.inspect(tensors, classes, input_size=input_size)
        return spec
    assert arch.hyperparameters is not None and arch.build is not None
    hyper = arch.hyperparameters(tensors)
    with torch.device("meta"):  # shapes only: nothing is allocated for the reference
        expected = arch.build(hyper).state_dict()
    _check_tensors(tensors, {key: tuple(value.shape) for key, value in expected.items()})
    if len(classes) != hyper["num_classes"]:
        raise ValidationFailed(
            f"the classes list has {len(classes)} names but the weights have "
            f"{hyper['num_classes']} classes",
            {"field": "classes", "names": len(classes), "model_classes": hyper["num_classes"]},
        )
    size = _input_size(input_size or list(arch.default_input_size))
    parameters = sum(t.numel() for k, t in tensors.items() if not k.endswith("num_batches_tracked"))
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in tensors.values()
                     if t.is_floating_point()})
    return ModelSpec(
        format="state_dict", task=arch.task, layout=arch.layout, architecture=arch.name,
        classes=list(classes), input_size=size,
        details={**hyper, "parameters": parameters, "dtypes": dtypes, **(arch.details or {})},
    )


def load_state_dict_runner(info: ModelInfo, weights: Path, *, device: str | None = None) -> Runner:
    """Weights of a built-in architecture, checked again and loaded (float32) on ``device``
    (``None``: CUDA when present; ``"cuda"`` falls back to the CPU when absent)."""
    from inference_workers.model_files import load_state_dict

    arch = builtin_architecture(info.architecture)
    if arch.runner is None or arch.build is None:
        raise ValidationFailed(f"a {arch.name} model is {arch.task}: it answers assist "
                               "requests and does not pre-label images", {"field": "model_id"})
    tensors = load_state_dict(weights)  # by content (the store names files by sha256 only)
    spec = inspect_state_dict(arch.name, tensors, list(info.classes),
                              input_size=info.input_size)
    model = arch.build({k: spec.details[k] for k in ("num_classes", "width")})
    floats = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    model.load_state_dict(floats, strict=False)  # inspect_state_dict checked every name
    assert spec.input_size is not None
    size = (spec.input_size[0], spec.input_size[1])
    return arch.runner(model, spec.classes, size, choose_device(device))


def choose_device(asked: str | None) -> torch.device:
    if asked is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = torch.device(asked)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        log.warning("CUDA was asked for but is not available: running on the CPU")
        return torch.device("cpu")
    return chosen


def _check_tensors(tensors: Mapping[str, torch.Tensor],
                   expected: dict[str, tuple[int, ...]]) -> None:
    missing = [k for k in expected if k not in tensors and not k.endswith("num_batches_tracked")]
    if missing:
        raise _bad_weights(f"missing tensor {missing[0]!r} ({len(missing)} missing)",
                           key=missing[0])
    unexpected = sorted(k for k in tensors if k not in expected)
    if unexpected:
        raise _bad_weights(f"unexpected tensor {unexpected[0]!r} ({len(unexpected)} unexpected)",
                           key=unexpected[0])
    for key, shape in expected.items():
        if key not in tensors:
            continue
        tensor = tensors[key]
        if tuple(tensor.shape) != shape:
            raise _bad_weights(f"tensor {key!r} has shape {list(tensor.shape)}, the "
                               f"architecture needs {list(shape)}", key=key)
        if key.endswith("num_batches_tracked"):
            continue
        if not tensor.is_floating_point():
            raise _bad_weights(f"tensor {key!r} is {tensor.dtype}, not floating point", key=key)
        if not bool(torch.isfinite(tensor).all()):
            raise _bad_weights(f"tensor {key!r} holds NaN or infinite values", key=key)


def _input_size(size: list[int]) -> list[int]:
    if (len(size) != 2 or not all(type(s) is int and 32 <= s <= 4096 and s % 16 == 0
                                  for s in size)):
        raise ValidationFailed(
            f"input_size must be [height, width], multiples of 16 from 32 to 4096; got {size}",
            {"field": "input_size"},
        )
    return [size[0], size[1]]


def _leading_dim(tensors: Mapping[str, torch.Tensor], key: str) -> int:
    tensor = tensors.get(key)
    if tensor is None:
        raise _bad_weights(f"missing tensor {key!r}", key=key)
    if tensor.dim() != 4:
        raise _bad_weights(f"tensor {key!r} has shape {list(tensor.shape)}, the architecture "
                           "needs a 4-d convolution weight", key=key)
    return int(tensor.shape[0])


def _bad_weights(message: str, *, key: str | None = None) -> ValidationFailed:
    details: dict[str, object] = {"field": "weights"}
    if key is not None:
        details["key"] = key
    return ValidationFailed(message, details)
