"""What the web layer is given by the composition root (``labelwright.bootstrap``).

Both are Protocols: web states what it reads, and the composition root's concrete
``labelwright.services.Services`` (which the CLI and the worker use too, without importing
web) fits them; mypy checks the fit where the app is created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from domain.application import Labeling
from domain.command_pipeline import CommandPipeline
from projections.read_models import ReadModels
from projections.runner import ProjectionRunner
from realtime.live import LiveCollaboration
from service_layer.auth_tokens import TokenStore
from service_layer.image_store import ImageStore
from service_layer.jobs import JobService
from service_layer.work_queue import WorkQueueService


class WebSettings(Protocol):
    """The settings the web layer (and the use cases it calls) reads.

    ``labelwright.settings.Settings`` provides them; web declares what it needs instead of
    importing the composition root (dependencies point inward), and mypy checks that the
    root's settings fit wherever ``Services`` is built. Read-only: the settings are frozen.
    """

    @property
    def data_dir(self) -> Path: ...
    @property
    def import_dirs(self) -> tuple[Path, ...]: ...
    @property
    def max_json_body(self) -> int: ...
    @property
    def max_command_body(self) -> int: ...
    @property
    def max_upload_bytes(self) -> int: ...
    @property
    def max_upload_request(self) -> int: ...
    @property
    def max_image_pixels(self) -> int: ...
    @property
    def max_model_bytes(self) -> int: ...
    @property
    def max_dataset_bytes(self) -> int: ...
    @property
    def login_attempts_per_minute(self) -> int: ...
    @property
    def login_attempts_per_account(self) -> int: ...
    @property
    def login_account_window(self) -> float: ...


class Telemetry(Protocol):
    """The process's metrics (``labelwright.metrics``), as the web layer feeds and serves
    them."""

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request (``route``: the template, never the raw path)."""

    def exposition(self) -> tuple[bytes, str]:
        """Every metric in the Prometheus text format, and its content type."""


class Services(Protocol):
    """The stores and workers of one process, as the web layer uses them."""

    @property
    def settings(self) -> WebSettings: ...
    @property
    def app(self) -> Labeling: ...
    @property
    def pipeline(self) -> CommandPipeline: ...
    @property
    def runner(self) -> ProjectionRunner: ...
    @property
    def read(self) -> ReadModels: ...
    @property
    def tokens(self) -> TokenStore: ...
    @property
    def images(self) -> ImageStore: ...
    @property
    def models(self) -> ImageStore:
        """Model weights files, content-addressed (``DATA_DIR/models``)."""
    @property
    def jobs(self) -> JobService | None:
        """Queue, read and cancel jobs (``service_layer.jobs``)."""
    @property
    def work_queue(self) -> WorkQueueService | None:
        """Hands out images under leases (``service_layer.work_queue``)."""
    @property
    def live(self) -> LiveCollaboration | None:
        """Rooms and fan-out of ``GET /api/v1/ws`` (None where no live side was built)."""
    @property
    def metrics(self) -> Telemetry | None:
        """``GET /metrics`` and the request counts (None: ``LABELWRIGHT_METRICS=0``)."""
