"""The Job aggregate: a unit of background work on a project (one stream per job).

A pre-label job names its images when it is queued (the list is fixed, so a resumed job does
the same work) and is cut into shards of ``shard_size`` images, numbered from 0. A shard is
done once its pre-labels are recorded (``ShardDone``, recorded after them): recording a shard
twice (a worker died between the two, or two workers raced for it) records no pre-label twice,
because each image's pre-labels carry command ids derived from the job and the image, and a
second ``ShardDone`` for a shard changes nothing. The job finishes when every shard is done.

States: ``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled``. A cancelled job
keeps what it recorded; workers look at the state before each shard and stop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain.errors import Conflict

JOB_TYPES = ("prelabel", "score", "train")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
FINAL_STATES = frozenset({"done", "failed", "cancelled"})
MAX_SHARD_ERRORS = 20  # image errors kept on the job (the count is exact)


def shards(image_ids: list[str], shard_size: int) -> list[list[str]]:
    return [image_ids[i:i + shard_size] for i in range(0, len(image_ids), shard_size)]


class Job(Aggregate):
    """A queued, running or finished background job."""

    class JobQueued(Aggregate.Created):
        project_id: str
        type: str
        model_id: str | None
        params: dict[str, Any]
        image_ids: list[str]
        shard_size: int
        actor: str
        command_id: str | None

    class Event(Aggregate.Event):
        actor: str
        command_id: str | None

    class JobStarted(Event):
        worker: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Job)
            if aggregate.state == "queued":
                aggregate.state = "running"
                aggregate.started_at = self.timestamp

    class ShardDone(Event):
        shard: int
        done: int
        failed: int
        recorded: int
        errors: list[dict[str, Any]]
        # Predictions not recorded: class not mapped onto the project, annotation type the
        # project does not use, geometry outside the image (a default: added after release).
        dropped: int = 0

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Job)
            if self.shard in aggregate.shards_done:
                return
            aggregate.shards_done.append(self.shard)
            aggregate.done += self.done
            aggregate.failed += self.failed
            aggregate.recorded += self.recorded
            aggregate.dropped += self.dropped
            room = MAX_SHARD_ERRORS - len(aggregate.errors)
            aggregate.errors.extend(self.errors[:max(room, 0)])

    class TrainingProgress(Event):
        """A train job's epoch: losses, the held-out metric (mAP@0.5 for a detector,
        accuracy for a classifier; None when not measured) and the seconds so far. A job
        trained again from the start (resumed after a crash) replaces the entries from its
        epoch on."""

        epoch: int
        train_loss: float
        val_loss: float | None
        val_metric: float | None
        seconds: float

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Job)
            entry = {"epoch": self.epoch, "train_loss": self.train_loss,
                     "val_loss": self.val_loss, "val_metric": self.val_metric,
                     "seconds": self.seconds}
            aggregate.progress = [p for p in aggregate.epochs() if p["epoch"] < self.epoch]
            aggregate.progress.append(entry)

    class JobFinished(Event):
        result: dict[str, Any]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Job)
            aggregate.state = "done"
            aggregate.result = dict(self.result)
            aggregate.finished_at = self.timestamp

    class JobFailed(Event):
        error: dict[str, Any]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Job)
            aggregate.state = "failed"
            aggregate.error = dict(self.error)
            aggregate.finished_at = self.timestamp

    class JobCancelled(Event):
        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Job)
            aggregate.state = "cancelled"
            aggregate.finished_at = self.timestamp

    def __init__(self, project_id: str, type: str, model_id: str | None,
                 params: dict[str, Any], image_ids: list[str], shard_size: int, actor: str,
                 command_id: str | None) -> None:
        self.project_id = project_id
        self.type = type
        self.model_id = model_id
        self.params = dict(params)
        self.image_ids = list(image_ids)
        self.shard_size = shard_size
        self.created_by = actor
        self.state = "queued"
        self.shards_done: list[int] = []  # a list: snapshots store JSON
        self.done = 0
        self.failed = 0
        self.recorded = 0
        self.dropped = 0
        self.errors: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None
        self.progress: list[dict[str, Any]] = []  # per epoch of a train job
        self.error: dict[str, Any] | None = None
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None

    @classmethod
    def queue(cls, job_id: Any, *, project_id: str, type: str, model_id: str | None,
              params: dict[str, Any], image_ids: list[str], shard_size: int,
              actor: str) -> Job:
        return cls._create(cls.JobQueued, id=job_id, project_id=project_id, type=type,
                           model_id=model_id, params=dict(params), image_ids=list(image_ids),
                           shard_size=max(1, int(shard_size)), actor=actor, command_id=None)

    # -- decisions ----------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self.image_ids)

    @property
    def shard_count(self) -> int:
        return (len(self.image_ids) + self.shard_size - 1) // self.shard_size

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    def shard(self, index: int) -> list[str]:
        return self.image_ids[index * self.shard_size:(index + 1) * self.shard_size]

    def pending_shards(self) -> list[int]:
        return [i for i in range(self.shard_count) if i not in self.shards_done]

    def start(self, worker: str) -> None:
        if self.state == "queued":
            self.trigger_event(self.JobStarted, worker=worker, actor=self.created_by,
                               command_id=None)

    def shard_done(self, index: int, *, done: int, failed: int, recorded: int,
                   errors: list[dict[str, Any]], dropped: int = 0) -> None:
        """Record a shard's outcome once (a repeat, or one after the job ended, is ignored)."""
        if self.finished or index in self.shards_done:
            return
        self.trigger_event(self.ShardDone, shard=index, done=done, failed=failed,
                           recorded=recorded, errors=errors[:MAX_SHARD_ERRORS], dropped=dropped,
                           actor=self.created_by, command_id=None)

    def finish(self, result: dict[str, Any]) -> None:
        if not self.finished:
            self.trigger_event(self.JobFinished, result=result, actor=self.created_by,
                               command_id=None)

    def fail(self, code: str, message: str) -> None:
        if not self.finished:
            self.trigger_event(self.JobFailed, error={"code": code, "message": message},
                               actor=self.created_by, command_id=None)

    def training_progress(self, *, epoch: int, train_loss: float, val_loss: float | None,
                          val_metric: float | None, seconds: float) -> None:
        """Record a train job's finished epoch (nothing once the job has ended)."""
        if not self.finished:
            self.trigger_event(self.TrainingProgress, epoch=epoch, train_loss=train_loss,
                               val_loss=val_loss, val_metric=val_metric, seconds=seconds,
                               actor=self.created_by, command_id=None)

    def cancel(self, actor: str) -> None:
        if self.state in ("done", "failed"):
            raise Conflict(f"the job is already {self.state}", {"state": self.state})
        if self.state != "cancelled":
            self.trigger_event(self.JobCancelled, actor=actor, command_id=None)

    def epochs(self) -> list[dict[str, Any]]:
        """A train job's ``TrainingProgress`` so far (a snapshot taken before the attribute
        existed has none)."""
        return list(getattr(self, "progress", []))

    def describe(self) -> dict[str, Any]:
        """The job as the API shows it."""
        def at(t: datetime | None) -> str | None:
            return t.isoformat() if t is not None else None

        return {
            "id": str(self.id), "project_id": self.project_id, "type": self.type,
            "state": self.state, "model_id": self.model_id,
            # A train job's per-image versions are as long as its image list (not shown).
            "params": {k: v for k, v in self.params.items() if k != "image_versions"},
            "total": self.total, "done": self.done, "failed": self.failed,
            "recorded": self.recorded, "dropped": self.dropped, "errors": list(self.errors),
            "result": self.result, "error": self.error, "created_by": self.created_by,
            "created_at": self.created_on.isoformat(), "started_at": at(self.started_at),
            "finished_at": at(self.finished_at), "progress": self.epochs(),
        }
