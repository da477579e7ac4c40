"""The manager's dashboard shows exactly the API's numbers, updates progress live, and its
export links give the API's export, now or as of a position."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.browser.lab import DemoServer, expect, log_in, shot

pytestmark = pytest.mark.browser

DIMENSIONS = ["model", "label", "annotator", "score_bucket"]
COUNTS = ["created", "edited", "deleted", "prelabels_accepted", "prelabels_edited",
          "prelabels_rejected", "assists", "images_submitted", "review_approvals",
          "review_rejections", "reviews_given"]


NONE = "\u2013"  # the en dash the dashboard shows for "no value"


def percent(rate: float | None) -> str:
    return NONE if rate is None else f"{rate * 100:.1f}%"


def iou(v: float | None) -> str:
    return NONE if v is None else f"{v:.3f}"


def test_dashboard_numbers_equal_the_api(server: DemoServer, new_context: Any) -> None:
    # Some fresh work, so every table has rows: ana accepts, corrects and rejects pre-labels.
    image = server.new_image([
        {"type": "box", "label": label, "score": score,
         "geometry": {"x": x, "y": 10, "w": 80, "h": 60}}
        for label, score, x in [("cup", 0.97, 10), ("cat", 0.55, 200), ("cat", 0.15, 400)]])
    ana = server.api("ana")
    pre = sorted(ana.labels(image["id"])["annotations"], key=lambda a: -a["score"])
    ana.command(image["id"], {"commands": [
        {"type": "accept", "annotation_id": pre[0]["id"], "base_revision": 1},
        {"type": "edit", "annotation_id": pre[1]["id"], "base_revision": 1,
         "changes": {"geometry": {"x": 205, "y": 12, "w": 70, "h": 60}}},
        {"type": "delete", "annotation_id": pre[2]["id"], "base_revision": 1}]})
    maria = server.api("maria")
    head = maria.settled()
    pid = server.project_id

    context = new_context(viewport={"width": 1440, "height": 2000}, accept_downloads=True)
    page = context.new_page()
    errors = log_in(page, server.base, "maria")
    page.goto(f"{server.base}/#/projects/{pid}/dashboard")
    page.wait_for_selector(".dashboard[data-loaded='true']")

    project = maria.get(f"/projects/{pid}")
    for status, n in project["counts"].items():
        cell = page.locator(f"#status-table tr[data-status='{status}'] .count")
        expect(cell).to_have_text(str(n))
    expect(page.locator("#progress-total")).to_have_text(str(project["image_count"]))

    for dim in DIMENSIONS:
        page.click(f"#tab-{dim}")
        page.wait_for_selector(f"#prelabel-table[data-dim='{dim}']")
        groups = maria.get(f"/projects/{pid}/metrics/prelabels", group_by=dim)["groups"]
        rows = page.locator("#prelabel-table tbody tr")
        expect(rows).to_have_count(len(groups))
        for g in groups:
            key = json.dumps(g["key"], separators=(",", ":"))
            row = page.locator(f"#prelabel-table tbody tr[data-key='{key}']")
            for k in ("proposed", "accepted", "edited", "rejected"):
                expect(row.locator(f".m-{k}")).to_have_text(str(g[k]))
            expect(row.locator(".m-acceptance_rate")).to_have_text(percent(g["acceptance_rate"]))
            expect(row.locator(".m-mean_iou_edited")).to_have_text(iou(g["mean_iou_edited"]))
        if dim == "model":
            shot(page, "11-dashboard")

    people = maria.get(f"/projects/{pid}/metrics/annotators")["annotators"]
    expect(page.locator("#annotator-table tbody tr")).to_have_count(len(people))
    for person in people:
        row = page.locator(f"#annotator-table tr[data-user='{person['username']}']")
        for k in COUNTS:
            expect(row.locator(f".m-{k}")).to_have_text(str(person[k]))
        expect(row.locator(".m-mean_iou_edited")).to_have_text(iou(person["mean_iou_edited"]))

    # Export: the link downloads the API's COCO export, now and as of a position.
    link = page.locator("#export-link")
    now = json.loads(page.request.get(server.base + link.get_attribute("href")).body())
    assert now == maria.client.get(f"/projects/{pid}/export", params={"format": "coco"}).json()
    page.check("#asof-pos")
    page.fill("#export-position", str(head - 3))
    expect(link).to_have_attribute("href", re.compile(f"position={head - 3}(&|$)"))
    href = link.get_attribute("href")
    past = json.loads(page.request.get(server.base + href).body())
    assert past == maria.client.get(f"/projects/{pid}/export",
                                    params={"format": "coco", "position": head - 3}).json()
    assert past != now  # the last work is not in the earlier export

    # Progress is live: a new image shows up in the counts without a reload.
    new_count = page.locator("#status-table tr[data-status='new'] .count")
    before = project["counts"]["new"]  # what the page was checked to show above
    server.new_image()
    expect(new_count).to_have_text(str(before + 1))
    errors.check()
