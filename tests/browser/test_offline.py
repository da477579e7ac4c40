"""Working offline: commands made without a connection are queued with their command ids, sent
on reconnect, and each applies exactly once; the one that conflicts meanwhile is reported."""

from __future__ import annotations

from collections import Counter
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
    wait_live,
)

pytestmark = pytest.mark.browser

PRELABELS = [
    {"type": "box", "label": "cup", "score": 0.9,
     "geometry": {"x": 420, "y": 60, "w": 150, "h": 120}},
    {"type": "box", "label": "flag", "score": 0.4,
     "geometry": {"x": 600, "y": 380, "w": 120, "h": 90}},
]


def test_offline_work_is_sent_once_on_reconnect(server: DemoServer, new_context: Any) -> None:
    image = server.new_image(PRELABELS)
    iid = image["id"]
    admin = server.api("admin")
    m_id = admin.command(iid, {"type": "create", "annotation": {
        "type": "box", "label": "cup", "geometry": {"x": 80, "y": 300, "w": 160, "h": 120}}}
    )["events"][0]["data"]["annotation_id"]
    q_id = admin.command(iid, {"type": "create", "annotation": {
        "type": "box", "label": "cup", "geometry": {"x": 300, "y": 420, "w": 90, "h": 90}}}
    )["events"][0]["data"]["annotation_id"]
    admin.settled()
    by_label = {a["label"]: a["id"] for a in admin.labels(iid)["annotations"]
                if a["status"] == "proposed"}

    context = new_context()
    page = context.new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, iid)

    context.set_offline(True)
    page.wait_for_selector("#conn[data-state='offline']")

    # Offline: draw, relabel, move, accept, reject, draw and undo.
    page.keyboard.press("b")
    drag(page, to_screen(page, 100, 60), to_screen(page, 250, 200))
    n1 = page.evaluate("window.__lw.editor.selection[0]")
    page.click(f".vrow[data-id='{n1}']")  # chosen, so the number key relabels it
    page.keyboard.press("2")  # cat
    page.keyboard.press("v")
    page.mouse.click(*to_screen(page, 160, 360))
    page.wait_for_function(f"window.__lw.editor.selection[0] === '{m_id}'")
    page.keyboard.press("ArrowRight")
    page.click(f".vrow[data-id='{by_label['cup']}']")
    page.keyboard.press("a")
    page.click(f".vrow[data-id='{by_label['flag']}']")
    page.keyboard.press("Delete")
    page.mouse.click(*to_screen(page, 345, 465))
    page.wait_for_function(f"window.__lw.editor.selection[0] === '{q_id}'")
    page.keyboard.press("Shift+ArrowUp")
    page.keyboard.press("b")
    drag(page, to_screen(page, 600, 100), to_screen(page, 700, 200))
    page.keyboard.press("Control+z")  # undoing the second box is one more command

    page.wait_for_function("window.__lw.outbox.entries.length === 8")
    queued = page.evaluate("window.__lw.outbox.entries.map(e => e.body)")
    assert [c["type"] for c in queued] == ["create", "edit", "edit", "accept", "delete", "edit",
                                           "create", "delete"]
    expect(page.locator("#conn .conn-text")).to_have_text("Offline · 8 changes queued")
    shown = {a["id"]: a for a in page.evaluate("[...window.__lw.editor.labels.values()]")}
    assert shown[n1]["label"] == "cat" and shown[n1]["pending"]
    assert shown[by_label["cup"]]["status"] == "accepted"
    assert by_label["flag"] not in shown
    shot(page, "07-offline-queued")

    # Meanwhile someone else changes M: Ana's move of M (made against revision 1) must conflict.
    admin.command(iid, {"type": "edit", "annotation_id": m_id, "changes": {"label": "flag"},
                        "base_revision": 1})

    context.set_offline(False)
    wait_live(page)
    pending_settled(page)
    page.locator("#conflict-banner",
                 has_text="Your change to flag was overwritten by admin.").wait_for()
    shot(page, "08-back-online")
    errors.check()

    # Exactly once: every queued command id recorded its events once, except the refused one.
    history = admin.get(f"/images/{iid}/history", limit=1000)["events"]
    per_command = Counter(e.get("command_id") for e in history if e["actor"] == "ana")
    ids = [c["command_id"] for c in queued]
    refused = queued[2]["command_id"]  # the move of M
    assert per_command == Counter({i: 1 for i in ids if i != refused})

    labels = {a["id"]: a for a in admin.labels(iid)["annotations"]}
    assert labels[n1]["label"] == "cat"
    assert labels[m_id]["label"] == "flag" and labels[m_id]["geometry"]["x"] == 80  # not moved
    assert labels[q_id]["geometry"]["y"] == 410
    assert labels[by_label["cup"]]["status"] == "accepted"
    assert by_label["flag"] not in labels
    assert len(labels) == 4  # n1, m, q, the accepted cup: the undone box is gone
    now_shown = page.evaluate("[...window.__lw.editor.labels.values()]")
    expected = {i: a["geometry"] for i, a in labels.items()}
    assert {a["id"]: a["geometry"] for a in now_shown} == expected

    # Sending a command again (as after a lost answer) records nothing new.
    before = len(history)
    page.evaluate("(body) => window.__lw.outbox.push(body.image_id, body.command)",
                  {"image_id": iid, "command": queued[0]})
    pending_settled(page)
    assert len(admin.get(f"/images/{iid}/history", limit=1000)["events"]) == before


