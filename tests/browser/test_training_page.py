"""Training inside the tool, on the Models page: a manager trains the built-in detector on a
tiny project's boxes for two epochs, watches the job's loss curve fill in, and finds the new
model version with its lineage; a request the server refuses is explained in its words."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from PIL import Image as PILImage

from inference_workers.synthetic_shapes import SHAPE_CLASSES, make_shapes
from tests.browser.lab import DemoServer, doc_shot, expect, log_in

pytestmark = pytest.mark.browser


def shapes_project(server: DemoServer, images: int = 8) -> str:
    """A project of synthetic shapes whose every shape maria boxed by hand."""
    admin, maria = server.api("admin"), server.api("maria")
    pid = admin.post("/projects", {"name": f"train {uuid.uuid4().hex[:6]}",
                                   "classes": SHAPE_CLASSES}, expect=201)["id"]
    r = admin.client.put(f"/projects/{pid}/members/maria", json={"role": "manager"})
    assert r.status_code == 200, r.text
    for i, shape in enumerate(make_shapes(images, size=(64, 64), seed=3, max_shapes=2,
                                          min_size=12, max_size=32)):
        buf = io.BytesIO()
        PILImage.fromarray(shape.image).save(buf, "PNG")
        r = admin.client.post(f"/projects/{pid}/images", files={
            "file": (f"shape-{i}-{uuid.uuid4().hex[:6]}.png", buf.getvalue(), "image/png")})
        assert r.status_code == 201, r.text
        image_id = r.json()["images"][0]["id"]
        maria.command(image_id, {"commands": [
            {"type": "create", "annotation": {"type": "box", "label": label,
                                              "geometry": dict(zip("xywh", box, strict=True))}}
            for box, label in zip(shape.boxes, shape.labels, strict=True)]})
    maria.settled()
    return str(pid)


def test_a_manager_trains_a_detector_and_sees_the_curve_and_the_new_version(
        server: DemoServer, new_context: Any) -> None:
    pid = shapes_project(server)
    maria = server.api("maria")
    page = new_context(viewport={"width": 1440, "height": 1400}).new_page()
    errors = log_in(page, server.base, "maria")
    page.goto(f"{server.base}/#/projects/{pid}/models")
    page.wait_for_selector(".models-page[data-loaded='true']")

    # A refusal first: no name is caught by the form; an impossible epoch count by the server.
    page.fill("#train-name", "tiny")
    page.evaluate("document.getElementById('train-epochs').removeAttribute('max')")
    page.fill("#train-epochs", "501")
    page.click("#train-start")
    expect(page.locator("#train-error")).to_contain_text("epochs must be a whole number")

    page.fill("#train-epochs", "2")
    page.click("#train-start")
    row = page.locator("#job-table tr.job-row[data-type='train']").first
    expect(row).to_have_attribute("data-state", "done", timeout=120_000)
    job_id = row.get_attribute("data-job")
    job = maria.get(f"/jobs/{job_id}")["job"]
    assert job["type"] == "train" and len(job["progress"]) == 2
    expect(row.locator(".job-count")).to_contain_text("2 / 2 epochs")

    # The curve: training and held-out loss per epoch, and the held-out mAP.
    chart = page.locator(f"tr[data-job-training='{job_id}'] svg.loss-curve")
    expect(chart).to_be_visible()
    for series in ("train_loss", "val_loss"):
        expect(chart.locator(f"polyline[data-series='{series}']")).to_have_count(1)
        points = chart.locator(f"polyline[data-series='{series}']").get_attribute("points")
        assert points is not None and len(points.split()) == 2
    expect(page.locator(f"tr[data-job-training='{job_id}'] .training-model")).to_have_text(
        f"tiny {job['result']['version']}")

    # The new version is in the model list, with its lineage.
    model = maria.get(f"/models/{job['result']['model_id']}")["model"]
    assert model["lineage"]["job_id"] == job_id and model["architecture"] == "centernet"
    model_row = page.locator(f"#model-table tr[data-model='{model['id']}']")
    expect(model_row).to_be_visible()
    model_row.locator(".model-open").click()
    expect(page.locator("#model-facts [data-fact='lineage']")).to_contain_text(
        f"labels as of position {model['lineage']['position']}")
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    doc_shot(page, "models-train", show="#model-train")
    errors.check(("status of 422",))  # the refused epoch count, on purpose
