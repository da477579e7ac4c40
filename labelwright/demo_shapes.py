"""The demo's second project: synthetic shapes and a registered model to run on them.

"Demo: shapes" holds 40 generated images of circles, rectangles and triangles (no download:
``inference_workers.synthetic_shapes``, seeded, so every demo has the same images) and the
shipped CenterNet-style detector (``inference_workers/demo_model``, trained by
``scripts/train-demo-model`` on other images of the same generator) registered as
``shapes-centernet`` version ``1``. Nothing has run yet: a manager opens the project's Models
page and runs the model over the unlabeled images (or ``labelwright prelabel``), and the
pre-labels appear in the annotators' queue. Registering is quick (a 1 MB file inspected once),
so ``make run`` stays fast.

Idempotent, like the first demo project: its own marker file (``demo-shapes.json``) says it
was made, so a data dir made by an older demo gains this project on the next ``demo`` run.
"""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

from PIL import Image as PILImage

from labelwright.data_dir import create_private_file
from service_layer.image_file_import import register_images
from service_layer.model_registry import register_model

PROJECT = "Demo: shapes"
IMAGES = 40
SEED = 20261130  # not a seed the model was trained or validated on
COLORS = {"circle": "#e6194b", "rectangle": "#4363d8", "triangle": "#3cb44b"}
MODEL_NAME = "shapes-centernet"


def _images() -> list[tuple[str, bytes]]:
    from inference_workers.synthetic_shapes import make_shapes

    out = []
    for i, shapes in enumerate(make_shapes(IMAGES, (320, 320), seed=SEED, max_shapes=5)):
        buf = io.BytesIO()
        PILImage.fromarray(shapes.image).save(buf, format="PNG")
        out.append((f"shapes-{i + 1:03d}.png", buf.getvalue()))
    return out


def create_shapes_demo(services: Any, members: list[tuple[str, str]]) -> dict[str, Any]:
    """Create (or find) the shapes project with its registered model; ``members`` are
    (username, role) pairs to add. Returns the project's and the model's ids."""
    marker = services.settings.data_dir / "demo-shapes.json"
    if marker.exists():
        info: dict[str, Any] = json.loads(marker.read_text())
        return info
    from inference_workers.model_files import inspect_model

    app = services.app
    project, _ = app.create_project(
        PROJECT, [{"name": n, "color": c} for n, c in COLORS.items()], ["box"], "admin")
    pid = str(project.id)
    for username, role in members:
        app.set_member(pid, username, role, "admin")
    register_images(services, pid, _images(), "admin")
    folder = resources.files("inference_workers") / "demo_model"
    weights = Path(str(folder / "shapes-centernet.safetensors"))
    classes = (folder / "classes.txt").read_bytes()
    model, _ = register_model(
        app, services.models, pid, weights=weights, file_name=weights.name,
        classes=("classes.txt", classes), name=MODEL_NAME, version="1",
        architecture="centernet", actor="maria",
        max_bytes=services.settings.max_model_bytes, inspect=inspect_model)
    info = {"project_id": pid, "project_name": PROJECT, "model_id": str(model.id)}
    create_private_file(marker)
    marker.write_text(json.dumps(info))
    return info
