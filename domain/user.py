"""Users: the User aggregate and the password policy.

A user's id is derived from the (case-folded) username, so the repository can load a user by
name without a read model, and two registrations of one name clash on the stream's first
version instead of creating two users.

An account can be disabled (``UserDisabled``/``UserEnabled``) and have its tokens revoked
(``SessionsRevoked``). The aggregate keeps, per token kind, the time before which no token of
that kind is accepted (``token_accepted``, ``User.accepts_token``): the authenticator checks
that rule on every request (it loads the user anyway), so a revocation holds even where the
token table missed it. Streams recorded before these events existed load with the defaults:
enabled, nothing revoked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.domain import Aggregate

from domain.errors import ValidationFailed
from domain.tokens import TOKEN_KINDS

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
_USERNAME = re.compile(USERNAME_PATTERN)
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
# argon2id with the library's RFC 9106 "low memory" profile: about 50 ms per hash here.
_hasher = PasswordHasher()


def token_accepted(disabled: bool, revoked_at: datetime | None, issued_at: datetime) -> bool:
    """The rule for a token of a user: refused if the user is disabled or if it was issued at
    or before the cut-off of its kind (``User.tokens_revoked_at``)."""
    return not disabled and (revoked_at is None or issued_at > revoked_at)


def user_id(username: str) -> UUID:
    """The stream id of ``username``."""
    return uuid5(NAMESPACE_URL, "labelwright:user:" + username.casefold())


def validate_username(username: object) -> str:
    # fullmatch: with match, "$" also matches before a final newline ("alice\n" passed).
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise ValidationFailed(
            "a username is 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter "
            "or digit",
            {"field": "username"},
        )
    return username


def hash_password(password: object) -> str:
    """argon2id hash of ``password`` (validated: a string of at least 8 characters)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"a password has at least {MIN_PASSWORD} characters", {"field": "password"}
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed(f"a password has at most {MAX_PASSWORD} characters",
                               {"field": "password"})
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class User(Aggregate):
    """A person who logs in. Project roles live on the projects, not here."""

    class UserRegistered(Aggregate.Created):
        username: str
        password_hash: str
        is_admin: bool

    class Event(Aggregate.Event):
        pass

    class PasswordChanged(Event):
        password_hash: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, User)
            aggregate.password_hash = self.password_hash

    class AdminRightsSet(Event):
        is_admin: bool

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, User)
            aggregate.is_admin = self.is_admin

    class UserDisabled(Event):
        """The account may not log in and none of its tokens is accepted."""

        actor: str | None  # who did it (None: the command line)

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, User)
            aggregate._disabled = True

    class UserEnabled(Event):
        """The account works again; tokens issued before this stay dead."""

        actor: str | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, User)
            aggregate._disabled = False
            aggregate._cut_off(TOKEN_KINDS, self.timestamp)

    class SessionsRevoked(Event):
        """Every token of ``kinds`` issued up to this event's time is refused from now on."""

        actor: str | None
        kinds: list[str]  # "login" (login sessions), "api" (API tokens)

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, User)
            aggregate._cut_off(self.kinds, self.timestamp)

    def __init__(self, username: str, password_hash: str, is_admin: bool) -> None:
        self.username = username
        self.password_hash = password_hash
        self.is_admin = is_admin
        self._disabled = False
        # Per token kind (TOKEN_KINDS): tokens issued up to this time are refused. Separate
        # attributes, not a dict: a snapshot's transcoder restores datetimes only one level
        # down.
        self._login_tokens_revoked_at: datetime | None = None
        self._api_tokens_revoked_at: datetime | None = None

    @classmethod
    def register(cls, username: object, password: object, is_admin: bool = False) -> User:
        name = validate_username(username)
        return cls._create(
            cls.UserRegistered,
            id=user_id(name),
            username=name,
            password_hash=hash_password(password),
            is_admin=is_admin,
        )

    # Read through getattr: a User restored from a snapshot taken before these attributes
    # existed has neither, and is enabled with nothing revoked.
    @property
    def disabled(self) -> bool:
        return bool(getattr(self, "_disabled", False))

    def tokens_revoked_at(self, kind: str) -> datetime | None:
        """Tokens of ``kind`` issued up to this time are refused (None: none revoked)."""
        found = getattr(self, f"_{kind}_tokens_revoked_at", None)
        return found if isinstance(found, datetime) else None

    def _cut_off(self, kinds: Iterable[str], at: datetime) -> None:
        for kind in kinds:
            if kind in TOKEN_KINDS:
                setattr(self, f"_{kind}_tokens_revoked_at", at)

    def change_password(self, password: object) -> None:
        self.trigger_event(self.PasswordChanged, password_hash=hash_password(password))

    def set_admin(self, is_admin: bool) -> None:
        if is_admin != self.is_admin:
            self.trigger_event(self.AdminRightsSet, is_admin=is_admin)

    def disable(self, actor: str | None) -> None:
        if not self.disabled:
            self.trigger_event(self.UserDisabled, actor=actor)

    def enable(self, actor: str | None) -> None:
        if self.disabled:
            self.trigger_event(self.UserEnabled, actor=actor)

    def revoke_tokens(self, actor: str | None, kinds: Iterable[str] = TOKEN_KINDS) -> None:
        """Refuse every token of ``kinds`` issued until now (login sessions, API tokens)."""
        chosen = [k for k in TOKEN_KINDS if k in set(kinds)]
        if not chosen:
            raise ValidationFailed(f"token kinds are {list(TOKEN_KINDS)}", {"field": "kinds"})
        self.trigger_event(self.SessionsRevoked, actor=actor, kinds=chosen)

    def accepts_token(self, kind: str, issued_at: datetime) -> bool:
        """Whether a token of ``kind`` issued at ``issued_at`` may still be used."""
        return token_accepted(self.disabled, self.tokens_revoked_at(kind), issued_at)

    def check_password(self, password: str) -> bool:
        return verify_password(self.password_hash, password)
