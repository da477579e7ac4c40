"""What the web layer is given by the composition root (``labelwright.bootstrap``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from domain.application import Labeling
from domain.command_pipeline import CommandPipeline
from projections.read_models import ReadModels
from projections.runner import ProjectionRunner
from realtime.live import LiveCollaboration
from service_layer.image_store import ImageStore
from web.auth_tokens import TokenStore


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
    def login_attempts_per_minute(self) -> int: ...
    @property
    def login_attempts_per_account(self) -> int: ...
    @property
    def login_account_window(self) -> float: ...


@dataclass
class Services:
    settings: WebSettings  # labelwright.settings.Settings, seen through what web reads
    app: Labeling
    pipeline: CommandPipeline
    runner: ProjectionRunner
    read: ReadModels
    tokens: TokenStore
    images: ImageStore
    live: LiveCollaboration | None = None  # rooms and fan-out of GET /api/v1/ws; None in
    # the CLI and the worker (labelwright.bootstrap builds it for the server only)
