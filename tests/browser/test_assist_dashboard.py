"""The dashboard's AI assist table shows exactly the API's assist metrics."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import DemoServer, expect, log_in

pytestmark = pytest.mark.browser

NONE = "\u2013"  # the en dash the dashboard shows for "no value"


def test_the_assist_table_equals_the_api(server: DemoServer, new_context: Any) -> None:
    image = server.new_image([])
    ana = server.api("ana")
    extreme = {"type": "assist", "mode": "extreme_points", "label": "cup",
               "points": [[10, 40], [40, 10], [70, 40], [40, 70]]}
    ana.command(image["id"], extreme)
    made = ana.command(image["id"], extreme)
    ana.command(image["id"], {"type": "delete",
                              "annotation_id": made["events"][1]["data"]["annotation_id"]})
    maria = server.api("maria")
    maria.settled()
    pid = server.project_id
    groups = maria.get(f"/projects/{pid}/metrics/assist")["groups"]
    assert groups, groups

    page = new_context(viewport={"width": 1440, "height": 2000}).new_page()
    errors = log_in(page, server.base, "maria")
    page.goto(f"{server.base}/#/projects/{pid}/dashboard")
    page.wait_for_selector(".dashboard[data-loaded='true']")
    for g in groups:
        row = page.locator(
            f"#assist-table tr[data-engine='{g['engine']}'][data-mode='{g['mode']}']")
        for key in ("proposals", "accepted", "edited", "rejected"):
            expect(row.locator(f".m-{key}")).to_have_text(str(g[key]))
        expect(row.locator(".m-acceptance_rate")).to_have_text(f"{g['acceptance_rate'] * 100:.1f}%")
        per = g["clicks_per_accepted"]
        expect(row.locator(".m-clicks_per_accepted")).to_have_text(
            NONE if per is None else f"{per:.1f}")
    errors.check()
