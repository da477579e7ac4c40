"""The dashboard's export (issue #12, defect 7): it offers every format the server says it
supports (its OpenAPI document), each of them downloads the server's bytes (zips for the
folder formats, with the image files when asked), and every refusal shows the API's message;
the position is checked in the page too. A fresh project, so other tests' work on the demo
project cannot change what is exported between the page's download and the API's."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import DemoServer, doc_shot, expect, log_in, sample_png

pytestmark = pytest.mark.browser


def fresh_project(server: DemoServer) -> str:
    """A project of its own with maria as its manager, two images and a few labels."""
    admin = server.api("admin")
    project = admin.post("/projects", {"name": f"Export {uuid.uuid4().hex[:6]}",
                                       "classes": [{"name": "car"}, {"name": "person"}]}, 201)
    pid = str(project["id"])
    r = admin.client.put(f"/projects/{pid}/members/maria", json={"role": "manager"})
    assert r.status_code == 200, r.text
    r = admin.client.post(f"/projects/{pid}/images", files=[
        ("file", ("front.png", sample_png(31, (160, 120)), "image/png")),
        ("file", ("back.png", sample_png(32, (160, 120)), "image/png"))])
    assert r.status_code == 201, r.text
    for n, image in enumerate(r.json()["images"]):
        admin.command(image["id"], {"type": "create", "annotation": {
            "type": "box", "label": "car", "geometry": {"x": 5 + n, "y": 6, "w": 40, "h": 30}}})
    admin.settled()
    return pid


def download(page: Any) -> tuple[str, bytes]:
    with page.expect_download() as download:
        page.click("#export-link")
    saved = download.value
    return saved.suggested_filename, Path(saved.path()).read_bytes()


def test_export_offers_the_servers_formats_and_shows_every_error(
        server: DemoServer, new_context: Any) -> None:
    pid = fresh_project(server)
    maria = server.api("maria")
    head = maria.settled()
    served = maria.client.get("/openapi.json").json()
    route = served["paths"]["/api/v1/projects/{project_id}/export"]["get"]
    param = next(p for p in route["parameters"] if p["name"] == "format")
    with_images = next(p for p in route["parameters"] if p["name"] == "images")["x-formats"]

    page = new_context(accept_downloads=True).new_page()
    errors = log_in(page, server.base, "maria")
    page.goto(f"{server.base}/#/projects/{pid}/dashboard")
    page.wait_for_selector(".dashboard[data-loaded='true']")
    options = page.locator("#export-format option")
    expect(options).to_have_count(len(param["schema"]["enum"]))
    offered = options.evaluate_all("os => os.map(o => o.value)")
    assert offered == param["schema"]["enum"]
    assert {"coco", "yolo", "yolo_seg", "voc", "cvat", "labelstudio", "labelwright"} <= set(
        offered)
    expect(page.locator("#export-format")).to_have_value(param["schema"]["default"])

    # Every offered format downloads the server's bytes.
    for fmt in offered:
        page.select_option("#export-format", fmt)
        if fmt in with_images:
            expect(page.locator("#export-images")).to_be_enabled()
        else:
            expect(page.locator("#export-images")).to_be_disabled()
        name, body = download(page)
        assert name.startswith(f"{pid}-{fmt}")
        assert body == maria.client.get(f"/projects/{pid}/export", params={"format": fmt}
                                         ).content, fmt
        if name.endswith(".zip"):
            assert zipfile.ZipFile(io.BytesIO(body)).testzip() is None
        expect(page.locator("#export-error")).to_be_hidden()

    # YOLO with the image files and a split: the uploaded images are in the zip.
    page.select_option("#export-format", "yolo")
    page.check("#export-images")
    page.fill("#export-split", "train:0.5,val:0.5")
    page.fill("#export-seed", "4")
    name, body = download(page)
    files = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert sorted(f.rsplit("/", 1)[-1] for f in files if f.startswith("images/")) == [
        "back.png", "front.png"]
    assert "data.yaml" in files

    # A malformed split: the server's 422 message is shown, nothing downloads.
    page.fill("#export-split", "train:0.5,val:0.2")
    page.click("#export-link")
    problem = page.locator("#export-error")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("422")
    expect(problem).to_contain_text("add up to 0.7")
    page.fill("#export-split", "")
    expect(problem).to_be_hidden()

    # Not a whole number: refused in the page, nothing asked of the server.
    page.check("#asof-pos")
    page.fill("#export-position", "-3")
    expect(page.locator("#export-position")).to_have_attribute("aria-invalid", "true")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/export" in r.url else None)
    page.click("#export-link")
    expect(page.locator("#export-error")).to_contain_text("whole number")
    assert asked == []

    # Past the head: the page warns, and the server's refusal is shown with its message.
    beyond = head + 1000
    for fmt in ("voc", "labelstudio"):
        page.select_option("#export-format", fmt)
        page.fill("#export-position", str(beyond))
        expect(page.locator("#export-position-hint")).to_contain_text("when this page loaded")
        page.click("#export-link")
        expect(problem).to_be_visible()
        expect(problem).to_contain_text("422")
        expect(problem).to_contain_text(f"position {beyond} is beyond the head of the log")
        expect(page.locator(".toast-error").last).to_contain_text("beyond the head")
    doc_shot(page, "dashboard-export-error", show="#export")

    # Back to a valid position: the message goes and the export downloads.
    page.fill("#export-position", str(head))
    expect(problem).to_be_hidden()
    name, _ = download(page)
    assert name.endswith(f"-labelstudio-at-{head}.json")
    errors.check(("422",))
