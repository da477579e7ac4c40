"""The annotation screen with the keyboard alone (issue 12, defects 1 and 2).

Tab / Shift+Tab leave the canvas for the side panel and come back (no keyboard trap, WCAG
2.1.2); the canvas shows a focus ring; a new box is drawn with the arrows and Enter (WCAG
2.1.1; more in test_keyboard_drawing.py); Ctrl+A selects the shapes on the canvas, a text
field's text in a text field, and never the page's text; a number key picks the class of the
next shape and relabels only a shape the user chose, never the one just drawn.
"""

from __future__ import annotations

import time
from io import BytesIO
from typing import Any

import pytest
from PIL import Image

from tests.browser.lab import (
    DemoServer,
    doc_shot,
    drag,
    expect,
    log_in,
    open_image,
    pending_settled,
    shot,
    to_screen,
)

pytestmark = pytest.mark.browser

FOCUS_RGB = (0xD9, 0x77, 0x06)  # --focus in app.css
ACTIVE = ("(() => { const a = document.activeElement;"
          " return a ? (a.id || a.dataset.label || a.tagName) : null; })()")


def active(page: Any) -> str:
    return str(page.evaluate(ACTIVE))


def tab_until(page: Any, condition: str, *, back: bool = False, limit: int = 80) -> list[str]:
    """Press Tab (Shift+Tab with ``back``) until ``condition`` (JS, about
    ``document.activeElement``) holds; the focused elements on the way. Fails after ``limit``."""
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        seen.append(active(page))
        if page.evaluate(condition):
            return seen
    raise AssertionError(f"never reached {condition!r} with the keyboard; focus went {seen}")


def status_becomes(server: DemoServer, image_id: str, status: str) -> None:
    """The image reaches ``status`` (the view then opens the next image; the work queue may,
    while its read model lags, hand the same one back, so the test does not wait on the URL)."""
    for _ in range(150):
        if server.api("admin").get(f"/images/{image_id}")["status"] == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"image {image_id} never became {status}")


def arrows(page: Any, key: str, times: int) -> None:
    for _ in range(times):
        page.keyboard.press(key)


def label_of(server: DemoServer, image_id: str, annotation_id: str) -> str:
    labels = {a["id"]: a for a in server.api("admin").labels(image_id)["annotations"]}
    return str(labels[annotation_id]["label"])


