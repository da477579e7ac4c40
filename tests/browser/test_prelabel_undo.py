"""Undo of a pre-label verdict restores the pre-label (issue 12, defect 5), and submitting an
image with undecided pre-labels asks first (defect 6), in Chromium against the demo server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import DemoServer, doc_shot, expect, log_in, open_image, pending_settled
from tests.browser.test_labeling import record_commands, sent_commands

pytestmark = pytest.mark.browser

PRELABELS = [
    {"type": "box", "label": "cup", "score": 0.91,
     "geometry": {"x": 400, "y": 60, "w": 150, "h": 120}},
    {"type": "box", "label": "cat", "score": 0.42,
     "geometry": {"x": 40, "y": 330, "w": 200, "h": 160}},
]


def _labels(server: DemoServer, iid: str) -> dict[str, dict[str, Any]]:
    server.api("admin").settled()
    return {a["id"]: a for a in server.api("admin").labels(iid)["annotations"]}


def _coco_annotations_of(server: DemoServer, file_name: str, position: int) -> list[Any]:
    doc = server.api("admin").get(f"/projects/{server.project_id}/export", format="coco",
                                  position=position)
    [image] = [i for i in doc["images"] if i["file_name"] == file_name]
    return [a for a in doc["annotations"] if a["image_id"] == image["id"]]


def test_undo_of_reject_and_accept_restores_the_prelabel(server: DemoServer,
                                                         new_context: Any) -> None:
    image = server.new_image(PRELABELS)
    iid = image["id"]
    before = _labels(server, iid)
    weak = next(a for a in before.values() if a["label"] == "cat")
    page = new_context().new_page()
    record_commands(page)
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)

    # Reject the weak pre-label (Delete), then undo (Ctrl+Z): proposed again, same id.
    page.click(f".vrow[data-id='{weak['id']}']")
    page.keyboard.press("Delete")
    pending_settled(page)
    assert weak["id"] not in _labels(server, iid)
    page.keyboard.press("Control+z")
    page.wait_for_function(f"window.__lw.editor.labels.get('{weak['id']}')?.status === 'proposed'")
    pending_settled(page)
    now = _labels(server, iid)[weak["id"]]
    assert (now["status"], now["source"], now["label"]) == ("proposed", "prelabel", "cat")
    assert now["geometry"] == weak["geometry"] and now["model"] == weak["model"]
    assert now["score"] == weak["score"]
    history = server.api("admin").get(f"/images/{iid}/history")["events"]
    assert [e["type"] for e in history if e["actor"] == "ana"] == ["PrelabelRejected",
                                                                 "PrelabelRestored"]
    # An export as of now has no human label for it (nor for the other, undecided one).
    head = server.api("admin").settled()
    assert _coco_annotations_of(server, image["file_name"], head) == []

    # Accept the strong one (N, A), then undo: proposed again too.
    page.locator("#stage").focus()
    page.keyboard.press("n")
    best = page.evaluate("window.__lw.editor.selection[0]")
    page.keyboard.press("a")
    page.wait_for_function(f"window.__lw.editor.labels.get('{best}').status === 'accepted'")
    pending_settled(page)
    page.keyboard.press("Control+z")
    page.wait_for_function(f"window.__lw.editor.labels.get('{best}').status === 'proposed'")
    pending_settled(page)
    assert {a["status"] for a in _labels(server, iid).values()} == {"proposed"}
    kinds = [c["type"] for c in sent_commands(page)]
    assert kinds == ["delete", "restore", "accept", "restore"], kinds
    # Redo accepts it again.
    page.keyboard.press("Control+y")
    page.wait_for_function(f"window.__lw.editor.labels.get('{best}').status === 'accepted'")
    pending_settled(page)
    errors.check()


def test_submit_with_undecided_prelabels_asks_first(server: DemoServer,
                                                    new_context: Any) -> None:
    iid = server.new_image(PRELABELS)["id"]
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    page.locator("#stage").focus()
    page.keyboard.press("Control+Enter")
    dialog = page.locator("#undecided-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#undecided-text")).to_contain_text("2 pre-labels are still undecided")
    assert page.evaluate("document.activeElement.id") == "undecided-back"
    doc_shot(page, "submit-undecided-prelabels")
    # Escape goes back: nothing submitted, the focus returns to the canvas.
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert page.evaluate("document.activeElement.id") == "stage"
    assert server.api("admin").get(f"/images/{iid}")["status"] == "new"
    # Keyboard only: Tab to "Submit anyway", Enter submits and the next image opens.
    page.keyboard.press("Control+Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "undecided-submit"
    page.keyboard.press("Enter")
    page.wait_for_function(f"!location.hash.includes('{iid}')")
    server.api("admin").settled()
    assert server.api("admin").get(f"/images/{iid}")["status"] == "submitted"
    errors.check()


def test_dashboard_shows_relabels_and_the_class_confusion(server: DemoServer,
                                                          new_context: Any) -> None:
    iid = server.new_image(PRELABELS)["id"]
    weak = next(a for a in _labels(server, iid).values() if a["label"] == "cat")
    server.api("ana").command(iid, {"type": "edit", "annotation_id": weak["id"],
                                    "changes": {"label": "coin"}})
    server.api("admin").settled()
    page = new_context().new_page()
    errors = log_in(page, server.base, "maria", then=f"#/projects/{server.project_id}/dashboard")
    page.wait_for_selector(".dashboard[data-loaded='true']")
    row = page.locator("#prelabel-table tbody tr[data-key='{\"model\":\"test-detector@7\"}']")
    expect(row.locator("td.m-relabeled")).not_to_have_text("0")
    cell = page.locator("#confusion-table tr[data-proposed='cat'] td[data-final='coin']")
    expect(cell).not_to_have_text("0")
    page.select_option("#confusion-model", "test-detector@7")
    expect(cell).not_to_have_text("0")
    doc_shot(page, "dashboard-relabels-confusion", show="#prelabel-table")
    errors.check()
