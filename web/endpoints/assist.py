"""``POST /images/{image_id}/assist/preview``: an assist proposal shown, not recorded; and
``GET /projects/{project_id}/metrics/assist``: how the project's assist proposals fared.

The UI asks for one while the user is still clicking; only the committed ``assist`` command
(``POST .../commands``) records anything. The body is that command's (``type`` may be left
out). The proposal is computed by ``CommandPipeline.prepare`` on a worker thread, after the
same role checks as a command (``annotate`` on the image's project), so a preview never
touches the command writer, and an engine taking its time holds up only its own request.

The metrics (manager, as the other metrics) group the ``assist_audit`` read model by engine
and mode: clicks per accepted proposal, acceptance rate, mean IoU of the corrections.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.application import parse_uuid
from domain.commands import Assist, parse_command
from domain.errors import ValidationFailed
from web.access import (
    authenticated,
    project_for,
    services_of,
    wait_for_min_position,
)
from web.endpoints.commands import read_image_command
from web.responses import JSONResponse, json_response


def parse_preview(body: Any) -> Assist:
    """The body of an ``assist`` command; its ``type``, if given, must be ``assist``."""
    if isinstance(body, dict) and "type" not in body:
        body = {"type": "assist", **body}
    if isinstance(body, dict) and body.get("type") != "assist":
        raise ValidationFailed("a preview takes an assist command", {"field": "type"})
    command = parse_command(body)
    assert isinstance(command, Assist)
    return command


async def post_preview(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    image_id = parse_uuid(request.path_params["image_id"], "image")
    command = await read_image_command(request, services, principal, image_id, parse_preview)
    started = time.perf_counter()
    prepared = await asyncio.to_thread(services.pipeline.prepare, image_id, [command],
                                       principal.actor)
    proposal = prepared[0].proposal if isinstance(prepared[0], Assist) else None
    assert proposal is not None
    geometry = proposal.result()  # the engine's refusal, as the command would answer it
    answer: dict[str, Any] = {"type": geometry.kind, "geometry": geometry.to_json()}
    if proposal.score is not None:
        answer["score"] = proposal.score
    answer["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return JSONResponse(answer)


async def assist_metrics(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "read_metrics")
    await wait_for_min_position(request, services)
    groups = await asyncio.to_thread(services.read.assist_metrics, project_id)
    return json_response({"groups": groups})


routes = [
    Route("/images/{image_id}/assist/preview", post_preview, methods=["POST"]),
    Route("/projects/{project_id}/metrics/assist", assist_metrics, methods=["GET"]),
]
