"""Jobs run by worker threads of this process (no Redis): the embedded mode.

Each of ``workers`` threads (``LABELWRIGHT_JOB_WORKERS``) looks for an unfinished job in the
event log (``UnfinishedJobs``), takes it by locking ``DATA_DIR/jobs/<job id>.lock``
(``flock``, not blocking) and works through its pending shards in order. The lock is what
lets processes sharing a data dir (the server, ``labelwright prelabel`` run from the CLI,
another node) take each job once: the operating system releases it when its holder exits or
dies, and the next process that looks (every ``poll`` seconds, or at once when a job is
queued here) resumes the job from its first pending shard; what the dead holder recorded is
not recorded again (deterministic command ids, ``prelabel_job``). Several nodes on shared
storage whose ``flock`` is unreliable (some NFS set-ups) should use Redis instead.

The threads never touch the web event loop or the writer thread: they decode and predict
on their own, and hand the pre-labels to the command pipeline like an import does. A stop
(server shutdown) ends a shard before its next batch and leaves it pending.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from domain.application import Labeling
from domain.errors import NotFound
from domain.job import Job
from inference_workers.job_queue import (
    STOPPED_FOR_GOOD,
    ShardObserver,
    UnfinishedJobs,
    finish_if_complete,
    lower_priority,
    work_on_shard,
)
from inference_workers.job_work import ShardWorker
from service_layer.private_files import make_private_dir

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
RETRY_AFTER_ERROR = 2.0


class JobLock:
    """An exclusive, non-blocking ``flock`` on a job's lock file (held while working on it)."""

    def __init__(self, folder: Path, job_id: str) -> None:
        self.path = folder / f"{job_id}.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self, finished: bool) -> None:
        if self._fd is None:
            return
        if finished:  # nobody needs it again; a late opener re-checks the job's state
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        os.close(self._fd)  # closing the last descriptor releases the lock
        self._fd = None


class EmbeddedJobs:
    """Worker threads running this data dir's unfinished jobs (``JobQueue``)."""

    def __init__(self, app: Labeling, make_work: Callable[[int], ShardWorker],
                 lock_dir: Path, *, workers: int = 1, poll: float = POLL_SECONDS,
                 only: set[str] | None = None) -> None:
        """``make_work(slot)``: one ``ShardWorker`` per thread (``job_work.JobWork``, with its
        own loaded model). ``only``: run just these jobs (the CLI running the job it queued)."""
        self.app = app
        self.make_work = make_work
        self.lock_dir = lock_dir
        self.workers = workers
        self.poll = poll
        self.only = only
        self.unfinished = UnfinishedJobs(app)
        self.observer: ShardObserver | None = None  # set before start (the metrics)
        self._taken: set[str] = set()  # jobs a thread of this process works on
        self._taken_lock = threading.Lock()
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def publish(self, job: Job) -> None:
        """A job was queued: look now instead of at the next poll."""
        with self._wake:
            self._wake.notify_all()

    def start(self) -> None:
        if self._threads or self.workers <= 0:
            return
        make_private_dir(self.lock_dir)
        self._stopping.clear()
        for slot in range(self.workers):
            thread = threading.Thread(target=self._run, args=(slot,), name=f"job-worker-{slot}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    # -- worker threads ------------------------------------------------------------------------

    def _run(self, slot: int) -> None:
        lower_priority()
        work: ShardWorker | None = None
        while not self._stopping.is_set():
            try:
                if work is None:
                    work = self.make_work(slot)
                worked = self._work_on_one(work)
            except Exception:
                log.exception("job worker %d: error; retrying", slot)
                self._stopping.wait(RETRY_AFTER_ERROR)
                continue
            if work is not None:
                work.close()  # nothing decoded ahead outlives the job it was for
            if not worked:
                with self._wake:
                    self._wake.wait(self.poll)

    def _work_on_one(self, work: ShardWorker) -> bool:
        """Take one unfinished job nobody else holds and work on it; False if none."""
        for job_id in self.unfinished.refresh():
            if self.only is not None and job_id not in self.only:
                continue
            with self._taken_held(job_id) as mine:
                if not mine:
                    continue
                lock = JobLock(self.lock_dir, job_id)
                if not lock.acquire():
                    continue
                finished = False
                try:
                    finished = self._run_job(work, job_id)
                finally:
                    lock.release(finished)
                return True
        return False

    @contextlib.contextmanager
    def _taken_held(self, job_id: str) -> Iterator[bool]:
        with self._taken_lock:
            mine = job_id not in self._taken
            if mine:
                self._taken.add(job_id)
        try:
            yield mine
        finally:
            if mine:
                with self._taken_lock:
                    self._taken.discard(job_id)

    def _run_job(self, work: ShardWorker, job_id: str) -> bool:
        """Work through the job's pending shards; True once the job has ended."""
        try:
            job = self.app.job(job_id)
        except NotFound:
            return True
        if not job.finished and not job.pending_shards():
            finish_if_complete(self.app, job_id)  # every shard done, the end not recorded
        pending = job.pending_shards()
        for position, index in enumerate(pending):
            if self._stopping.is_set() or job.finished:
                break
            then = pending[position + 1] if position + 1 < len(pending) else None
            report = work_on_shard(self.app, work, job_id, index, self._stopping.is_set, then,
                                   self.observer)
            if report is None or report.stopped in STOPPED_FOR_GOOD:
                break
        return self.app.job(job_id).finished
