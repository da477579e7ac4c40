"""Each HTTP request: its request id, one log line, and its count in the metrics.

A pure ASGI middleware outside everything else (so it sees the final status, also of the 500
answers the error middleware makes), which:

- takes the request id from ``X-Request-ID`` when it is a plausible id (1 to 128 letters,
  digits and ``._:-``; anything else is ignored, never echoed) or makes one, keeps it in
  ``current_request_id`` for every log line written while the request runs, and returns it
  in the response's ``X-Request-ID`` header;
- writes one line to the ``web.request_log`` logger when the response has ended: method,
  route *template* (``/api/v1/images/{image_id}/commands``, never the raw path, so neither
  ids nor query strings, where a WebSocket token may travel, reach the logs), status,
  duration in milliseconds, request id, user and, where the route has one, the image id;
- tells the metrics (``Telemetry.observe_request``) the same, by route template.

WebSocket connections pass through untouched (the realtime hub counts them).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:  # kept light: labelwright.logs imports this module in every CLI command
    from web.services import Telemetry

log = logging.getLogger(__name__)

HEADER = b"x-request-id"
_VALID_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
UNMATCHED = "unmatched"  # the route label of a path no route serves

current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_of(scope: Scope) -> str:
    """The client's ``X-Request-ID`` if it is a plausible id, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            if _VALID_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return uuid.uuid4().hex


def route_template(scope: Scope, root_path: str) -> str:
    """The template of the route that served ``scope`` (with the prefixes of the Mounts it
    went through), or ``unmatched``. ``root_path``: the scope's root path before routing."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if route is None or path is None:
        return UNMATCHED
    prefix = str(scope.get("root_path", ""))[len(root_path):]
    mounted = getattr(route, "routes", None)  # a Mount: its path is in the prefix already
    if mounted is not None:
        # A router mount is the route only when nothing inside it matched.
        return UNMATCHED if mounted else prefix + "/{path}"
    return prefix + str(path)


class RequestLog:
    """See the module docstring. ``telemetry`` None: log only."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry | None) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        header = (HEADER, request_id.encode("ascii"))
        token = current_request_id.set(request_id)
        root_path = str(scope.get("root_path", ""))
        status = 500  # unless a response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope, root_path)
            method = str(scope.get("method", ""))
            if self.telemetry is not None:
                self.telemetry.observe_request(method, route, status, seconds)
            if log.isEnabledFor(logging.INFO):
                _log_request(scope, method, route, status, seconds, request_id)
            current_request_id.reset(token)


def _log_request(scope: Scope, method: str, route: str, status: int, seconds: float,
                 request_id: str) -> None:
    state: Any = scope.get("state") or {}
    principal = state.get("principal") if isinstance(state, dict) else None
    user = getattr(principal, "username", None)
    image_id = (scope.get("path_params") or {}).get("image_id")
    duration_ms = round(seconds * 1000, 2)
    fields: dict[str, Any] = {"method": method, "route": route, "status": status,
                              "duration_ms": duration_ms, "request_id": request_id,
                              "user": user}
    if image_id is not None:
        fields["image_id"] = str(image_id)
    log.info("%s %s %d %.1f ms user=%s", method, route, status, duration_ms, user or "-",
             extra=fields)
