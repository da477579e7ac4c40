"""Two annotators on one image: presence, live edits, and a conflict that resolves cleanly."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import (
    DemoServer,
    drag,
    log_in,
    open_image,
    pending_settled,
    shot,
    to_screen,
)

pytestmark = pytest.mark.browser


def box(x: float, y: float, w: float, h: float, label: str = "cup") -> dict[str, Any]:
    return {"type": "create", "annotation": {"type": "box", "label": label,
                                             "geometry": {"x": x, "y": y, "w": w, "h": h}}}


def labels_of(page: Any) -> dict[str, Any]:
    return {a["id"]: a for a in page.evaluate("[...window.__lw.editor.labels.values()]")}


def test_two_annotators_see_each_other_and_resolve_a_conflict(server: DemoServer,
                                                              new_context: Any) -> None:
    image = server.new_image()
    iid = image["id"]
    admin = server.api("admin")
    made = admin.command(iid, {"commands": [box(100, 100, 200, 150), box(450, 300, 150, 120)]})
    x_id, y_id = (e["data"]["annotation_id"] for e in made["events"])
    admin.settled()

    ana = new_context().new_page()
    arjun = new_context().new_page()
    ana_errors = log_in(ana, server.base, "ana")
    arjun_errors = log_in(arjun, server.base, "arjun")
    open_image(ana, server.base, iid)
    open_image(arjun, server.base, iid)

    # Each sees the other in the room.
    ana.wait_for_selector(".people [data-user='arjun']")
    arjun.wait_for_selector(".people [data-user='ana']")

    # Ana's cursor and selection show on Arjun's canvas.
    ana.mouse.move(*to_screen(ana, 400, 250))
    ana.mouse.move(*to_screen(ana, 410, 260))
    arjun.wait_for_function("(() => { const p = window.__lw.presence.people.get('ana');"
                            " return p && p.cursor && Math.abs(p.cursor.x - 410) < 2; })()")
    ana.mouse.click(*to_screen(ana, 520, 360))  # selects Y
    arjun.wait_for_function(f"window.__lw.presence.people.get('ana').selection[0] === '{y_id}'")
    ana.mouse.move(*to_screen(ana, 330, 120))
    arjun.wait_for_function("window.__lw.presence.people.get('ana').cursor.y < 125")
    shot(arjun, "05-live-cursor-and-selection")

    # Ana draws a box; it appears on Arjun's screen.
    ana.keyboard.press("Escape")
    ana.keyboard.press("b")
    drag(ana, to_screen(ana, 620, 60), to_screen(ana, 740, 160))
    new_id = ana.evaluate("window.__lw.editor.selection[0]")
    arjun.wait_for_function(f"window.__lw.editor.labels.get('{new_id}') !== undefined")
    assert labels_of(arjun)[new_id]["geometry"] == labels_of(ana)[new_id]["geometry"]
    ana.keyboard.press("v")

    # Conflict: Arjun starts dragging X; meanwhile Ana moves X three pixels to the right.
    arjun.mouse.move(*to_screen(arjun, 200, 175))
    arjun.mouse.down()
    arjun.mouse.move(*to_screen(arjun, 215, 185), steps=4)
    ana.mouse.click(*to_screen(ana, 200, 175))
    ana.wait_for_function(f"window.__lw.editor.selection[0] === '{x_id}'")
    for _ in range(3):
        ana.keyboard.press("ArrowRight")
    pending_settled(ana)
    arjun.wait_for_function(f"window.__lw.editor.labels.get('{x_id}').revision === 4")
    arjun.mouse.move(*to_screen(arjun, 230, 195), steps=4)
    arjun.mouse.up()  # Arjun's edit was made against revision 1: refused, not applied

    banner = arjun.locator("#conflict-banner",
                           has_text="Your change to cup was overwritten by ana.")
    banner.wait_for()
    shot(arjun, "06-live-conflict")
    pending_settled(arjun)
    server_x = {a["id"]: a for a in admin.labels(iid)["annotations"]}[x_id]
    assert server_x["geometry"] == {"x": 103.0, "y": 100.0, "w": 200.0, "h": 150.0}
    assert server_x["updated_by"] == "ana"
    assert labels_of(arjun)[x_id]["geometry"] == server_x["geometry"]  # view shows Ana's X

    # Arjun's other work goes on: his next edit (of Y) applies.
    arjun.mouse.click(*to_screen(arjun, 520, 360))
    arjun.wait_for_function(f"window.__lw.editor.selection[0] === '{y_id}'")
    arjun.keyboard.press("Shift+ArrowDown")
    pending_settled(arjun)
    server_y = {a["id"]: a for a in admin.labels(iid)["annotations"]}[y_id]
    assert server_y["geometry"]["y"] == 310 and server_y["updated_by"] == "arjun"
    ana.wait_for_function(f"window.__lw.editor.labels.get('{y_id}').geometry.y === 310")

    # Both views agree with the server.
    server_state = {a["id"]: a["geometry"] for a in admin.labels(iid)["annotations"]}
    for page in (ana, arjun):
        assert {i: a["geometry"] for i, a in labels_of(page).items()} == server_state
    ana_errors.check()
    arjun_errors.check()
