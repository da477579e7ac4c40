"""History and QA replay: the scrubber shows an image's labels exactly as they were at a
chosen version, and the diff between two versions names what was added, removed and changed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import DemoServer, expect, log_in, shot

pytestmark = pytest.mark.browser


def box_iou(a: dict[str, float], b: dict[str, float]) -> float:
    ix = max(0.0, min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]))
    iy = max(0.0, min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]))
    inter = ix * iy
    return inter / (a["w"] * a["h"] + b["w"] * b["h"] - inter)


def shown(page: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    return {a["id"]: (a["label"], a["geometry"])
            for a in page.evaluate("[...window.__lw.editor.labels.values()]")}


def test_scrubber_and_diff(server: DemoServer, new_context: Any) -> None:
    image = server.new_image()
    iid = image["id"]
    ana = server.api("ana")
    create = lambda x, label: {"type": "create", "annotation": {  # noqa: E731
        "type": "box", "label": label, "geometry": {"x": x, "y": 50, "w": 100, "h": 80}}}
    a_id = ana.command(iid, create(50, "cup"))["events"][0]["data"]["annotation_id"]      # v2
    b_id = ana.command(iid, create(400, "cat"))["events"][0]["data"]["annotation_id"]     # v3
    moved = {"x": 80, "y": 60, "w": 100, "h": 80}
    ana.command(iid, {"type": "edit", "annotation_id": a_id, "changes": {"geometry": moved},
                      "base_revision": 1})                                                # v4
    ana.command(iid, {"type": "delete", "annotation_id": b_id, "base_revision": 1})       # v5
    ana.command(iid, {"type": "edit", "annotation_id": a_id, "changes": {"label": "rocket"},
                      "base_revision": 2})                                                # v6
    ana.settled()

    page = new_context().new_page()
    errors = log_in(page, server.base, "rui")
    page.goto(f"{server.base}/#/images/{iid}/history")
    page.wait_for_selector("#stage[data-version='6']")
    expect(page.locator(".tl-row")).to_have_count(6)
    expect(page.locator(".tl-row").nth(4)).to_contain_text("deleted cat box")

    # Scrub back to version 3 with the keyboard: both boxes, A where it was first drawn.
    page.focus("#scrubber")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    page.wait_for_selector("#stage[data-version='3']")
    at3 = ana.labels(iid, version=3)
    assert shown(page) == {a["id"]: (a["label"], a["geometry"]) for a in at3["annotations"]}
    assert set(shown(page)) == {a_id, b_id}
    expect(page.locator("#scrub-label")).to_contain_text("Version 3 of 6")
    shot(page, "09-replay-version-3")

    # Clicking a timeline row shows that version too.
    page.locator(".tl-row").nth(3).click()
    page.wait_for_selector("#stage[data-version='4']")
    assert shown(page)[a_id] == ("cup", {k: float(v) for k, v in moved.items()})

    # Diff v3 → v6: B removed, A changed (moved and relabelled), nothing added.
    page.fill("#diff-from", "3")
    page.fill("#diff-to", "6")
    page.click("#diff-run")
    page.wait_for_selector("#diff-summary")
    expect(page.locator(".diff-added-n")).to_have_text("0")
    expect(page.locator(".diff-removed-n")).to_have_text("1")
    expect(page.locator(".diff-changed-n")).to_have_text("1")
    changed = page.locator(f"tr.diff-changed[data-id='{a_id}']")
    iou = box_iou({"x": 50, "y": 50, "w": 100, "h": 80}, moved)
    expect(changed).to_contain_text("class cup → rocket")
    expect(changed).to_contain_text(f"IoU {iou:.3f}")
    expect(page.locator(f"tr.diff-removed[data-id='{b_id}']")).to_have_count(1)
    shot(page, "10-replay-diff")
    errors.check()
