"""What both ways of running jobs share: finding unfinished jobs in the event log, running
one job's shard on a worker thread, and choosing the device and threads.

The event log is the truth about jobs: a job is unfinished from its ``JobQueued`` until its
``JobFinished``, ``JobFailed`` or ``JobCancelled``. ``UnfinishedJobs`` keeps that set by
reading only those events' topics from the log (from position 0 at start, then from where it
stopped), so a process that starts (or restarts after a crash) finds every job that still
needs work, wherever it was queued (the server, ``labelwright prelabel --detach``, another
node). Two ways of running them, chosen by the composition root:

* ``embedded_jobs.EmbeddedJobs``: worker threads in this process (no Redis);
* ``redis_jobs.RedisJobs``: shards shared by any number of processes through a Redis Streams
  consumer group (``LABELWRIGHT_REDIS_URL``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from eventsourcing.utils import get_topic

from domain.application import Labeling
from domain.job import Job
from event_store.positions import log_head
from inference_workers.job_work import ShardWorker
from inference_workers.prelabel_job import (
    JobFailure,
    ShardReport,
    fail_job,
    job_result,
)

log = logging.getLogger(__name__)

READ_LIMIT = 1000
MAX_SHARD_ATTEMPTS = 5  # errors in a row on one shard (in one process) before its job fails
_QUEUED = get_topic(Job.JobQueued)
_ENDED = frozenset(get_topic(cls) for cls in (Job.JobFinished, Job.JobFailed, Job.JobCancelled))
# Stop working on a job: it ended (the shard's own report says which).
STOPPED_FOR_GOOD = frozenset({"done", "failed", "cancelled"})


class ShardObserver(Protocol):
    """Is told what each shard did (``labelwright.metrics`` counts it); on the job's thread."""

    def shard_worked(self, report: ShardReport) -> None: ...

    def job_failed(self, code: str) -> None: ...


class JobQueue(Protocol):
    """Runs queued jobs (``service_layer.jobs.JobDispatch`` plus a life cycle)."""

    observer: ShardObserver | None  # told what each shard did (set before start)

    def publish(self, job: Job) -> None: ...
    def start(self) -> None: ...
    def stop(self, timeout: float = 10.0) -> None: ...


class UnfinishedJobs:
    """The ids of the jobs that are queued or running, kept up to date from the event log
    (only job events are read). Thread-safe."""

    def __init__(self, app: Labeling) -> None:
        self.app = app
        self._position = 0
        self._ids: dict[str, None] = {}  # in the order they were queued
        self._lock = threading.Lock()

    def refresh(self) -> list[str]:
        """Read the job events committed since the last call; the unfinished ids, oldest
        first."""
        with self._lock:
            head = log_head(self.app)
            topics = [_QUEUED, *_ENDED]
            while self._position < head:
                found = self.app.recorder.select_notifications(
                    start=self._position + 1, limit=READ_LIMIT, stop=head, topics=topics)
                for n in found:
                    job_id = str(n.originator_id)
                    if n.topic == _QUEUED:
                        self._ids[job_id] = None
                    else:
                        self._ids.pop(job_id, None)
                if len(found) < READ_LIMIT:
                    self._position = head
                else:
                    self._position = found[-1].id
            return list(self._ids)


def worker_name(slot: int) -> str:
    """Who worked on a job (``JobStarted.worker``; the Redis consumer's name)."""
    return f"{socket.gethostname()}:{os.getpid()}:{slot}"


