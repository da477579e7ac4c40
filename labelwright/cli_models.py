"""``labelwright model add`` and ``labelwright model list``: the model registry from the
command line (the same use case as ``POST /projects/{id}/models``,
``service_layer.model_registry``; docs/cli.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from domain.errors import TooLarge, ValidationFailed
from domain.model import MODEL_TASKS


def _read_classes(raw: str | None) -> tuple[str, bytes] | None:
    from service_layer.model_registry import MAX_CLASSES_FILE

    if raw is None:
        return None
    path = Path(raw)
    try:
        if path.stat().st_size > MAX_CLASSES_FILE:
            raise TooLarge(f"the classes file is larger than {MAX_CLASSES_FILE:,} bytes",
                           {"field": "classes", "limit": MAX_CLASSES_FILE})
        return path.name, path.read_bytes()
    except OSError as e:
        raise ValidationFailed(f"cannot read the classes file {raw!r}: {e.strerror}",
                               {"field": "classes"}) from None


def cmd_model_add(args: argparse.Namespace) -> int:
    from inference_workers.model_files import inspect_model
    from labelwright.cli import _close, _services
    from service_layer.model_registry import register_model

    classes = _read_classes(args.classes)
    services = _services(args)
    try:
        model, _ = register_model(
            services.app, services.models, args.project_id, weights=Path(args.weights),
            classes=classes, name=args.name, version=args.version, task=args.task,
            architecture=args.architecture, input_size=args.input_size, actor=args.actor,
            max_bytes=services.settings.max_model_bytes, inspect=inspect_model)
    finally:
        _close(services)
    print(json.dumps(model.describe()))
    return 0


def cmd_model_list(args: argparse.Namespace) -> int:
    from labelwright.cli import _close, _services
    from service_layer.model_registry import project_models

    services = _services(args)
    try:
        models = project_models(services.app, args.project_id)
    finally:
        _close(services)
    print(json.dumps({"models": models}))
    return 0


def add_model_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                       common: Callable[[argparse.ArgumentParser], None]) -> None:
    """``model add`` and ``model list`` under ``sub`` (``common`` adds --data-dir etc.)."""
    model = sub.add_parser("model", help="the model registry").add_subparsers(
        dest="action", required=True)
    text = ("register a model's weights (.onnx, TorchScript, .safetensors or a state_dict "
            ".pt/.pth) in a project; prints the model's JSON")
    p = model.add_parser("add", help=text, description=text)
    common(p)
    p.add_argument("project_id")
    p.add_argument("weights", help="the weights file")
    p.add_argument("--classes", default=None,
                   help="classes file: .names/classes.txt (one a line), YOLO data.yaml, COCO "
                        "JSON or a JSON list (default: the names in the model's metadata)")
    p.add_argument("--name", default=None, help="default: the weights file's stem")
    p.add_argument("--version", default=None,
                   help="default: the next free whole number for the name (1, 2, ...)")
    p.add_argument("--task", default=None, choices=MODEL_TASKS,
                   help="default: found in the file")
    p.add_argument("--architecture", default=None,
                   help="built-in architecture of a state dict (e.g. centernet)")
    p.add_argument("--input-size", default=None,
                   help='"H,W" or "S" pixels (default: read from the model)')
    p.add_argument("--actor", default="cli", help="username recorded on the events")
    p.set_defaults(func=cmd_model_add)
    text = "the project's models (JSON: {\"models\": [...]})"
    p = model.add_parser("list", help=text, description=text)
    common(p)
    p.add_argument("project_id")
    p.set_defaults(func=cmd_model_list)
