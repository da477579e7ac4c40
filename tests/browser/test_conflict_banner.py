"""The loser of a conflict keeps a say (issue 12): when Arjun's drag of a shape is refused because
Ana changed it meanwhile (409 conflict, stale base_revision), a banner names the class and Ana,
and offers "Re-apply mine" (his geometry sent again against her revision) or "Keep theirs"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import (
    DemoServer,
    doc_shot,
    expect,
    log_in,
    open_image,
    pending_settled,
    to_screen,
)
from tests.browser.test_live import box

pytestmark = pytest.mark.browser


def lose_a_drag(ana: Any, arjun: Any, x_id: str, revision: int,
                grab: tuple[float, float], to: tuple[float, float]) -> None:
    """Arjun drags X from ``grab`` to ``to``; while his button is down, Ana moves X by 3 px."""
    arjun.mouse.move(*to_screen(arjun, *grab))
    arjun.mouse.down()
    arjun.mouse.move(*to_screen(arjun, grab[0] + 5, grab[1] + 5), steps=4)
    ana.mouse.click(*to_screen(ana, *grab))
    ana.wait_for_function(f"window.__lw.editor.selection[0] === '{x_id}'")
    for _ in range(3):
        ana.keyboard.press("ArrowRight")
    pending_settled(ana)
    arjun.wait_for_function(f"window.__lw.editor.labels.get('{x_id}').revision === {revision}")
    arjun.mouse.move(*to_screen(arjun, *to), steps=4)
    arjun.mouse.up()


def test_the_loser_of_a_conflict_can_reapply_or_keep_theirs(server: DemoServer,
                                                            new_context: Any) -> None:
    iid = server.new_image()["id"]
    admin = server.api("admin")
    made = admin.command(iid, box(100, 100, 200, 150))
    x_id = made["events"][0]["data"]["annotation_id"]
    admin.settled()

    ana = new_context().new_page()
    arjun = new_context().new_page()
    ana_errors = log_in(ana, server.base, "ana")
    arjun_errors = log_in(arjun, server.base, "arjun")
    open_image(ana, server.base, iid)
    open_image(arjun, server.base, iid)

    # Arjun's drag (+30, +20) loses to Ana's three nudges.
    lose_a_drag(ana, arjun, x_id, 4, (200, 175), (230, 195))
    banner = arjun.locator("#conflict-banner")
    expect(banner).to_have_text("Your change to cup was overwritten by ana."
                                "Re-apply mineKeep theirs")
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_be_in_viewport()
    pending_settled(arjun)
    x = {a["id"]: a for a in admin.labels(iid)["annotations"]}[x_id]
    assert x["updated_by"] == "ana" and x["geometry"]["x"] == 103
    doc_shot(arjun, "conflict-banner")

    # Re-apply mine: his geometry, sent against Ana's revision, is recorded.
    arjun.click("#conflict-reapply")
    expect(banner).to_be_hidden()
    pending_settled(arjun)
    x = {a["id"]: a for a in admin.labels(iid)["annotations"]}[x_id]
    assert x["updated_by"] == "arjun" and x["revision"] == 5
    assert abs(x["geometry"]["x"] - 130) < 2 and abs(x["geometry"]["y"] - 120) < 2
    ana.wait_for_function(f"window.__lw.editor.labels.get('{x_id}').revision === 5")
    history = admin.get(f"/images/{iid}/history", limit=1000)["events"]
    mine = [e for e in history if e["actor"] == "arjun"]
    assert [e["type"] for e in mine] == ["AnnotationEdited"]  # the refused drag recorded nothing

    # Keep theirs: nothing is sent, Ana's version stays.
    left = x["geometry"]["x"]
    lose_a_drag(ana, arjun, x_id, 8, (left + 100, 195), (left + 60, 150))
    expect(banner).to_contain_text("Your change to cup was overwritten by ana.")
    arjun.click("#conflict-keep")
    expect(banner).to_be_hidden()
    pending_settled(arjun)
    x = {a["id"]: a for a in admin.labels(iid)["annotations"]}[x_id]
    assert x["updated_by"] == "ana" and x["revision"] == 8
    history = admin.get(f"/images/{iid}/history", limit=1000)["events"]
    assert len([e for e in history if e["actor"] == "arjun"]) == 1
    assert arjun.evaluate(f"window.__lw.editor.labels.get('{x_id}').geometry") == x["geometry"]
    ana_errors.check()
    arjun_errors.check()
