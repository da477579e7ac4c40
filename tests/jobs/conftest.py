"""A real data dir with a project, images and a registered planted-output ONNX model.

``JobWorld`` bootstraps the real composition root (SQLite, or PostgreSQL when given) without
job threads of its own, so each test decides who runs the job: the embedded queue, a
``PrelabelWork`` called directly, ``labelwright worker`` subprocesses. The model is
``tests.inference.model_factory.yolov8_onnx`` with planted detections: whatever the image, it
outputs the same boxes (in the 64x64 input; the images are 64x64, so no letterbox scaling), so
each test knows exactly which pre-labels a job must record.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from PIL import Image as PILImage

import domain.user
from domain.image import Image
from domain.model import Model
from labelwright.bootstrap import bootstrap, shutdown
from labelwright.services import Services
from labelwright.settings import Settings
from tests.inference.model_factory import Planted, random_yolov8_onnx, yolov8_onnx

domain.user._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

NAMES = ["cat", "dog", "bird"]  # the model's classes; the project has cat and dog only
# (cx, cy, w, h, class, score) in the 64x64 input: cat and dog are recorded, bird dropped.
PLANTED: list[Planted] = [(20, 20, 10, 10, 0, 0.9), (40, 40, 12, 8, 1, 0.8),
                          (50, 12, 6, 6, 2, 0.7)]
EXPECTED = {  # label -> (geometry, score) of each recorded pre-label
    "cat": ({"x": 15.0, "y": 15.0, "w": 10.0, "h": 10.0}, 0.9),
    "dog": ({"x": 34.0, "y": 36.0, "w": 12.0, "h": 8.0}, 0.8),
}


def png(index: int, size: tuple[int, int] = (64, 64)) -> bytes:
    """A distinct PNG per index (distinct bytes: distinct images)."""
    buf = io.BytesIO()
    color = (index % 256, (index // 256) % 256, 77)
    PILImage.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def register_model(services: Services, project_id: str, path: Path, name: str = "planted",
                   version: str = "1") -> Model:
    from inference_workers.model_files import inspect_model
    from service_layer.model_registry import register_model as register

    model, _ = register(services.app, services.models, project_id, weights=path, name=name,
                        version=version, actor="manager",
                        max_bytes=services.settings.max_model_bytes, inspect=inspect_model)
    return model


def prelabel_events(services: Services, job_id: str | None = None) -> list[Any]:
    """Every ``PrelabelProposed`` in the log (of one job, when given), in log order."""
    out = []
    for n in services.app.recorder.select_notifications(
            start=1, limit=1_000_000, topics=[Image.PrelabelProposed.__module__ + ":"
                                              + Image.PrelabelProposed.__qualname__]):
        event = services.app.mapper.to_domain_event(n)
        if job_id is None or event.model.get("job") == job_id:
            out.append(event)
    return out


def assert_each_once(events: list[Any]) -> None:
    keys = [(str(e.originator_id), e.command_id) for e in events]
    assert len(keys) == len(set(keys)), "a pre-label was recorded twice"


@dataclass
class JobWorld:
    services: Services
    project_id: str
    image_ids: list[str]
    model: Model
    tmp: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        shutdown(self.services)


def make_world(settings: Settings, tmp: Path, images: int = 12, *,
               model_path: Path | None = None,
               image_bytes: Callable[[int], bytes] = png) -> JobWorld:
    from service_layer.image_file_import import register_images

    services = bootstrap(settings, live=False, run_jobs=False)
    for name in ("admin", "manager", "annotator"):
        if services.app.find_user(name) is None:
            services.app.register_user(name, "password123", is_admin=name == "admin")
    project, _ = services.app.create_project(
        f"jobs {uuid.uuid4().hex[:6]}", [{"name": "cat"}, {"name": "dog"}], None, "manager")
    pid = str(project.id)
    services.app.set_member(pid, "annotator", "annotator", "manager")
    rows = register_images(services, pid, [(f"img{i:04d}.png", image_bytes(i))
                                           for i in range(images)], "manager")
    if model_path is None:
        model_path = yolov8_onnx(tmp / "planted.onnx", NAMES, (64, 64), PLANTED)
    model = register_model(services, pid, model_path)
    services.runner.catch_up()
    return JobWorld(services, pid, [str(r["id"]) for r in rows], model, tmp)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[JobWorld]:
    w = make_world(Settings(data_dir=tmp_path / "data", secret_key="jobs-tests",
                            job_shard_size=5), tmp_path)
    yield w
    w.close()


def heavy_model(path: Path, imgsz: int = 160) -> Path:
    """A real, randomly initialised YOLOv8-layout conv net (inference takes real time)."""
    return random_yolov8_onnx(path, ["cat", "dog"], (imgsz, imgsz))
