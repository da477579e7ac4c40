"""``GET /metrics``: the process's Prometheus metrics (``labelwright.metrics``), for admins.

At the root like the probes, in the Prometheus text format. Only a global admin's token (or
session) may read it: a scraper is given an admin API token (``labelwright token create``),
as a bearer token. 401 without a valid token, 403 for anyone else, 404 ``not_found`` when the
metrics are turned off (``LABELWRIGHT_METRICS=0``). Collecting runs on a worker thread: the
scrape-time values include a look at the event log's head, a database read on PostgreSQL.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.access import authenticated, require_admin, services_of
from web.errors import ApiError


async def metrics(request: Request) -> Response:
    principal = authenticated(request)
    require_admin(principal, "reading the metrics")
    telemetry = services_of(request).metrics
    if telemetry is None:
        raise ApiError("not_found", "metrics are turned off on this server "
                       "(LABELWRIGHT_METRICS=0)")
    body, content_type = await asyncio.to_thread(telemetry.exposition)
    return Response(body, headers={"Content-Type": content_type,
                                   "Cache-Control": "no-store"})


routes = [Route("/metrics", metrics, methods=["GET"])]
