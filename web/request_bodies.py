"""Reading request bodies with a size limit enforced while streaming.

A declared ``Content-Length`` over the limit is refused before a byte is read; a body without
one (chunked) is counted as it arrives and refused as soon as it passes the limit, so an
oversized request never sits in memory whole.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from web.errors import ApiError


def _too_large(limit: int) -> ApiError:
    return ApiError("too_large", f"the request body is larger than {limit:,} bytes",
                    {"limit": limit})


def declared_length(request: Request, limit: int) -> int | None:
    """The Content-Length header, checked against ``limit`` (413 if over)."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        length = int(raw)
    except ValueError:
        raise ApiError("validation", "Content-Length is not a number") from None
    if length < 0:
        raise ApiError("validation", "Content-Length is negative")
    if length > limit:
        raise _too_large(limit)
    return length


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes (413 ``too_large`` otherwise)."""
    declared_length(request, limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


# ``curl -d`` labels its body form-urlencoded and some clients say text/plain; both are read as
# JSON. Cross-site forgery is stopped by the session cookie's SameSite=Lax and the Origin check
# in ``web.authentication``, not by the content type.
_JSON_LIKE = frozenset({"", "application/json", "text/plain", "application/x-www-form-urlencoded"})


def require_json_content(request: Request) -> None:
    """Refuse bodies that are clearly not JSON (a multipart upload, an image...)."""
    kind = media_type(request)
    if kind not in _JSON_LIKE and not kind.endswith("+json"):
        raise ApiError("unsupported_media_type",
                       f"expected an application/json body, not {kind}",
                       {"content_type": kind})


def parse_json(body: bytes) -> Any:
    """Strict JSON (RFC 8259): NaN, Infinity and invalid UTF-8 are refused."""
    if not body.strip():
        raise ApiError("validation", "request body is empty; a JSON document is expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ApiError("validation", "request body is not valid JSON",
                       {"reason": str(e)[:200]}) from None


async def read_json(request: Request, limit: int) -> Any:
    require_json_content(request)
    return parse_json(await read_body(request, limit))


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    body = await read_json(request, limit)
    if not isinstance(body, dict):
        raise ApiError("validation", "the request body must be a JSON object")
    return body
