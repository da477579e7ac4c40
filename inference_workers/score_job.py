"""Running one shard of a score job (uncertainty and embeddings for selection).

Placeholder of the seam: the active-learning issue fills it in.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.application import Labeling
from inference_workers.prelabel_job import JobFailure, LoadedModel, ShardReport
from service_layer.image_store import ImageStore


class ScoreWork:
    """Runs shards of score jobs for one worker thread."""

    def __init__(self, app: Labeling, images: ImageStore, runners: LoadedModel,
                 worker: str) -> None:
        self.app = app
        self.images = images
        self.runners = runners
        self.worker = worker

    def run_shard(self, job_id: str, index: int,
                  should_stop: Callable[[], bool] = lambda: False,
                  then: int | None = None) -> ShardReport:
        raise JobFailure("unsupported", "score jobs are not supported yet")

    def close(self) -> None:
        pass
