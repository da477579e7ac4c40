"""The WebSocket protocol's vocabulary: rooms, limits, and the shape of server messages.

Client messages are JSON objects with an ``op`` (docs/realtime.md); this module turns their
untrusted fields into checked values and builds the server's answers. Everything that leaves
the server is encoded here, once per message, so a room message fanned out to fifty members is
serialised once, not fifty times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

# A client frame up to this size is parsed; a bigger one is answered with ``too_large`` (and
# nothing else happens). The server also closes the connection with 1009 on frames above
# HARD_MAX_FRAME_BYTES before they are even buffered (uvicorn's ``ws_max_size``).
MAX_MESSAGE_BYTES = 256 * 1024
HARD_MAX_FRAME_BYTES = 1024 * 1024
# Server pings; a connection that does not answer one within the timeout is dropped, so a
# dead peer leaves its rooms within PING_INTERVAL + PING_TIMEOUT seconds (25 s).
PING_INTERVAL = 10.0
PING_TIMEOUT = 15.0
MAX_REF = 128
MAX_SELECTION = 1000
MAX_ROOMS_PER_CONNECTION = 100

CLOSE_SERVICE_RESTART = 1012
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4408

ROOM_KINDS = ("image", "project")


class ProtocolError(Exception):
    """A client message the server refuses; answered with ``{"op":"error"}``. Nothing was
    recorded and the connection stays open."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None,
                 ref: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.ref = ref


def invalid(message: str, field: str, ref: Any = None) -> ProtocolError:
    return ProtocolError("validation", message, {"field": field}, ref)


@dataclass(frozen=True, slots=True)
class Room:
    """A room name, ``image:<uuid>`` or ``project:<uuid>``, parsed."""

    kind: str
    id: UUID

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.id}"


def image_room(image_id: UUID | str) -> str:
    return f"image:{image_id}"


def project_room(project_id: UUID | str) -> str:
    return f"project:{project_id}"


def parse_room(raw: object, ref: Any = None) -> Room:
    if not isinstance(raw, str) or len(raw) > 100:
        raise invalid("room must be 'image:<id>' or 'project:<id>'", "room", ref)
    kind, _, ident = raw.partition(":")
    if kind not in ROOM_KINDS:
        raise invalid("room must be 'image:<id>' or 'project:<id>'", "room", ref)
    try:
        return Room(kind, UUID(ident))
    except ValueError:
        # An id that cannot name anything: the same answer HTTP gives for a malformed id.
        raise ProtocolError("not_found", f"no {kind} {ident!r}", {"field": "room"},
                            ref) from None


def parse_position(raw: object, field: str, ref: Any = None) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise invalid(f"{field} must be a non-negative integer", field, ref)
    return raw


def parse_ref(raw: object) -> Any:
    """A client's ``ref``: a short string or an integer, echoed back verbatim."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise invalid("ref must be a string or an integer", "ref")
    if isinstance(raw, str) and (not raw or len(raw) > MAX_REF):
        raise invalid(f"ref must be 1 to {MAX_REF} characters", "ref")
    return raw


def parse_cursor(raw: object) -> dict[str, float] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"x", "y"}:
        raise invalid("cursor must be {\"x\", \"y\"} or null", "cursor")
    out = {}
    for key in ("x", "y"):
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise invalid("cursor.x and cursor.y must be finite numbers", f"cursor.{key}")
        out[key] = value
    return out


def parse_selection(raw: object) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_SELECTION or not all(
            isinstance(a, str) and 0 < len(a) <= 128 for a in raw):
        raise invalid(f"selection must be a list of at most {MAX_SELECTION} annotation ids",
                      "selection")
    return raw


def decode(text: str | bytes) -> dict[str, Any]:
    """One client frame → its JSON object (``validation`` if it is not one)."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise invalid("a message must be a JSON object", "message") from None
    if not isinstance(message, dict):
        raise invalid("a message must be a JSON object", "message")
    return message


def encode(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def error(code: str, message: str, ref: Any = None,
          details: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    out: dict[str, Any] = {"op": "error", "error": body}
    if ref is not None:
        out["ref"] = ref
    return encode(out)


def event_message(room: str, described: dict[str, Any]) -> str:
    """``{"op":"event"}`` from ``domain.event_view.describe`` of an image event."""
    return encode({
        "op": "event", "room": room, "position": described["position"],
        "version": described["version"],
        "event": {"type": described["type"], "actor": described["actor"],
                  "at": described["at"], "command_id": described["command_id"],
                  "data": described["data"]},
    })
