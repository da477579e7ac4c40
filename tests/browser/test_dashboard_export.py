"""The dashboard's export (issue #12, defect 7): it offers only the formats the server says it
supports (its OpenAPI document), each of them downloads, and every refusal shows the API's
message; the position is checked in the page too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import DemoServer, expect, log_in, shot

pytestmark = pytest.mark.browser


def test_export_offers_the_servers_formats_and_shows_every_error(
        server: DemoServer, new_context: Any) -> None:
    maria = server.api("maria")
    pid = server.project_id
    head = maria.settled()
    served = maria.client.get("/openapi.json").json()
    route = served["paths"]["/api/v1/projects/{project_id}/export"]["get"]
    param = next(p for p in route["parameters"] if p["name"] == "format")

    page = new_context(accept_downloads=True).new_page()
    errors = log_in(page, server.base, "maria")
    page.goto(f"{server.base}/#/projects/{pid}/dashboard")
    page.wait_for_selector(".dashboard[data-loaded='true']")
    options = page.locator("#export-format option")
    expect(options).to_have_count(len(param["schema"]["enum"]))
    offered = options.evaluate_all("os => os.map(o => o.value)")
    assert offered == param["schema"]["enum"]  # no YOLO / VOC while the server refuses them
    expect(page.locator("#export-format")).to_have_value(param["schema"]["default"])

    # Every offered format downloads the server's document.
    for fmt in offered:
        page.select_option("#export-format", fmt)
        with page.expect_download() as download:
            page.click("#export-link")
        saved = download.value
        assert saved.suggested_filename.startswith(f"{pid}-{fmt}")
        body = json.loads(Path(saved.path()).read_bytes())
        assert body == maria.client.get(f"/projects/{pid}/export", params={"format": fmt}).json()
        expect(page.locator("#export-error")).to_be_hidden()

    # Not a whole number: refused in the page, nothing asked of the server.
    page.check("#asof-pos")
    page.fill("#export-position", "-3")
    expect(page.locator("#export-position")).to_have_attribute("aria-invalid", "true")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/export" in r.url else None)
    page.click("#export-link")
    expect(page.locator("#export-error")).to_contain_text("whole number")
    assert asked == []

    # Past the head: the page warns, and the server's refusal is shown with its message.
    beyond = head + 1000
    page.fill("#export-position", str(beyond))
    expect(page.locator("#export-position-hint")).to_contain_text("when this page loaded")
    page.click("#export-link")
    problem = page.locator("#export-error")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("422")
    expect(problem).to_contain_text(f"position {beyond} is beyond the head of the log")
    expect(page.locator(".toast-error")).to_contain_text("beyond the head")
    shot(page, "export-error")

    # Back to a valid position: the message goes and the export downloads.
    page.fill("#export-position", str(head))
    expect(problem).to_be_hidden()
    with page.expect_download() as download:
        page.click("#export-link")
    assert download.value.suggested_filename.endswith(f"-at-{head}.json")
    errors.check(("422",))
