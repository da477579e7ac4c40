"""The Starlette application: ``create_app(services)`` wires every route.

Layout of the URL space::

    /healthz, /readyz            probes (no auth)
    /metrics                     Prometheus metrics (admins; ``web.endpoints.metrics``)
    /api/v1/openapi.json         the OpenAPI document (no auth)
    /api/v1/...                  the API of docs/api.md, one module per resource in
                                 ``web.endpoints``
    /api/v1/ws                   the live-collaboration WebSocket (``web.endpoints.websocket``,
                                 rooms and fan-out in ``realtime``)
    /, /static/...               the web UI (``web.endpoints.ui``; files in ``web/static``)

Errors of every kind leave in one shape (``web.errors``). The app holds no state of its own
beyond small caches; everything durable is in the services the composition root passes in.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from PIL import Image as PILImage
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from web.authentication import Authenticator
from web.endpoints import (
    assist,
    blind_spots,
    commands,
    datasets,
    evaluation,
    exports,
    health,
    images,
    jobs,
    metrics,
    models,
    predictions,
    projects,
    reads,
    selection,
    session,
    ui,
    users,
    websocket,
    work_queue,
)
from web.errors import EXCEPTION_HANDLERS
from web.login_throttle import LoginThrottle
from web.min_position import WaitBudget
from web.openapi import openapi_document
from web.request_log import RequestLog
from web.responses import JSONResponse
from web.security_headers import SecurityHeaders
from web.services import Services

API_PREFIX = "/api/v1"


async def openapi_json(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


def api_routes() -> list[BaseRoute]:
    """Every route under ``/api/v1``."""
    return [
        # The router tries routes in order; commands are the hot path, so they go first.
        *commands.routes,
        *assist.routes,
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *session.routes,
        *users.routes,
        *projects.routes,
        *images.routes,
        *predictions.routes,
        *datasets.routes,
        *models.routes,
        *jobs.routes,
        *reads.routes,
        *exports.routes,
        *selection.routes,
        *evaluation.routes,
        *blind_spots.routes,
        *work_queue.routes,
        *websocket.routes,  # GET /api/v1/ws, docs/realtime.md
    ]


def live_lifespan(services: Services
                  ) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """The live rooms need the server's running event loop: they start with it, and when it
    stops they tell their clients to reconnect elsewhere (close code 1012)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if services.live is not None:
            await services.live.start()
        try:
            yield
        finally:
            if services.live is not None:
                await services.live.stop()

    return lifespan


class LabelwrightApp(Starlette):
    """Starlette with ``SecurityHeaders`` outside everything, so that even the 500 answers of
    its outermost error middleware carry them, and ``RequestLog`` (request id, one log line
    and the metrics of each request) around that, so it sees every answer's final status."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestLog(SecurityHeaders(super().build_middleware_stack()),
                          self.state.services.metrics)


def create_app(services: Services) -> Starlette:
    """The ASGI app serving ``services``. The caller owns the services' lifecycle (it starts
    them before and shuts them down after serving)."""
    # Pillow's own bomb guard must not be stricter than ours, or an image within our limit
    # would be refused with a confusing warning-turned-error.
    PILImage.MAX_IMAGE_PIXELS = services.settings.max_image_pixels
    app = LabelwrightApp(
        routes=[*health.routes, *metrics.routes, Mount(API_PREFIX, routes=api_routes()),
                *ui.routes],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=live_lifespan(services),
    )
    app.state.services = services
    app.state.authenticator = Authenticator(services.tokens, services.app)
    app.state.wait_budget = WaitBudget()
    limits = services.settings
    app.state.login_throttle = LoginThrottle(
        limits.login_attempts_per_minute, 60.0, limits.login_attempts_per_account,
        limits.login_account_window)
    app.state.openapi = openapi_document()
    return app
