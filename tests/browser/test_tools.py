"""The drawing tools, tags, undo/redo, masks, the work queue and the reviewer's verdict."""

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


def server_labels(server: DemoServer, image_id: str) -> dict[str, Any]:
    return {a["id"]: a for a in server.api("admin").labels(image_id)["annotations"]}


def selected(page: Any) -> str:
    page.wait_for_function("window.__lw.editor.selection.length === 1")
    return str(page.evaluate("window.__lw.editor.selection[0]"))


def test_polygon_point_extreme_points_tags_and_undo(server: DemoServer,
                                                    new_context: Any) -> None:
    iid = server.new_image()["id"]
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)

    # Polygon: three clicks and Enter; then drag its first vertex.
    page.keyboard.press("3")  # cup
    page.keyboard.press("p")
    for x, y in [(100, 100), (300, 120), (200, 300)]:
        page.mouse.click(*to_screen(page, x, y))
    page.keyboard.press("Enter")
    poly = selected(page)
    page.keyboard.press("v")
    drag(page, to_screen(page, 100, 100), to_screen(page, 90, 80))

    # Point, and an extreme-points box (left, top, right, bottom clicks → assist command).
    page.keyboard.press("o")
    page.mouse.click(*to_screen(page, 500, 100))
    point = selected(page)
    page.keyboard.press("e")
    for x, y in [(420, 400), (500, 330), (640, 420), (520, 520)]:
        page.mouse.click(*to_screen(page, x, y))
    page.wait_for_function(f"window.__lw.editor.selection[0] !== '{point}'")
    assisted = selected(page)

    # A tag for the whole image.
    page.select_option("#tag-select", "flag")
    page.click("text=Add tag")
    page.wait_for_selector(".tag-chip[data-label='flag']")
    pending_settled(page)
    shot(page, "12-tools")

    labels = server_labels(server, iid)
    assert labels[poly]["type"] == "polygon" and labels[poly]["label"] == "cup"
    assert labels[poly]["geometry"]["points"][0] == pytest.approx([90, 80], abs=1.5)
    assert labels[point]["type"] == "point"
    assert labels[point]["geometry"] == pytest.approx({"x": 500, "y": 100}, abs=1.5)
    assert labels[assisted]["source"] == "assist"
    assert labels[assisted]["geometry"] == pytest.approx(
        {"x": 420, "y": 330, "w": 220, "h": 190}, abs=2)
    assert [a["label"] for a in labels.values() if a["type"] == "tag"] == ["flag"]

    # Undo / redo are ordinary commands: the move back, then again.
    page.keyboard.press("v")
    page.mouse.click(*to_screen(page, 500, 100))
    page.keyboard.press("Shift+ArrowRight")
    pending_settled(page)
    assert server_labels(server, iid)[point]["geometry"]["x"] == pytest.approx(510, abs=1.5)
    page.keyboard.press("Control+z")
    pending_settled(page)
    assert server_labels(server, iid)[point]["geometry"]["x"] == pytest.approx(500, abs=1.5)
    page.keyboard.press("Control+Shift+z")
    pending_settled(page)
    assert server_labels(server, iid)[point]["geometry"]["x"] == pytest.approx(510, abs=1.5)

    # Undoing a delete brings the shape back (as a new annotation: ids are never reused).
    page.mouse.click(*to_screen(page, 510, 100))
    page.keyboard.press("Delete")
    pending_settled(page)
    assert point not in server_labels(server, iid)
    page.keyboard.press("Control+z")
    pending_settled(page)
    back = [a for a in server_labels(server, iid).values() if a["type"] == "point"]
    assert len(back) == 1 and back[0]["geometry"]["x"] == pytest.approx(510, abs=1.5)

    # Removing the tag.
    page.click(".tag-chip[data-label='flag'] .chip-x")
    pending_settled(page)
    assert not [a for a in server_labels(server, iid).values() if a["type"] == "tag"]
    history = server.api("admin").get(f"/images/{iid}/history", limit=1000)["events"]
    assert all(e["command_id"] for e in history if e["actor"] == "ana")
    errors.check()


