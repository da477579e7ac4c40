"""``GET /projects/{project_id}/selection`` (which images to label next) and
``GET /projects/{project_id}/similar`` ("more like this"): a model's scores ranked.

The use case is ``service_layer.selection`` (the pool, the strategies, the cache, the
errors); this module reads the query string and checks the role (``select_images``: any
member of the project, as the ranked queue is for annotators too). The ranking runs in a
thread: numpy work and, on PostgreSQL, the read of the scores stay off the event loop.
Answers carry image ids only; the picture is ``GET /images/{id}/content`` as everywhere.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service_layer.selection import MAX_K, select_images, similar_images
from web.access import (
    authenticated,
    parse_int,
    project_for,
    services_of,
    wait_for_min_position,
)
from web.responses import json_response

MAX_SEED = 2**32 - 1


async def get_selection(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    project = await project_for(services, principal, project_id, "select_images")
    query = request.query_params
    k = parse_int(request, "k", default=50, minimum=1, maximum=MAX_K)
    seed = parse_int(request, "seed", default=0, minimum=0, maximum=MAX_SEED)
    await wait_for_min_position(request, services)
    result = await asyncio.to_thread(
        select_images, services.app, services.read, str(project.id), query.get("model_id"),
        query.get("strategy"), k, query.get("status"), seed)
    return json_response(result)


async def get_similar(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    project = await project_for(services, principal, project_id, "select_images")
    query = request.query_params
    k = parse_int(request, "k", default=12, minimum=1, maximum=MAX_K)
    await wait_for_min_position(request, services)
    result = await asyncio.to_thread(
        similar_images, services.app, services.read, str(project.id), query.get("model_id"),
        query.get("image_id"), k, query.get("status"))
    return json_response(result)


routes = [
    Route("/projects/{project_id}/selection", get_selection, methods=["GET"]),
    Route("/projects/{project_id}/similar", get_similar, methods=["GET"]),
]
