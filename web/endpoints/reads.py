"""The read side: current and past labels, history, metrics, projection status."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.application import parse_uuid
from domain.errors import ValidationFailed
from projections.read_models import GROUP_COLUMNS
from web.access import (
    authenticated,
    image_for,
    parse_int,
    project_for,
    quick_query,
    services_of,
    wait_for_min_position,
)
from web.errors import ApiError
from web.responses import json_response
from web.services import Services

GROUP_BY = tuple(GROUP_COLUMNS)
DEFAULT_GROUP_BY = "model"
MAX_MODEL_KEY = 300  # a model's name@version key, or a registered model's id
MAX_HISTORY_PAGE = 1000
DEFAULT_HISTORY_PAGE = 100


def _as_of_version(services: Services, image_id: str, version: int) -> dict[str, Any]:
    """The image's labels right after its ``version``-th event, replayed from the log."""
    image = services.app.image(image_id, version=version)
    if image.version < version:
        raise ValidationFailed(f"the image has {image.version} events; there is no version "
                               f"{version}", {"field": "version", "current": image.version})
    position = services.read.position_of(image_id, version)
    if position is None:  # the history projection lags: ask the event store
        position = services.pipeline.positions(parse_uuid(image_id, "image"), [version])[version]
    return {"image_id": str(image.id), "version": version, "position": position,
            "annotations": image.public_annotations()}


def _from_aggregate(services: Services, image_id: str) -> dict[str, Any]:
    image = services.app.image(image_id)
    uid = parse_uuid(image_id, "image")
    position = services.pipeline.positions(uid, [image.version])[image.version]
    return {"image_id": str(image.id), "version": image.version, "position": position,
            "annotations": image.public_annotations()}


async def image_labels(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    image_id = request.path_params["image_id"]
    version = parse_int(request, "version", minimum=1)
    await image_for(services, principal, image_id)
    await wait_for_min_position(request, services)
    if version is not None:
        return json_response(await asyncio.to_thread(_as_of_version, services, image_id,
                                                     version))
    labels = await quick_query(services, services.read.image_annotations, image_id)
    if labels is None:  # added a moment ago and not projected yet
        labels = await asyncio.to_thread(_from_aggregate, services, image_id)
    return json_response(labels)


async def history(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    image_id = request.path_params["image_id"]
    after = parse_int(request, "after", default=0)
    limit = parse_int(request, "limit", default=DEFAULT_HISTORY_PAGE, minimum=1,
                      maximum=MAX_HISTORY_PAGE)
    await image_for(services, principal, image_id)
    await wait_for_min_position(request, services)
    events, next_after = await quick_query(services, services.read.history, image_id,
                                                after, limit)
    return json_response({"events": events, "next_after": next_after})


async def annotator_metrics(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "read_metrics")
    await wait_for_min_position(request, services)
    rows = await asyncio.to_thread(services.read.annotator_metrics, project_id)
    return json_response({"annotators": rows})


async def prelabel_metrics(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "read_metrics")
    group_by = request.query_params.get("group_by") or DEFAULT_GROUP_BY
    if group_by not in GROUP_BY:
        raise ApiError("validation", f"group_by must be one of {', '.join(GROUP_BY)}",
                       {"field": "group_by", "allowed": list(GROUP_BY)})
    await wait_for_min_position(request, services)
    rows = await asyncio.to_thread(services.read.prelabel_metrics, project_id, group_by)
    return json_response({"group_by": group_by, "groups": rows})


async def prelabel_confusion(request: Request) -> Response:
    """Proposed class -> final class of the decided pre-labels, of one model or all."""
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "read_metrics")
    wanted: dict[str, str | None] = {}
    for name in ("model", "model_id"):
        value = request.query_params.get(name) or None
        if value is not None and len(value) > MAX_MODEL_KEY:
            raise ApiError("validation", f"{name} must be at most {MAX_MODEL_KEY} characters",
                           {"field": name})
        wanted[name] = value
    await wait_for_min_position(request, services)
    cells = await asyncio.to_thread(services.read.prelabel_confusion, project_id,
                                    wanted["model"], wanted["model_id"])
    return json_response({**wanted, "confusion": cells})


async def projections_status(request: Request) -> Response:
    services = services_of(request)
    authenticated(request)
    await wait_for_min_position(request, services)
    return json_response(await asyncio.to_thread(services.read.status))


routes = [
    Route("/images/{image_id}/annotations", image_labels, methods=["GET"]),
    Route("/images/{image_id}/history", history, methods=["GET"]),
    Route("/projects/{project_id}/metrics/annotators", annotator_metrics, methods=["GET"]),
    Route("/projects/{project_id}/metrics/prelabels", prelabel_metrics, methods=["GET"]),
    Route("/projects/{project_id}/metrics/prelabels/confusion", prelabel_confusion,
          methods=["GET"]),
    Route("/projections", projections_status, methods=["GET"]),
]
