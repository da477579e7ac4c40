"""A labeling workspace for evaluation tests: the export tests' ``Lab`` (real composition root
on SQLite) plus registered models, pre-label jobs and their job-aware pre-labels."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.command_pipeline import Actor
from domain.commands import parse_prelabel
from domain.job import Job
from inference_workers.evaluation import evaluate_task
from service_layer.model_evaluation import evaluate_model
from tests.exports.lab import ADMIN, Lab

TRUSTED = Actor(ADMIN.username, is_admin=True, trusted=True)


class EvaluationLab(Lab):
    """``Lab`` with models and jobs."""

    def register_model(self, project_id: str, name: str = "detector", version: str = "1",
                       task: str = "detect", classes: list[str] | None = None) -> str:
        model, _ = self.app.register_model(
            project_id, ADMIN.username, name=name, version=version, task=task, format="onnx",
            architecture=None, layout="yolov8", classes=classes or ["car", "person"],
            input_size=[64, 64], sha256="0" * 64, size_bytes=1, file_name=f"{name}.onnx",
            details={})
        return str(model.id)

    def queue_job(self, project_id: str, model_id: str, image_ids: list[UUID],
                  shard_size: int = 2, threshold: float = 0.25) -> str:
        job, _ = self.app.queue_job(
            project_id, ADMIN.username, type="prelabel", model_id=model_id,
            params={"threshold": threshold, "iou": 0.45, "max_per_image": 300},
            image_ids=[str(i) for i in image_ids], shard_size=shard_size)
        return str(job.id)

    def finish_shards(self, job_id: str, *shards: int, finish: bool = False) -> None:
        def change(job: Job) -> None:
            job.start("test")
            for shard in shards:
                job.shard_done(shard, done=len(job.shard(shard)), failed=0, recorded=0,
                               errors=[])
            if finish:
                job.finish({})

        self.app.change_job(job_id, change)

    def propose_for_job(self, image_id: UUID, model_id: str, job_id: str, kind: str,
                        label: str, geometry: dict[str, Any], score: float,
                        name: str = "detector", version: str = "1") -> str:
        command = dataclasses.replace(
            parse_prelabel({"type": kind, "label": label, "geometry": geometry,
                            "score": score}, name, version), model_id=model_id, job_id=job_id)
        result = self.pipeline.execute(image_id, [command], TRUSTED)
        return str(result.events[-1]["data"]["annotation_id"])

    def evaluate(self, project_id: str, model_id: str, position: int | None = None,
                 threshold: float | None = None) -> dict[str, Any]:
        self.catch_up()
        return evaluate_model(self.app, self.read, evaluate_task, project_id, model_id,
                              position, threshold)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[EvaluationLab]:
    workspace = EvaluationLab(tmp_path)
    yield workspace
    workspace.close()
