"""The "next image" flow through the server's work queue: two annotators pressing "Label
next image" open different images, each shows its lease quietly, "Next image" skips to
another, and a project with a scored model offers "Most informative first"."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.browser.lab import DemoServer, doc_shot, expect, log_in, sample_png, shot

pytestmark = pytest.mark.browser


def queue_project(server: DemoServer, images: int) -> tuple[str, list[str]]:
    maria = server.api("maria")
    admin = server.api("admin")
    project = admin.post("/projects", {"name": f"queue {uuid.uuid4().hex[:6]}",
                                       "classes": ["cup", "plant"]}, expect=201)
    pid = project["id"]
    for name, role in (("maria", "manager"), ("ana", "annotator"), ("arjun", "annotator")):
        r = admin.client.put(f"/projects/{pid}/members/{name}", json={"role": role})
        assert r.status_code == 200, r.text
    ids = []
    for _ in range(images):
        r = admin.client.post(f"/projects/{pid}/images", files={
            "file": (f"q-{uuid.uuid4().hex[:8]}.png", sample_png(uuid.uuid4().int, (320, 240)),
                     "image/png")})
        assert r.status_code == 201, r.text
        ids.append(r.json()["images"][0]["id"])
    maria.settled()
    return pid, ids


def press_next(page: Any, base: str, pid: str) -> str:
    page.goto(f"{base}/#/projects/{pid}")
    page.click("#next-image")
    page.wait_for_function("location.hash.startsWith('#/images/')")
    page.wait_for_selector("#lease-note")
    return str(page.evaluate("location.hash.split('/')[2]"))


def test_two_annotators_get_different_images_and_see_their_lease(server: DemoServer,
                                                                 new_context: Any) -> None:
    pid, ids = queue_project(server, 3)
    ana = new_context().new_page()
    arjun = new_context().new_page()
    ana_errors = log_in(ana, server.base, "ana")
    arjun_errors = log_in(arjun, server.base, "arjun")
    first = press_next(ana, server.base, pid)
    second = press_next(arjun, server.base, pid)
    assert first == ids[0] and second == ids[1]
    expect(ana.locator("#lease-note")).to_contain_text("Reserved for you until")
    doc_shot(ana, "work-queue-next-image")
    # "Next image" in the side panel gives the image back and opens another.
    ana.get_by_role("button", name="Next image", exact=True).click()
    ana.wait_for_function(f"!location.hash.includes('{first}')")
    assert ana.evaluate("location.hash.split('/')[2]") == ids[2]
    # Nothing left for arjun beyond what he holds: asking again keeps his image.
    arjun.goto(f"{server.base}/#/projects/{pid}")
    arjun.click("#next-image")
    arjun.wait_for_function(f"location.hash.includes('{second}')")
    ana_errors.check()
    arjun_errors.check()


def test_no_order_choice_without_a_scored_model(server: DemoServer, new_context: Any) -> None:
    pid, _ = queue_project(server, 1)
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    page.goto(f"{server.base}/#/projects/{pid}")
    page.wait_for_selector("#next-image")
    expect(page.locator("#queue-order")).to_have_count(0)
    errors.check()


def test_most_informative_first_follows_the_models_ranking(server: DemoServer,
                                                           new_context: Any) -> None:
    maria = server.api("maria")
    shapes = next(p for p in maria.get("/projects")["projects"] if p["name"] == "Demo: shapes")
    pid = shapes["id"]
    model = maria.get(f"/projects/{pid}/models")["models"][0]
    job = maria.post(f"/projects/{pid}/jobs", {"type": "score", "model_id": model["id"]},
                     expect=202)["job"]
    deadline = time.time() + 120
    while maria.get(f"/jobs/{job['id']}")["job"]["state"] != "done":
        assert time.time() < deadline, "the score job did not finish"
        time.sleep(0.5)
    maria.settled()
    ranked = maria.get(f"/projects/{pid}/selection", model_id=model["id"], k=1)["images"]

    page = new_context().new_page()
    errors = log_in(page, server.base, "maria")
    page.goto(f"{server.base}/#/projects/{pid}")
    page.select_option("#queue-order", label="Most informative first")
    page.click("#next-image")
    page.wait_for_function("location.hash.startsWith('#/images/')")
    assert page.evaluate("location.hash.split('/')[2]") == ranked[0]["image_id"]
    shot(page, "queue-most-informative")
    errors.check()
