"""Submitting while the server cannot be reached (issue 12): the submit waits in the outbox, the
screen says so and stays until the server has acknowledged it; on reconnect it is sent once and
the next image opens. A submit the server refuses once it is back is shown, and the screen stays.

The outage is real: the first test runs its own ``labelwright demo`` and stops its process (the
shared server of the other tests stays up), then starts it again on the same port and data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import (
    DemoServer,
    doc_shot,
    expect,
    free_port,
    log_in,
    open_image,
    start_demo,
    stop_demo,
    wait_live,
)

pytestmark = pytest.mark.browser

OFFLINE_SUBMIT = "Offline: submit will be sent when the connection is back."


def submits(server: DemoServer, image_id: str) -> list[dict[str, Any]]:
    history = server.api("admin").get(f"/images/{image_id}/history", limit=1000)["events"]
    return [e for e in history if e["type"] == "ImageSubmitted"]


def test_a_submit_made_during_an_outage_is_sent_once_when_the_server_is_back(
        tmp_path: Path, new_context: Any) -> None:
    port = free_port()
    proc = start_demo(tmp_path, port)
    try:
        server = DemoServer(f"http://127.0.0.1:{port}", tmp_path, proc)
        projects = server.api("admin").get("/projects")["projects"]
        server.project_id = next(p["id"] for p in projects
                                 if p["name"] == "Demo: everyday objects")
        iid = server.new_image()["id"]
        server.apis.clear()  # their connections end with the server

        page = new_context().new_page()
        errors = log_in(page, server.base, "ana")
        open_image(page, server.base, iid)
        stop_demo(proc)
        page.wait_for_selector("#conn:not([data-state='online'])")

        page.click("#submit-image")
        state = page.locator("#submit-state")
        expect(state).to_have_text(OFFLINE_SUBMIT)
        expect(state).to_have_attribute("aria-live", "polite")
        expect(state).to_be_in_viewport()
        expect(page.locator("#submit-image")).to_be_disabled()  # no second submit meanwhile
        expect(page.locator("#offline-banner")).to_be_visible()
        expect(page.locator("#offline-banner")).to_contain_text("1 change kept in this browser")
        # It stays: the outbox tries again every 2 s, the socket reconnects with backoff.
        page.wait_for_timeout(4500)
        assert page.evaluate("location.hash") == f"#/images/{iid}"
        assert page.evaluate("window.__lw.outbox.entries.map(e => e.body.type)") == ["submit"]
        doc_shot(page, "offline-submit")

        proc = start_demo(tmp_path, port)
        server.proc = proc
        page.wait_for_function(f"!location.hash.includes('{iid}')", timeout=30_000)
        wait_live(page)
        got = submits(server, iid)
        assert len(got) == 1 and got[0]["actor"] == "ana"
        errors.check(expected=("ERR_CONNECTION_REFUSED", "net::ERR", "Failed to load resource"))
    finally:
        stop_demo(proc)


def test_a_refused_submit_is_shown_and_the_screen_stays(server: DemoServer,
                                                         new_context: Any) -> None:
    iid = server.new_image()["id"]
    context = new_context()
    page = context.new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)

    context.set_offline(True)
    page.wait_for_selector("#conn[data-state='offline']")
    page.click("#submit-image")
    expect(page.locator("#submit-state")).to_have_text(OFFLINE_SUBMIT)
    # Meanwhile the image is submitted by someone else: Ana's submit is refused ("locked").
    server.api("arjun").command(iid, {"type": "submit"})

    context.set_offline(False)
    state = page.locator("#submit-state")
    expect(state).to_contain_text("Not submitted:")
    expect(state).to_have_attribute("role", "alert")
    expect(state).to_be_in_viewport()
    page.wait_for_function("window.__lw.outbox.size === 0")
    page.wait_for_timeout(500)
    assert page.evaluate("location.hash") == f"#/images/{iid}"
    got = submits(server, iid)
    assert [e["actor"] for e in got] == ["arjun"]
    errors.check()
