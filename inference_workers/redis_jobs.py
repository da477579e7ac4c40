"""Jobs shared by ``labelwright worker`` processes through a Redis Streams consumer group.

One stream, ``<prefix>:jobs:shards``, one entry per shard (``job``, ``shard``), one
consumer group, ``workers``; every worker thread of every process is a consumer
(``host:pid:slot``). A consumer reads an entry with ``XREADGROUP``, works on the shard, and
``XACK``s (and ``XDEL``s) it only after the shard's ``ShardDone`` is in the event log. While it
works it re-claims its own entry every ``claim_after / 3`` seconds (``XCLAIM ... JUSTID``
resets the idle time), so a long shard is not taken from a live worker; the entries of a
dead worker go idle and another consumer takes them over with ``XAUTOCLAIM`` after
``claim_after`` seconds (``LABELWRIGHT_JOB_CLAIM_SECONDS``). Working on a shard twice records
nothing twice (deterministic command ids; ``ShardDone`` is idempotent), and an entry for a
shard already done, or of a job that ended, is just acknowledged.

Redis holds nothing the event log does not: the entries are a to-do list. Whoever publishes
a job's shards first sets ``<prefix>:jobs:published:<job id>`` (``SET NX``, a day's expiry
renewed while the job runs); every consuming process re-publishes, every
``RECONCILE_SECONDS``, the pending shards of each unfinished job (``UnfinishedJobs``, from the
log) whose marker is missing. So when Redis restarts empty (it keeps nothing on disk here),
or its keys are deleted, the group is created again (``XGROUP CREATE ... MKSTREAM`` before
publishing) and the jobs' pending shards come back within seconds; a publisher that died
between queueing a job and publishing it is covered the same way. The stream is made with the
first job published, so a deployment that never ran a job leaves no keys in Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from domain.application import Labeling
from domain.errors import NotFound
from domain.job import Job
from inference_workers.job_queue import (
    ShardObserver,
    UnfinishedJobs,
    finish_if_complete,
    lower_priority,
    work_on_shard,
    worker_name,
)
from inference_workers.job_work import ShardWorker

log = logging.getLogger(__name__)

GROUP = "workers"
CLAIM_SECONDS = 60.0
RECONCILE_SECONDS = 5.0
MARKER_TTL = 24 * 3600  # seconds; renewed while the job is unfinished
BLOCK_MS = 1000
RETRY_AFTER_ERROR = 1.0


class RedisJobs:
    """Publishes jobs' shards to a Redis stream and, with ``workers`` > 0, consumes them
    (``JobQueue``)."""

    def __init__(self, app: Labeling, url: str, prefix: str,
                 make_work: Callable[[int], ShardWorker], *, workers: int = 1,
                 claim_after: float = CLAIM_SECONDS,
                 reconcile_every: float = RECONCILE_SECONDS) -> None:
        self.app = app
        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10,
                                          socket_connect_timeout=5, health_check_interval=10)
        self.stream = f"{prefix}:jobs:shards"
        self.marker_prefix = f"{prefix}:jobs:published:"
        self.make_work = make_work
        self.workers = workers
        self.claim_after = claim_after
        self.reconcile_every = reconcile_every
        self.unfinished = UnfinishedJobs(app)
        self.observer: ShardObserver | None = None  # set before start (the metrics)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, job: Job) -> None:
        """Add an entry per pending shard, unless this job was published already. A Redis
        outage here is not the caller's problem: the reconciler publishes it later."""
        try:
            self._publish(job)
        except RedisError:
            log.warning("could not publish job %s to Redis now; the workers will find it in "
                        "the event log", job.id, exc_info=True)

    def _publish(self, job: Job) -> bool:
        if job.finished:
            return False
        marker = self.marker_prefix + str(job.id)
        if not self.redis.set(marker, "1", nx=True, ex=MARKER_TTL):
            self.redis.expire(marker, MARKER_TTL)
            return False
        self._ensure_group()
        pipe = self.redis.pipeline(transaction=True)
        for index in job.pending_shards():
            pipe.xadd(self.stream, {"job": str(job.id), "shard": str(index)})
        pipe.execute()
        return True

    def _ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def reconcile(self) -> int:
        """Publish every unfinished job of the log that Redis does not know (after a Redis
        restart, or a publisher that died); how many were published."""
        published = 0
        for job_id in self.unfinished.refresh():
            try:
                job = self.app.job(job_id)
            except NotFound:
                continue
            if not job.finished and not job.pending_shards():
                finish_if_complete(self.app, job_id)
                continue
            if self._publish(job):
                published += 1
                log.info("published job %s (%d shards pending) to Redis", job_id,
                         len(job.pending_shards()))
        return published

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads or self.workers <= 0:
            return
        self._stopping.clear()
        threads = [threading.Thread(target=self._reconciler, name="jobs-reconcile",
                                    daemon=True)]
        threads += [threading.Thread(target=self._consume, args=(slot,),
                                     name=f"job-worker-{slot}", daemon=True)
                    for slot in range(self.workers)]
        for thread in threads:
            thread.start()
        self._threads = threads

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        self.redis.close()

    def _reconciler(self) -> None:
        while not self._stopping.is_set():
            try:
                self.reconcile()
            except RedisError as e:
                log.warning("job reconciler: Redis unavailable (%s); retrying", e)
            except Exception:
                log.exception("job reconciler failed; retrying")
            self._stopping.wait(self.reconcile_every)

    # -- consuming -----------------------------------------------------------------------------

    def _consume(self, slot: int) -> None:
        consumer = worker_name(slot)
        lower_priority()
        work: ShardWorker | None = None
        next_claim = 0.0
        while not self._stopping.is_set():
            try:
                if work is None:
                    work = self.make_work(slot)
                entry = None
                if time.monotonic() >= next_claim:
                    entry = self._claim_idle(consumer)
                    next_claim = time.monotonic() + min(self.claim_after / 4, 5.0)
                if entry is None:
                    entry = self._read_new(consumer)
                if entry is not None:
                    self._handle(work, consumer, *entry)
            except ResponseError as e:
                if "NOGROUP" in str(e):
                    # Nothing published yet (the stream is made with the first job, so an idle
                    # deployment leaves no keys), or Redis lost it: the reconciler re-publishes.
                    log.debug("job worker %s: no job stream in Redis yet", consumer)
                else:
                    log.exception("job worker %s: Redis refused a command", consumer)
                self._stopping.wait(RETRY_AFTER_ERROR)
            except RedisConnectionError as e:
                log.warning("job worker %s: Redis unreachable (%s); retrying", consumer, e)
                self._stopping.wait(RETRY_AFTER_ERROR)
            except Exception:
                log.exception("job worker %s: error; retrying", consumer)
                self._stopping.wait(RETRY_AFTER_ERROR)
        if work is not None:
            work.close()

    def _read_new(self, consumer: str) -> tuple[str, dict[str, str]] | None:
        reply: Any = self.redis.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=1,
                                           block=BLOCK_MS)
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                return str(entry_id), dict(fields)
        return None

    def _claim_idle(self, consumer: str) -> tuple[str, dict[str, str]] | None:
        """An entry whose consumer has not touched it for ``claim_after`` seconds (dead)."""
        reply: Any = self.redis.xautoclaim(self.stream, GROUP, consumer,
                                           int(self.claim_after * 1000), start_id="0-0",
                                           count=1)
        entries = reply[1] if reply else []
        for entry_id, fields in entries:
            if fields is None:  # deleted meanwhile
                self.redis.xack(self.stream, GROUP, entry_id)
                continue
            log.info("%s took over shard %s of job %s from an idle consumer", consumer,
                     fields.get("shard"), fields.get("job"))
            return entry_id, fields
        return None

    def _handle(self, work: ShardWorker, consumer: str, entry_id: str,
                fields: dict[str, str]) -> None:
        job_id, shard = fields.get("job"), fields.get("shard", "")
        if not job_id or not shard.isdigit():
            log.warning("dropping a malformed job stream entry %s: %r", entry_id, fields)
            self._done(entry_id)
            return
        keep_alive = _KeepClaimed(self, consumer, entry_id)
        try:
            report = work_on_shard(self.app, work, job_id, int(shard), self._stopping.is_set,
                                   observer=self.observer)
        except NotFound:
            report = None  # no such job (a stream from another deployment?): drop it
        finally:
            keep_alive.stop()
        if report is not None and report.stopped == "worker stopping":
            return  # left pending: another consumer takes it over once it is idle
        self._done(entry_id)

    def _done(self, entry_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.stream, GROUP, entry_id)
        pipe.xdel(self.stream, entry_id)
        pipe.execute()


class _KeepClaimed:
    """Re-claims an entry for its consumer while the shard is worked on (resets its idle
    time), so that ``XAUTOCLAIM`` only takes the entries of consumers that stopped."""

    def __init__(self, jobs: RedisJobs, consumer: str, entry_id: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(jobs, consumer, entry_id),
                                        name="job-keep-claimed", daemon=True)
        self._thread.start()

    def _run(self, jobs: RedisJobs, consumer: str, entry_id: str) -> None:
        interval = max(jobs.claim_after / 3, 0.05)
        while not self._stop.wait(interval):
            try:
                jobs.redis.xclaim(jobs.stream, GROUP, consumer, 0, [entry_id], justid=True)
            except RedisError as e:  # Redis restarting: the reconciler republishes
                log.debug("keeping shard entry %s claimed failed: %s", entry_id, e)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
