"""How a stored domain event is shown to people: history rows, command results, room events."""

from __future__ import annotations

from typing import Any

_HIDDEN = frozenset({"originator_id", "originator_version", "timestamp", "actor", "command_id",
                     "originator_topic"})


def event_type(event: object) -> str:
    return type(event).__name__


def event_data(event: object) -> dict[str, Any]:
    """The event's own fields (full geometry included), without envelope metadata."""
    return {k: v for k, v in vars(event).items() if k not in _HIDDEN}


def describe(event: Any, position: int) -> dict[str, Any]:
    """``{"version","position","type","actor","at","command_id","data"}`` of one image event."""
    return {
        "version": event.originator_version,
        "position": position,
        "type": event_type(event),
        "actor": getattr(event, "actor", None),
        "at": event.timestamp.isoformat(),
        "command_id": getattr(event, "command_id", None),
        "data": event_data(event),
    }
