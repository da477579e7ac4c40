"""Who may do what, per project: the role checks every route makes.

The rules themselves are one table, ``domain.roles.RULES`` (action -> least role); routes
name the action. Image commands are authorised inside the command pipeline (from the project
aggregate it already holds); everything else is checked here. A global admin passes every
check. A user with no role in a project gets 403 ``forbidden`` for it (ids are unguessable
UUIDs, so telling "exists" from "not yours" leaks nothing useful).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, overload

from starlette.requests import Request

from domain.commands import MAX_INT  # the largest integer a request may carry (64-bit)
from domain.errors import Forbidden
from domain.project import Project
from domain.roles import require_for
from event_store.positions import log_head
from web.authentication import Authenticator, Principal
from web.errors import ApiError
from web.min_position import WAIT_SECONDS, WaitBudget
from web.services import Services


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def quick_query(services: Services, fn: Any, *args: Any) -> Any:
    """Run a small store lookup (a read-model query, a cached aggregate). Embedded SQLite
    answers these in well under a millisecond, less than a thread hop costs, so they run
    inline on the event loop; a PostgreSQL round trip can stall, so it goes to a thread."""
    if services.read.db.dialect == "sqlite":
        return fn(*args)
    return await asyncio.to_thread(fn, *args)


def authenticated(request: Request) -> Principal:
    auth: Authenticator = request.app.state.authenticator
    principal = auth.authenticate(request)
    request.state.principal = principal
    return principal


def require_admin(principal: Principal, what: str) -> None:
    if not principal.is_admin:
        raise Forbidden(f"{what} needs a global admin", {"needed": "admin"})


async def project_for(services: Services, principal: Principal, project_id: str,
                      action: str = "read") -> Project:
    """The project, if ``principal`` may do ``action`` in it (``domain.roles.RULES``)."""
    project: Project = await quick_query(services, services.app.project, project_id)
    if not principal.is_admin:
        require_for(action, project.role_of(principal.username))
    return project


async def image_for(services: Services, principal: Principal, image_id: str,
                    action: str = "read") -> dict[str, Any]:
    """The image's read-model row, if ``principal`` may do ``action`` in its project.

    If the read model has not caught up with a just-added image, the aggregate answers
    (its metadata only: counts and status come from the projection).
    """
    image = await quick_query(services, services.read.image, image_id)
    if image is None:
        # NotFound if it does not exist at all; a replay, so off the event loop.
        aggregate = await asyncio.to_thread(services.app.image, image_id)
        image = {
            "id": str(aggregate.id), "project_id": aggregate.project_id,
            "file_name": aggregate.file_name, "width": aggregate.width,
            "height": aggregate.height, "sha256": aggregate.sha256,
            "content_type": aggregate.content_type, "status": aggregate.status,
            "version": aggregate.version, "position": None,
            "annotation_count": len(aggregate.annotations),
            "added_at": aggregate.created_on.isoformat(),
            "updated_at": aggregate.modified_on.isoformat(),
        }
    await project_for(services, principal, str(image["project_id"]), action)
    return image


_INTEGER = re.compile(r"[+-]?[0-9]+")


@overload
def parse_int(request: Request, name: str, *, default: int, minimum: int = 0,
              maximum: int | None = None) -> int: ...


@overload
def parse_int(request: Request, name: str, *, default: None = None, minimum: int = 0,
              maximum: int | None = None) -> int | None: ...


def parse_int(request: Request, name: str, *, default: int | None = None,
              minimum: int = 0, maximum: int | None = None) -> int | None:
    """An integer query parameter (422 ``validation`` if malformed or out of range).

    Plain ASCII digits only (``int()`` would also take ``1_000`` or Arabic-Indic digits), and
    never beyond ``MAX_INT`` whatever ``maximum`` says: positions and versions are 64-bit
    columns, and a larger number must be refused here, not overflow a database driver or the
    JSON encoder later. The value is not echoed back in the error."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    top = MAX_INT if maximum is None else min(maximum, MAX_INT)
    bound = f"an integer between {minimum} and {top}"
    if not _INTEGER.fullmatch(raw):
        raise ApiError("validation", f"{name} must be {bound}", {"field": name})
    value = int(raw) if len(raw) <= 24 else top + 1  # 24 digits are well past 2**63
    if value < minimum or value > top:
        raise ApiError("validation", f"{name} must be {bound}",
                       {"field": name, "minimum": minimum, "maximum": top})
    return value


async def wait_for_min_position(request: Request, services: Services) -> None:
    """Read-your-writes: answer only once the read models reached ``?min_position=P``.

    Call it after the route's authorisation: a caller who may not read the resource is
    refused at once, not after a wait. A position beyond the head of the log is 422 at once;
    a wait costs no thread and each user has at most ``WAITS_PER_USER`` open (503 beyond)."""
    position = parse_int(request, "min_position")
    if position is None or services.runner.position >= position:
        return
    head = int(await quick_query(services, lambda: log_head(services.app)))
    if position > head:
        raise ApiError("validation", f"min_position {position} is beyond the head of the log "
                       f"({head}): no write has been acknowledged there yet",
                       {"field": "min_position", "head": head})
    principal = getattr(request.state, "principal", None)
    who = principal.username if principal is not None else f"client:{client_address(request)}"
    budget: WaitBudget = request.app.state.wait_budget
    with budget.hold(who) as allowed:
        if not allowed:
            raise ApiError("not_ready", f"you already have {budget.per_user} reads waiting "
                           "for the read models; retry shortly",
                           {"min_position": position}, headers={"Retry-After": "1"})
        reached = await services.runner.reached(position, WAIT_SECONDS)
    if not reached:
        raise ApiError("not_ready", f"the read models have not reached position {position} "
                       "yet; retry shortly", {"min_position": position},
                       headers={"Retry-After": "1"})


def client_address(request: Request) -> str:
    """The caller's address: the socket peer, or what a trusted proxy forwarded (uvicorn
    rewrites the scope's client only for LABELWRIGHT_TRUSTED_PROXIES, labelwright.server)."""
    return request.client.host if request.client is not None else "unknown"
