"""The composition root: the only place that knows which stores are in use.

Embedded mode (no ``LABELWRIGHT_DATABASE_URL``): events in ``DATA_DIR/events.sqlite``, read
models in ``DATA_DIR/views.sqlite``, login and API tokens in ``DATA_DIR/auth.sqlite``,
in-process fan-out. Scale-out: all three in PostgreSQL (tokens in the schema
``labelwright_auth``). Image files are content-addressed under ``DATA_DIR/images`` in both
modes (in scale-out the data dir is shared storage).

Each entry point builds what it needs: ``bootstrap(settings)`` wires everything the server
serves; the CLI commands and the worker pass ``live=False`` and get no live collaboration
(no WebSocket rooms, no log tail, no Redis). The read models are rebuildable from the event
log and may be dropped at any time; the auth store is not (nothing else holds its rows).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from domain.application import Labeling
from domain.assist import AssistEngine, AssistRequest, Scored
from domain.command_pipeline import CommandPipeline
from domain.geometry import Geometry
from event_store.positions import EventPositions
from event_store.postgres_recorder import RECORDER_TOPIC
from event_store.stream_loader import StreamLoader
from labelwright.data_dir import create_private_file, make_private_dir, tighten
from labelwright.services import Services
from labelwright.settings import Settings
from migrations.apply import (
    AUTH_SCHEMA,
    apply_auth_migrations,
    apply_migrations,
    move_legacy_tokens,
)
from projections.database import IdleCheckpoint, ViewDatabase, checkpoint_wal
from projections.read_models import ReadModels
from projections.runner import ProjectionRunner
from realtime.live import LiveCollaboration
from service_layer.auth_tokens import TokenStore
from service_layer.image_store import ImageStore
from service_layer.jobs import JobService
from service_layer.work_queue import WorkQueueService, selection_ranker

if TYPE_CHECKING:
    from inference_workers.job_queue import JobQueue

log = logging.getLogger(__name__)


def event_store_env(settings: Settings) -> dict[str, str]:
    """eventsourcing's configuration for the settings' event store."""
    if settings.database_url is None:
        make_private_dir(settings.data_dir)
        # SQLite would create it (and its -wal/-shm, which copy its mode) as the umask says.
        create_private_file(settings.data_dir / "events.sqlite")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.data_dir / "events.sqlite"),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    url = urlparse(settings.database_url)
    if url.scheme not in ("postgresql", "postgres"):
        raise ValueError("LABELWRIGHT_DATABASE_URL must be a postgresql:// URL")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        # Keep the recorder's table lock (ids in commit order): never enable DB functions.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC,
    }


SCHEMA_LOCK_KEY = 0x4C57_4553  # "LWES": creating the event store's tables at start-up


@contextlib.contextmanager
def event_store_schema_lock(settings: Settings) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while the event store creates its tables.

    eventsourcing's recorder creates its table, index and insert function with ``IF NOT
    EXISTS`` / ``CREATE OR REPLACE``, which PostgreSQL does not make safe against a second
    session doing the same at the same instant ("tuple concurrently updated"): several web
    nodes and workers started together would fail at random. They queue here instead (one
    short extra connection at start-up). SQLite needs nothing: its file lock serialises."""
    if settings.database_url is None:
        yield
        return
    import psycopg

    with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


def view_database(settings: Settings) -> ViewDatabase:
    if settings.database_url is None:
        make_private_dir(settings.data_dir)
        create_private_file(settings.data_dir / "views.sqlite")  # as events.sqlite above
        return ViewDatabase.sqlite(settings.data_dir / "views.sqlite")
    return ViewDatabase.postgres(settings.database_url)


def auth_database(settings: Settings) -> ViewDatabase:
    """The auth store: ``DATA_DIR/auth.sqlite`` (created 0600 like the others, ``FULL`` sync:
    its rows exist nowhere else), or the schema ``labelwright_auth`` of the PostgreSQL
    database (a small pool of its own, whose search path is that schema)."""
    if settings.database_url is None:
        make_private_dir(settings.data_dir)
        create_private_file(settings.data_dir / "auth.sqlite")
        return ViewDatabase.sqlite(settings.data_dir / "auth.sqlite", synchronous="FULL")
    return ViewDatabase.postgres(settings.database_url, pool_size=4, search_path=AUTH_SCHEMA)


