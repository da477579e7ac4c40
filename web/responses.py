"""JSON responses rendered with orjson (several times faster than the stdlib on the hot path)."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, time
from typing import Any

import orjson
from starlette.responses import Response


def _plain(value: Any) -> Any:
    """``value`` with what the stdlib encoder cannot take as orjson would render it."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # orjson writes null for NaN and infinities
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


def dumps(content: Any) -> bytes:
    """``content`` as JSON. orjson refuses a few values a response may still carry, such as
    an integer beyond 64 bits or a string with a lone surrogate, both of which a client can
    send; those answers are rendered by the stdlib instead (big integers exactly, surrogates
    as ``\\u`` escapes), so what a client sent never turns an answer into a 500."""
    try:
        return orjson.dumps(content)
    except TypeError:
        return json.dumps(_plain(content), ensure_ascii=True, separators=(",", ":"),
                          allow_nan=False).encode()


class JSONResponse(Response):
    """``application/json`` body rendered by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def json_response(content: Any, status_code: int = 200,
                  headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers=headers)
