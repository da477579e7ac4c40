"""Projects and their members."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.image import IMAGE_STATUSES
from domain.project import Project
from web.access import authenticated, project_for, require_admin, services_of, wait_for_min_position
from web.errors import ApiError
from web.request_bodies import read_json_object
from web.responses import json_response
from web.services import Services


def project_json(project: Project, row: dict[str, Any] | None,
                 position: int | None = None) -> dict[str, Any]:
    """The public form of a project: the aggregate (always current) plus the image counts of
    its read-model ``row`` (zeros while the projection catches up)."""
    counts = {status: 0 for status in IMAGE_STATUSES}
    if row:
        counts.update({k: int(v) for k, v in (row.get("counts") or {}).items()
                       if k in counts})
    out: dict[str, Any] = {
        "id": str(project.id),
        "name": project.name,
        "classes": [{"name": c["name"], "color": c["color"], "retired": bool(c["retired"])}
                    for c in project.classes],
        "annotation_types": list(project.annotation_types),
        "attributes": [dict(a) for a in project.attributes],
        "members": [{"username": u, "role": r} for u, r in sorted(project.members.items())],
        "created_by": project.created_by,
        "created_at": project.created_on.isoformat(),
        "version": project.version,
        "counts": counts,
        "image_count": sum(counts.values()),
    }
    if position is not None:
        out["position"] = position
    return out


def _row(services: Services, project_id: str) -> dict[str, Any] | None:
    return services.read.project(project_id)


async def create_project(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    require_admin(principal, "creating a project")
    body = await read_json_object(request, services.settings.max_json_body)
    extra = set(body) - {"name", "classes", "annotation_types", "attributes"}
    if extra:
        raise ApiError("validation", f"unexpected field {sorted(extra)[0]!r}",
                       {"field": sorted(extra)[0]})
    project, position = await asyncio.to_thread(
        services.app.create_project, body.get("name"), body.get("classes"),
        body.get("annotation_types"), principal.username, body.get("attributes"))
    return json_response(project_json(project, None, position), 201)


async def list_projects(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    await wait_for_min_position(request, services)
    rows = await asyncio.to_thread(services.read.projects_visible_to, principal.username,
                                   principal.is_admin)
    return json_response({"projects": rows})


async def get_project(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    project = await project_for(services, principal, project_id)
    await wait_for_min_position(request, services)
    row = await asyncio.to_thread(_row, services, project_id)
    return json_response(project_json(project, row))


async def update_project(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "change_settings")
    body = await read_json_object(request, services.settings.max_json_body)
    project, position = await asyncio.to_thread(
        services.app.update_project, project_id, principal.username, body)
    row = await asyncio.to_thread(_row, services, project_id)
    return json_response(project_json(project, row, position))


async def set_member(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    username = request.path_params["username"]
    await project_for(services, principal, project_id, "manage_members")
    if request.method == "DELETE":
        role = None
    else:
        body = await read_json_object(request, services.settings.max_json_body)
        if set(body) != {"role"}:
            raise ApiError("validation", 'the body is {"role": "annotator|reviewer|manager"}, '
                           "or null to remove the member", {"field": "role"})
        role = body["role"]
    project, position = await asyncio.to_thread(
        services.app.set_member, project_id, username, role, principal.username)
    row = await asyncio.to_thread(_row, services, project_id)
    return json_response(project_json(project, row, position))


routes = [
    Route("/projects", create_project, methods=["POST"]),
    Route("/projects", list_projects, methods=["GET"]),
    Route("/projects/{project_id}", get_project, methods=["GET"]),
    Route("/projects/{project_id}", update_project, methods=["PATCH"]),
    Route("/projects/{project_id}/members/{username}", set_member, methods=["PUT", "DELETE"]),
]