def test_keyboard_only_from_the_canvas_to_submit_and_review(server: DemoServer,
                                                          new_context: Any) -> None:
    iid = server.new_image([{"type": "box", "label": "cup", "score": 0.9,
                             "geometry": {"x": 60, "y": 60, "w": 120, "h": 100}}])["id"]
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    assert active(page) == "stage"

    # On the canvas: N selects the pre-label, A accepts it (no mouse from here on).
    page.keyboard.press("n")
    page.keyboard.press("a")
    pending_settled(page)

    # Tab leaves the canvas for the side panel's class list; Enter picks "rocket".
    tab_until(page, "document.activeElement.classList.contains('class-btn')")
    tab_until(page, "document.activeElement.dataset.label === 'rocket'")
    page.keyboard.press("Enter")
    rocket = page.locator(".class-btn[data-label='rocket']")
    expect(rocket).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("window.__lw.editor.currentLabel") == "rocket"
    # The accepted pre-label was selected by N (a choice), so it took the class too.
    pending_settled(page)
    assert [a["label"] for a in server.api("admin").labels(iid)["annotations"]] == ["rocket"]

    # On to Submit; Shift+Tab goes all the way back into the canvas.
    way = tab_until(page, "document.activeElement.id === 'submit-image'")
    assert "stage" not in way
    back = tab_until(page, "document.activeElement.id === 'stage'", back=True)
    assert back[-1] == "stage" and len(back) > 1

    # The canvas shows that it has the focus: a ring in the focus colour, on top of the image.
    ring = page.evaluate("""() => { const s = getComputedStyle(document.getElementById('stage'));
        const a = getComputedStyle(document.getElementById('stage'), '::after');
        return [s.outlineStyle, s.outlineWidth, s.outlineColor, a.boxShadow]; }""")
    assert ring[0] == "solid" and float(ring[1].removesuffix("px")) >= 2, ring
    assert ring[2] == "rgb(217, 119, 6)" and "rgb(217, 119, 6)" in ring[3], ring
    box = page.locator("#stage").bounding_box()
    png = page.screenshot(clip={"x": box["x"], "y": box["y"] + box["height"] / 2,
                                "width": 2, "height": 1})
    pixel = Image.open(BytesIO(png)).convert("RGB").getpixel((1, 0))
    assert isinstance(pixel, tuple), pixel
    assert all(abs(c - f) <= 12 for c, f in zip(pixel, FOCUS_RGB, strict=True)), pixel
    doc_shot(page, "keyboard-focus-ring")

    # A new box, from the keyboard: Esc lets go of the pre-label N chose (else the arrows would
    # move it), B shows the drawing cursor at the image's centre, the arrows move it (Shift: 10
    # px), Enter sets one corner and then the opposite one; the box is a "rocket" (the class
    # picked above), made by the same command as a dragged box.
    page.keyboard.press("Escape")
    assert page.evaluate("window.__lw.editor.selection.length") == 0
    page.keyboard.press("b")
    expect(page.locator("#draw-status")).to_contain_text("cursor at 400, 300")
    arrows(page, "Shift+ArrowLeft", 10)
    arrows(page, "Shift+ArrowUp", 5)
    arrows(page, "ArrowLeft", 3)
    arrows(page, "ArrowDown", 2)
    page.keyboard.press("Enter")
    expect(page.locator("#draw-status")).to_contain_text("First corner set at 297, 252")
    arrows(page, "Shift+ArrowRight", 12)
    arrows(page, "Shift+ArrowDown", 8)
    page.keyboard.press("ArrowRight")
    expect(page.locator(".statusline .coords")).to_have_text("x 418, y 332 · w 121, h 80")
    shot(page, "52-keyboard-drawing-a-box")
    page.keyboard.press("Enter")
    expect(page.locator("#draw-status")).to_contain_text(
        "Box created from 297, 252 to 418, 332 (121 by 80), class rocket")
    page.wait_for_function("window.__lw.editor.selection.length === 1")
    drawn = str(page.evaluate("window.__lw.editor.selection[0]"))
    pending_settled(page)
    recorded = {a["id"]: a for a in server.api("admin").labels(iid)["annotations"]}
    assert recorded[drawn]["type"] == "box" and recorded[drawn]["label"] == "rocket"
    assert recorded[drawn]["geometry"] == pytest.approx({"x": 297, "y": 252, "w": 121, "h": 80},
                                                        abs=1)
    assert active(page) == "stage"

    # Forward again to Submit, and Enter submits (the next image opens).
    tab_until(page, "document.activeElement.id === 'submit-image'")
    shot(page, "51-keyboard-submit-focused")
    page.keyboard.press("Enter")
    status_becomes(server, iid, "submitted")
    errors.check()

    # The reviewer, keyboard only: from the canvas to the comment, the text, then Approve.
    rui = new_context().new_page()
    rui_errors = log_in(rui, server.base, "rui")
    open_image(rui, server.base, iid)
    assert active(rui) == "stage"
    tab_until(rui, "document.activeElement.id === 'review-comment'")
    rui.keyboard.type("Fine.")
    # Ctrl+A in a text field selects its text, not the shapes.
    rui.keyboard.press("Control+a")
    assert rui.evaluate("""() => { const t = document.getElementById('review-comment');
        return [t.selectionStart, t.selectionEnd]; }""") == [0, 5]
    assert rui.evaluate("window.__lw.editor.selection.length") == 0
    rui.keyboard.press("End")
    tab_until(rui, "document.activeElement.id === 'approve'")
    rui.keyboard.press("Enter")
    status_becomes(server, iid, "approved")
    review = server.api("admin").get(f"/images/{iid}/history")["events"][-1]
    assert review["data"] == {"verdict": "approve", "comment": "Fine."}
    approved = sorted((a["type"], a["label"])
                      for a in server.api("admin").labels(iid)["annotations"])
    assert approved == [("box", "rocket"), ("box", "rocket")]  # the pre-label and the drawn box
    rui_errors.check()


