"""``POST /projects/{project_id}/predictions``: import model outputs as pre-labels."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service_layer.prediction_import import import_predictions
from web.access import authenticated, project_for, services_of, wait_for_min_position
from web.request_bodies import read_json
from web.responses import json_response


async def post_predictions(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "import_predictions")
    body = await read_json(request, services.settings.max_json_body)
    # Images are found through the image list projection; the importer lets it catch up
    # with everything committed so far (images uploaded a moment ago) before reading it.
    await wait_for_min_position(request, services)
    summary = await asyncio.to_thread(
        import_predictions, services.app, services.pipeline, services.read, project_id, body,
        principal.username, request.query_params.get("model"),
        request.query_params.get("model_version"))
    return json_response(summary)


routes = [
    Route("/projects/{project_id}/predictions", post_predictions, methods=["POST"]),
]
