"""``labelwright.logs``: JSON lines that always parse, carry the fields given with ``extra=``
and the request id, and never a token, whatever the message holds."""

from __future__ import annotations

import json
import logging
import sys

from hypothesis import given
from hypothesis import strategies as st

from domain.tokens import new_token
from labelwright.logs import JsonFormatter, TextFormatter, _OurHandler, configure_logging
from web.request_log import current_request_id


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    r = logging.LogRecord("web.request_log", logging.INFO, __file__, 1, message, args or None,
                          None)
    r.__dict__.update(extra)
    return r


def test_a_line_has_the_standard_fields_the_extras_and_the_request_id() -> None:
    token = current_request_id.set("abc-123")
    try:
        line = json.loads(JsonFormatter().format(record(
            "POST %s 200", "/api/v1/images/{image_id}/commands", route="/x", status=200,
            duration_ms=1.5, user=None)))
    finally:
        current_request_id.reset(token)
    assert line["level"] == "INFO" and line["logger"] == "web.request_log"
    assert line["message"] == "POST /api/v1/images/{image_id}/commands 200"
    assert line["request_id"] == "abc-123"
    assert (line["route"], line["status"], line["duration_ms"], line["user"]) == (
        "/x", 200, 1.5, None)
    assert line["ts"].endswith("+00:00")


def test_a_list_field_is_a_json_list_with_its_tokens_redacted() -> None:
    secret = new_token()
    line = json.loads(JsonFormatter().format(record(
        "job step", image_ids=["a", "b", secret], shape=(1, 2.5, None), other={"k": 1})))
    assert line["image_ids"] == ["a", "b", "lw_[redacted]"]
    assert line["shape"] == [1, 2.5, None]
    assert line["other"] == "{'k': 1}"  # anything else: its text


def test_tokens_are_redacted_in_messages_fields_and_tracebacks() -> None:
    secret = new_token()
    try:
        raise RuntimeError(f"bad {secret}")
    except RuntimeError:
        r = record("got %s", secret, note=f"token={secret}")
        r.exc_info = sys.exc_info()
    for formatter in (JsonFormatter(), TextFormatter("%(message)s")):
        out = formatter.format(r)
        assert secret not in out and "lw_[redacted]" in out


@given(st.text(max_size=200), st.sampled_from(["", new_token(), "lw_short"]))
def test_any_message_gives_one_parsable_line_without_the_token(text: str, token: str) -> None:
    out = JsonFormatter().format(record(text + token + text))
    assert "\n" not in out
    line = json.loads(out)
    assert isinstance(line["message"], str)
    if len(token) > 20:
        assert token not in out


def test_configure_logging_leaves_someone_elses_handlers_alone() -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        foreign = logging.NullHandler()
        root.handlers = [foreign]
        configure_logging()
        assert root.handlers == [foreign]
        root.handlers = []
        configure_logging()
        configure_logging()  # a second call replaces its own handler
        assert len(root.handlers) == 1 and isinstance(root.handlers[0], _OurHandler)
    finally:
        root.handlers = saved
