"""Probes at the root: ``/healthz`` (the process answers) and ``/readyz`` (its stores do)."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from event_store.positions import log_head
from web.access import services_of
from web.errors import error_response
from web.responses import json_response

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 3.0


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    services = services_of(request)
    checks = {
        "event_store": lambda: log_head(services.app),
        "view_database": lambda: services.read.db.query("SELECT 1"),
    }
    results: dict[str, str] = {}
    for name, probe in checks.items():
        try:
            await asyncio.wait_for(asyncio.to_thread(probe), PROBE_TIMEOUT)
            results[name] = "ok"
        except Exception as e:  # any failure means "not ready"; say which store
            log.warning("readiness probe %s failed: %r", name, e)
            results[name] = "unavailable"
    if all(v == "ok" for v in results.values()):
        return json_response({"status": "ok", "checks": results})
    return error_response("not_ready", "a store does not answer", {"checks": results},
                          status=503)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
