"""Prometheus metrics of one ``labelwright serve`` process (``GET /metrics``, docs/operations.md).

Two kinds, chosen by cost:

* **Counted on the hot paths** (HTTP requests, commands, the writer's batches and commits, job
  shards and model calls): the code there calls a small observer (``PipelineObserver``,
  ``ShardObserver``, ``web.services.Telemetry``) which this module implements with
  prometheus-client counters and histograms, their label children looked up once and kept.
* **Read at scrape time** (``ServiceCollector``): values the service keeps anyway (each read
  model's position, the log head, the writer's backlog, WebSocket connections and room
  members, the realtime hub's drop and resync counts, unfinished jobs) become gauges and
  counters only when Prometheus asks.

One process serves (uvicorn runs no extra workers), so the registry lives in memory and no
multiprocess mode is needed. A ``labelwright worker`` builds the same registry (no realtime
part) and serves it itself when ``LABELWRIGHT_WORKER_METRICS_BIND`` is set
(``labelwright.worker``). ``LABELWRIGHT_METRICS=0`` builds none of this: the observers stay
None and ``GET /metrics`` answers 404.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from domain import commands as c
from domain.command_pipeline import CommandResult
from domain.errors import DomainError
from event_store.positions import log_head
from labelwright.services import Services

if TYPE_CHECKING:  # the job modules load torch; the metrics need only the report's shape
    from inference_workers.prelabel_job import ShardReport

log = logging.getLogger(__name__)

PREFIX = "labelwright"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
INFERENCE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def outcome_of(future: Future[CommandResult]) -> str:
    """``ok``, ``repeated`` (a known ``command_id``: nothing recorded), the refusal's error
    code (``validation``, ``conflict``, ``locked``, ``forbidden``, ``not_found``...) or
    ``error`` (a failure that is not a refusal)."""
    try:
        error = future.exception()  # done already: no wait
    except CancelledError:
        return "error"
    if error is None:
        return "repeated" if future.result().repeated else "ok"
    return error.code if isinstance(error, DomainError) else "error"


class Metrics:
    """The registry and every instrument of this process; the observers the service's parts
    are given (``install``)."""

    def __init__(self, services: Services | None = None) -> None:
        # No ``_created`` series beside every counter and histogram: twice the lines per
        # scrape for a start time Prometheus does not need (process_start_time_seconds has it).
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            f"{PREFIX}_http_requests", "HTTP requests answered, by route template and status",
            ["method", "route", "status"], registry=r)
        self.http_duration = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.commands = Counter(
            f"{PREFIX}_commands", "Image commands decided by the writer, by type and outcome",
            ["type", "outcome"], registry=r)
        self.batch_requests = Histogram(
            f"{PREFIX}_writer_batch_requests", "Requests the writer took into one batch",
            buckets=BATCH_BUCKETS, registry=r)
        self.commit_seconds = Histogram(
            f"{PREFIX}_writer_commit_seconds", "Time of one event-store transaction",
            buckets=COMMIT_BUCKETS, registry=r)
        self.committed_events = Counter(
            f"{PREFIX}_writer_events", "Events the writer committed", registry=r)
        self.job_shards = Counter(
            f"{PREFIX}_job_shards", "Job shards worked on by this process, by outcome "
            "(done, or why it stopped)", ["outcome"], registry=r)
        self.job_images = Counter(
            f"{PREFIX}_job_images", "Images of job shards, by outcome", ["outcome"],
            registry=r)
        self.job_failures = Counter(
            f"{PREFIX}_job_failures", "Jobs failed (by code) and shard errors (shard_error, "
            "retried) in this process", ["code"], registry=r)
        self.inference_seconds = Histogram(
            f"{PREFIX}_model_inference_seconds",
            "Time of one model call on a batch of images (pre-label and score jobs)",
            buckets=INFERENCE_BUCKETS, registry=r)
        # Label children, looked up once: labels() takes a lock and builds a tuple each time.
        self._children: dict[tuple[Any, ...], Any] = {}
        self._children_lock = threading.Lock()
        r.register(ProcessStats())
        PlatformCollector(registry=r)
        if services is not None:
            r.register(ServiceCollector(services))

    # -- rendering ------------------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The registry in the Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # -- web.services.Telemetry -------------------------------------------------------------------

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "OTHER"
        key = (method, route, status)  # three items: never a command's (type, outcome)
        pair = self._children.get(key)
        if pair is None:
            pair = self._child(key, (self.http_requests.labels(method, route, str(status)),
                                     self.http_duration.labels(method, route)))
        pair[0].inc()
        pair[1].observe(seconds)

    # -- domain.command_pipeline.PipelineObserver ------------------------------------------------

    def request_done(self, commands: Sequence[c.Command], future: Future[CommandResult]
                     ) -> None:
        outcome = outcome_of(future)
        children = self._children
        for cmd in commands:
            key = (cmd.type, outcome)
            child = children.get(key)
            if child is None:
                child = self._child(key, self.commands.labels(cmd.type, outcome))
            child.inc()

    def batch_taken(self, requests: int) -> None:
        self.batch_requests.observe(requests)

    def committed(self, events: int, seconds: float) -> None:
        self.commit_seconds.observe(seconds)
        self.committed_events.inc(events)

    # -- inference_workers.job_queue.ShardObserver ------------------------------------------------

    def shard_worked(self, report: ShardReport) -> None:
        self.job_shards.labels(report.stopped or "done").inc()
        if report.done:
            self.job_images.labels("done").inc(report.done)
        if report.failed:
            self.job_images.labels("failed").inc(report.failed)
        for seconds in report.inference:
            self.inference_seconds.observe(seconds)

    def job_failed(self, code: str) -> None:
        self.job_failures.labels(code).inc()

    # -- wiring -----------------------------------------------------------------------------------

    def install(self, services: Services) -> None:
        """Hand this process's parts their observers (before they start)."""
        services.pipeline.observer = self
        if services.job_queue is not None:
            services.job_queue.observer = self

    def _child(self, key: tuple[Any, ...], child: Any) -> Any:
        """Keep ``child`` (a metric's labelled child, first seen now) for ``key``."""
        with self._children_lock:
            return self._children.setdefault(key, child)


