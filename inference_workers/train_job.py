"""Running a train job: the project's labels as of a position become a new model version.

Placeholder of the seam: the active-learning issue fills it in.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.application import Labeling
from inference_workers.prelabel_job import JobFailure, ShardReport
from service_layer.image_store import ImageStore


class TrainWork:
    """Runs train jobs for one worker thread."""

    def __init__(self, app: Labeling, images: ImageStore, models: ImageStore,
                 worker: str) -> None:
        self.app = app
        self.images = images
        self.models = models
        self.worker = worker

    def run_shard(self, job_id: str, index: int,
                  should_stop: Callable[[], bool] = lambda: False,
                  then: int | None = None) -> ShardReport:
        raise JobFailure("unsupported", "train jobs are not supported yet")

    def close(self) -> None:
        pass
