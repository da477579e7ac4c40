"""The dashboard's model section: each model version against the labels, exactly the API's
numbers (``GET /projects/{id}/evaluation``), now and as of a position; details per class."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import DemoServer, expect, log_in, shot

pytestmark = pytest.mark.browser

NONE = "\u2013"


def figure(v: float | None) -> str:
    return NONE if v is None else f"{v:.3f}"


def test_the_panel_shows_the_api_numbers(server: DemoServer,
                                         new_context: Any, tmp_path: Path) -> None:
    from tests.inference.model_factory import yolov8_onnx  # torch: only when it runs

    pid = server.project_id
    maria = server.api("maria")
    name = f"eval-{uuid.uuid4().hex[:6]}"  # its own model: other tests' pre-labels stay out
    weights = yolov8_onnx(tmp_path / "m.onnx", ["person", "cat", "cup"]).read_bytes()
    r = maria.client.post(f"/projects/{pid}/models", data={"name": name, "version": "1"},
                          files={"weights": ("m.onnx", weights, "application/octet-stream")})
    assert r.status_code == 201, r.text
    model_id = r.json()["model"]["id"]
    image = server.new_image()
    boxes = [("cat", 0.9, 10), ("cup", 0.8, 200), ("person", 0.4, 400)]
    maria.post(f"/projects/{pid}/predictions", {
        "model": {"name": name, "version": "1"},
        "predictions": [{"image_id": image["id"], "annotations": [
            {"type": "box", "label": label, "score": score,
             "geometry": {"x": x, "y": 20, "w": 90, "h": 70}} for label, score, x in boxes]}]})
    ana = server.api("ana")
    by_label = {a["label"]: a["id"] for a in ana.labels(image["id"])["annotations"]}
    for command in ({"type": "accept", "annotation_id": by_label["cat"]},
                    {"type": "edit", "annotation_id": by_label["cup"], "changes": {"label": "cat"}},
                    {"type": "delete", "annotation_id": by_label["person"]}):
        ana.command(image["id"], command)
    head = maria.settled()
    expected = maria.get(f"/projects/{pid}/evaluation", model_id=model_id, position=head)
    assert expected["images"] == 1 and expected["map50"] is not None

    context = new_context(viewport={"width": 1440, "height": 2200})
    page = context.new_page()
    errors = log_in(page, server.base, "maria")
    page.goto(f"{server.base}/#/projects/{pid}/dashboard")
    page.wait_for_selector("#evaluation[data-loaded='true']")
    expect(page.locator("#evaluation-body")).not_to_contain_text("null")  # no details open
    page.check("#eval-asof-pos")
    page.fill("#eval-position", str(head))
    page.click("#eval-run")
    page.wait_for_selector("#evaluation[data-loaded='true']")
    row = page.locator(f"#evaluation-table tr[data-model='{model_id}']")
    expect(row.locator(".m-images")).to_have_text(str(expected["images"]))
    expect(row.locator(".m-map50")).to_have_text(figure(expected["map50"]))
    expect(row.locator(".m-map50_95")).to_have_text(figure(expected["map50_95"]))
    expect(row.locator(".m-source")).to_have_text("imported pre-labels")

    row.get_by_role("button", name="Details").click()
    classes = page.locator("#evaluation-classes tbody tr")
    expect(classes).to_have_count(len(expected["per_class"]))
    for figures in expected["per_class"]:
        cells = page.locator(f"#evaluation-classes tr[data-label='{figures['label']}']")
        for key in ("ap50", "precision", "recall"):
            expect(cells.locator(f".m-{key}")).to_have_text(figure(figures[key]))
        for key in ("tp", "fp", "fn"):
            expect(cells.locator(f".m-{key}")).to_have_text(str(figures[key]))
    mistakes = [c for c in expected["confusion"] if c["label"] != c["predicted"]]
    expect(page.locator("#evaluation-confusion tbody tr")).to_have_count(len(mistakes))
    shot(page, "12-dashboard-evaluation")
    errors.check()
