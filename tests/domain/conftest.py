from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.application import Labeling
from domain.command_pipeline import Actor, CommandPipeline, CommandResult
from domain.commands import parse_command, parse_prelabel
from event_store.positions import EventPositions, log_head


class World:
    """A SQLite-backed write model with one project, users and an image."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.app = self.open_app()
        self.app.register_user("ann", "password123")
        self.app.register_user("bob", "password123")
        self.app.register_user("rui", "password123")
        project, _ = self.app.create_project("P", ["cat", "dog", "old"], None, "mgr")
        self.project_id = str(project.id)
        self.app.update_project(self.project_id, "mgr", {"retire_classes": ["old"]})
        for user, role in (("ann", "annotator"), ("bob", "annotator"), ("rui", "reviewer")):
            self.app.set_member(self.project_id, user, role, "mgr")
        self.image_id = self.add_image("a" * 64)
        self.pipeline = CommandPipeline(self.app, EventPositions(self.app))

    def open_app(self) -> Labeling:
        return Labeling(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                             "SQLITE_DBNAME": str(self.path / "events.sqlite")})

    def add_image(self, sha: str, width: int = 100, height: int = 80) -> Any:
        added, _ = self.app.add_images(self.project_id, [{
            "file_name": f"{sha[:6]}.png", "width": width, "height": height, "sha256": sha,
            "content_type": "image/png"}], "mgr")
        return added[0][0].id

    def run(self, raw: dict[str, Any], user: str = "ann", image_id: Any = None
            ) -> CommandResult:
        return self.pipeline.execute(image_id or self.image_id, [parse_command(raw)],
                                     Actor(user))

    def propose(self, geometry: dict[str, Any], label: str = "cat", score: float = 0.9,
                kind: str = "box") -> str:
        result = self.pipeline.execute(self.image_id, [parse_prelabel(
            {"type": kind, "label": label, "geometry": geometry, "score": score}, "yolo", "1")],
            Actor("mgr", trusted=True))
        return str(result.events[0]["data"]["annotation_id"])

    def head(self) -> int:
        return log_head(self.app)


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.pipeline.stop()
