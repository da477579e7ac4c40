"""Active learning from the browser: a manager scores the shipped CenterNet shapes model from
the Models page (the score job reaches done live in the jobs list), opens "Pick next images"
with a strategy, sees the ranked thumbnails in the selection API's order, queues them first for
the annotators (who are then handed them), and on the project page chooses the strategy of
"Most informative first", which is remembered and sent with "Label next image".

Its own small project (the demo model registered again, a few generated shapes images), so
the leases and the priority list it makes stay out of the other tests' demo projects."""

from __future__ import annotations

import io
import json
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from inference_workers.synthetic_shapes import make_shapes
from tests.browser.lab import DemoServer, doc_shot, expect, log_in, shot

pytestmark = pytest.mark.browser

IMAGES = 8
PICKS = 4


def shapes_project(server: DemoServer) -> tuple[str, str]:
    """A project with ``IMAGES`` generated shapes images and the demo model; (project, model)."""
    admin = server.api("admin")
    maria = server.api("maria")
    project = admin.post("/projects", {"name": f"score {uuid.uuid4().hex[:6]}",
                                       "classes": ["circle", "rectangle", "triangle"]},
                         expect=201)
    pid = project["id"]
    for name, role in (("maria", "manager"), ("ana", "annotator")):
        r = admin.client.put(f"/projects/{pid}/members/{name}", json={"role": role})
        assert r.status_code == 200, r.text
    for i, shapes in enumerate(make_shapes(IMAGES, (320, 320), seed=77, max_shapes=5)):
        buf = io.BytesIO()
        PILImage.fromarray(shapes.image).save(buf, format="PNG")
        r = admin.client.post(f"/projects/{pid}/images", files={
            "file": (f"s-{i}.png", buf.getvalue(), "image/png")})
        assert r.status_code == 201, r.text
    folder = resources.files("inference_workers") / "demo_model"
    weights = Path(str(folder / "shapes-centernet.safetensors")).read_bytes()
    r = maria.client.post(f"/projects/{pid}/models",
                          data={"name": "shapes-centernet", "version": "1",
                                "architecture": "centernet"},
                          files={"weights": ("shapes-centernet.safetensors", weights,
                                             "application/octet-stream"),
                                 "classes": ("classes.txt", (folder / "classes.txt").read_bytes(),
                                             "text/plain")})
    assert r.status_code == 201, r.text
    maria.settled()
    return pid, r.json()["model"]["id"]


def test_score_pick_and_queue_from_the_browser(server: DemoServer, new_context: Any) -> None:
    pid, model_id = shapes_project(server)
    maria = server.api("maria")
    page = new_context(viewport={"width": 1440, "height": 1000}).new_page()
    errors = log_in(page, server.base, "maria")
    page.goto(f"{server.base}/#/projects/{pid}/models")
    page.wait_for_selector(".models-page[data-loaded='true']")
    expect(page.locator(".model-pick")).to_have_count(0)  # nothing scored yet
    page.click(f"tr.model-row[data-model='{model_id}'] .model-open")
    expect(page.locator("#pick-after-score")).to_be_visible()
    expect(page.locator("#score-tta")).to_be_checked()  # a detector: TTA on by default
    assert "least sure box" in (page.get_attribute("#score-aggregate", "title") or "")
    page.select_option("#score-aggregate", "mean")
    page.click("#score-start")

    job_row = page.locator("#job-table tr.job-row").first
    expect(job_row).to_have_attribute("data-state", "done", timeout=90_000)
    job = maria.get(f"/jobs/{job_row.get_attribute('data-job')}")["job"]
    assert job["type"] == "score" and job["model_id"] == model_id
    assert job["params"] == {"aggregate": "mean", "tta": True, "images": "all"}
    assert job["result"]["images"] == IMAGES and job["failed"] == 0
    expect(job_row.locator(".job-params")).to_have_text(
        "scoring all images, mean over boxes, with TTA")
    expect(job_row.locator(".job-score-result")).to_contain_text(f"{IMAGES} scored")
    expect(page.locator(".toast").filter(
        has_text="Scoring with shapes-centernet 1 finished")).to_be_visible()

    # The row now offers "Pick next images": a strategy and k, thumbnails in the API's order.
    page.click(f"tr.model-row[data-model='{model_id}'] .model-pick")
    panel = page.locator("#pick-panel")
    expect(panel).to_have_attribute("data-loaded", "true")
    expect(page.locator("#pick-k")).to_have_value(str(IMAGES))  # at most the new images
    expect(page.locator("#pick-grid li.pick-card")).to_have_count(IMAGES)
    page.select_option("#pick-strategy", "entropy")
    page.fill("#pick-k", str(PICKS))
    page.click("#pick-show")
    expect(panel).to_have_attribute("data-loaded", "true")
    ranked = maria.get(f"/projects/{pid}/selection", model_id=model_id, strategy="entropy",
                       k=PICKS)["images"]
    picks = [x["image_id"] for x in ranked]
    assert len(picks) == PICKS
    cards = page.locator("#pick-grid li.pick-card")
    expect(cards).to_have_count(PICKS)
    assert [cards.nth(i).get_attribute("data-image") for i in range(PICKS)] == picks
    expect(cards.first.locator("img")).to_have_attribute(
        "src", f"/api/v1/images/{picks[0]}/content")
    expect(cards.first.locator(".pick-rank")).to_contain_text("#1")
    page.wait_for_function("[...document.querySelectorAll('#pick-grid img')]"
                           ".every((i) => i.complete && i.naturalWidth > 0)")
    doc_shot(page, "models-score-and-pick", show="#active-learning")

    page.click("#pick-queue")
    expect(panel).to_have_attribute("data-queued", str(PICKS))
    expect(page.locator(".toast").filter(has_text=f"{PICKS} images queued first")).to_be_visible()
    # The annotators are handed the picks first.
    handed = server.api("ana").post(f"/projects/{pid}/queue/next", {})["image"]["id"]
    assert handed == picks[0]

    # The project page: "Most informative first" with a chosen strategy, remembered.
    r = maria.client.delete(f"/projects/{pid}/queue/priority")
    assert r.status_code == 200, r.text
    page.goto(f"{server.base}/#/projects/{pid}")
    page.wait_for_selector("#queue-order")
    expect(page.locator("#queue-strategy")).to_be_hidden()
    page.select_option("#queue-order", label="Most informative first")
    expect(page.locator("#queue-strategy")).to_have_value("margin")
    page.select_option("#queue-strategy", "least_confidence")
    page.reload()
    page.wait_for_selector("#queue-order")
    expect(page.locator("#queue-order")).to_have_value(model_id)
    expect(page.locator("#queue-strategy")).to_have_value("least_confidence")
    shot(page, "queue-strategy")
    ranked = maria.get(f"/projects/{pid}/selection", model_id=model_id,
                       strategy="least_confidence", k=IMAGES)["images"]
    expected = next(x["image_id"] for x in ranked if x["image_id"] != handed)  # ana holds that
    with page.expect_request(lambda q: q.url.endswith(f"/projects/{pid}/queue/next")) as asked:
        page.click("#next-image")
    assert json.loads(asked.value.post_data or "{}") == {
        "queue": "label", "order": "selection", "model_id": model_id,
        "strategy": "least_confidence"}
    page.wait_for_function("location.hash.startsWith('#/images/')")
    assert page.evaluate("location.hash.split('/')[2]") == expected
    errors.check()
