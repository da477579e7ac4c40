"""Users: the HTTP twin of ``labelwright user ...`` (global admins only), and a user's own
password (``PUT /me/password``).

Account actions are events on the User aggregate (``domain.user``). Revoking tokens also marks
them revoked in the token table, and the caches of this process forget the user at once: the
next request with one of those tokens is refused here, other processes refuse it within
``service_layer.auth_tokens.CACHE_TTL`` / ``web.authentication.USER_CACHE_TTL``, and open
WebSocket connections of the user whose token no longer holds are closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.tokens import TOKEN_KINDS
from domain.user import User
from web.access import (
    authenticated,
    client_address,
    require_admin,
    services_of,
    wait_for_min_position,
)
from web.authentication import Authenticator, Principal
from web.endpoints.session import set_session_cookie, too_many_failures
from web.errors import ApiError
from web.login_throttle import LoginThrottle
from web.request_bodies import read_json_object
from web.responses import json_response
from web.services import Services


def user_json(user: User, position: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"username": user.username, "is_admin": bool(user.is_admin),
                           "disabled": user.disabled}
    if position is not None:
        out["position"] = position
    return out


async def _body(request: Request, services: Services, allowed: set[str]) -> dict[str, Any]:
    body = await read_json_object(request, min(64 * 1024, services.settings.max_json_body))
    extra = set(body) - allowed
    if extra:
        raise ApiError("validation", f"unexpected field {sorted(extra)[0]!r}",
                       {"field": sorted(extra)[0], "allowed": sorted(allowed)})
    return body


def _as_admin(request: Request, what: str) -> tuple[Services, Principal, str]:
    services = services_of(request)
    principal = authenticated(request)
    require_admin(principal, what)
    return services, principal, request.path_params["username"]


async def _tokens_revoked(request: Request, services: Services, username: str,
                          kinds: tuple[str, ...] | list[str] = TOKEN_KINDS) -> int:
    """After a recorded account event: mark the user's tokens revoked in the table, forget
    the cached account, and close the user's WebSocket connections that no longer hold."""
    count: int = await asyncio.to_thread(services.tokens.revoke_user, username, kinds)
    await _account_changed(request, services, username)
    return count


async def _account_changed(request: Request, services: Services, username: str) -> None:
    authenticator: Authenticator = request.app.state.authenticator
    authenticator.forget_user(username)
    if services.live is not None:
        await services.live.recheck_user(username)


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
    return json_response(user_json(user), 201)


async def list_users(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    require_admin(principal, "listing users")
    await wait_for_min_position(request, services)
    return json_response({"users": await asyncio.to_thread(services.read.users)})


async def disable_user(request: Request) -> Response:
    """The user can no longer log in and every token of theirs stops working (also after
    they are enabled again); their project roles stay."""
    services, principal, username = _as_admin(request, "disabling users")
    user, position = await asyncio.to_thread(services.app.disable_user, username,
                                             principal.username)
    await _tokens_revoked(request, services, user.username)
    return json_response(user_json(user, position))


async def enable_user(request: Request) -> Response:
    services, principal, username = _as_admin(request, "enabling users")
    user, position = await asyncio.to_thread(services.app.enable_user, username,
                                             principal.username)
    await _account_changed(request, services, user.username)
    return json_response(user_json(user, position))


async def revoke_tokens(request: Request) -> Response:
    """Every token of the user (login sessions and API tokens) stops working."""
    services, principal, username = _as_admin(request, "revoking users' tokens")
    user, position = await asyncio.to_thread(services.app.revoke_user_tokens, username,
                                             principal.username)
    count = await _tokens_revoked(request, services, user.username)
    return json_response({**user_json(user, position), "revoked_tokens": count})


async def reset_password(request: Request) -> Response:
    """An admin sets a user's password; the user's login sessions end (API tokens stay)."""
    services, principal, username = _as_admin(request, "resetting passwords")
    body = await _body(request, services, {"password"})
    user, position = await asyncio.to_thread(services.app.reset_password, username,
                                             body.get("password"), principal.username)
    await _tokens_revoked(request, services, user.username, ["login"])
    return json_response(user_json(user, position))


async def change_own_password(request: Request) -> Response:
    """The caller changes their password, proving the current one (failures count like failed
    logins). Every login session of theirs ends, this one included; the answer carries a new
    login token (and renews the session cookie when the call came with it)."""
    services = services_of(request)
    principal = authenticated(request)
    throttle: LoginThrottle = request.app.state.login_throttle
    body = await _body(request, services, {"current_password", "password"})
    current = body.get("current_password")
    if not isinstance(current, str):
        raise ApiError("validation", "current_password is required (a string)",
                       {"field": "current_password"})
    client = client_address(request)
    # Counted like a login attempt: a stolen token must not make guessing the password cheap.
    limited = throttle.begin(principal.username, client)
    if limited is not None:
        raise too_many_failures(limited, "wrong passwords")
    user = await asyncio.to_thread(services.app.user, principal.username)
    if not await asyncio.to_thread(user.check_password, current):
        raise ApiError("validation", "the current password is wrong",
                       {"field": "current_password"})
    throttle.succeeded(principal.username, client)
    user, _ = await asyncio.to_thread(services.app.reset_password, user.username,
                                      body.get("password"), principal.username)
    await _tokens_revoked(request, services, user.username, ["login"])
    token = await asyncio.to_thread(services.tokens.issue, user.username, "login")
    response = json_response({"token": token, "username": user.username,
                              "is_admin": bool(user.is_admin)})
    if principal.via_cookie:
        set_session_cookie(response, request, token, services.tokens.idle.days)
    return response


routes = [
    Route("/users", create_user, methods=["POST"]),
    Route("/users", list_users, methods=["GET"]),
    Route("/users/{username}/disable", disable_user, methods=["POST"]),
    Route("/users/{username}/enable", enable_user, methods=["POST"]),
    Route("/users/{username}/revoke_tokens", revoke_tokens, methods=["POST"]),
    Route("/users/{username}/password", reset_password, methods=["PUT"]),
    Route("/me/password", change_own_password, methods=["PUT"]),
]
