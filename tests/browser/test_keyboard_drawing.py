"""Drawing from the keyboard (issue 12, defect 1; WCAG 2.1.1): box, polygon and point with the
arrow keys and Enter / Space on the focused canvas, through the same commands as the mouse (the
class picked, one undo step); the arrows still move a shape the user chose; the mouse takes over.
"""

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

CURSOR = ("(() => { const k = window.__lw.editor.keyDraw;"
          " return k.shown ? [k.pos.x, k.pos.y] : null; })()")


def press(page: Any, key: str, times: int = 1) -> None:
    for _ in range(times):
        page.keyboard.press(key)


def cursor(page: Any) -> list[int] | None:
    return page.evaluate(CURSOR)


def recorded(server: DemoServer, image_id: str) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in server.api("admin").labels(image_id)["annotations"]}


def new_selected(page: Any, before: list[str]) -> str:
    page.wait_for_function(f"window.__lw.editor.selection.length === 1 && "
                           f"!{before!r}.includes(window.__lw.editor.selection[0])")
    return str(page.evaluate("window.__lw.editor.selection[0]"))


def test_a_box_from_the_keyboard_is_a_box_like_any_other(server: DemoServer,
                                                        new_context: Any) -> None:
    iid = server.new_image([{"type": "box", "label": "cup", "score": 0.9,
                             "geometry": {"x": 60, "y": 60, "w": 120, "h": 100}}])["id"]
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    status = page.locator("#draw-status")
    expect(status).to_have_attribute("aria-live", "polite")
    pre = str(page.evaluate("[...window.__lw.editor.labels.values()][0].id"))

    # A shape the user chose (".") and nothing under way: B shows the cursor, but the arrows
    # move the chosen shape, as they always did.
    page.keyboard.press(".")
    page.keyboard.press("b")
    assert cursor(page) == [400, 300]
    page.keyboard.press("ArrowRight")
    pending_settled(page)
    assert recorded(server, iid)[pre]["geometry"]["x"] == 61
    assert cursor(page) == [400, 300]
    # Esc leaves the box tool, Esc again clears the selection; B again: now the arrows move
    # the cursor, 1 px, Shift 10 px, and it stops at the image's edge.
    press(page, "Escape", 2)
    assert page.evaluate("window.__lw.editor.selection.length") == 0
    page.keyboard.press("b")
    assert cursor(page) == [400, 300]  # the last keyboard position (the centre)
    press(page, "Shift+ArrowLeft", 50)
    press(page, "ArrowUp", 3)
    assert cursor(page) == [0, 297]

    # Space also places; a box with no width is refused (and keeps its corner); Backspace takes
    # the corner back, Esc cancels the box but keeps the cursor: nothing made so far.
    press(page, "Shift+ArrowRight", 10)
    page.keyboard.press("Space")
    expect(status).to_contain_text("First corner set at 100, 297")
    press(page, "ArrowDown", 5)
    page.keyboard.press("Space")
    expect(status).to_contain_text("no width or height")
    page.keyboard.press("Backspace")
    expect(status).to_contain_text("First corner removed")
    page.keyboard.press("Enter")
    press(page, "Shift+ArrowRight", 4)
    page.keyboard.press("Escape")
    expect(status).to_contain_text("Box cancelled")
    assert cursor(page) == [140, 302]
    assert page.evaluate("window.__lw.editor.tool.name") == "box"
    assert len(recorded(server, iid)) == 1

    # The class picked with a number key; corners given in either order.
    page.keyboard.press("2")  # cat
    page.keyboard.press("Enter")
    press(page, "Shift+ArrowLeft", 4)
    press(page, "Shift+ArrowUp", 7)
    press(page, "ArrowLeft", 1)
    shot(page, "keyboard-drawing-box")
    page.keyboard.press("Enter")
    box = new_selected(page, [pre])
    pending_settled(page)
    got = recorded(server, iid)[box]
    assert got["type"] == "box" and got["label"] == "cat" and got["source"] != "prelabel"
    assert got["geometry"] == pytest.approx({"x": 99, "y": 232, "w": 41, "h": 70}, abs=1)
    expect(status).to_contain_text("Box created from 99, 232 to 140, 302 (41 by 70), class cat")

    # The box just drawn is selected but not chosen: the arrows go on moving the cursor.
    page.keyboard.press("ArrowRight")
    assert cursor(page) == [100, 232]
    pending_settled(page)
    assert recorded(server, iid)[box]["geometry"]["x"] == 99

    # One undo step takes it away, as for a dragged box.
    page.keyboard.press("Control+z")
    pending_settled(page)
    assert box not in recorded(server, iid)
    history = server.api("admin").get(f"/images/{iid}/history")["events"]
    mine = [e["type"] for e in history if e["actor"] == "ana"]
    assert mine == ["PrelabelEdited", "AnnotationCreated", "AnnotationDeleted"]
    errors.check()


def _annotating_a_new_image(server: DemoServer, new_context: Any) -> tuple[str, Any, Any]:
    """A new image open on ana's annotation screen: its id, the page, the page's errors."""
    iid = server.new_image()["id"]
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)
    return iid, page, errors


