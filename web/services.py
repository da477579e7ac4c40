"""What the web layer is given by the composition root (``labelwright.bootstrap``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.application import Labeling
from domain.command_pipeline import CommandPipeline
from projections.read_models import ReadModels
from projections.runner import ProjectionRunner
from realtime.live import LiveCollaboration
from service_layer.image_store import ImageStore
from web.auth_tokens import TokenStore


@dataclass
class Services:
    settings: Any  # labelwright.settings.Settings (web does not import the composition root)
    app: Labeling
    pipeline: CommandPipeline
    runner: ProjectionRunner
    read: ReadModels
    tokens: TokenStore
    images: ImageStore
    live: LiveCollaboration | None = None  # rooms and fan-out of GET /api/v1/ws
