"""The dashboard's "Blind spots" section: the worst images as thumbnails with the API's counts
(``GET /projects/{id}/blind_spots``), the label suspects, "More like this" for a model that was
never scored (the API's refusal shown), "Queue these" (``POST .../queue/priority``, a toast),
and a thumbnail opening the annotator."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import DemoServer, doc_shot, expect, log_in

pytestmark = pytest.mark.browser


def test_the_blind_spots_tab(server: DemoServer, new_context: Any, tmp_path: Path) -> None:
    from tests.inference.model_factory import yolov8_onnx  # torch: only when it runs

    pid = server.project_id
    maria = server.api("maria")
    name = f"spots-{uuid.uuid4().hex[:6]}"  # its own model: other tests' pre-labels stay out
    weights = yolov8_onnx(tmp_path / "m.onnx", ["person", "cat", "cup"]).read_bytes()
    r = maria.client.post(f"/projects/{pid}/models", data={"name": name, "version": "1"},
                          files={"weights": ("m.onnx", weights, "application/octet-stream")})
    assert r.status_code == 201, r.text
    model_id = r.json()["model"]["id"]
    images = [server.new_image() for _ in range(3)]
    cat = {"x": 10, "y": 20, "w": 90, "h": 70}
    maria.post(f"/projects/{pid}/predictions", {
        "model": {"name": name, "version": "1"},
        "predictions": [{"image_id": im["id"], "annotations": [
            {"type": "box", "label": "cat", "score": 0.9, "geometry": cat},
            {"type": "box", "label": "cup", "score": 0.8,
             "geometry": {"x": 300, "y": 200, "w": 60, "h": 60}}]} for im in images]})
    ana = server.api("ana")
    for n, image in enumerate(images):
        by_label = {a["label"]: a["id"] for a in ana.labels(image["id"])["annotations"]}
        commands: list[dict[str, Any]] = [{"type": "accept", "annotation_id": by_label["cup"]}]
        if n == 0:  # the "cat" is a person: confused; and a person it did not see: missed
            commands += [{"type": "edit", "annotation_id": by_label["cat"],
                          "changes": {"label": "person"}},
                         {"type": "create", "annotation": {"type": "box", "label": "person",
                                                           "geometry": {"x": 500, "y": 400,
                                                                        "w": 80, "h": 90}}}]
        elif n == 1:  # no cat there: a false positive
            commands.append({"type": "delete", "annotation_id": by_label["cat"]})
        else:
            commands.append({"type": "accept", "annotation_id": by_label["cat"]})
        for command in commands:
            ana.command(image["id"], command)
    maria.settled()
    expected = maria.get(f"/projects/{pid}/blind_spots", model_id=model_id, limit=24)
    assert [x["image_id"] for x in expected["images"]] == [images[0]["id"], images[1]["id"]]
    suspects = maria.get(f"/projects/{pid}/label_suspects", model_id=model_id, limit=24)

    context = new_context(viewport={"width": 1440, "height": 2400})
    page = context.new_page()
    errors = log_in(page, server.base, "maria")
    page.goto(f"{server.base}/#/projects/{pid}/dashboard")
    section = page.locator("#blind-spots")
    page.wait_for_selector("#blind-spots[data-loaded='true']")
    page.select_option("#bs-model", model_id)
    page.wait_for_selector("#blind-spots[data-loaded='true'] #bs-grid .bs-card")
    cards = page.locator("#bs-grid .bs-card")
    expect(cards).to_have_count(len(expected["images"]))
    for n, row in enumerate(expected["images"]):
        card = cards.nth(n)
        expect(card).to_have_attribute("data-image", row["image_id"])
        expect(card.locator(".bs-missed")).to_have_text(f"{row['missed']} missed")
        expect(card.locator(".bs-fp")).to_contain_text(f"{row['false_positives']} false positive")
        expect(card.locator(".bs-confused")).to_have_text(f"{row['confused']} confused")
        img = card.locator("img")
        expect(img).to_have_attribute("src", row["thumbnail"])
        assert "missed label" in (img.get_attribute("alt") or "")
    page.wait_for_function("() => [...document.querySelectorAll('#bs-grid img')]"
                           ".every((i) => i.complete && i.naturalWidth > 0)")
    expect(page.locator("#bs-suspect-table tbody tr")).to_have_count(len(suspects["suspects"]))

    # More like this: the model was never scored, so the API's refusal is shown.
    cards.nth(0).get_by_role("button", name="More like this").click()
    page.wait_for_selector("#bs-similar[data-loaded='true']")
    expect(page.locator("#bs-similar .bs-similar-error")).to_contain_text("More like #1:")

    # Queue these: select the worst image by keyboard, then the button.
    queue = page.locator("#bs-queue")
    expect(queue).to_have_text(f"Queue all shown ({len(expected['images'])})")
    box = cards.nth(0).locator(".bs-select")
    box.focus()
    page.keyboard.press("Space")
    expect(queue).to_have_text("Queue selected (1)")
    queue.click()
    expect(page.locator("#toasts .toast")).to_contain_text("1 image queued first")
    expect(section).to_have_attribute("data-queued", "1")
    doc_shot(page, "dashboard-blind-spots", show="#blind-spots")

    # A thumbnail opens the image in the annotator.
    cards.nth(1).locator("a.thumb").click()
    page.wait_for_url(f"**/#/images/{images[1]['id']}")
    errors.check(("status of 422",))  # the similar images' refusal, shown above


def test_more_like_this_shows_the_neighbours_and_queues_them(
        server: DemoServer, new_context: Any, tmp_path: Path) -> None:
    """A classifier with a features output, scored by a real score job (embeddings), its tag
    predictions imported: "More like this" lists the nearest images, "Queue these N" queues
    them."""
    from tests.inference.model_factory import feature_classifier_onnx  # torch: when it runs

    pid = server.project_id
    maria = server.api("maria")
    name = f"tags-{uuid.uuid4().hex[:6]}"
    weights = feature_classifier_onnx(tmp_path / "c.onnx", ["person", "cat", "cup"]).read_bytes()
    r = maria.client.post(f"/projects/{pid}/models", data={"name": name, "version": "1"},
                          files={"weights": ("c.onnx", weights, "application/octet-stream")})
    assert r.status_code == 201, r.text
    model_id = r.json()["model"]["id"]
    image = server.new_image()
    maria.post(f"/projects/{pid}/predictions", {
        "model": {"name": name, "version": "1"},
        "predictions": [{"image_id": image["id"], "annotations": [
            {"type": "tag", "label": "cup", "score": 0.9, "geometry": {}}]}]})
    tag = server.api("ana").labels(image["id"])["annotations"][0]["id"]
    server.api("ana").command(image["id"], {"type": "edit", "annotation_id": tag,
                                            "changes": {"label": "cat"}})
    job = maria.post(f"/projects/{pid}/jobs", {"type": "score", "model_id": model_id},
                     expect=202)["job"]
    for _ in range(600):
        state = maria.get(f"/jobs/{job['id']}")["job"]["state"]
        if state in ("done", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert state == "done", state
    expected = maria.get(f"/projects/{pid}/similar", model_id=model_id, image_id=image["id"],
                         k=12)["images"]
    assert expected

    page = new_context(viewport={"width": 1440, "height": 2400}).new_page()
    errors = log_in(page, server.base, "maria")
    page.goto(f"{server.base}/#/projects/{pid}/dashboard")
    page.wait_for_selector("#blind-spots[data-loaded='true']")
    page.select_option("#bs-model", model_id)
    card = page.locator(f"#bs-grid .bs-card[data-image='{image['id']}']")
    expect(card.locator(".bs-confused")).to_have_text("1 confused")
    card.get_by_role("button", name="More like this").click()
    page.wait_for_selector("#bs-similar[data-loaded='true']")
    shown = page.locator("#bs-similar .image-card")
    expect(shown).to_have_count(len(expected))
    assert [shown.nth(n).get_attribute("data-image") for n in range(len(expected))] == [
        x["image_id"] for x in expected]
    page.locator("#bs-similar-queue").click()
    expect(page.locator("#toasts .toast").last).to_contain_text(
        f"{len(expected)} image{'s' if len(expected) > 1 else ''} queued first")
    errors.check()
