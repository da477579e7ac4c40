"""Security headers on every HTTP response, as a pure ASGI middleware.

Every response gets, unless its endpoint already set the header:

- ``X-Content-Type-Options: nosniff``: a browser must not guess a type other than the one
  given (an uploaded "image" or a JSON body that happens to look like HTML stays inert);
- ``X-Frame-Options: DENY``: no page of ours inside another site's frame (clickjacking; the
  UI page also says ``frame-ancestors 'none'`` in its own CSP);
- ``Referrer-Policy: same-origin``: URLs (project and image ids) do not leak to other sites.

Responses under ``/api/`` also get ``Content-Security-Policy: default-src 'none';
frame-ancestors 'none'``: they are data, never a document, so nothing they contain may run
or load anything if one is opened directly. The UI's own CSP (``web.endpoints.ui``, on the
page only) is left alone; a CSP on a fetched JSON body or image does not apply to the page
that fetched it, so this one cannot break the UI.

Pure ASGI rather than ``BaseHTTPMiddleware``: it only edits the ``http.response.start``
message, so WebSockets pass through untouched and streamed bodies (exports) are not buffered.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
API_HEADERS = (*COMMON_HEADERS,
               (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"))


class SecurityHeaders:
    """Adds the module's headers to each HTTP response of ``app`` that lacks them."""

    def __init__(self, app: ASGIApp, api_prefix: str = "/api/") -> None:
        self.app = app
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = API_HEADERS if scope["path"].startswith(self.api_prefix) else COMMON_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _ in headers}
                headers.extend(h for h in defaults if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
