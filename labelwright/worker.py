"""``labelwright worker``: the background work of a deployment, beside the web nodes.

A worker runs jobs and keeps the read models caught up with the event log.

* **Jobs** (``LABELWRIGHT_JOB_WORKERS`` threads, default 1; each model with
  ``LABELWRIGHT_JOB_THREADS`` CPU threads, on CUDA when torch sees a GPU unless
  ``LABELWRIGHT_JOB_DEVICE`` says otherwise). With ``LABELWRIGHT_REDIS_URL``, any number of
  workers on any machines share the jobs' shards through a Redis Streams consumer group
  (``inference_workers.redis_jobs``; a dead worker's shards are taken over). Without Redis the
  worker takes whole jobs of its data dir under a lock file, like a server does
  (``inference_workers.embedded_jobs``).
* **Projections**, even when no web node is running (after a bulk import from the CLI, say).
  Several processes may project at once (each batch commits its rows and its tracking
  position in one transaction; the loser of a race rolls back and adopts the winner's
  position), so web nodes keep projecting too. ``LABELWRIGHT_WORKER_PROJECTIONS=0`` makes a
  job-only worker (beside web nodes, which project anyway, extra projecting processes only
  race for the same batches).

``LABELWRIGHT_WORKER_METRICS_BIND=host:port`` serves this worker's Prometheus metrics (job
shards, images, failures, model inference time, the writer and the read models it projects) at
``http://host:port/metrics``, without authentication: bind it to a private address.

It builds no live collaboration (no rooms, no log tail): progress reaches the rooms through
the event log, which every web node tails. SIGINT/SIGTERM stop it after the current batch; a
shard left unfinished is resumed by another worker (or this one, restarted).
"""

from __future__ import annotations

import logging
import signal
import threading

from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings

log = logging.getLogger(__name__)


def parse_bind(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9101`` for IPv6) -> (host, port); ValueError names what is wrong."""
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"LABELWRIGHT_WORKER_METRICS_BIND must be host:port, not {value!r}")
    return host, int(port)


def run_worker(settings: Settings) -> int:
    bind = parse_bind(settings.worker_metrics_bind) if settings.worker_metrics_bind else None
    services = bootstrap(settings, background=True, live=False, run_jobs=True)
    if bind is not None and services.metrics is not None:
        from prometheus_client import start_http_server

        server, _ = start_http_server(bind[1], bind[0], registry=services.metrics.registry)
        log.info("worker metrics at http://%s:%d/metrics", *bind)
    else:
        server = None
    if not settings.worker_projections:
        services.runner.stop()  # LABELWRIGHT_WORKER_PROJECTIONS=0: jobs only
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("worker running jobs (%d threads, %s)%s", settings.job_workers,
             "Redis Streams" if settings.redis_url else "this data dir",
             (" and projecting " + ("PostgreSQL" if settings.database_url else "SQLite"))
             if settings.worker_projections else "")
    try:
        while not stop.wait(5):
            if not settings.worker_projections:
                continue
            lag = max((p["lag"] for p in services.runner.status()["projections"]), default=0)
            if lag:
                log.info("projection lag: %s events", lag)
    finally:
        if server is not None:
            server.shutdown()
        shutdown(services)
    return 0
