"""One worker thread's work on a shard of any job type: the job's type picks the work.

``JobWork`` is what ``EmbeddedJobs`` and ``RedisJobs`` hand each shard to; it reads the job's
type and delegates to that type's work (``prelabel_job.PrelabelWork``,
``score_job.ScoreWork``, ``train_job.TrainWork``), each of which keeps its own per-thread
state (a loaded model, a decoder running ahead). A type with no work here fails its job with
``unsupported`` rather than being retried for ever.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from domain.application import Labeling
from inference_workers.prelabel_job import JobFailure, ShardReport, step_fields


class ShardWork(Protocol):
    """Runs shards of one job type for one worker thread."""

    def run_shard(self, job_id: str, index: int,
                  should_stop: Callable[[], bool] = lambda: False,
                  then: int | None = None) -> ShardReport: ...

    def close(self) -> None: ...


class ShardWorker(ShardWork, Protocol):
    """What the job queues hand shards to: a ``ShardWork`` that counts errors in a row per
    (job, shard), so a shard that keeps failing fails its job (``job_queue.work_on_shard``)."""

    attempts: dict[tuple[str, int], int]
    # The log fields of the shard ``run_shard`` was last given (``prelabel_job.step_fields``:
    # job type, user, images), set as soon as it has read the job; {} until then.
    step: dict[str, Any]


class JobWork:
    """Routes each shard to the work of its job's type (not thread-safe: one per thread)."""

    def __init__(self, app: Labeling, works: Mapping[str, ShardWork]) -> None:
        self.app = app
        self.works = dict(works)
        self.attempts: dict[tuple[str, int], int] = {}  # errors in a row, per (job, shard)
        self.step: dict[str, Any] = {}

    def run_shard(self, job_id: str, index: int,
                  should_stop: Callable[[], bool] = lambda: False,
                  then: int | None = None) -> ShardReport:
        self.step = {}
        job = self.app.job(job_id)
        self.step = step_fields(job, index)
        kind = job.type
        work = self.works.get(kind)
        if work is None:
            raise JobFailure("unsupported", f"this worker does not run {kind} jobs")
        return work.run_shard(job_id, index, should_stop, then)

    def close(self) -> None:
        for work in self.works.values():
            work.close()