class ProcessStats(Collector):
    """``process_cpu_seconds_total``, ``process_resident_memory_bytes``,
    ``process_virtual_memory_bytes`` and ``process_start_time_seconds`` from one read of
    ``/proc/self/stat`` (Linux; nothing elsewhere). prometheus-client's ``ProcessCollector``
    also lists ``/proc/self/fd`` on every scrape, which takes tens of milliseconds with a
    thousand WebSockets open; ``labelwright_websocket_connections`` says what holds them."""

    def __init__(self) -> None:
        self._ticks = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._boot = 0.0
        try:
            with open("/proc/stat", "rb") as f:
                for line in f:
                    if line.startswith(b"btime "):
                        self._boot = float(line.split()[1])
        except OSError:
            pass

    def collect(self) -> Iterator[Any]:
        try:
            with open("/proc/self/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[-1].split()  # from field 3 (state) on
        except OSError:
            return
        yield CounterMetricFamily("process_cpu_seconds", "User and system CPU time spent",
                                  value=(float(fields[11]) + float(fields[12])) / self._ticks)
        yield GaugeMetricFamily("process_resident_memory_bytes", "Resident memory size",
                                value=int(fields[21]) * self._page)
        yield GaugeMetricFamily("process_virtual_memory_bytes", "Virtual memory size",
                                value=int(fields[20]))
        yield GaugeMetricFamily("process_start_time_seconds", "Start time since the epoch",
                                value=float(fields[19]) / self._ticks + self._boot)


class ServiceCollector(Collector):
    """Values the service keeps anyway, read when Prometheus scrapes (nothing on hot paths)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Any]:
        s = self.services
        head = log_head(s.app)
        yield GaugeMetricFamily(f"{PREFIX}_event_log_head",
                                "The global position of the newest event in the log",
                                value=head)
        positions = GaugeMetricFamily(f"{PREFIX}_projection_position",
                                      "The global position each read model has reached",
                                      labels=["projection"])
        lag = GaugeMetricFamily(f"{PREFIX}_projection_lag_events",
                                "Events each read model is behind the head of the log",
                                labels=["projection"])
        for name, position in s.runner.positions().items():
            positions.add_metric([name], position)
            lag.add_metric([name], max(head - position, 0))
        yield positions
        yield lag
        yield GaugeMetricFamily(f"{PREFIX}_writer_backlog",
                                "Image command requests queued for the writer or being written",
                                value=s.pipeline.backlog())
        yield from self._realtime()
        queue = s.job_queue
        unfinished = getattr(queue, "unfinished", None)
        if unfinished is not None:
            try:
                depth = len(unfinished.refresh())
            except Exception:  # the store is away: leave the gauge out of this scrape
                log.warning("metrics: reading the unfinished jobs failed", exc_info=True)
            else:
                yield GaugeMetricFamily(f"{PREFIX}_jobs_unfinished",
                                        "Jobs queued or running (from the event log)",
                                        value=depth)

    def _realtime(self) -> Iterator[Any]:
        live = self.services.live
        if live is None:
            return
        hub = live.hub
        yield GaugeMetricFamily(f"{PREFIX}_websocket_connections",
                                "Open WebSocket connections to this node",
                                value=len(live.sessions))
        yield GaugeMetricFamily(f"{PREFIX}_realtime_rooms",
                                "Rooms with at least one member on this node",
                                value=hub.room_count())
        yield GaugeMetricFamily(f"{PREFIX}_realtime_room_members",
                                "Room memberships of this node's connections, over all rooms",
                                value=hub.subscriptions)
        yield CounterMetricFamily(f"{PREFIX}_realtime_dropped_messages",
                                  "Room messages dropped from slow clients' queues",
                                  value=hub.dropped_messages)
        yield CounterMetricFamily(f"{PREFIX}_realtime_resyncs",
                                  "Times a client was told to re-join a room (resync) after "
                                  "its backlog was dropped", value=hub.resyncs)


def metrics_for(services: Services) -> Metrics:
    """Metrics of ``services``, installed in its parts."""
    metrics = Metrics(services)
    metrics.install(services)
    return metrics
