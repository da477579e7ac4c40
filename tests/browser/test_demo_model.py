"""The demo as a new manager finds it: the "Demo: shapes" project has a registered model; run
from its Models page, it pre-labels the generated shapes (the job reaches done live) and the
pre-labels on an image are the shapes that are there."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.lab import DemoServer, expect, log_in, open_image, shot, start_job

pytestmark = pytest.mark.browser


def test_the_demo_model_runs_from_the_models_page(server: DemoServer,
                                                  new_context: Any) -> None:
    maria = server.api("maria")
    shapes = next(p for p in maria.get("/projects")["projects"]
                  if p["name"] == "Demo: shapes")
    pid = shapes["id"]
    [model] = maria.get(f"/projects/{pid}/models")["models"]
    assert (model["name"], model["architecture"], model["unmapped"]) == (
        "shapes-centernet", "centernet", [])

    page = new_context(viewport={"width": 1440, "height": 900}).new_page()
    errors = log_in(page, server.base, "maria")
    page.goto(f"{server.base}/#/projects/{pid}")
    page.click("#models-link")
    page.wait_for_selector(".models-page[data-loaded='true']")
    page.click(f"tr.model-row[data-model='{model['id']}'] .model-open")
    page.check("#run-all")
    job_row = start_job(page)  # its own row: another test may score this project meanwhile
    expect(job_row).to_have_attribute("data-state", "done", timeout=90_000)
    job = maria.get(f"/jobs/{job_row.get_attribute('data-job')}")["job"]
    assert job["total"] == shapes["image_count"] and job["failed"] == 0
    assert job["recorded"] >= job["total"]  # every image has at least one shape
    shot(page, "demo-model-job-done")

    # One image: its pre-labels are boxes of the project's classes with sensible scores.
    images = maria.get(f"/projects/{pid}/images", limit=1)["images"]
    labels = maria.get(f"/images/{images[0]['id']}/annotations")["annotations"]
    assert labels and all(a["source"] == "prelabel" and a["status"] == "proposed"
                          and a["label"] in ("circle", "rectangle", "triangle")
                          and a["model"]["name"] == "shapes-centernet" and a["score"] >= 0.25
                          for a in labels)
    # The events name the model version and the job that proposed them.
    history = maria.get(f"/images/{images[0]['id']}/history")["events"]
    proposed = [e["data"]["model"] for e in history if e["type"] == "PrelabelProposed"]
    assert len(proposed) == len(labels)
    assert all(m["id"] == model["id"] and m["job"] == job["id"] for m in proposed)
    open_image(page, server.base, images[0]["id"])
    expect(page.locator(".vrow")).to_have_count(len(labels))
    shot(page, "demo-model-prelabels")
    errors.check()
