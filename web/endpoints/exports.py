"""``GET /projects/{project_id}/export``: a streamed export, current or as of a position.

The formats are ``projections.exports.EXPORTERS``. Query: ``format``, ``position``,
``include_proposed``, ``images`` (the image files in the zip), ``split`` and ``seed``
(``projections.export_splits``); each malformed one is a 422 before anything is streamed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from domain.errors import NotFound, ValidationFailed
from projections.export_splits import MAX_SEED, parse_split
from projections.exports import (
    DEFAULT_EXPORT_FORMAT,
    check_images,
    export_file_name,
    export_media_type,
    stream_export,
)
from web.access import (
    authenticated,
    parse_int,
    project_for,
    services_of,
    wait_for_min_position,
)
from web.errors import ApiError

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "").lower()
    if raw not in _TRUE | _FALSE:
        raise ApiError("validation", f"{name} must be true or false", {"field": name})
    return raw in _TRUE


async def export(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "export")
    fmt = request.query_params.get("format") or DEFAULT_EXPORT_FORMAT
    position = parse_int(request, "position")
    include_proposed = _flag(request, "include_proposed")
    with_images = _flag(request, "images")
    media_type = export_media_type(fmt, with_images)
    check_images(fmt, with_images)
    split = parse_split(request.query_params.get("split"),
                        parse_int(request, "seed", maximum=MAX_SEED))
    await wait_for_min_position(request, services)
    head = int((await asyncio.to_thread(services.read.status))["head"])
    if position is not None and position > head:
        raise ValidationFailed(f"position {position} is beyond the head of the log ({head})",
                               {"field": "position", "head": head})
    # Both kinds of export read the projections (current rows, or which version each image
    # had at the position), so they must have caught up with the point exported.
    target = head if position is None else position
    if not await services.runner.reached(target, 30.0):
        raise ApiError("not_ready", "the read models are still catching up; retry shortly",
                       {"position": target}, headers={"Retry-After": "2"})
    project = await asyncio.to_thread(services.read.project, project_id)
    if project is None:
        raise NotFound(f"no project {project_id}")
    chunks = stream_export(services.read, services.app, project, fmt, position,
                           include_proposed, images=services.images if with_images else None,
                           split=split)
    # Pull the first chunk before answering, so a failure at the start is still a proper
    # error response rather than a truncated 200.
    first = await asyncio.to_thread(next, chunks, b"")

    async def body(rest: Iterator[bytes]) -> AsyncIterator[bytes]:
        yield first
        async for chunk in iterate_in_threadpool(rest):
            yield chunk

    name = export_file_name(project, fmt, position, with_images)
    return StreamingResponse(body(chunks), media_type=media_type, headers={
        "content-disposition": f'attachment; filename="{name}"',
        "x-labelwright-position": str(target),
    })


routes = [
    Route("/projects/{project_id}/export", export, methods=["GET"]),
]