def test_masks_and_the_help_overlay(server: DemoServer, new_context: Any) -> None:
    admin = server.api("admin")
    coins = next(im for im in admin.get(f"/projects/{server.project_id}/images",
                                        limit=50)["images"] if im["file_name"] == "coins.png")
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, coins["id"])
    masks = page.evaluate("[...window.__lw.editor.labels.values()].filter(a => a.type === 'mask')"
                          ".length")
    assert masks > 10
    # Masks are decoded from COCO RLE in the browser; a pixel inside a coin hits its mask.
    hit = page.evaluate("""() => {
      const ed = window.__lw.editor;
      const m = [...ed.labels.values()].find(a => a.type === 'mask');
      const d = ed.masks.mask(m);
      for (let k = 0; k < d.bits.length; k++) if (d.bits[k]) {
        const x = d.x + (k % d.w) + 0.5, y = d.y + Math.floor(k / d.w) + 0.5;
        return [m.id, ed.hitTest(x, y)];
      }
    }""")
    assert hit[1] is not None
    page.locator("#mask-opacity").focus()  # a range input moves with the arrow keys
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    assert page.evaluate("window.__lw.editor.renderer.options.maskOpacity") == 0.8
    shot(page, "13-annotate-masks")
    page.keyboard.press("?")
    page.wait_for_selector("dialog.help[open]")
    shot(page, "14-help-overlay")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog.help:not([open])", state="attached")
    errors.check()


def test_queue_submit_and_review(server: DemoServer, new_context: Any) -> None:
    iid = server.new_image([{"type": "box", "label": "cup", "score": 0.9,
                             "geometry": {"x": 50, "y": 50, "w": 100, "h": 100}}])["id"]
    ana = new_context().new_page()
    ana_errors = log_in(ana, server.base, "ana")
    ana.goto(f"{server.base}/#/projects/{server.project_id}")
    ana.wait_for_selector(f".image-card[data-image='{iid}']")
    ana.click(".chip[data-status='new']")
    ana.wait_for_function("[...document.querySelectorAll('.image-card')]"
                          ".every(c => c.dataset.status === 'new')")
    shot(ana, "02-queue")
    open_image(ana, server.base, iid)
    ana.keyboard.press("n")
    ana.keyboard.press("a")
    pending_settled(ana)
    ana.keyboard.press("Control+Enter")  # submit, then the next image opens
    ana.wait_for_function(f"!location.hash.includes('{iid}')")
    assert server.api("admin").get(f"/images/{iid}")["status"] == "submitted"

    rui = new_context().new_page()
    rui_errors = log_in(rui, server.base, "rui")
    open_image(rui, server.base, iid)
    rui.wait_for_selector("#approve")
    rui.click("#reject")  # a rejection needs a comment
    rui.locator(".toast", has_text="what should be fixed").wait_for()
    rui.fill("#review-comment", "The cup is cut off on the left.")
    shot(rui, "15-review")
    rui.click("#reject")
    rui.wait_for_function(f"!location.hash.includes('{iid}')")
    image = server.api("admin").get(f"/images/{iid}")
    assert image["status"] == "rejected"
    review = server.api("admin").get(f"/images/{iid}/history")["events"][-1]
    assert review["type"] == "ReviewRecorded" and review["actor"] == "rui"
    assert review["data"] == {"verdict": "reject", "comment": "The cup is cut off on the left."}
    ana_errors.check()
    rui_errors.check()


def test_accept_all_above_a_threshold_is_one_batch(server: DemoServer,
                                                  new_context: Any) -> None:
    scores = [0.95, 0.85, 0.81, 0.5, 0.2]
    iid = server.new_image([{"type": "box", "label": "cup", "score": s,
                             "geometry": {"x": 20 + 150 * i, "y": 40, "w": 100, "h": 80}}
                            for i, s in enumerate(scores)])["id"]
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    posts: list[Any] = []
    page.on("request", lambda r: posts.append(r.post_data_json)
            if r.method == "POST" and r.url.endswith("/commands") else None)
    open_image(page, server.base, iid)

    # Editing a pre-label (dragging the 0.5 one) records a correction, not a new label.
    drag(page, to_screen(page, 20 + 150 * 3 + 50, 80), to_screen(page, 20 + 150 * 3 + 60, 100))
    expect(page.locator("#accept-above")).to_have_text("Accept 3 with score ≥ 0.80")
    page.click("#accept-above")
    pending_settled(page)
    batches = [p for p in posts if "commands" in p]
    assert len(batches) == 1 and [c["type"] for c in batches[0]["commands"]] == ["accept"] * 3
    assert all(c["command_id"] and c["base_revision"] == 1 for c in batches[0]["commands"])

    by_score = {a["score"]: a for a in server.api("admin").labels(iid)["annotations"]}
    assert [by_score[s]["status"] for s in scores] == ["accepted", "accepted", "accepted",
                                                       "edited", "proposed"]
    history = server.api("admin").get(f"/images/{iid}/history")["events"]
    assert [e["type"] for e in history if e["actor"] == "ana"] == ["PrelabelEdited"] + [
        "PrelabelAccepted"] * 3
    errors.check()
