"""Who is calling: bearer token or session cookie → a ``Principal``.

Every request resolves its token (``TokenStore`` caches that) and the user's account (admin
flag, disabled, revocation times from the User aggregate), which is cached here for a few
seconds too, so an authenticated request normally touches no database. A token is refused while
its user is disabled and if it was issued before the user's last ``SessionsRevoked`` (or before
the account was last enabled): a change made by another process bites within
``USER_CACHE_TTL``, one made through this authenticator (``forget_user``) at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import HTTPConnection

from domain.application import Labeling
from domain.command_pipeline import Actor
from domain.tokens import TOKEN_KINDS
from domain.user import User, token_accepted, user_id
from service_layer.auth_tokens import TokenInfo, TokenStore
from web.errors import ApiError

SESSION_COOKIE = "lw_session"
USER_CACHE_TTL = 5.0  # seconds; an account change made elsewhere takes effect within this
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


@dataclass(frozen=True, slots=True)
class _Account:
    """What authentication needs of a User aggregate."""

    username: str  # as registered
    is_admin: bool
    disabled: bool
    revoked_at: dict[str, datetime | None]
    cached_until: float

    @classmethod
    def of(cls, user: User, cached_until: float) -> _Account:
        return cls(user.username, bool(user.is_admin), user.disabled,
                   {kind: user.tokens_revoked_at(kind) for kind in TOKEN_KINDS},
                   cached_until)

    def accepts(self, token: TokenInfo) -> bool:
        return token_accepted(self.disabled, self.revoked_at.get(token.kind), token.created_at)


def unauthorized(message: str = "a valid bearer token or session is required") -> ApiError:
    return ApiError("unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


class Authenticator:
    """Resolves a request's credentials; raises 401 ``unauthorized`` when there are none."""

    def __init__(self, tokens: TokenStore, app: Labeling) -> None:
        self.tokens = tokens
        self.app = app
        self._users: dict[str, _Account] = {}  # by user id (hex)
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
        return self.principal(token, via_cookie)

    def principal(self, token: str, via_cookie: bool = False) -> Principal:
        """The principal ``token`` stands for; 401 ``unauthorized`` if it no longer does (also
        used to re-check a long-lived WebSocket connection)."""
        info = self.tokens.lookup(token)
        if info is None:
            raise unauthorized("the token is unknown, revoked or expired")
        account = self._account(info.username)
        if account is None:
            raise unauthorized("the token's user no longer exists")
        if account.disabled:
            raise unauthorized("the token's user account is disabled")
        if not account.accepts(info):
            raise unauthorized("the token is unknown, revoked or expired")
        # The name as registered, whatever case the token row has (roles are recorded so).
        return Principal(account.username, account.is_admin, token, via_cookie)

    def forget_user(self, username: str) -> None:
        """Drop the cached account: a change made through this process bites at once."""
        with self._lock:
            self._users.pop(user_id(username).hex, None)

    def _account(self, username: str) -> _Account | None:
        now = time.monotonic()
        key = user_id(username).hex
        with self._lock:
            hit = self._users.get(key)
        if hit is not None and hit.cached_until > now:
            return hit
        user = self.app.find_user(username)
        if user is None:
            return None
        account = _Account.of(user, now + USER_CACHE_TTL)
        with self._lock:
            if len(self._users) > 10_000:
                self._users.clear()
            self._users[key] = account
        return account

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