def test_ctrl_a_selects_the_shapes_on_the_canvas_only(server: DemoServer,
                                                     new_context: Any) -> None:
    iid = server.new_image([{"type": "box", "label": "cup", "score": s,
                             "geometry": {"x": 40 + 200 * i, "y": 80, "w": 120, "h": 90}}
                            for i, s in enumerate([0.9, 0.7, 0.5])])["id"]
    server.api("admin").command(iid, {"type": "create", "annotation": {
        "type": "tag", "label": "flag", "geometry": {}}})
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    no_page_text = "window.getSelection().toString() === ''"

    # Elsewhere (a button in the side panel) Ctrl+A does nothing: no shapes, no page text.
    page.locator(".class-btn[data-label='cat']").focus()
    page.keyboard.press("Control+a")
    assert page.evaluate(no_page_text)
    assert page.evaluate("window.__lw.editor.selection.length") == 0

    # On the canvas it selects every shape (not the image's tag), and no page text.
    page.locator("#stage").focus()
    page.keyboard.press("Control+a")
    assert page.evaluate(no_page_text)
    page.wait_for_function("window.__lw.editor.selection.length === 3")
    expect(page.locator("#selected")).to_contain_text("3 selected")
    # A choice: a number key relabels all of them.
    page.keyboard.press("2")
    pending_settled(page)
    shapes = [a for a in server.api("admin").labels(iid)["annotations"] if a["type"] == "box"]
    assert sorted(a["label"] for a in shapes) == ["cat", "cat", "cat"]
    errors.check()


def test_a_number_key_picks_the_next_class_not_the_shape_just_drawn(server: DemoServer,
                                                                   new_context: Any) -> None:
    iid = server.new_image()["id"]
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)

    # A box of class 1 (person); then 2: the class of the next box, this one stays a person.
    page.keyboard.press("1")
    page.keyboard.press("b")
    drag(page, to_screen(page, 60, 60), to_screen(page, 200, 180))
    page.wait_for_function("window.__lw.editor.selection.length === 1")
    first = str(page.evaluate("window.__lw.editor.selection[0]"))
    page.keyboard.press("2")
    expect(page.locator(".class-btn[data-label='cat']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#selection-hint")).to_be_visible()
    drag(page, to_screen(page, 300, 60), to_screen(page, 440, 180))
    page.wait_for_function(f"window.__lw.editor.selection[0] !== '{first}'")
    second = str(page.evaluate("window.__lw.editor.selection[0]"))
    pending_settled(page)
    assert label_of(server, iid, first) == "person"
    assert label_of(server, iid, second) == "cat"
    history = server.api("admin").get(f"/images/{iid}/history")["events"]
    assert [e["type"] for e in history if e["actor"] == "ana"] == ["AnnotationCreated"] * 2

    # A shape the user chose is relabelled: clicked with the select tool...
    page.keyboard.press("v")
    page.mouse.click(*to_screen(page, 130, 120))
    page.wait_for_function(f"window.__lw.editor.selection[0] === '{first}'"
                           " && window.__lw.editor.selectionExplicit")
    page.keyboard.press("3")
    pending_settled(page)
    assert label_of(server, iid, first) == "cup"
    # ... or picked in the object list.
    page.click(f".vrow[data-id='{second}']")
    page.keyboard.press("4")
    pending_settled(page)
    assert label_of(server, iid, second) == "rocket"
    assert label_of(server, iid, first) == "cup"
    shot(page, "52-number-keys-relabel-chosen")

    # The shape just drawn becomes a choice when clicked, though it already shows selected.
    page.keyboard.press("b")
    drag(page, to_screen(page, 100, 300), to_screen(page, 240, 420))
    page.wait_for_function("window.__lw.editor.selection.length === 1 && !['"
                           f"{first}', '{second}'].includes(window.__lw.editor.selection[0])")
    third = str(page.evaluate("window.__lw.editor.selection[0]"))
    page.keyboard.press("v")
    page.mouse.click(*to_screen(page, 170, 360))
    page.wait_for_function("window.__lw.editor.selectionExplicit")
    page.keyboard.press("1")
    pending_settled(page)
    assert label_of(server, iid, third) == "person"  # drawn as a rocket (key 4), now a person
    errors.check()
