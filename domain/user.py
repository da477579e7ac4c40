"""Users: the User aggregate and the password policy.

A user's id is derived from the (case-folded) username, so the repository can load a user by
name without a read model, and two registrations of one name clash on the stream's first
version instead of creating two users.
"""

from __future__ import annotations

import re
from uuid import NAMESPACE_URL, UUID, uuid5

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.domain import Aggregate

from domain.errors import ValidationFailed

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8
# argon2id with the library's RFC 9106 "low memory" profile: about 50 ms per hash here.
_hasher = PasswordHasher()


def user_id(username: str) -> UUID:
    """The stream id of ``username``."""
    return uuid5(NAMESPACE_URL, "labelwright:user:" + username.casefold())


def validate_username(username: object) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username):
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
    if len(password) > 1024:
        raise ValidationFailed("a password has at most 1024 characters", {"field": "password"})
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

    def __init__(self, username: str, password_hash: str, is_admin: bool) -> None:
        self.username = username
        self.password_hash = password_hash
        self.is_admin = is_admin

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

    def change_password(self, password: object) -> None:
        self.trigger_event(self.PasswordChanged, password_hash=hash_password(password))

    def set_admin(self, is_admin: bool) -> None:
        if is_admin != self.is_admin:
            self.trigger_event(self.AdminRightsSet, is_admin=is_admin)

    def check_password(self, password: str) -> bool:
        return verify_password(self.password_hash, password)
