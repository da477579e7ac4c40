"""Who is calling: bearer token or session cookie → a ``Principal``.

Every request resolves its token (``TokenStore`` caches that) and the user's admin flag, which
is cached here for a few seconds too, so an authenticated request normally touches no database.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from domain.application import Labeling
from domain.command_pipeline import Actor
from web.auth_tokens import TokenStore
from web.errors import ApiError

SESSION_COOKIE = "lw_session"
USER_CACHE_TTL = 5.0  # seconds; an admin flag change takes effect within this
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user, and how they proved it."""

    username: str
    is_admin: bool
    token: str
    via_cookie: bool

    @property
    def actor(self) -> Actor:
        return Actor(self.username, self.is_admin)


def unauthorized(message: str = "a valid bearer token or session is required") -> ApiError:
    return ApiError("unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


class Authenticator:
    """Resolves a request's credentials; raises 401 ``unauthorized`` when there are none."""

    def __init__(self, tokens: TokenStore, app: Labeling) -> None:
        self.tokens = tokens
        self.app = app
        self._users: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def credentials(conn: HTTPConnection) -> tuple[str, bool] | None:
        """``(token, via_cookie)`` from the Authorization header or the session cookie."""
        header = conn.headers.get("authorization")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise unauthorized("the Authorization header must be 'Bearer <token>'")
            return value.strip(), False
        cookie = conn.cookies.get(SESSION_COOKIE)
        if cookie:
            return cookie, True
        return None

    def authenticate(self, conn: HTTPConnection) -> Principal:
        found = self.credentials(conn)
        if found is None:
            raise unauthorized()
        token, via_cookie = found
        if via_cookie and conn.scope.get("method") in _UNSAFE:
            self._check_same_origin(conn)
        username = self.tokens.resolve(token)
        if username is None:
            raise unauthorized("the token is unknown, revoked or expired")
        is_admin = self._is_admin(username)
        if is_admin is None:
            raise unauthorized("the token's user no longer exists")
        return Principal(username, is_admin, token, via_cookie)

    def forget_user(self, username: str) -> None:
        with self._lock:
            self._users.pop(username, None)

    def _is_admin(self, username: str) -> bool | None:
        now = time.monotonic()
        with self._lock:
            hit = self._users.get(username)
        if hit is not None and hit[1] > now:
            return hit[0]
        user = self.app.find_user(username)
        if user is None:
            return None
        with self._lock:
            if len(self._users) > 10_000:
                self._users.clear()
            self._users[username] = (bool(user.is_admin), now + USER_CACHE_TTL)
        return bool(user.is_admin)

    @staticmethod
    def _check_same_origin(conn: HTTPConnection) -> None:
        """A cookie rides along on cross-site requests that SameSite=Lax lets through; a
        browser always says where such a request came from, so refuse foreign origins."""
        origin = conn.headers.get("origin")
        if origin is None:
            return
        host = conn.headers.get("host", "")
        scheme = conn.url.scheme
        if origin not in (f"{scheme}://{host}", f"http://{host}", f"https://{host}"):
            raise ApiError("forbidden", "cross-origin requests must use a bearer token",
                           {"origin": origin})
