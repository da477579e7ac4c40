"""Users (global admins only): the HTTP twin of ``labelwright user add``."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.access import authenticated, require_admin, services_of, wait_for_min_position
from web.errors import ApiError
from web.request_bodies import read_json_object
from web.responses import json_response


async def create_user(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    require_admin(principal, "creating users")
    body = await read_json_object(request, services.settings.max_json_body)
    extra = set(body) - {"username", "password", "is_admin"}
    if extra:
        raise ApiError("validation", f"unexpected field {sorted(extra)[0]!r}",
                       {"field": sorted(extra)[0]})
    is_admin = body.get("is_admin", False)
    if not isinstance(is_admin, bool):
        raise ApiError("validation", "is_admin must be true or false", {"field": "is_admin"})
    user = await asyncio.to_thread(services.app.register_user, body.get("username"),
                                   body.get("password"), is_admin)
    return json_response({"username": user.username, "is_admin": user.is_admin}, 201)


async def list_users(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    require_admin(principal, "listing users")
    await wait_for_min_position(request, services)
    return json_response({"users": await asyncio.to_thread(services.read.users)})


routes = [
    Route("/users", create_user, methods=["POST"]),
    Route("/users", list_users, methods=["GET"]),
]
