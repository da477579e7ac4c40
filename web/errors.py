"""The one error shape of the API, and the mapping of every failure onto it.

Every error answers ``{"error": {"code", "message", "details"}}``. Domain errors carry their
``code``; this module decides the HTTP status for each code, so the code stays stable whatever
the transport.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

from domain.errors import DomainError
from web.responses import json_response

log = logging.getLogger(__name__)

STATUS_OF_CODE = {
    "validation": 422,
    "not_found": 404,
    "conflict": 409,
    "locked": 409,
    "forbidden": 403,
    "unauthorized": 401,
    "too_large": 413,
    "rate_limited": 429,
    "not_ready": 503,
    "method_not_allowed": 405,
    "unsupported_media_type": 415,
    "internal": 500,
}


class ApiError(Exception):
    """A failure of the HTTP layer itself (bad body, no token, rate limit...)."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None,
                 *, status: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.status = status or STATUS_OF_CODE.get(code, 400)
        self.headers = headers


def error_body(code: str, message: str, details: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(code: str, message: str, details: dict[str, Any] | None = None, *,
                   status: int | None = None, headers: dict[str, str] | None = None
                   ) -> Response:
    return json_response(error_body(code, message, details),
                         status or STATUS_OF_CODE.get(code, 400), headers)


def status_of(error: DomainError) -> int:
    return STATUS_OF_CODE.get(error.code, 422)


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.code, exc.message, exc.details, status=exc.status,
                          headers=exc.headers)


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(exc.code, exc.message, exc.details, status=status_of(exc))


_HTTP_CODES = {400: "validation", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type",
               422: "validation", 429: "rate_limited", 503: "not_ready"}


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route, wrong method...) in our shape."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "internal" if exc.status_code >= 500 else
                           "validation")
    if exc.status_code == 404:
        message = f"no such resource: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:
        # Starlette fills Allow from the one Route that matched first; a path served by
        # several Routes (GET and POST /users are two) must list the methods of all of them.
        methods = allowed_methods(request.app.routes, _top_scope(request.scope))
        if methods:
            headers = {**(headers or {}), "Allow": ", ".join(sorted(methods))}
    return error_response(code, message, status=exc.status_code, headers=headers)


def _top_scope(scope: Scope) -> Scope:
    """The request's scope as the app's top router saw it (a Mount rewrites root_path)."""
    root = scope.get("app_root_path", scope.get("root_path", ""))
    return {"type": "http", "path": scope["path"], "root_path": root,
            "method": scope.get("method", "GET")}


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> set[str]:
    """Every method some HTTP route among ``routes`` (and the Mounts' routes) serves on the
    path of ``scope``."""
    out: set[str] = set()
    for route in routes:
        match, child = route.matches(scope)
        if match == Match.NONE:
            continue
        if isinstance(route, Mount):
            out |= allowed_methods(route.routes, {**scope, **child})
        elif isinstance(route, Route) and route.methods:
            out |= route.methods
    return out


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """A bug or an outage: log it with the traceback, tell the client nothing internal."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response("internal", "internal server error; the incident was logged",
                          status=500)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: on_api_error,
    DomainError: on_domain_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
