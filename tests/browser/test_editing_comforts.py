"""Editing comforts on the annotation canvas (issue 12, gap 11): copy / paste / duplicate shapes
(also onto the next image), previous image, hiding and locking a shape, z-order.

Pasted and duplicated shapes are ordinary ``create`` commands, checked through the API; hiding,
locking and the z-order are the viewer's own state (sessionStorage), checked by what a click or
a drag does."""

from __future__ import annotations

import uuid
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


def boxes(server: DemoServer, image_id: str) -> list[dict[str, Any]]:
    return [a for a in server.api("admin").labels(image_id)["annotations"] if a["type"] == "box"]


def put_box(server: DemoServer, image_id: str, label: str,
            x: float, y: float, w: float, h: float) -> str:
    ann_id = str(uuid.uuid4())
    server.api("ana").command(image_id, {"type": "create", "annotation": {
        "id": ann_id, "type": "box", "label": label, "geometry": {"x": x, "y": y, "w": w, "h": h}}})
    return ann_id


def selection(page: Any) -> list[str]:
    return list(page.evaluate("window.__lw.editor.selection"))


def click_at(page: Any, x: float, y: float) -> None:
    page.mouse.click(*to_screen(page, x, y))


def test_copy_paste_duplicate_paste_on_next_image_and_previous(server: DemoServer,
                                                                new_context: Any) -> None:
    first = server.new_image()["id"]
    second = server.new_image()["id"]
    put_box(server, first, "cup", 100, 100, 120, 80)
    put_box(server, first, "cat", 750, 300, 50, 40)  # at the right edge (the image is 800 wide)
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, first)

    # Copy the cup, paste it on the same image: a new manual cup, 10 px lower right.
    click_at(page, 160, 140)
    page.wait_for_function("window.__lw.editor.selection.length === 1")
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    page.wait_for_function("window.__lw.editor.labels.size === 3")
    pasted = selection(page)
    pending_settled(page)
    by_id = {a["id"]: a for a in boxes(server, first)}
    assert len(by_id) == 3 and len(pasted) == 1
    assert by_id[pasted[0]]["label"] == "cup" and by_id[pasted[0]]["source"] == "manual"
    assert by_id[pasted[0]]["geometry"] == pytest.approx({"x": 110, "y": 110, "w": 120, "h": 80})

    # Duplicate the box at the edge: offset and clipped to the image; one undo takes it back.
    click_at(page, 775, 320)
    page.keyboard.press("Control+d")
    page.wait_for_function("window.__lw.editor.labels.size === 4")
    dup = selection(page)[0]
    pending_settled(page)
    by_id = {a["id"]: a for a in boxes(server, first)}
    assert by_id[dup]["label"] == "cat" and by_id[dup]["source"] == "manual"
    assert by_id[dup]["geometry"] == pytest.approx({"x": 760, "y": 310, "w": 40, "h": 40})
    shot(page, "40-duplicate")
    page.keyboard.press("Control+z")
    page.wait_for_function("window.__lw.editor.labels.size === 3")
    pending_settled(page)
    assert dup not in {a["id"] for a in boxes(server, first)}

    # The clipboard stays in the tab: paste the cup onto the next image, in the same place.
    open_image(page, server.base, second)
    page.locator("#stage").focus()
    page.keyboard.press("Control+v")
    page.wait_for_function("window.__lw.editor.labels.size === 1")
    pending_settled(page)
    [there] = boxes(server, second)
    assert there["label"] == "cup" and there["source"] == "manual"
    assert there["geometry"] == pytest.approx({"x": 100, "y": 100, "w": 120, "h": 80})

    # A class the project does not have is refused, with a message, and nothing is recorded.
    page.evaluate("""sessionStorage.setItem('lw.clipboard', JSON.stringify({image_id: 'elsewhere',
        width: 800, height: 600, shapes: [{type: 'box', label: 'unicorn',
        geometry: {x: 1, y: 1, w: 5, h: 5}}]}))""")
    page.keyboard.press("Control+v")
    expect(page.locator("#toasts .toast").last).to_contain_text("no class “unicorn”")
    assert len(boxes(server, second)) == 1

    # Previous image: Ctrl+← goes back to the first image; the button too.
    page.keyboard.press("Control+ArrowLeft")
    page.wait_for_function(f"window.__lw.editor && window.__lw.editor.imageId === '{first}'")
    open_image(page, server.base, second)
    page.click("#previous-image")
    page.wait_for_function(f"window.__lw.editor && window.__lw.editor.imageId === '{first}'")
    errors.check()


def test_hide_lock_and_z_order(server: DemoServer, new_context: Any) -> None:
    iid = server.new_image()["id"]
    cat = put_box(server, iid, "cat", 100, 100, 300, 300)
    cup = put_box(server, iid, "cup", 150, 150, 100, 100)  # inside the cat
    person = put_box(server, iid, "person", 500, 100, 150, 150)
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)

    # Z-order: a click in the overlap picks the smaller cup; sent to back, the cat is picked.
    click_at(page, 200, 200)
    assert selection(page) == [cup]
    page.keyboard.press("Control+[")
    click_at(page, 700, 550)  # empty: clears the selection
    click_at(page, 200, 200)
    assert selection(page) == [cat]
    page.keyboard.press("Control+]")  # the cat in front stays picked
    click_at(page, 700, 550)
    click_at(page, 200, 200)
    assert selection(page) == [cat]

    # Hide the cat from the object list: a click on it selects nothing; in the overlap, the cup.
    page.click(f".vrow[data-id='{cat}'] .vrow-eye")
    page.wait_for_function(f"window.__lw.editor.view.isHidden('{cat}')")
    assert selection(page) == []
    click_at(page, 120, 120)
    assert selection(page) == []
    click_at(page, 200, 200)
    assert selection(page) == [cup]
    # Shift+H hides the selection; with nothing selected it shows every hidden shape.
    page.keyboard.press("Shift+H")
    page.wait_for_function(f"window.__lw.editor.view.isHidden('{cup}')")
    click_at(page, 200, 200)
    assert selection(page) == []
    shot(page, "41-hidden-locked")
    page.keyboard.press("Shift+H")
    page.wait_for_function(f"!window.__lw.editor.view.isHidden('{cup}')"
                           f" && !window.__lw.editor.view.isHidden('{cat}')")

    # Lock the person: a drag that starts on it does not move it (nor select it).
    page.click(f".vrow[data-id='{person}'] .vrow-lock")
    page.wait_for_function(f"window.__lw.editor.view.isLocked('{person}')")
    start = to_screen(page, 575, 175)
    drag(page, start, (start[0] + 60, start[1] + 60))
    assert person not in selection(page)
    pending_settled(page)
    [p] = [a for a in boxes(server, iid) if a["id"] == person]
    assert p["geometry"] == {"x": 500, "y": 100, "w": 150, "h": 150} and p["revision"] == 1

    # The view state is kept per image in the tab: after a reload the person is still locked.
    page.reload()
    open_image(page, server.base, iid)
    assert page.evaluate(f"window.__lw.editor.view.isLocked('{person}')")
    # L with nothing selected unlocks all; the same drag now moves it.
    page.locator("#stage").focus()
    page.keyboard.press("l")
    page.wait_for_function(f"!window.__lw.editor.view.isLocked('{person}')")
    start = to_screen(page, 575, 175)
    end = to_screen(page, 615, 215)
    drag(page, start, end)
    pending_settled(page)
    [p] = [a for a in boxes(server, iid) if a["id"] == person]
    assert p["geometry"]["x"] == pytest.approx(540, abs=2)
    errors.check()
