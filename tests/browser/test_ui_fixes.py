"""Smaller UI defects of issue #12 (item 8), each with a test that failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import DemoServer, expect, log_in, shot

pytestmark = pytest.mark.browser


def test_an_annotator_opening_the_dashboard_by_url_sees_a_managers_only_page(
        server: DemoServer, new_context: Any) -> None:
    pid = server.project_id
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/metrics/" in r.url
            or "/export" in r.url or "/evaluation" in r.url or "/blind_spots" in r.url else None)
    page.goto(f"{server.base}/#/projects/{pid}/dashboard")
    refused = page.locator("#dashboard-refused")
    expect(refused).to_be_visible()
    expect(refused.locator("h1")).to_have_text("Managers only")
    expect(refused).to_contain_text("annotator")
    expect(page.locator("#export, #progress, #acceptance")).to_have_count(0)
    shot(page, "dashboard-managers-only")
    refused.locator("a").click()
    page.wait_for_function(f"location.hash === '#/projects/{pid}'")
    assert asked == []  # the page asked for nothing it would be refused
    errors.check()

