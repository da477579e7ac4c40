"""Named domain errors. The web layer maps each one to a stable error ``code``."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: a request the domain refuses. Nothing was recorded."""

    code = "validation"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationFailed(DomainError):
    """Malformed or impossible input (bad geometry, unknown label, wrong type...)."""

    code = "validation"


class NotFound(DomainError):
    """An id that does not name anything."""

    code = "not_found"


class Conflict(DomainError):
    """A stale ``base_revision``/``base_version``: someone changed it first."""

    code = "conflict"


class Locked(DomainError):
    """The image is held for review (submitted or approved): an annotator's command waits
    until a reviewer or manager reopens it. Nothing was recorded."""

    code = "locked"


class Forbidden(DomainError):
    """The actor's role does not allow this."""

    code = "forbidden"


class TooLarge(DomainError):
    """Over a size limit (bytes, pixels, files in one request)."""

    code = "too_large"
