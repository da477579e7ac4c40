"""``GET /projects/{project_id}/blind_spots`` and ``GET /projects/{project_id}/label_suspects``:
where a model and the team's labels disagree most, and the labels it disagrees with most
confidently.

The same predictions and labels as the evaluation (``service_layer.blind_spots``); the finder
(numpy, pycocotools) is imported when first used, so the server starts without it. Reviewers
and managers may ask (``find_blind_spots``): reviewers are the ones who fix labels.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service_layer.blind_spots import MAX_LIMIT, blind_spots, label_suspects
from service_layer.model_evaluation import JudgedImage
from web.access import authenticated, parse_int, project_for, services_of
from web.endpoints.evaluation import labels_position, model_id_param, threshold_param
from web.responses import json_response


def inspect(images: Sequence[JudgedImage], classes: Sequence[str], task: str,
            threshold: float) -> dict[str, Any]:
    """``inference_workers.blind_spots.inspect_task``, imported when first called."""
    from inference_workers.blind_spots import inspect_task

    return inspect_task(images, classes, task, threshold)


def thumbnail(request: Request, image_id: str) -> str:
    """The image's bytes (the browser scales them; cached for good): ``GET
    /images/{id}/content`` under the API's mount (the scope's ``root_path``)."""
    return f"{request.scope.get('root_path', '')}/images/{image_id}/content"


async def _answer(request: Request, use_case: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "find_blind_spots")
    model_id = model_id_param(request)
    threshold = threshold_param(request)
    limit = parse_int(request, "limit", default=50, minimum=1, maximum=MAX_LIMIT)
    target = await labels_position(request, services)
    return await asyncio.to_thread(use_case, services.app, services.read, inspect, project_id,
                                   model_id, target, threshold, limit)


async def get_blind_spots(request: Request) -> Response:
    result = await _answer(request, blind_spots)
    for row in result["images"]:
        row["thumbnail"] = thumbnail(request, row["image_id"])
    return json_response(result)


async def get_label_suspects(request: Request) -> Response:
    return json_response(await _answer(request, label_suspects))


routes = [
    Route("/projects/{project_id}/blind_spots", get_blind_spots, methods=["GET"]),
    Route("/projects/{project_id}/label_suspects", get_label_suspects, methods=["GET"]),
]
