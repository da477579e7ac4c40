"""A labeling workspace for export tests: the real composition root on SQLite (write side,
command pipeline, projections and read models), driven synchronously."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from PIL import Image as PILImage

from domain.command_pipeline import Actor, CommandResult
from domain.commands import parse_command, parse_prelabel
from event_store.positions import log_head
from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings
from projections.export_splits import DEFAULT_SPLIT, SplitPlan
from projections.exports import stream_export

ADMIN = Actor("admin", is_admin=True)


class Lab:
    """Drives projects and images through the write side and exports them."""

    def __init__(self, data_dir: Path) -> None:
        # No background threads: the pipeline's writer starts on the first command, and the
        # projections move only when ``catch_up`` says so.
        self.services = bootstrap(Settings(data_dir=data_dir), background=False)
        self.app = self.services.app
        self.pipeline = self.services.pipeline
        self.read = self.services.read

    def close(self) -> None:
        shutdown(self.services)

    # -- write side ----------------------------------------------------------------------------

    def create_project(self, classes: list[str], types: list[str] | None = None) -> str:
        project, _ = self.app.create_project("Export test", [{"name": c} for c in classes],
                                             types, ADMIN.username)
        return str(project.id)

    def add_images(self, project_id: str, count: int, width: int = 640, height: int = 480,
                   prefix: str = "img") -> list[UUID]:
        files = [{"file_name": f"{prefix}_{i:05d}.jpg", "width": width, "height": height,
                  "sha256": hashlib.sha256(f"{project_id}/{prefix}/{i}".encode()).hexdigest(),
                  "content_type": "image/jpeg"} for i in range(count)]
        added, _ = self.app.add_images(project_id, files, ADMIN.username)
        return [image.id for image, _ in added]

    def add_image_files(self, project_id: str, names: list[str], width: int = 64,
                        height: int = 48) -> list[UUID]:
        """Images whose files really are in the image store (PNGs of distinct colours), for
        exports with ``images=true``."""
        files = []
        for n, name in enumerate(names):
            buf = io.BytesIO()
            PILImage.new("RGB", (width, height), (n % 256, (7 * n) % 256, 99)).save(buf, "PNG")
            sha = self.services.images.put(buf.getvalue())
            files.append({"file_name": name, "width": width, "height": height, "sha256": sha,
                          "content_type": "image/png"})
        added, _ = self.app.add_images(project_id, files, ADMIN.username)
        return [image.id for image, _ in added]

    def run(self, image_id: UUID, *raw: dict[str, Any]) -> CommandResult:
        return self.pipeline.execute(image_id, [parse_command(r) for r in raw], ADMIN)

    def create(self, image_id: UUID, kind: str, label: str, geometry: dict[str, Any]) -> str:
        result = self.run(image_id, {"type": "create", "annotation": {
            "type": kind, "label": label, "geometry": geometry}})
        return str(result.events[-1]["data"]["annotation_id"])

    def propose(self, image_id: UUID, kind: str, label: str, geometry: dict[str, Any],
                score: float | None, model: str = "detector", version: str = "1") -> str:
        command = parse_prelabel({"type": kind, "label": label, "geometry": geometry,
                                  "score": score}, model, version)
        trusted = Actor("admin", is_admin=True, trusted=True)
        result = self.pipeline.execute(image_id, [command], trusted)
        return str(result.events[-1]["data"]["annotation_id"])

    def retire(self, project_id: str, name: str) -> None:
        self.app.update_project(project_id, ADMIN.username, {"retire_classes": [name]})

    # -- read side -----------------------------------------------------------------------------

    def head(self) -> int:
        return log_head(self.services.app)

    def catch_up(self) -> None:
        self.services.runner.catch_up()

    def project(self, project_id: str) -> dict[str, Any]:
        self.catch_up()
        project = self.read.project(project_id)
        assert project is not None
        return project

    def export_bytes(self, project_id: str, fmt: str, position: int | None = None,
                     include_proposed: bool = False, *, images: bool = False,
                     split: SplitPlan = DEFAULT_SPLIT) -> bytes:
        self.catch_up()
        return b"".join(stream_export(self.read, self.app, self.project(project_id), fmt,
                                      position, include_proposed,
                                      images=self.services.images if images else None,
                                      split=split))

    def export(self, project_id: str, fmt: str, position: int | None = None,
               include_proposed: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(
            self.export_bytes(project_id, fmt, position, include_proposed))
        return doc
