"""Jobs over HTTP: queue a pre-label job, follow it, cancel it.

``POST /projects/{project_id}/jobs`` answers 202 as soon as the job is queued (its images
chosen and fixed, ``JobQueued`` recorded); a worker thread of a server or a ``labelwright
worker`` runs it (``service_layer.jobs``). Progress is the job itself (``GET /jobs/{id}``) and
``{"op":"job"}`` messages in the project room. Queuing and cancelling need ``run_jobs``
(manager), reading ``read_models`` (any member). A job is replayed from its stream, so its
reads go to a thread like every other replay.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.job import Job
from service_layer.jobs import JobService
from web.access import authenticated, parse_int, project_for, services_of, wait_for_min_position
from web.authentication import Principal
from web.errors import ApiError
from web.request_bodies import read_json
from web.responses import json_response
from web.services import Services

MAX_LISTED_JOBS = 200


def _jobs(services: Services) -> JobService:
    if services.jobs is None:  # pragma: no cover - bootstrap always builds it
        raise ApiError("not_ready", "jobs are not available on this node")
    return services.jobs


async def job_for(services: Services, principal: Principal, job_id: str, action: str) -> Job:
    """The job, if ``principal`` may do ``action`` in its project (403 otherwise)."""
    job: Job = await asyncio.to_thread(_jobs(services).job, job_id)
    await project_for(services, principal, job.project_id, action)
    return job


async def create_job(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "run_jobs")
    body = await read_json(request, services.settings.max_json_body)
    job = await asyncio.to_thread(_jobs(services).queue, project_id, principal.username, body)
    return json_response({"job": job.describe()}, 202)


async def list_jobs(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    project_id = request.path_params["project_id"]
    await project_for(services, principal, project_id, "read_models")
    limit = parse_int(request, "limit", default=50, minimum=1, maximum=MAX_LISTED_JOBS)
    await wait_for_min_position(request, services)
    jobs = await asyncio.to_thread(_jobs(services).project_jobs, project_id, limit)
    return json_response({"jobs": [job.describe() for job in jobs]})


async def get_job(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    job_id = request.path_params["job_id"]
    await job_for(services, principal, job_id, "read_models")
    await wait_for_min_position(request, services)
    job = await asyncio.to_thread(_jobs(services).job, job_id)  # as of after the wait
    return json_response({"job": job.describe()})


async def cancel_job(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    job = await job_for(services, principal, request.path_params["job_id"], "run_jobs")
    cancelled = await asyncio.to_thread(_jobs(services).cancel, str(job.id),
                                        principal.username)
    return json_response({"job": cancelled.describe()})


routes = [
    Route("/projects/{project_id}/jobs", create_job, methods=["POST"]),
    Route("/projects/{project_id}/jobs", list_jobs, methods=["GET"]),
    Route("/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
]
