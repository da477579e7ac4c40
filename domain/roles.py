"""Project roles and the one table of what each may do.

``RULES`` maps every project action to the least role it needs. The command pipeline (image
commands), the HTTP routes (``web.access.project_for``) and the WebSocket rooms
(``realtime.room_state.RoomState.authorize``) all ask it, so a rule changes in one place.
A global admin passes every rule. Actions that need a global admin whatever the project
(creating projects and users, importing server files) are not project rules: see
``web.access.require_admin``.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import Forbidden, ValidationFailed

ROLES = ("annotator", "reviewer", "manager")
_RANK = {"annotator": 1, "reviewer": 2, "manager": 3}

MEMBER = "member"
"""The least "role" of a rule any member passes, whatever their role."""


@dataclass(frozen=True, slots=True)
class Rule:
    """The least role an action needs, and how a refusal names the action."""

    least: str  # a role of ROLES, or MEMBER
    doing: str  # "<doing> needs the <least> role in this project"


RULES: dict[str, Rule] = {
    "read": Rule(MEMBER, "reading this project"),  # the project, its images, labels, history
    "join_room": Rule(MEMBER, "joining this room"),  # live image and project rooms
    "annotate": Rule("annotator", "annotating"),  # image commands other than review
    "review": Rule("reviewer", "reviewing"),
    "change_settings": Rule("manager", "changing project settings"),
    "manage_members": Rule("manager", "managing members"),
    "add_images": Rule("manager", "adding images"),
    "import_predictions": Rule("manager", "importing predictions"),
    "import_datasets": Rule("manager", "importing labeled datasets"),
    "read_metrics": Rule("manager", "metrics"),
    "export": Rule("manager", "exporting"),
    "read_models": Rule(MEMBER, "reading this project's models and jobs"),
    "select_images": Rule(MEMBER, "ranking images to label next"),  # selection, similar
    "manage_models": Rule("manager", "registering and changing models"),
    "run_jobs": Rule("manager", "running and cancelling jobs"),
    "evaluate": Rule("manager", "evaluating models"),
    "find_blind_spots": Rule("reviewer", "finding a model's blind spots and suspect labels"),
    "assign_work": Rule("manager", "assigning and prioritising images"),
}

COMMAND_ACTIONS = {"review": "review", "reopen": "review"}
"""The action of each image command type that is not ``annotate``."""


def validate_role(role: object) -> str:
    """Return ``role`` if it is a project role, else raise ValidationFailed."""
    if not isinstance(role, str) or role not in _RANK:
        raise ValidationFailed(
            f"role must be one of {', '.join(ROLES)}", {"field": "role", "allowed": list(ROLES)}
        )
    return role


def at_least(role: str | None, needed: str, *, is_admin: bool = False) -> bool:
    """True when ``role`` (or admin) includes the rights of ``needed`` (a role or MEMBER)."""
    if is_admin:
        return True
    if needed == MEMBER:
        return role is not None
    return role is not None and _RANK.get(role, 0) >= _RANK[needed]


def require(role: str | None, needed: str, *, is_admin: bool = False, what: str = "this") -> None:
    """Raise Forbidden unless ``role`` includes the rights of ``needed``."""
    if not at_least(role, needed, is_admin=is_admin):
        raise Forbidden(
            f"{what} needs the {needed} role in this project",
            {"needed": needed, "role": role},
        )


def require_for(action: str, role: str | None, *, is_admin: bool = False,
                what: str | None = None) -> None:
    """Raise Forbidden unless ``role`` in a project (or admin) may do ``action`` there.

    A non-member is told so (``details.needed`` is the rule's least role); a member whose
    role is too low is told which role ``what`` (default: the rule's wording) needs.
    """
    rule = RULES[action]
    if is_admin:
        return
    if role is None:
        raise Forbidden("you are not a member of this project", {"needed": rule.least})
    require(role, rule.least, what=what or rule.doing)


def role_needed_for(command_type: str) -> str:
    """The least role that may issue an image command of ``command_type``."""
    return RULES[COMMAND_ACTIONS.get(command_type, "annotate")].least
