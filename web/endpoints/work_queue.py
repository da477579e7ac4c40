"""The team's work queue over HTTP (``service_layer.work_queue``).

``POST /projects/{project_id}/queue/next`` hands the caller an image under a lease (200), or
204 when nothing is left; the label queue needs ``annotate``, the review queue ``review``.
``GET .../queue`` (who holds what), ``PUT .../assignments`` and
``POST``/``DELETE .../queue/priority`` need ``assign_work`` (manager).
Leases are recorded in the log and each call does a few small queries, so the work runs on a thread.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.errors import ValidationFailed
from service_layer.work_queue import QUEUES, WorkQueueService, parse_next
from web.access import (
    authenticated,
    project_for,
    quick_query,
    services_of,
    wait_for_min_position,
)
from web.errors import ApiError
from web.request_bodies import parse_json, read_body, require_json_content
from web.responses import json_response
from web.services import Services


def _queue(services: Services) -> WorkQueueService:
    if services.work_queue is None:  # pragma: no cover - bootstrap always builds it
        raise ApiError("not_ready", "the work queue is not available on this node")
    return services.work_queue


async def next_image(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    project = await project_for(services, principal, project_id, "read")
    require_json_content(request)
    body = await read_body(request, services.settings.max_json_body)
    raw = parse_json(body) if body.strip() else None
    work = _queue(services)
    # The role first (who may not take from this queue learns nothing about the body).
    asked = raw.get("queue") if isinstance(raw, dict) else None
    queue = work.queue_of(project, principal.username,
                          asked if asked in QUEUES else None)
    await project_for(services, principal, project_id,
                      "review" if queue == "review" else "annotate")
    wanted = parse_next(raw)
    await wait_for_min_position(request, services)
    handed = await asyncio.to_thread(work.next_image, project, principal.username, wanted,
                                     queue)
    if handed is None:
        return Response(status_code=204)
    image = await quick_query(services, services.read.image, handed.image_id)
    if image is None:  # pragma: no cover - candidates come from the image read model
        raise ValidationFailed("the image is not in the read models yet; retry")
    return json_response({"image": image, "queue": queue,
                          "lease": {"expires_at": handed.expires_at.isoformat(),
                                    "position": handed.position}})


async def get_overview(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project = await project_for(services, principal, request.path_params["project_id"],
                                "assign_work")
    return json_response(await quick_query(services, _queue(services).overview, project))


async def put_assignments(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project = await project_for(services, principal, request.path_params["project_id"],
                                "assign_work")
    require_json_content(request)
    raw = parse_json(await read_body(request, services.settings.max_json_body))
    username, image_ids, position = await asyncio.to_thread(
        _queue(services).assign, project, raw, principal.username)
    return json_response({"username": username, "image_ids": image_ids, "position": position})


async def post_priority(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project = await project_for(services, principal, request.path_params["project_id"],
                                "assign_work")
    require_json_content(request)
    raw = parse_json(await read_body(request, services.settings.max_json_body))
    priority, position = await asyncio.to_thread(_queue(services).prioritise, project, raw,
                                                 principal.username)
    return json_response({"priority": priority, "position": position})


async def delete_priority(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project = await project_for(services, principal, request.path_params["project_id"],
                                "assign_work")
    position = await asyncio.to_thread(_queue(services).clear_priority, project,
                                       principal.username)
    return json_response({"priority": [], "position": position})


routes = [
    Route("/projects/{project_id}/queue", get_overview, methods=["GET"]),
    Route("/projects/{project_id}/queue/next", next_image, methods=["POST"]),
    Route("/projects/{project_id}/assignments", put_assignments, methods=["PUT"]),
    Route("/projects/{project_id}/queue/priority", post_priority, methods=["POST"]),
    Route("/projects/{project_id}/queue/priority", delete_priority, methods=["DELETE"]),
]
