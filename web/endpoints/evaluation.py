"""``GET /projects/{project_id}/evaluation``: a model's predictions against the team's labels.

What is compared and how is ``service_layer.model_evaluation`` (which images, which
predictions, the labels as of ``position``) and ``inference_workers.evaluation`` (COCOeval,
per-class counts, confusions); docs/api.md has the definitions. The scorer (pycocotools,
numpy) is imported when first used, so the server starts without it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from event_store.positions import log_head
from service_layer.model_evaluation import JudgedImage, evaluate_model
from web.access import (
    authenticated,
    parse_int,
    project_for,
    quick_query,
    services_of,
    wait_for_min_position,
)
from web.errors import ApiError
from web.responses import json_response
from web.services import Services


def score(images: Sequence[JudgedImage], classes: Sequence[str], task: str,
          threshold: float) -> dict[str, Any]:
    """``inference_workers.evaluation.evaluate_task``, imported when first called."""
    from inference_workers.evaluation import evaluate_task

    return evaluate_task(images, classes, task, threshold)


def threshold_param(request: Request) -> float | None:
    """The ``threshold`` query parameter: None when absent, else a number in [0, 1]."""
    raw = request.query_params.get("threshold")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw) if len(raw) <= 32 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ApiError("validation", "threshold must be a number between 0 and 1",
                       {"field": "threshold"})
    return value


async def get_evaluation(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "evaluate")
    model_id = model_id_param(request)
    threshold = threshold_param(request)
    target = await labels_position(request, services)
    result = await asyncio.to_thread(evaluate_model, services.app, services.read, score,
                                     project_id, model_id, target, threshold)
    return json_response(result)


def model_id_param(request: Request) -> str:
    """The required ``model_id`` query parameter."""
    model_id = request.query_params.get("model_id")
    if not model_id:
        raise ApiError("validation", "model_id is required: the id of a model registered in "
                       "this project", {"field": "model_id"})
    return model_id


async def labels_position(request: Request, services: Services) -> int:
    """The position the labels are taken at: the ``position`` query parameter (at most the
    head), else the head; once the read models have reached it."""
    position = parse_int(request, "position")
    await wait_for_min_position(request, services)
    head = int(await quick_query(services, lambda: log_head(services.app)))
    if position is not None and position > head:
        raise ApiError("validation", f"position {position} is beyond the head of the log "
                       f"({head})", {"field": "position", "head": head})
    # Which version each image had at the position comes from the projections, as for an
    # export as of a position: they must have reached it.
    target = head if position is None else position
    if not await services.runner.reached(target, 30.0):
        raise ApiError("not_ready", "the read models are still catching up; retry shortly",
                       {"position": target}, headers={"Retry-After": "2"})
    return target


routes = [
    Route("/projects/{project_id}/evaluation", get_evaluation, methods=["GET"]),
]
