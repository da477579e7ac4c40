"""A scoring workspace: the export tests' ``Lab`` (the real composition root on SQLite, or
PostgreSQL for ``any_lab``) with a project, images and score jobs recorded through the
domain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labelwright.bootstrap import bootstrap
from labelwright.settings import Settings
from tests.exports.lab import ADMIN, Lab
from tests.selection.scoring import register_model, score_images
from tests.web.conftest import pg_database_url  # noqa: F401 (a fixture)


class ScoringLab(Lab):
    """``Lab`` plus models and score jobs."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        if database_url is None:
            super().__init__(data_dir)
            return
        self.services = bootstrap(Settings(data_dir=data_dir, database_url=database_url),
                                  background=False)
        self.app = self.services.app
        self.pipeline = self.services.pipeline
        self.read = self.services.read

    def scored_project(self, images: int = 20, dims: int | None = 16, seed: int = 0
                       ) -> tuple[str, str, list[str]]:
        """A project of ``images`` images, a classifier and one score job over all of them;
        (project id, model id, image ids in the order added)."""
        pid = self.create_project(["cat", "dog", "bird"], ["box"])
        model_id = register_model(self.app, pid, ADMIN.username)
        ids = [str(i) for i in self.add_images(pid, images)]
        score_images(self.app, pid, model_id, ids, seed=seed, dims=dims, shard_size=8)
        self.catch_up()
        return pid, model_id, ids

    def label(self, image_id: str) -> None:
        """A person draws a box: the image is no longer ``new``."""
        from uuid import UUID

        self.create(UUID(image_id), "box", "cat", {"x": 1, "y": 1, "w": 5, "h": 5})

    def rows(self) -> list[Any]:
        return sorted(tuple(r) for r in self.read.db.query("SELECT * FROM image_scores"))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[ScoringLab]:
    workspace = ScoringLab(tmp_path)
    yield workspace
    workspace.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScoringLab]:
    """The lab on SQLite, and on PostgreSQL when it is reachable."""
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_database_url")
    workspace = ScoringLab(tmp_path, url)
    yield workspace
    workspace.close()