def migrate_stores(views: ViewDatabase, auth: ViewDatabase, *, read_models: bool = True
                   ) -> list[str]:
    """Apply pending migrations of the read models (unless ``read_models`` is False) and of
    the auth store, then move tokens an older version kept among the read models into the
    auth store (``migrations.apply.move_legacy_tokens``). Returns the migrations applied."""
    applied = apply_migrations(views) if read_models else []
    applied += apply_auth_migrations(auth)
    moved = move_legacy_tokens(views, auth)
    if moved:
        log.info("moved %d tokens from the read-model database into the auth store", moved)
    return applied


# Python's cyclic garbage collector runs a young collection every 700 net allocations and a
# full one after every 100 young ones. The writer allocates a few dozen objects per event, so an
# import of 6,000 pre-labels ran dozens of full collections over a heap that keeps growing
# (cached images, read-model caches), and later imports got steadily slower (0.35 s, then
# 0.45 s, then 0.5 s for 2,000 images). Nearly everything here is freed by reference counting;
# collecting cycles less often costs a little memory and removes that cost. Objects alive
# after start-up (modules, classes) are frozen out of the collections altogether.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


def job_queue(settings: Settings, app: Labeling, pipeline: CommandPipeline, images: ImageStore,
              models: ImageStore, *, workers: int, only: set[str] | None = None) -> JobQueue:
    """Who runs jobs: with ``LABELWRIGHT_REDIS_URL``, a Redis Streams consumer group shared
    by every process (``workers`` threads here consume; 0 only publishes); without, threads of
    this process that take each job of the data dir under a lock file (``only``: just those
    jobs, the CLI running its own). Each thread loads its own model, with
    ``LABELWRIGHT_JOB_THREADS`` CPU threads (default: every core but one)."""
    from inference_workers.embedded_jobs import EmbeddedJobs
    from inference_workers.job_queue import choose_device, default_threads, worker_name
    from inference_workers.job_work import JobWork
    from inference_workers.prelabel_job import LoadedModel, PrelabelWork, default_load_runner
    from inference_workers.score_job import ScoreWork
    from inference_workers.train_job import TrainWork

    device, threads = choose_device(settings.job_device), settings.job_threads or default_threads()
    load = default_load_runner(device, threads)

    def make_work(slot: int) -> JobWork:
        name = worker_name(slot)
        loaded = LoadedModel(models, load)  # one thread runs one shard at a time
        return JobWork(app, {
            "prelabel": PrelabelWork(app, pipeline, images, loaded, name),
            "score": ScoreWork(app, images, loaded, name),
            "train": TrainWork(app, images, models, name, device=device, threads=threads),
        })

    if settings.redis_url and only is None:
        from inference_workers.redis_jobs import RedisJobs

        return RedisJobs(app, settings.redis_url, settings.redis_prefix, make_work,
                         workers=workers, claim_after=settings.job_claim_seconds)
    return EmbeddedJobs(app, make_work, settings.data_dir / "jobs", workers=workers, only=only)


class BuiltOnFirstUse:
    """An assist engine made on its first request, so what it imports (OpenCV for GrabCut,
    torch and kornia for SAM) loads then and not when a process starts (the CLI, a worker,
    a server nobody assists on). Whatever it caches lives inside the engine."""

    def __init__(self, make: Callable[[], AssistEngine]) -> None:
        self._make = make
        self._engine: AssistEngine | None = None
        self._lock = threading.Lock()

    def propose(self, request: AssistRequest) -> Geometry | Scored:
        with self._lock:
            if self._engine is None:
                self._engine = self._make()
            engine = self._engine
        return engine.propose(request)


def _sam_engine(app: Labeling, images: ImageStore, models: ImageStore,
                settings: Settings) -> AssistEngine:
    """On the jobs' device, with their threads (every core but one, by default)."""
    from inference_workers.assist_sam import SamEngine
    from inference_workers.job_queue import choose_device, default_threads

    return SamEngine(app.model, models.path, images.path,
                     device=choose_device(settings.job_device),
                     threads=settings.job_threads or default_threads())


