"""Project roles and what each may do."""

from __future__ import annotations

from domain.errors import Forbidden, ValidationFailed

ROLES = ("annotator", "reviewer", "manager")
_RANK = {"annotator": 1, "reviewer": 2, "manager": 3}

ANNOTATION_COMMANDS = frozenset({"create", "edit", "delete", "accept", "assist", "submit"})


def validate_role(role: object) -> str:
    """Return ``role`` if it is a project role, else raise ValidationFailed."""
    if not isinstance(role, str) or role not in _RANK:
        raise ValidationFailed(
            f"role must be one of {', '.join(ROLES)}", {"field": "role", "allowed": list(ROLES)}
        )
    return role


def at_least(role: str | None, needed: str, *, is_admin: bool = False) -> bool:
    """True when ``role`` (or admin) includes the rights of ``needed``."""
    if is_admin:
        return True
    return role is not None and _RANK.get(role, 0) >= _RANK[needed]


def require(role: str | None, needed: str, *, is_admin: bool = False, what: str = "this") -> None:
    """Raise Forbidden unless ``role`` includes the rights of ``needed``."""
    if not at_least(role, needed, is_admin=is_admin):
        raise Forbidden(
            f"{what} needs the {needed} role in this project",
            {"needed": needed, "role": role},
        )


def role_needed_for(command_type: str) -> str:
    """The least role that may issue an image command of ``command_type``."""
    return "reviewer" if command_type == "review" else "annotator"
