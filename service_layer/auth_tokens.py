"""Login and API tokens, stored as their SHA-256 in the auth store.

The auth store is a database of its own (``labelwright.bootstrap.auth_database``:
``DATA_DIR/auth.sqlite``, or the PostgreSQL schema ``labelwright_auth``; table created by
``migrations/auth/``), not the read-model database: read models are rebuilt from the event log
and may be dropped, tokens exist nowhere else.

A login token expires after ``idle_days`` without use; an API token lives until revoked. Every
request resolves its token, so resolution is served from a small in-process cache. The cache
entry lives at most ``CACHE_TTL`` seconds, which bounds how long a revocation made by *another*
process takes to bite; a revocation made through this store evicts the entry at once.

An admin's revocation of all of a user's tokens (``revoke_user``) marks them revoked here; the
authenticator also refuses tokens issued before the user's last ``SessionsRevoked`` (or while
the account is disabled), from the User aggregate, so a row this missed cannot be used either.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.tokens import TOKEN_KINDS, new_token, token_hash
from projections.database import ViewDatabase

CACHE_TTL = 5.0  # seconds; revocation elsewhere takes effect within this
CACHE_SIZE = 10_000
TOUCH_INTERVAL = timedelta(minutes=1)  # last_used_at is written at most this often


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(at: datetime) -> str:
    return at.isoformat()


@dataclass(slots=True)
class _Entry:
    username: str
    kind: str
    created_at: datetime
    last_used: datetime
    cached_until: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A live token: whose it is, its kind and when it was issued."""

    username: str
    kind: str
    created_at: datetime


class TokenStore:
    """Issues, resolves and revokes bearer tokens; only their hashes are stored."""

    def __init__(self, db: ViewDatabase, idle_days: int = 7) -> None:
        """``db``: the auth store (its ``auth_tokens`` table)."""
        self.db = db
        self.idle = timedelta(days=idle_days)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, username: str, kind: str = "login", name: str | None = None) -> str:
        """A new token for ``username``; the plain token is returned once and never stored."""
        if kind not in TOKEN_KINDS:
            raise ValueError(f"token kind must be one of {TOKEN_KINDS}")
        token = new_token()
        now = _iso(_now())
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO auth_tokens (token_hash, username, kind, name, created_at, "
                "last_used_at, revoked) VALUES (?, ?, ?, ?, ?, ?, 0)",
                (token_hash(token), username, kind, name, now, now),
            )
        return token

    def resolve(self, token: str) -> str | None:
        """The username ``token`` belongs to, or None (unknown, revoked or expired)."""
        info = self.lookup(token)
        return None if info is None else info.username

    def lookup(self, token: str) -> TokenInfo | None:
        """Whose ``token`` is, its kind and issue time; None if unknown, revoked or expired."""
        if not token or len(token) > 512:
            return None
        key = token_hash(token)
        now = _now()
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.cached_until < time.monotonic():
                del self._cache[key]
                entry = None
        if entry is None:
            entry = self._load(key)
            if entry is None:
                return None
        if entry.kind == "login" and now - entry.last_used > self.idle:
            self._forget(key)
            return None
        if now - entry.last_used >= TOUCH_INTERVAL:
            # Written at most once a minute per token, so a busy client costs no writes.
            entry.last_used = now
            with self.db.transaction() as cur:
                cur.execute("UPDATE auth_tokens SET last_used_at = ? WHERE token_hash = ?",
                            (_iso(now), key))
        return TokenInfo(entry.username, entry.kind, entry.created_at)

    def revoke(self, token: str) -> bool:
        """Revoke ``token``; True if it named a live token."""
        key = token_hash(token)
        self._forget(key)
        with self.db.transaction() as cur:
            cur.execute("SELECT COUNT(*) FROM auth_tokens WHERE token_hash = ? AND revoked = 0",
                        (key,))
            row = cur.fetchone()
            cur.execute("UPDATE auth_tokens SET revoked = 1 WHERE token_hash = ?", (key,))
        return bool(row and row[0])

    def revoke_user(self, username: str, kinds: tuple[str, ...] | list[str] = TOKEN_KINDS
                    ) -> int:
        """Revoke every live token of ``kinds`` belonging to ``username`` (any case); returns
        how many. This process forgets them at once; other processes within ``CACHE_TTL``."""
        chosen = [k for k in TOKEN_KINDS if k in kinds]
        if not chosen:
            return 0
        folded = username.casefold()
        with self._lock:
            for key in [k for k, e in self._cache.items()
                        if e.username.casefold() == folded and e.kind in chosen]:
                del self._cache[key]
        marks = ", ".join("?" * len(chosen))
        # Usernames are ASCII (domain.user), so lower() is their case-folding in SQL too.
        where = f"lower(username) = ? AND kind IN ({marks}) AND revoked = 0"
        params = (folded, *chosen)
        with self.db.transaction() as cur:
            cur.execute(f"SELECT COUNT(*) FROM auth_tokens WHERE {where}", params)
            row = cur.fetchone()
            cur.execute(f"UPDATE auth_tokens SET revoked = 1 WHERE {where}", params)
        return int(row[0]) if row else 0

    def _forget(self, key: str) -> None:
        with self._lock:
            self._cache.pop(key, None)

    def _load(self, key: str) -> _Entry | None:
        rows = self.db.query(
            "SELECT username, kind, created_at, last_used_at FROM auth_tokens "
            "WHERE token_hash = ? AND revoked = 0", (key,))
        if not rows:
            return None
        username, kind, created, last_used = rows[0]
        entry = _Entry(str(username), str(kind), datetime.fromisoformat(str(created)),
                       datetime.fromisoformat(str(last_used)), time.monotonic() + CACHE_TTL)
        with self._lock:
            self._cache[key] = entry
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return entry