def register_grabcut(pipeline: CommandPipeline, images: ImageStore) -> None:
    """The built-in engine for every install (no weights): GrabCut turns a box, the four
    extreme points or clicks into a mask (or its polygon, or its box). Asked for a box, four
    extreme points still give the exact tight box through them (the engine answers that
    without running GrabCut)."""
    def make() -> AssistEngine:
        from inference_workers.assist_grabcut import GrabCutEngine

        return GrabCutEngine(images.path)

    grabcut = BuiltOnFirstUse(make)
    for mode in ("box", "clicks", "extreme_points"):
        pipeline.assist.register(mode, grabcut)


def bootstrap(settings: Settings, *, background: bool = True, migrate: bool = True,
              live: bool = True, run_jobs: bool | None = None) -> Services:
    """Wire the application. ``background`` starts the writer and projection threads;
    ``migrate=False`` leaves the read-model migrations alone (the auth store is always
    brought up to date); ``live=False`` (CLI commands, the worker) builds no live
    collaboration: no rooms, no log tail, no Redis connection. ``run_jobs`` (default: the
    server's, ``live and background``) starts ``settings.job_workers`` job threads; a process
    that does not run jobs still queues them (``services.jobs``)."""
    tune_garbage_collector()
    settings = settings.with_secret()
    tighten(settings.data_dir)  # a data dir made before modes were set (labelwright.data_dir)
    with event_store_schema_lock(settings):
        app = Labeling(env=event_store_env(settings))
    views = view_database(settings)
    auth = auth_database(settings)
    migrate_stores(views, auth, read_models=migrate)
    positions = EventPositions(app)
    pipeline = CommandPipeline(app, positions, bulk_loader=StreamLoader(app))
    on_idle = None
    if settings.embedded:
        # No new events means the writer is idle: truncate events.sqlite's WAL then too.
        events_wal = IdleCheckpoint(lambda: checkpoint_wal(settings.data_dir / "events.sqlite"))
        app.commit_listeners.append(events_wal.wrote)
        on_idle = events_wal.idle
    runner = ProjectionRunner(app, views, step_aside=pipeline.bulk_writing, on_idle=on_idle)
    app.commit_listeners.append(runner.wake)
    read = ReadModels(views, runner)
    collaboration = None
    if live:
        collaboration = LiveCollaboration(
            app, pipeline, read, positions, redis_url=settings.redis_url,
            redis_prefix=settings.redis_prefix, outbox_limit=settings.ws_outbox_limit)
        app.commit_listeners.append(collaboration.committed)
    images = ImageStore(settings.data_dir / "images")
    models = ImageStore(settings.data_dir / "models")
    # The engine of registered interactive models (SAM: requests naming a model_id).
    pipeline.assist.register_model_engine(
        BuiltOnFirstUse(lambda: _sam_engine(app, images, models, settings)))
    register_grabcut(pipeline, images)
    if run_jobs is None:
        run_jobs = live and background
    jobs = job_queue(settings, app, pipeline, images, models,
                     workers=settings.job_workers if run_jobs else 0)
    services = Services(
        settings=settings,
        app=app,
        pipeline=pipeline,
        runner=runner,
        read=read,
        tokens=TokenStore(auth, idle_days=settings.token_idle_days),
        images=images,
        models=models,
        live=collaboration,
        jobs=JobService(app, read, jobs, shard_size=settings.job_shard_size),
        job_queue=jobs,
        work_queue=WorkQueueService(app, read, lease_seconds=settings.lease_seconds,
                                    ranker=selection_ranker(app, read)),
    )
    # The server's (GET /metrics), or a worker's own endpoint; before anything starts.
    if settings.metrics and (live or (run_jobs and settings.worker_metrics_bind)):
        from labelwright.metrics import metrics_for

        services.metrics = metrics_for(services)
    if background:
        for store in (services.images, services.models):
            swept = store.sweep_incoming()
            if swept:
                log.info("removed %d half-written upload(s) left in %s", swept, store.root / "tmp")
        pipeline.start()
        runner.start()
        jobs.start()
    return services


def shutdown(services: Services) -> None:
    if services.job_queue is not None:
        services.job_queue.stop()  # before the writer: its threads record through it
    if services.live is not None:
        services.live.close()
    services.pipeline.stop()
    services.runner.stop()
    services.read.db.close()
    services.tokens.db.close()
    services.app.close()
