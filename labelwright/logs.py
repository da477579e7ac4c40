"""How every ``labelwright`` process logs: stdlib logging to stderr, as text or JSON lines.

``LABELWRIGHT_LOG_FORMAT=json`` writes one JSON object per line: ``ts`` (UTC, ISO 8601),
``level``, ``logger``, ``message``, ``request_id`` while a web request runs
(``web.request_log``), ``exception`` when there is one, and the fields the code attached
(``extra=``): the request log's ``method``, ``route``, ``status``, ``duration_ms``, ``user``,
``image_id``; a job step's ``job_id``, ``shard``, ``job_type``, ``user``, ``image_count``,
``image_ids`` (a list: its first few), ``outcome``, ``duration_ms``... (see
``inference_workers.job_queue.work_on_shard``). Anything else (unset,
``text``) keeps the plain text lines. ``LABELWRIGHT_LOG_LEVEL`` (default ``INFO``):
``WARNING`` drops the line per request and per job step.

No secrets: requests are logged by route template (no query string, where a WebSocket token
may travel), bodies never, and as a last guard anything shaped like a Labelwright token
(``lw_`` and 20+ URL-safe characters) is replaced by ``lw_[redacted]`` in every line.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import os
import queue
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


def _json_value(value: object) -> Any:
    """A field as JSON: numbers, booleans and null as they are, a list or tuple as a list of
    such values, anything else as its text (tokens redacted)."""
    if isinstance(value, int | float | bool | None):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = current_request_id.get()  # formatted on the request's own thread
        if request_id is not None:
            out["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = _json_value(value)
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = redact(record.exc_text)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain format, with tokens redacted like the JSON one."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _OurHandler(logging.handlers.QueueHandler):
    """What ``configure_logging`` puts on the root logger: the calling thread (the web event
    loop, the writer) only makes the record and queues it; formatting and the write to stderr
    happen on the listener's thread. A request's log line costs the event loop ~10 us instead
    of the ~50-100 us of a formatted, flushed write (measured on the 2-core box)."""

    def __init__(self, listener_target: logging.Handler) -> None:
        self.queue_: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        super().__init__(self.queue_)
        self.listener = logging.handlers.QueueListener(self.queue_, listener_target)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """What the listener's thread needs, taken now: the message with its arguments, the
        traceback as text, the request id of the request running on this thread."""
        # In place (no copy): this is the root's only handler, the last to see the record.
        record.message = record.getMessage()
        record.msg, record.args = record.message, None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if "request_id" not in record.__dict__:
            request_id = current_request_id.get()
            if request_id is not None:
                record.request_id = request_id
        return record

    def close(self) -> None:
        """Write what is queued and stop the listener (at exit; logging.shutdown calls it
        too, hence the check)."""
        if self.listener._thread is not None:
            self.listener.stop()
        super().close()


def configure_logging() -> None:
    """Log to stderr in the configured format and level. Like ``logging.basicConfig``, it
    leaves a root logger that already has someone else's handlers alone (pytest's capture,
    an embedding application). The lines still queued are written at exit."""
    root = logging.getLogger()
    for old in root.handlers[:]:
        if isinstance(old, _OurHandler):
            root.removeHandler(old)
            old.close()
    if root.handlers:
        return
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(JsonFormatter() if log_format() == "json" else TextFormatter(TEXT_FORMAT))
    handler = _OurHandler(stream)
    handler.listener.start()
    # Records need not name the multiprocessing process (a lookup on every record).
    logging.logMultiprocessing = False
    atexit.register(handler.close)
    root.addHandler(handler)
    level = os.environ.get("LABELWRIGHT_LOG_LEVEL", "INFO").upper()
    root.setLevel(level if level in logging.getLevelNamesMapping() else logging.INFO)
