"""The dashboard's "Who holds what": a manager sees ana's lease and assigns the next two new
images to arjun, in a fresh project (other tests' counts stay as they were)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import DemoServer, doc_shot, expect, log_in
from tests.browser.test_work_queue import queue_project

pytestmark = pytest.mark.browser


def test_a_manager_sees_who_holds_what_and_assigns_images(server: DemoServer,
                                                          new_context: Any) -> None:
    pid, ids = queue_project(server, 4)
    ana = server.api("ana")
    held = ana.post(f"/projects/{pid}/queue/next", {})
    assert held["image"]["id"] == ids[0]
    ana.settled()

    page = new_context(viewport={"width": 1440, "height": 2000}).new_page()
    errors = log_in(page, server.base, "maria", then=f"#/projects/{pid}/dashboard")
    section = page.locator("#queue-overview")
    expect(section.locator(".queue-lease")).to_have_count(1)
    lease = section.locator(f".queue-lease[data-image='{ids[0]}']")
    expect(lease.locator(".lease-user")).to_have_text("ana")
    expect(section.locator("#queue-assignments")).to_contain_text("No images are assigned.")

    page.select_option("#queue-assign-user", "arjun")
    page.fill("#queue-assign-count", "2")
    page.click("#queue-assign")
    expect(page.locator("#queue-assign-message")).to_have_text("Assigned 2 images to arjun.")
    row = section.locator(".queue-assignment[data-user='arjun']")
    expect(row).to_have_attribute("data-count", "2")
    doc_shot(page, "queue-overview", show="#queue-overview")
    overview = server.api("maria").get(f"/projects/{pid}/queue")
    assert overview["assignments"] == [{"username": "arjun", "image_ids": ids[:2]}]

    # A bad count is refused in words, and nothing is assigned.
    page.fill("#queue-assign-count", "0")
    page.click("#queue-assign")
    expect(page.locator("#queue-assign-message")).to_have_text(
        "Could not assign: give a whole number of images, at least 1")
    overview = server.api("maria").get(f"/projects/{pid}/queue")
    assert overview["assignments"] == [{"username": "arjun", "image_ids": ids[:2]}]
    errors.check()
