"""Image registration (uploads, server-side paths), listing, metadata and bytes."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from domain.image import IMAGE_STATUSES
from service_layer.image_registration import register, staged_paths
from web.access import (
    authenticated,
    image_for,
    parse_int,
    project_for,
    quick_query,
    require_admin,
    services_of,
    wait_for_min_position,
)
from web.errors import ApiError
from web.multipart_images import MultipartImages
from web.request_bodies import declared_length, media_type, read_json_object
from web.responses import json_response

MAX_PAGE = 500
DEFAULT_PAGE = 50


async def add_images(request: Request) -> Response:
    services = services_of(request)
    settings = services.settings
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "add_images")
    if media_type(request) == "multipart/form-data":
        declared_length(request, settings.max_upload_request)
        reader = MultipartImages(request.headers["content-type"], settings.max_upload_bytes,
                                 settings.max_upload_request)
        try:
            files = await reader.read(request.stream())
            rows, position = await asyncio.to_thread(
                register, services.app, services.images, project_id, files,
                principal.username, settings.max_image_pixels, services.pipeline)
        finally:
            reader.close()
    else:
        body = await read_json_object(request, settings.max_json_body)
        if set(body) != {"paths"}:
            raise ApiError("validation", "send a multipart upload (parts named 'file') or "
                           '{"paths": [...]}', {"field": "paths"})
        require_admin(principal, "importing images from server paths")
        files = await asyncio.to_thread(staged_paths, body["paths"], settings,
                                        settings.max_upload_bytes)
        rows, position = await asyncio.to_thread(
            register, services.app, services.images, project_id, files, principal.username,
            settings.max_image_pixels, services.pipeline)
    return json_response({"images": rows, "position": position}, 201)


async def list_images(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id)
    status = request.query_params.get("status") or None
    if status is not None and status not in IMAGE_STATUSES:
        raise ApiError("validation", f"status must be one of {', '.join(IMAGE_STATUSES)}",
                       {"field": "status", "allowed": list(IMAGE_STATUSES)})
    limit = parse_int(request, "limit", default=DEFAULT_PAGE, minimum=1, maximum=MAX_PAGE)
    cursor = request.query_params.get("cursor") or None
    await wait_for_min_position(request, services)
    items, next_cursor = await asyncio.to_thread(services.read.list_images, project_id,
                                                 status, limit, cursor)
    return json_response({"images": items, "next_cursor": next_cursor})


async def get_image(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    image = await image_for(services, principal, request.path_params["image_id"])
    if request.query_params.get("min_position"):
        await wait_for_min_position(request, services)
        # Authorised on the row read before the wait; answer with the row as of the position.
        image = await quick_query(services, services.read.image, str(image["id"])) or image
    # The review round (docs/api.md "Review holds"): the latest verdict since the last
    # submission, and a reopening, both null when there is none.
    round_ = await quick_query(services, services.read.image_review, str(image["id"]))
    return json_response({**image, **round_})


async def image_content(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    image = await image_for(services, principal, request.path_params["image_id"])
    await wait_for_min_position(request, services)
    sha = str(image["sha256"])
    # The bytes of a sha never change: clients may cache forever and revalidate for free.
    headers = {"etag": f'"{sha}"', "cache-control": "private, max-age=31536000, immutable"}
    if_none_match = request.headers.get("if-none-match", "")
    if sha in {t.strip().strip('"').removeprefix('W/"') for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    path = services.images.path(sha)
    if not path.is_file():
        raise ApiError("not_found", "the image's bytes are not in this server's image store",
                       {"sha256": sha})
    return FileResponse(path, media_type=str(image["content_type"]), headers=headers)


routes = [
    Route("/projects/{project_id}/images", add_images, methods=["POST"]),
    Route("/projects/{project_id}/images", list_images, methods=["GET"]),
    Route("/images/{image_id}", get_image, methods=["GET"]),
    Route("/images/{image_id}/content", image_content, methods=["GET"]),
]
