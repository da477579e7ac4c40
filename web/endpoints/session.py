"""Logging in and out, and ``/me``."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.user import verify_password
from web.access import authenticated, client_address, services_of, wait_for_min_position
from web.authentication import SESSION_COOKIE
from web.errors import ApiError
from web.login_throttle import LoginThrottle
from web.request_bodies import read_json_object
from web.responses import json_response

# Verifying against a real hash for unknown users makes "no such user" take as long as "wrong
# password", so response time does not reveal which usernames exist.
_DUMMY_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$AdVomNOtxhjw8TfEnZ0RdA$"
               "IsphNhWkdXKTgi9VtCPlw4GWFdxDaLzLUyAzRd6iIPc")


def too_many_failures(limited: tuple[float, str], what: str = "failed logins") -> ApiError:
    """429 for a ``LoginThrottle.begin`` refusal: ``(seconds to wait, which limit)``."""
    wait, scope = limited
    seconds = max(1, int(wait + 0.999))
    whom = "from this address" if scope == "address" else "for this account"
    return ApiError("rate_limited", f"too many {what} {whom}; retry in {seconds} s",
                    {"retry_after": seconds, "limit": scope},
                    headers={"Retry-After": str(seconds)})


async def login(request: Request) -> Response:
    services = services_of(request)
    throttle: LoginThrottle = request.app.state.login_throttle
    body = await read_json_object(request, min(64 * 1024, services.settings.max_json_body))
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise ApiError("validation", "login needs a username and a password (strings)",
                       {"field": "username" if not isinstance(username, str) else "password"})
    client = client_address(request)
    limited = throttle.begin(username, client)  # counts as a failure until it succeeds
    if limited is not None:
        raise too_many_failures(limited)
    user = await asyncio.to_thread(services.app.find_user, username)
    if user is None:
        await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
        ok = False
    else:
        ok = await asyncio.to_thread(user.check_password, password)
    if not ok or user is None:
        raise ApiError("unauthorized", "wrong username or password")
    throttle.succeeded(username, client)
    if user.disabled:
        # Said only to someone who knows the password; anyone else gets the 401 above.
        raise ApiError("forbidden", "this account is disabled; an admin can enable it",
                       {"reason": "disabled"})
    token = await asyncio.to_thread(services.tokens.issue, user.username, "login")
    response = json_response({"token": token, "username": user.username,
                              "is_admin": bool(user.is_admin)})
    set_session_cookie(response, request, token, services.tokens.idle.days)
    return response


def set_session_cookie(response: Response, request: Request, token: str, days: int) -> None:
    """The browser's copy of a login token: HttpOnly (scripts cannot read it), SameSite=Lax
    (other sites cannot send it along with their forms), Secure over HTTPS."""
    response.set_cookie(SESSION_COOKIE, token, max_age=days * 86400, httponly=True,
                        samesite="lax", path="/", secure=request.url.scheme == "https")


async def logout(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    await asyncio.to_thread(services.tokens.revoke, principal.token)
    response = json_response({"revoked": True})
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


async def me(request: Request) -> Response:
    services = services_of(request)
    principal = authenticated(request)
    await wait_for_min_position(request, services)
    roles: list[dict[str, Any]] = await asyncio.to_thread(services.read.roles_of,
                                                          principal.username)
    response = json_response({"username": principal.username,
                              "is_admin": principal.is_admin, "projects": roles})
    if principal.via_cookie:
        # The web UI asks /me when it loads: renew the cookie so a session in use does not
        # vanish from the browser while its token (idle expiry) is still alive.
        set_session_cookie(response, request, principal.token, services.tokens.idle.days)
    return response


routes = [
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/me", me, methods=["GET"]),
]
