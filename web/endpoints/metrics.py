"""``GET /metrics``: the process's Prometheus metrics (``labelwright.metrics``), for admins.

At the root like the probes, in the Prometheus text format. Only a global admin's token (or
session) may read it: a scraper is given an admin API token (``labelwright token create``),
as a bearer token. 401 without a valid token, 403 for anyone else, 404 ``not_found`` when the
metrics are turned off (``LABELWRIGHT_METRICS=0``). Collecting takes a couple of
milliseconds and includes a look at the event log's head: inline on embedded SQLite (cheaper
than a thread hop), on a worker thread with PostgreSQL (a database round trip).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.access import authenticated, quick_query, require_admin, services_of
from web.errors import ApiError


async def metrics(request: Request) -> Response:
    principal = authenticated(request)
    require_admin(principal, "reading the metrics")
    services = services_of(request)
    telemetry = services.metrics
    if telemetry is None:
        raise ApiError("not_found", "metrics are turned off on this server "
                       "(LABELWRIGHT_METRICS=0)")
    body, content_type = await quick_query(services, telemetry.exposition)
    return Response(body, headers={"Content-Type": content_type,
                                   "Cache-Control": "no-store"})


routes = [Route("/metrics", metrics, methods=["GET"])]
