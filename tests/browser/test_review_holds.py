"""Review holds in the browser (issue 12, defects 3 and 4): a submitted or approved image is
read-only to annotators (a banner, tools off, a stray click records nothing) until a reviewer
or manager reopens it; the reviewer's rejection comment is pinned on the annotation screen
until the image is submitted again."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import (
    DemoServer,
    drag,
    expect,
    log_in,
    open_image,
    pending_settled,
    shot,
    to_screen,
)

pytestmark = pytest.mark.browser

COMMENT = "The mug's handle is outside the box."


def _version(server: DemoServer, iid: str) -> int:
    return int(server.api("admin").get(f"/images/{iid}")["version"])


def _stray_work(page: Any) -> None:
    """What an annotator might do on a held image: draw, drag a shape, delete, relabel."""
    page.keyboard.press("b")
    drag(page, to_screen(page, 300, 300), to_screen(page, 420, 380))
    page.mouse.click(*to_screen(page, 150, 130))  # the box drawn first
    drag(page, to_screen(page, 150, 130), to_screen(page, 200, 180))
    page.keyboard.press("2")
    page.keyboard.press("Delete")


def test_review_holds_and_the_rejection_comment_reaches_the_annotator(
        server: DemoServer, new_context: Any) -> None:
    iid = server.new_image()["id"]
    ana = new_context().new_page()
    ana_errors = log_in(ana, server.base, "ana")
    open_image(ana, server.base, iid)
    expect(ana.locator("#review-hold")).to_be_hidden()
    ana.keyboard.press("b")
    drag(ana, to_screen(ana, 100, 80), to_screen(ana, 260, 220))
    pending_settled(ana)
    ana.keyboard.press("Control+Enter")  # submit, then the next image opens
    ana.wait_for_function(f"!location.hash.includes('{iid}')")

    # Submitted: ana comes back to it and finds it read-only.
    open_image(ana, server.base, iid)
    banner = ana.locator("#review-hold")
    expect(banner).to_have_text("Submitted for review — a reviewer or manager can reopen it.")
    expect(ana.locator(".tool[data-tool='box']")).to_be_disabled()
    expect(ana.locator("#submit-image")).to_be_disabled()
    shot(ana, "review-hold-submitted")
    before = _version(server, iid)
    _stray_work(ana)
    pending_settled(ana)
    assert _version(server, iid) == before
    assert ana.evaluate("window.__lw.editor.labels.size") == 1

    # rui rejects with a comment while ana still has the image open.
    rui = new_context().new_page()
    rui_errors = log_in(rui, server.base, "rui")
    open_image(rui, server.base, iid)
    expect(rui.locator("#reopen-image")).to_be_visible()
    rui.fill("#review-comment", COMMENT)
    rui.click("#reject")
    rui.wait_for_function(f"!location.hash.includes('{iid}')")

    # ana sees it live: editable again, the comment pinned to the image.
    expect(banner).to_be_hidden()
    note = ana.locator("#review-note")
    expect(note).to_contain_text("Rejected by rui")
    expect(note).to_contain_text(COMMENT)
    expect(ana.locator(".tool[data-tool='box']")).to_be_enabled()
    shot(ana, "review-rejection-comment")
    # ... and on the image's card in the project's queue.
    queue = ana.context.new_page()
    queue.goto(f"{server.base}/#/projects/{server.project_id}")
    queue.click(".chip[data-status='rejected']")
    card = queue.locator(f".image-card[data-image='{iid}'] .card-review")
    expect(card).to_contain_text(COMMENT)
    shot(queue, "review-rejection-in-queue")
    queue.close()
    # The comment stays while ana fixes the image (and after a reload) ...
    ana.keyboard.press("b")
    drag(ana, to_screen(ana, 400, 300), to_screen(ana, 520, 400))
    pending_settled(ana)
    open_image(ana, server.base, iid)
    expect(ana.locator("#review-note")).to_contain_text(COMMENT)
    # ... and is gone once ana submits again.
    ana.keyboard.press("Control+Enter")
    ana.wait_for_function(f"!location.hash.includes('{iid}')")
    open_image(ana, server.base, iid)
    expect(ana.locator("#review-hold")).to_be_visible()
    expect(ana.locator("#review-note")).to_be_hidden()

    # rui approves; ana's page turns to "Approved" and her stray work changes nothing.
    open_image(rui, server.base, iid)
    rui.click("#approve")
    rui.wait_for_function(f"!location.hash.includes('{iid}')")
    expect(ana.locator("#review-hold")).to_have_text(
        "Approved — read-only. A reviewer or manager can reopen it.")
    approved = _version(server, iid)
    _stray_work(ana)
    pending_settled(ana)
    assert _version(server, iid) == approved
    assert server.api("admin").get(f"/images/{iid}")["status"] == "approved"

    # maria (manager) reopens it with a word for the annotator: recorded, and live for ana.
    maria = new_context().new_page()
    maria_errors = log_in(maria, server.base, "maria")
    open_image(maria, server.base, iid)
    # An approved image is read-only to managers too, until they reopen it.
    expect(maria.locator("#review-hold")).to_have_text(
        "Approved — read-only. Reopen it to make changes.")
    expect(maria.locator(".tool[data-tool='box']")).to_be_disabled()
    maria.fill("#reopen-comment", "Add the saucer too.")
    shot(maria, "review-reopen")
    maria.click("#reopen-image")
    expect(maria.locator("#image-status")).to_have_text("In progress")
    expect(maria.locator("#review-hold")).to_be_hidden()
    expect(maria.locator(".tool[data-tool='box']")).to_be_enabled()
    last = server.api("admin").get(f"/images/{iid}/history")["events"][-1]
    assert last["type"] == "ImageReopened" and last["actor"] == "maria"
    assert last["data"] == {"comment": "Add the saucer too."}
    expect(ana.locator("#review-hold")).to_be_hidden()
    expect(ana.locator("#review-note")).to_contain_text("Reopened by maria")
    expect(ana.locator("#review-note")).to_contain_text("Add the saucer too.")
    expect(ana.locator(".tool[data-tool='box']")).to_be_enabled()
    ana.keyboard.press("b")
    drag(ana, to_screen(ana, 500, 100), to_screen(ana, 600, 200))
    pending_settled(ana)
    assert _version(server, iid) == approved + 2  # the reopening and ana's new box
    ana_errors.check()
    rui_errors.check()
    maria_errors.check()
