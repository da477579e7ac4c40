"""Hand-picked assignments (issue 12): on a fresh project's image grid a manager ticks images
(a click, a Shift+click range, "Select all on this page"), picks an annotator and presses
Assign; the dashboard's "Who holds what" lists them, and the annotator's "Next image" hands out
exactly those two first."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import DemoServer, doc_shot, expect, log_in
from tests.browser.test_work_queue import press_next, queue_project

pytestmark = pytest.mark.browser


def test_a_manager_assigns_hand_picked_images(server: DemoServer, new_context: Any) -> None:
    pid, ids = queue_project(server, 5)
    page = new_context().new_page()
    errors = log_in(page, server.base, "maria", then=f"#/projects/{pid}")
    expect(page.locator(".image-card .pick-box")).to_have_count(5)
    order = page.locator(".image-card").evaluate_all("cs => cs.map(c => c.dataset.image)")
    assert sorted(order) == sorted(ids)
    box = {i: page.locator(f".pick-box[data-image='{i}']") for i in ids}

    page.click("#pick-all")
    expect(page.locator("#pick-count")).to_have_text("5 images selected.")
    page.click("#pick-none")
    expect(page.locator("#pick-count")).to_have_text("No image selected.")
    expect(page.locator("#pick-assign")).to_be_disabled()

    # A Shift+click ticks the range from the last box clicked: grid positions 1..3.
    box[order[1]].click()
    box[order[3]].click(modifiers=["Shift"])
    expect(page.locator("#pick-count")).to_have_text("3 images selected.")
    assert [box[i].is_checked() for i in order] == [False, True, True, True, False]
    box[order[2]].click()  # and one untick leaves the two wanted
    expect(page.locator("#pick-count")).to_have_text("2 images selected.")
    wanted = [order[1], order[3]]

    page.select_option("#pick-user", "ana")
    doc_shot(page, "assign-hand-picked")
    page.click("#pick-assign")
    expect(page.locator("#pick-message")).to_have_text(
        "Assigned 2 images to ana: they come first in their queue.")
    expect(page.locator("#pick-count")).to_have_text("No image selected.")
    overview = server.api("maria").get(f"/projects/{pid}/queue")
    assert overview["assignments"] == [{"username": "ana", "image_ids": wanted}]

    # "Who holds what" on the dashboard shows the assignment.
    page.goto(f"{server.base}/#/projects/{pid}/dashboard")
    row = page.locator("#queue-overview .queue-assignment[data-user='ana']")
    expect(row).to_have_attribute("data-count", "2")
    for i in wanted:
        expect(row.locator(f"a[href='#/images/{i}']")).to_have_count(1)
    errors.check()

    # Ana's "Next image" hands out exactly those two first, in the order assigned.
    ana = new_context().new_page()
    ana_errors = log_in(ana, server.base, "ana")
    assert press_next(ana, server.base, pid) == wanted[0]
    ana.get_by_role("button", name="Next image", exact=True).click()
    ana.wait_for_function(f"location.hash === '#/images/{wanted[1]}'")
    ana_errors.check()