def test_polygon_and_point_from_the_keyboard(server: DemoServer, new_context: Any) -> None:
    iid, page, errors = _annotating_a_new_image(server, new_context)
    status = page.locator("#draw-status")

    # Polygon: Enter adds a point; Shift+Enter with fewer than three does nothing; Backspace
    # removes the last; Shift+Enter closes it.
    page.keyboard.press("3")  # cup
    page.keyboard.press("p")
    expect(status).to_contain_text("Polygon from the keyboard")
    press(page, "Shift+ArrowLeft", 10)
    page.keyboard.press("Enter")  # (300, 300)
    press(page, "Shift+ArrowRight", 15)
    page.keyboard.press("Enter")  # (450, 300)
    page.keyboard.press("Shift+Enter")
    expect(status).to_contain_text("A polygon needs at least 3 points; it has 2.")
    assert page.evaluate("window.__lw.editor.tool.points.length") == 2
    press(page, "Shift+ArrowDown", 3)
    page.keyboard.press("Enter")  # (450, 330): removed again
    page.keyboard.press("Backspace")
    expect(status).to_contain_text("Last point removed; 2 left.")
    press(page, "Shift+ArrowDown", 9)
    page.keyboard.press("Enter")  # (450, 420)
    press(page, "Shift+ArrowLeft", 8)
    page.keyboard.press("Enter")  # (370, 420)
    page.keyboard.press("Shift+Enter")
    poly = new_selected(page, [])
    expect(status).to_contain_text("Polygon of 4 points created, class cup.")

    # Point: Enter places one where the cursor is.
    page.keyboard.press("o")
    assert cursor(page) == [370, 420]  # where the keyboard left it
    press(page, "ArrowUp", 20)
    page.keyboard.press("Enter")
    point = new_selected(page, [poly])
    pending_settled(page)
    labels = recorded(server, iid)
    assert labels[poly]["type"] == "polygon" and labels[poly]["label"] == "cup"
    assert labels[poly]["geometry"]["points"] == [[300, 300], [450, 300], [450, 420], [370, 420]]
    assert labels[point]["type"] == "point" and labels[point]["label"] == "cup"
    assert labels[point]["geometry"] == {"x": 370, "y": 400}

    # Enter back on a polygon's first point closes it too (a point near it is just a point).
    page.keyboard.press("p")
    page.keyboard.press("Enter")  # (370, 400)
    press(page, "Shift+ArrowRight", 5)
    page.keyboard.press("Enter")  # (420, 400)
    press(page, "ArrowDown", 30)
    page.keyboard.press("Enter")  # (420, 430)
    press(page, "Shift+ArrowLeft", 5)
    press(page, "ArrowUp", 29)
    page.keyboard.press("Enter")  # (370, 401): a fourth point
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")  # (370, 400): closed
    closed = new_selected(page, [poly, point])
    expect(status).to_contain_text("Polygon of 4 points created")
    pending_settled(page)
    assert recorded(server, iid)[closed]["geometry"]["points"] == [
        [370, 400], [420, 400], [420, 430], [370, 401]]

    # The help overlay lists the keys.
    page.keyboard.press("?")
    expect(page.locator("dialog.help[open]")).to_contain_text("Draw with the keyboard")
    page.keyboard.press("Escape")
    errors.check()


def test_the_mouse_takes_over_and_keeps_its_keys(server: DemoServer, new_context: Any) -> None:
    iid, page, errors = _annotating_a_new_image(server, new_context)

    # The cursor shows with B; moving the mouse on the image hides it. Its messages never make
    # the status line taller: the canvas (and the image under the mouse) stays where it was.
    stage = page.locator("#stage").bounding_box()
    page.keyboard.press("b")
    assert cursor(page) == [400, 300]
    expect(page.locator("#draw-status")).to_contain_text("Box from the keyboard")
    assert page.locator("#stage").bounding_box() == stage
    page.mouse.move(*to_screen(page, 100, 100))
    page.mouse.move(*to_screen(page, 110, 100))
    assert cursor(page) is None
    expect(page.locator("#draw-status")).to_have_text("")
    assert page.locator("#stage").bounding_box() == stage

    # A dragged box is selected; with no keyboard cursor the arrows move it, as before.
    drag(page, to_screen(page, 100, 100), to_screen(page, 200, 180))
    box = new_selected(page, [])
    page.keyboard.press("ArrowRight")
    pending_settled(page)
    assert recorded(server, iid)[box]["geometry"]["x"] == pytest.approx(101, abs=1.5)
    assert cursor(page) is None

    # A polygon clicked with the mouse: Enter closes it (not a keyboard point).
    page.keyboard.press("p")
    for x, y in [(300, 100), (400, 120), (350, 220)]:
        page.mouse.click(*to_screen(page, x, y))
    page.keyboard.press("Enter")
    poly = new_selected(page, [box])
    pending_settled(page)
    assert len(recorded(server, iid)[poly]["geometry"]["points"]) == 3
    errors.check()
