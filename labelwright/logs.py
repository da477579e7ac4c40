"""How every ``labelwright`` process logs: stdlib logging to stderr, as text or JSON lines.

``LABELWRIGHT_LOG_FORMAT=json`` writes one JSON object per line: ``ts`` (UTC, ISO 8601),
``level``, ``logger``, ``message``, ``request_id`` while a web request runs
(``web.request_log``), ``exception`` when there is one, and the fields the code attached
(``extra=``): the request log's ``method``, ``route``, ``status``, ``duration_ms``, ``user``,
``image_id``; a job step's ``job_id``, ``shard``, ``outcome``... Anything else (unset,
``text``) keeps the plain text lines. ``LABELWRIGHT_LOG_LEVEL`` (default ``INFO``):
``WARNING`` drops the line per request and per job step.

No secrets: requests are logged by route template (no query string, where a WebSocket token
may travel), bodies never, and as a last guard anything shaped like a Labelwright token
(``lw_`` and 20+ URL-safe characters) is replaced by ``lw_[redacted]`` in every line.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

from web.request_log import current_request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_TOKEN = re.compile(r"lw_[A-Za-z0-9_-]{20,}")
# Attributes every LogRecord has: whatever else it carries came in through ``extra=``.
# (uvicorn adds ``color_message``, the message with terminal colours: not wanted in JSON.)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "taskName", "color_message"}


def redact(text: str) -> str:
    return _TOKEN.sub("lw_[redacted]", text)


def log_format() -> str:
    """``json`` or ``text``, from ``LABELWRIGHT_LOG_FORMAT``."""
    return "json" if os.environ.get("LABELWRIGHT_LOG_FORMAT", "").lower() == "json" else "text"


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = current_request_id.get()
        if request_id is not None:
            out["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, int | float | bool | None) else (
                    redact(str(value)))
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = redact(record.exc_text)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain format, with tokens redacted like the JSON one."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _OurHandler(logging.StreamHandler):
    """The handler ``configure_logging`` installs (so a second call replaces it)."""


def configure_logging() -> None:
    """Log to stderr in the configured format and level. Like ``logging.basicConfig``, it
    leaves a root logger that already has someone else's handlers alone (pytest's capture,
    an embedding application)."""
    root = logging.getLogger()
    for old in root.handlers[:]:
        if isinstance(old, _OurHandler):
            root.removeHandler(old)
    if root.handlers:
        return
    handler = _OurHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format() == "json" else TextFormatter(TEXT_FORMAT))
    root.addHandler(handler)
    level = os.environ.get("LABELWRIGHT_LOG_LEVEL", "INFO").upper()
    root.setLevel(level if level in logging.getLevelNamesMapping() else logging.INFO)