def test_without_the_live_socket_commands_go_over_http(server: DemoServer,
                                                       new_context: Any) -> None:
    """A network that refuses WebSockets (some proxies do): the canvas still works."""
    iid = server.new_image(PRELABELS)["id"]
    context = new_context()
    context.route_web_socket("**/api/v1/ws", lambda ws: ws.close())
    page = context.new_page()
    errors = log_in(page, server.base, "ana")
    page.goto(f"{server.base}/#/images/{iid}")
    page.wait_for_function("window.__lw.editor && window.__lw.editor.renderer.imageShown")
    page.keyboard.press("b")
    drag(page, to_screen(page, 100, 60), to_screen(page, 250, 200))
    box = page.evaluate("window.__lw.editor.selection[0]")
    page.keyboard.press("v")
    page.keyboard.press("n")
    best = page.evaluate("window.__lw.editor.selection[0]")
    page.keyboard.press("a")
    pending_settled(page)
    labels = {a["id"]: a for a in server.api("admin").labels(iid)["annotations"]}
    assert labels[box]["status"] == "manual" and labels[best]["status"] == "accepted"
    assert page.evaluate("window.__lw.socket.online") is False
    errors.check()


def test_queued_work_survives_a_reload(server: DemoServer, new_context: Any) -> None:
    """Commands that could not be sent are kept in the tab's storage: a reload shows them
    again (as pending) and sends them once the server can be reached."""
    iid = server.new_image()["id"]
    context = new_context()
    blocked = {"on": True}  # the live socket and command posts fail, everything else works
    context.route_web_socket(
        "**/api/v1/ws", lambda ws: ws.close() if blocked["on"] else ws.connect_to_server())
    context.route("**/commands", lambda route: route.abort() if blocked["on"]
                  else route.continue_())
    page = context.new_page()
    errors = log_in(page, server.base, "ana")
    page.goto(f"{server.base}/#/images/{iid}")
    page.wait_for_function("window.__lw.editor && window.__lw.editor.renderer.imageShown")
    page.keyboard.press("b")
    drag(page, to_screen(page, 100, 60), to_screen(page, 250, 200))
    drag(page, to_screen(page, 300, 260), to_screen(page, 380, 330))
    made = page.evaluate("window.__lw.outbox.entries.map(e => e.body.annotation.id)")
    assert len(made) == 2

    page.reload()
    page.wait_for_function("window.__lw.editor && window.__lw.editor.renderer.imageShown")
    shown = page.evaluate("[...window.__lw.editor.labels.values()].filter(a => a.pending)"
                          ".map(a => a.id)")
    assert sorted(shown) == sorted(made)
    assert server.api("admin").labels(iid)["annotations"] == []

    blocked["on"] = False
    pending_settled(page)
    labels = server.api("admin").labels(iid)["annotations"]
    assert sorted(a["id"] for a in labels) == sorted(made)
    history = server.api("admin").get(f"/images/{iid}/history")["events"]
    assert [e["type"] for e in history] == ["ImageAdded", "AnnotationCreated",
                                            "AnnotationCreated"]
    errors.check(expected=("net::ERR_FAILED",))  # the posts this test made fail