def work_on_shard(app: Labeling, work: ShardWorker, job_id: str, index: int,
                  should_stop: Callable[[], bool], then: int | None = None,
                  observer: ShardObserver | None = None) -> ShardReport | None:
    """Run one shard (``then``: the shard to decode ahead for); a job that cannot go on is
    recorded as failed (None then). Other errors (the store unreachable, say) propagate: the
    shard stays pending. Each outcome is one log line, the job step's, and goes to
    ``observer``. The line's fields (JSON keys with ``LABELWRIGHT_LOG_FORMAT=json``):
    ``job_id``, ``shard``, ``job_type``, ``project_id``, ``user`` (who queued the job),
    ``image_count`` and ``image_ids`` (the first ``prelabel_job.LOGGED_IMAGE_IDS``),
    ``outcome`` (``done``, ``stopped`` with a ``reason``, ``failed`` with a ``code``,
    ``error`` when it is retried) and ``duration_ms``; what the work had not read yet (the
    job missing, say) is left out."""
    started = time.perf_counter()

    def fields(outcome: str, **more: Any) -> dict[str, Any]:
        return {"job_id": job_id, "shard": index, **work.step, "outcome": outcome, **more,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1)}

    try:
        report = work.run_shard(job_id, index, should_stop, then)
    except JobFailure as failure:
        log.warning("job %s shard %d failed: %s", job_id, index, failure.message,
                    extra=fields("failed", code=failure.code))
        fail_job(app, job_id, failure)
        if observer is not None:
            observer.job_failed(failure.code)
        return None
    except Exception as e:
        # Retried (the store may come back); a shard that keeps failing the same way in this
        # process fails its job instead of being retried for ever.
        key = (job_id, index)
        work.attempts[key] = work.attempts.get(key, 0) + 1
        if observer is not None:
            observer.job_failed("shard_error")
        if work.attempts[key] < MAX_SHARD_ATTEMPTS:
            # The traceback is the caller's line ("error; retrying").
            log.warning("job %s shard %d: %s (attempt %d of %d)", job_id, index,
                        type(e).__name__, work.attempts[key], MAX_SHARD_ATTEMPTS,
                        extra=fields("error", error=type(e).__name__,
                                     attempt=work.attempts[key]))
            raise
        log.exception("job %s shard %d failed %d times; failing the job", job_id, index,
                      MAX_SHARD_ATTEMPTS, extra=fields("failed", code="worker_error"))
        fail_job(app, job_id, JobFailure("worker_error", f"shard {index} failed "
                                         f"{MAX_SHARD_ATTEMPTS} times: {type(e).__name__}: {e}"))
        if observer is not None:
            observer.job_failed("worker_error")
        return None
    work.attempts.pop((job_id, index), None)
    if report.stopped is None:
        log.info("job %s shard %d user=%s: %d images, %d failed, %d pre-labels, %d dropped "
                 "in %.2f s", job_id, index, work.step.get("user", "-"), report.done,
                 report.failed, report.recorded, report.dropped, report.seconds,
                 extra=fields("done", images=report.done, failed=report.failed,
                              recorded=report.recorded, dropped=report.dropped))
    else:
        log.info("job %s shard %d user=%s: stopped (%s)", job_id, index,
                 work.step.get("user", "-"), report.stopped,
                 extra=fields("stopped", reason=report.stopped))
    if observer is not None:
        observer.shard_worked(report)
    return report


def finish_if_complete(app: Labeling, job_id: str) -> None:
    """Record the end of a job whose every shard is done (normally the last ``ShardDone``'s
    save records it; this covers a job found in that state)."""
    def change(job: Job) -> None:
        if not job.finished and not job.pending_shards():
            job.finish(job_result(job))

    app.change_job(job_id, change)


JOB_NICENESS = 10


def lower_priority() -> None:
    """Run the calling thread (and the threads it starts: the decoder, ONNX Runtime's and
    torch's pools) at a lower CPU priority, so that a job beside the web server yields the CPU
    to requests and to the writer (Linux sets niceness per thread). Best effort."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), JOB_NICENESS)
    except (AttributeError, OSError) as e:  # not Linux, or not allowed: run at normal priority
        log.debug("could not lower the job thread's priority: %s", e)


def choose_device(setting: str) -> str | None:
    """The device a job's model runs on: ``cpu`` or ``cuda`` when set, else (``auto``) None,
    which lets the runner take CUDA when torch sees a GPU (``runners.default_device``)."""
    return None if setting == "auto" else setting


def default_threads() -> int:
    """Intra-op threads for a model: every core but one, which is left to the web server
    and the writer (a job in the server must not starve requests); at least one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    return max(1, cores - 1)
