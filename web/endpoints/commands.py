"""``POST /images/{image_id}/commands``: the write side's hot path.

The request is parsed here and handed to the command pipeline, which authorises it against the
project's members, decides it against the image and answers once its events committed. Nothing
on this path touches a database except the pipeline itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.application import parse_uuid
from domain.commands import MAX_INT, Command, parse_command
from domain.errors import ValidationFailed
from web.access import authenticated, image_for, services_of
from web.authentication import Principal
from web.errors import ApiError
from web.request_bodies import parse_json, read_body, require_json_content
from web.responses import JSONResponse
from web.services import Services

T = TypeVar("T")

MAX_BATCH = 1000


def _prefixed(error: ValidationFailed, prefix: str) -> ValidationFailed:
    field = error.details.get("field")
    error.details["field"] = f"{prefix}.{field}" if field else prefix
    return error


def parse_commands(body: Any) -> list[Command]:
    """One command object, or ``{"commands": [...], "base_version"?}`` (applied atomically).

    An envelope ``base_version`` guards the whole batch: it is checked before the first
    command, against the image's version at that moment.
    """
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a command object or {\"commands\": [...]}",
                               {"field": "body"})
    if "commands" not in body:
        return [parse_command(body)]
    extra = set(body) - {"commands", "base_version"}
    if extra:
        name = sorted(extra)[0]
        raise ValidationFailed(f"unexpected field {name!r} in a command batch", {"field": name})
    raw = body["commands"]
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("commands must be a non-empty list", {"field": "commands"})
    if len(raw) > MAX_BATCH:
        raise ValidationFailed(f"at most {MAX_BATCH} commands per batch",
                               {"field": "commands"})
    commands = []
    for i, item in enumerate(raw):
        try:
            commands.append(parse_command(item))
        except ValidationFailed as e:
            raise _prefixed(e, f"commands[{i}]") from None
    base = body.get("base_version")
    if base is not None:
        if isinstance(base, bool) or not isinstance(base, int) or not 0 <= base <= MAX_INT:
            raise ValidationFailed(f"base_version must be an integer between 0 and {MAX_INT}",
                                   {"field": "base_version"})
        first = commands[0]
        if first.base_version is not None and first.base_version != base:
            raise ValidationFailed("the batch's base_version differs from its first command's",
                                   {"field": "base_version"})
        commands[0] = dataclasses.replace(first, base_version=base)
    return commands


async def read_image_command(request: Request, services: Services, principal: Principal,
                             image_id: UUID, parse: Callable[[Any], T]) -> T:
    """The request's JSON body, parsed by ``parse``, for a route on ``image_id`` that takes
    commands (the commands themselves, an assist preview). Valid commands are authorised by
    the pipeline (no lookup on the hot path); a malformed one is refused for the caller's
    role first, so that someone with no role learns nothing from the validation message."""
    try:
        require_json_content(request)
        return parse(parse_json(await read_body(request, services.settings.max_command_body)))
    except (ValidationFailed, ApiError) as e:
        if getattr(e, "code", None) != "validation":
            raise
        await image_for(services, principal, str(image_id))
        raise


async def post_commands(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    image_id = parse_uuid(request.path_params["image_id"], "image")
    commands = await read_image_command(request, services, principal, image_id,
                                        parse_commands)
    future = services.pipeline.submit(image_id, commands, principal.actor)
    result = await asyncio.wrap_future(future)
    return JSONResponse(result.to_json())


routes = [
    Route("/images/{image_id}/commands", post_commands, methods=["POST"]),
]
