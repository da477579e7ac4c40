"""Per-object attributes in the browser: a manager defines `occluded` (checkbox) and `colour`
(select, for cars) on the settings screen; an annotator draws a box, sets both with the
keyboard in the side panel, sees them in the object list and after a reload, undoes the last
change (the previous value comes back); the COCO export carries them, the history names them. With
LABELWRIGHT_UPDATE_DOCS_SCREENSHOTS set, the settings section and the attribute panel are
photographed into docs/screenshots/."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.browser.lab import (
    DemoServer,
    doc_shot,
    drag,
    expect,
    log_in,
    open_image,
    pending_settled,
    sample_png,
    to_screen,
)

pytestmark = pytest.mark.browser


def fresh_project(server: DemoServer) -> tuple[str, str]:
    admin = server.api("admin")
    project = admin.post("/projects", {"name": f"attributes {uuid.uuid4().hex[:6]}",
                                       "classes": ["car", "person"]}, expect=201)
    pid = project["id"]
    for name, role in (("maria", "manager"), ("ana", "annotator")):
        r = admin.client.put(f"/projects/{pid}/members/{name}", json={"role": role})
        assert r.status_code == 200, r.text
    r = admin.client.post(f"/projects/{pid}/images", files={
        "file": (f"a-{uuid.uuid4().hex[:8]}.png", sample_png(uuid.uuid4().int, (640, 480)),
                 "image/png")})
    assert r.status_code == 201, r.text
    admin.settled()
    return str(pid), str(r.json()["images"][0]["id"])


def test_define_set_with_the_keyboard_reload_and_export(server: DemoServer,
                                                        new_context: Any) -> None:
    pid, image_id = fresh_project(server)

    # The manager defines the two attributes.
    manager = new_context(viewport={"width": 1100, "height": 900}).new_page()
    manager.on("dialog", lambda d: d.accept())
    manager_errors = log_in(manager, server.base, "maria", then=f"#/projects/{pid}/settings")
    manager.wait_for_selector("#add-attribute-form")
    manager.fill("#add-attribute-name", "occluded")
    manager.select_option("#add-attribute-type", "checkbox")
    manager.click("#add-attribute-form button[type=submit]")
    expect(manager.locator("#attribute-rows tr[data-attribute='occluded']")).to_have_count(1)
    manager.fill("#add-attribute-name", "colour")
    manager.select_option("#add-attribute-type", "select")
    # A select without values is refused with the API's words, the field marked.
    manager.click("#add-attribute-form button[type=submit]")
    expect(manager.locator("#settings-add-attribute-error")).to_contain_text("values")
    expect(manager.locator("#add-attribute-values")).to_have_attribute("aria-invalid", "true")
    manager.fill("#add-attribute-values", "red, blue")
    manager.check("#add-attribute-class-0")  # car only
    manager.click("#add-attribute-form button[type=submit]")
    expect(manager.locator("#attribute-rows tr[data-attribute='colour']")).to_contain_text(
        "red, blue")
    doc_shot(manager, "attribute-settings", show="#settings-attributes")
    definitions = server.api("admin").get(f"/projects/{pid}")["attributes"]
    assert definitions == [{"name": "occluded", "type": "checkbox"},
                           {"name": "colour", "type": "select", "values": ["red", "blue"],
                            "classes": ["car"]}]
    manager_errors.check(expected=("422",))

    # The annotator draws a car and sets both attributes with the keyboard.
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors = log_in(page, server.base, "ana")
    open_image(page, server.base, image_id)
    page.keyboard.press("b")
    drag(page, to_screen(page, 100, 80), to_screen(page, 300, 240))
    page.wait_for_function("window.__lw.editor.selection.length === 1")
    box_id = page.evaluate("window.__lw.editor.selection[0]")
    expect(page.locator("#attribute-panel")).to_be_visible()
    page.locator("#attr-0").focus()
    page.keyboard.press("Space")
    expect(page.locator("#attr-0")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.locator("#attr-1")).to_be_focused()
    page.keyboard.press("ArrowDown")  # (not set) -> red
    pending_settled(page)
    expect(page.locator("#attr-1")).to_have_value("red")
    page.keyboard.press("ArrowDown")  # red -> blue
    pending_settled(page)
    expect(page.locator("#attr-1")).to_have_value("blue")
    row = page.locator(f".vrow[data-id='{box_id}'] .vrow-attrs")
    expect(row).to_have_text("occluded · colour: blue")
    api = server.api("ana")
    api.settled()
    labels = {a["id"]: a for a in api.labels(image_id)["annotations"]}
    assert labels[box_id]["attributes"] == {"occluded": True, "colour": "blue"}
    doc_shot(page, "attribute-panel")

    # Undo takes the last change back (colour red again), redo makes it blue once more.
    page.get_by_role("button", name="Undo", exact=True).click()
    pending_settled(page)
    expect(page.locator("#attr-1")).to_have_value("red")
    api.settled()
    assert api.labels(image_id)["annotations"][0]["attributes"] == {"occluded": True,
                                                                    "colour": "red"}
    page.get_by_role("button", name="Redo", exact=True).click()
    pending_settled(page)
    expect(page.locator("#attr-1")).to_have_value("blue")

    # Reload: the values come back from the server.
    page.reload()
    page.wait_for_function(f"window.__lw.editor && window.__lw.editor.imageId === '{image_id}'"
                           " && window.__lw.editor.renderer.imageShown")
    page.click(f".vrow[data-id='{box_id}']")
    expect(page.locator("#attr-0")).to_be_checked()
    expect(page.locator("#attr-1")).to_have_value("blue")
    expect(page.locator(f".vrow[data-id='{box_id}'] .vrow-attrs")).to_have_text(
        "occluded · colour: blue")

    # A person has no colour: the panel offers only `occluded` for them.
    page.locator("#selected-label").select_option("person")
    pending_settled(page)
    expect(page.locator("#attribute-panel [data-attribute]")).to_have_count(1)
    page.locator("#selected-label").select_option("car")
    pending_settled(page)

    # The COCO export has them on the annotation.
    api.settled()
    r = server.api("maria").client.get(f"/projects/{pid}/export", params={"format": "coco"})
    assert r.status_code == 200, r.text
    coco = json.loads(r.content)
    exported = {a["labelwright_id"]: a for a in coco["annotations"]}
    assert exported[box_id]["attributes"] == {"occluded": True, "colour": "blue"}

    # History: the timeline says what was set; the diff names the attribute change.
    head = api.get(f"/images/{image_id}")["version"]
    page.goto(f"{server.base}/#/images/{image_id}/history")
    page.wait_for_selector(f"#stage[data-version='{head}']")
    expect(page.locator(".tl-row").nth(2)).to_contain_text(
        "set the attributes of car box: occluded = true")
    page.fill("#diff-from", "2")
    page.fill("#diff-to", str(head))
    page.click("#diff-run")
    expect(page.locator(f"tr.diff-changed[data-id='{box_id}']")).to_contain_text(
        "attributes none → occluded · colour: blue")
    errors.check()
