"""What the composition root builds for a process: its stores and workers.

The server, the CLI and the worker all get one of these from ``labelwright.bootstrap``; the
web layer reads it through its own Protocol (``web.services.Services``), so nothing here
imports web.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.application import Labeling
from domain.command_pipeline import CommandPipeline
from labelwright.settings import Settings
from projections.read_models import ReadModels
from projections.runner import ProjectionRunner
from realtime.live import LiveCollaboration
from service_layer.auth_tokens import TokenStore
from service_layer.image_store import ImageStore
from service_layer.jobs import JobService
from service_layer.work_queue import WorkQueueService

if TYPE_CHECKING:
    from inference_workers.job_queue import JobQueue
    from labelwright.metrics import Metrics


@dataclass
class Services:
    settings: Settings
    app: Labeling
    pipeline: CommandPipeline
    runner: ProjectionRunner
    read: ReadModels
    tokens: TokenStore
    images: ImageStore
    # Model weights, content-addressed like the images (DATA_DIR/models).
    models: ImageStore
    # Rooms and fan-out of GET /api/v1/ws: built for the server only (bootstrap(live=False)
    # for the CLI and the worker).
    live: LiveCollaboration | None = None
    # Queue, read and cancel jobs; ``job_queue`` runs them (embedded threads or Redis
    # Streams; started by bootstrap where this process runs jobs).
    jobs: JobService | None = None
    job_queue: JobQueue | None = None
    # Hands out images under leases, assignments and priority (the team's work queue).
    work_queue: WorkQueueService | None = None
    # Prometheus metrics of the server (labelwright.metrics); None for the CLI and the worker,
    # and with LABELWRIGHT_METRICS=0.
    metrics: Metrics | None = None
