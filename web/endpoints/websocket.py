"""``GET /api/v1/ws``: the live-collaboration WebSocket (docs/realtime.md).

This module only authenticates and adapts Starlette's ``WebSocket`` to the protocol session
of ``realtime.session``; rooms, presence and fan-out live in ``realtime``.

The connection is accepted before authentication so a refusal can say why: an ``error`` with
code ``unauthorized`` (or ``forbidden``), then close code 4401 (4403). Closing before accepting
would leave a browser with a bare HTTP 403 and no reason. An open connection's token is
checked again while it lasts (``credentials_check``): revoking it, or disabling its user,
closes the connection with 4401.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable

from starlette.requests import HTTPConnection
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState

from domain.errors import DomainError
from realtime.live import LiveCollaboration
from realtime.protocol import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, error
from realtime.session import ClientSession
from web.authentication import Authenticator, Principal
from web.errors import ApiError
from web.services import Services

log = logging.getLogger(__name__)


class StarletteTransport:
    """``realtime.session.Transport`` over a Starlette ``WebSocket``."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def receive(self) -> str | bytes | None:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    async def send(self, text: str) -> None:
        await self.websocket.send({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str = "") -> None:
        if self.websocket.application_state != WebSocketState.DISCONNECTED:
            await self.websocket.close(code, reason)


def principal_of(websocket: WebSocket, authenticator: Authenticator) -> Principal:
    """Who is connecting: ``?token=`` (browsers cannot set headers on a WebSocket), else the
    ``Authorization`` header or the session cookie, resolved like any HTTP request."""
    token = websocket.query_params.get("token")
    if token:
        # Hand the token to the shared resolver as the header it would otherwise come in.
        headers = [(k, v) for k, v in websocket.scope["headers"] if k != b"authorization"]
        headers.append((b"authorization", b"Bearer " + token.encode("latin-1")))
        return authenticator.authenticate(HTTPConnection({**websocket.scope,
                                                          "headers": headers}))
    principal = authenticator.authenticate(websocket)
    if principal.via_cookie:
        _check_same_origin(websocket)
    return principal


def _check_same_origin(websocket: WebSocket) -> None:
    """Browsers send cookies with cross-site WebSocket handshakes and no CORS check applies,
    so a cookie-authenticated socket must come from our own origin."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return
    host = websocket.headers.get("host", "")
    if origin not in (f"http://{host}", f"https://{host}"):
        raise ApiError("forbidden", "cross-origin WebSockets must authenticate with ?token=",
                       {"origin": origin})


async def realtime_endpoint(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    live: LiveCollaboration | None = services.live
    await websocket.accept()
    if live is None:
        await _refuse(websocket, "not_ready", "live collaboration is not configured", 1011)
        return
    try:
        principal = principal_of(websocket, websocket.app.state.authenticator)
    except (ApiError, DomainError) as e:
        close = CLOSE_FORBIDDEN if e.code == "forbidden" else CLOSE_UNAUTHORIZED
        await _refuse(websocket, e.code, e.message, close)
        return
    await live.start()  # no-op once the lifespan started it
    session = ClientSession(live, StarletteTransport(websocket), principal.username,
                            principal.is_admin,
                            credentials_check(websocket.app.state.authenticator, principal))
    await session.run()


def credentials_check(authenticator: Authenticator, principal: Principal
                      ) -> Callable[[], str | None]:
    """Whether the connection's token still holds (revoked, expired, user disabled...): None,
    or why not. Asked again and again while the connection is open (``realtime.live``)."""

    def check() -> str | None:
        try:
            authenticator.principal(principal.token, principal.via_cookie)
        except ApiError as e:
            return e.message
        return None

    return check


async def _refuse(websocket: WebSocket, code: str, message: str, close_code: int) -> None:
    with contextlib.suppress(Exception):
        await websocket.send_text(error(code, message))
        await websocket.close(close_code, message[:120])


routes = [WebSocketRoute("/ws", realtime_endpoint)]


class RedactTokens(logging.Filter):
    """Keeps ``?token=...`` of WebSocket URLs out of the server's logs (uvicorn logs the
    path with its query string when it accepts a connection)."""

    _pattern = re.compile(r"(token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(self._pattern.sub(r"\1[redacted]", a) if isinstance(a, str)
                                else a for a in record.args)
        return True


def redact_tokens_in(logger_name: str = "uvicorn.error") -> None:
    """Install ``RedactTokens`` on ``logger_name`` (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
