"""A manager adds images (a folder and single files) and imports a predictions file from the
project page (issue 12, gap 9): per-file results in the API's words, nothing lost to one bad
file, the images in the project, the import's result or its refusal."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.browser.lab import DemoServer, doc_shot, expect, log_in, sample_png, shot

pytestmark = pytest.mark.browser


def fresh_project(server: DemoServer) -> dict[str, Any]:
    """A project of its own (the demo project's counts stay as other tests expect them), with
    maria as its manager."""
    admin = server.api("admin")
    project = admin.post("/projects", {"name": f"Upload {uuid.uuid4().hex[:6]}",
                                       "classes": [{"name": "car"}, {"name": "person"}]}, 201)
    r = admin.client.put(f"/projects/{project['id']}/members/maria", json={"role": "manager"})
    assert r.status_code == 200, r.text
    return project


def row(page: Any, name: str) -> Any:
    return page.locator(f"#upload-results li[data-name='{name}']")


def test_upload_a_folder_and_files_then_import_predictions(server: DemoServer, new_context: Any,
                                                           tmp_path: Path) -> None:
    project = fresh_project(server)
    pid = project["id"]
    admin = server.api("admin")
    seen_before = sample_png(9001, (320, 240))
    r = admin.client.post(f"/projects/{pid}/images",
                          files={"file": ("existing.png", seen_before, "image/png")})
    assert r.status_code == 201, r.text

    folder = tmp_path / "street"
    folder.mkdir()
    (folder / "a.png").write_bytes(sample_png(9002, (320, 240)))
    (folder / "b.png").write_bytes(sample_png(9003, (320, 240)))
    (folder / "notes.txt").write_text("not a picture\n")
    (folder / "copy.png").write_bytes(seen_before)  # the same bytes: the same image
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "c.png").write_bytes(sample_png(9004, (320, 240)))
    (loose / "broken.png").write_text("a text file named like a picture\n")

    page = new_context().new_page()
    errors = log_in(page, server.base, "maria", then=f"#/projects/{pid}")
    panel = page.locator("#upload-panel")
    page.wait_for_selector("#upload-drop", state="attached")
    expect(panel).not_to_have_attribute("open", "")  # closed once the project has images
    page.locator("#upload-panel > summary").click()
    expect(page.locator("#upload-drop")).to_be_visible()

    # A whole folder (webkitdirectory): the text file is skipped here, the copy is a duplicate.
    page.set_input_files("#upload-folder", str(folder))
    expect(page.locator("#upload-progress-text")).to_have_text("3 of 3 files · "
                                                               + _bytes_text(folder))
    expect(row(page, "a.png")).to_have_attribute("data-state", "added")
    expect(row(page, "b.png")).to_have_attribute("data-state", "added")
    expect(row(page, "copy.png")).to_have_attribute("data-state", "duplicate")
    expect(row(page, "copy.png")).to_contain_text("already in the project (as existing.png)")
    expect(row(page, "notes.txt")).to_have_attribute("data-state", "skipped")
    expect(row(page, "notes.txt")).to_contain_text(
        "not sent: not a JPEG, PNG, GIF, BMP, TIFF or WebP image")
    expect(row(page, "a.png").locator(".upload-name")).to_have_text("street/a.png")

    # Two files in one request, one of them not an image: the server refuses the request naming
    # it; the other one is sent again and added.
    page.set_input_files("#upload-files", [str(loose / "c.png"), str(loose / "broken.png")])
    expect(row(page, "c.png")).to_have_attribute("data-state", "added")
    expect(row(page, "broken.png")).to_have_attribute("data-state", "refused")
    expect(row(page, "broken.png")).to_contain_text("not an image we can read")
    expect(page.locator("#upload-counts")).to_have_text(
        "3 added · 1 duplicate · 1 refused · 1 skipped")
    expect(page.locator("#upload-live")).to_have_text(
        "Upload finished: 3 added · 1 duplicate · 1 refused · 1 skipped")
    expect(page.locator("#upload-cancel")).to_be_hidden()
    expect(page.locator("#upload-retry")).to_be_hidden()  # nothing failed that a retry would fix

    # The images are in the project, on this page too.
    listed = admin.get(f"/projects/{pid}/images", limit=50)["images"]
    assert sorted(i["file_name"] for i in listed) == ["a.png", "b.png", "c.png", "existing.png"]
    expect(page.locator(".image-card")).to_have_count(4)
    expect(page.locator(".chip[data-status='all'] .chip-count")).to_have_text("4")

    # Predictions: a Labelwright JSON file naming its model; the form takes the name from it.
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({"model": {"name": "street-detector", "version": "3"},
                                 "predictions": [{"image_id": "a.png", "annotations": [
                                     {"type": "box", "label": "car", "score": 0.9,
                                      "geometry": {"x": 10, "y": 20, "w": 100, "h": 60}},
                                     {"type": "box", "label": "person", "score": 0.7,
                                      "geometry": {"x": 150, "y": 30, "w": 40, "h": 90}}]}]}))
    page.set_input_files("#predictions-file", str(preds))
    expect(page.locator("#predictions-model")).to_have_value("street-detector")
    expect(page.locator("#predictions-version")).to_have_value("3")
    doc_shot(page, "upload-images")
    page.click("#predictions-import")
    expect(page.locator("#predictions-result")).to_have_text(
        "Imported 2 pre-labels on 1 image from preds.json.")
    a_png = next(i for i in listed if i["file_name"] == "a.png")
    labels = admin.labels(a_png["id"])["annotations"]
    assert sorted((a["label"], a["source"], a["model"]["name"]) for a in labels) == [
        ("car", "prelabel", "street-detector"), ("person", "prelabel", "street-detector")]

    # COCO results without a model are stopped here; one naming an unknown image is refused by
    # the server in its words, and nothing is recorded.
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps([{"image_id": "nope.png", "category_id": 1,
                                 "bbox": [1, 2, 30, 40], "score": 0.5}]))
    page.fill("#predictions-model", "")
    page.fill("#predictions-version", "")
    page.set_input_files("#predictions-file", str(coco))
    page.click("#predictions-import")
    expect(page.locator("#predictions-result")).to_have_text(
        "COCO results do not name their model: give the model name and version.")
    page.fill("#predictions-model", "yolo")
    page.fill("#predictions-version", "8.1")
    page.click("#predictions-import")
    expect(page.locator("#predictions-result")).to_contain_text(
        "Not imported: no image 'nope.png' in this project")
    expect(page.locator("#predictions-result")).to_contain_text("Nothing was recorded.")
    assert len(admin.labels(a_png["id"])["annotations"]) == 2
    shot(page, "upload-predictions-refused")
    errors.check(expected=("422",))


def test_upload_panel_is_for_managers_and_works_from_the_keyboard(
        server: DemoServer, new_context: Any) -> None:
    project = fresh_project(server)
    pid = project["id"]
    r = server.api("admin").client.put(f"/projects/{pid}/members/ana",
                                       json={"role": "annotator"})
    assert r.status_code == 200, r.text

    annotator = new_context().new_page()
    log_in(annotator, server.base, "ana", then=f"#/projects/{pid}")
    annotator.wait_for_selector("#next-image")
    expect(annotator.locator("#upload-panel")).to_have_count(0)

    page = new_context().new_page()
    log_in(page, server.base, "maria", then=f"#/projects/{pid}")
    expect(page.locator("#upload-panel")).to_have_attribute("open", "")  # no images yet
    # The buttons that open the pickers are reachable by Tab and named.
    page.locator("#upload-pick-files").focus()
    expect(page.locator("#upload-pick-files")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#upload-pick-folder")).to_be_focused()
    expect(page.locator("#upload-drop")).to_have_attribute("role", "group")
    expect(page.get_by_label("Predictions file")).to_have_count(1)
    expect(page.get_by_label("Model version")).to_have_count(1)
    # The summary closes and opens the panel from the keyboard.
    page.locator("#upload-panel > summary").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#upload-panel")).not_to_have_attribute("open", "")


def _bytes_text(folder: Path) -> str:
    """What the progress line says of the folder's image files: "x KiB of x KiB"."""
    total = sum(p.stat().st_size for p in folder.iterdir() if p.suffix == ".png")
    text = f"{total / 1024:.1f} KiB"
    return f"{text} of {text}"


def noise_png(seed: int, side: int = 560) -> bytes:
    """A PNG that does not compress (about 1 MB at 560 px): an upload that takes a while."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def test_cancel_a_slow_upload_then_retry_and_drop_files(server: DemoServer, new_context: Any,
                                                        tmp_path: Path) -> None:
    project = fresh_project(server)
    pid = project["id"]
    admin = server.api("admin")
    paths = []
    for i in range(3):
        p = tmp_path / f"noise-{i}.png"
        p.write_bytes(noise_png(i))
        paths.append(str(p))

    context = new_context()
    page = context.new_page()
    errors = log_in(page, server.base, "maria", then=f"#/projects/{pid}")
    page.wait_for_selector("#upload-drop")
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {  # ~3 MB at 64 KiB/s: 45 s to send
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 64 * 1024})
    page.set_input_files("#upload-files", paths)
    expect(page.locator("#upload-cancel")).to_be_visible()
    page.wait_for_function("document.getElementById('upload-progress').value > 0")
    page.click("#upload-cancel")
    expect(page.locator("#upload-counts")).to_have_text("3 cancelled")
    for i in range(3):
        expect(row(page, f"noise-{i}.png")).to_contain_text("not uploaded: cancelled")
    expect(page.locator("#upload-retry")).to_be_visible()
    assert admin.get(f"/projects/{pid}/images")["images"] == []  # the request recorded nothing

    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    page.locator("#upload-retry").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#upload-counts")).to_have_text("3 added")
    expect(page.locator(".image-card")).to_have_count(3)

    # Dropped files (a DataTransfer as a drop makes it): the images are added, the text skipped.
    dropped = sample_png(9101, (200, 150))
    data_transfer = page.evaluate_handle("""([png]) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(png)], 'dropped.png', { type: 'image/png' }));
      dt.items.add(new File(['hello'], 'readme.md', { type: 'text/markdown' }));
      return dt;
    }""", [list(dropped)])
    page.dispatch_event("#upload-drop", "drop", {"dataTransfer": data_transfer})
    expect(row(page, "dropped.png")).to_have_attribute("data-state", "added")
    expect(row(page, "readme.md")).to_have_attribute("data-state", "skipped")
    expect(page.locator("#upload-counts")).to_have_text("4 added · 1 skipped")
    expect(page.locator(".image-card")).to_have_count(4)
    errors.check()



def drop_paths(page: Any, target: str, paths: list[Path]) -> None:
    """Drop files and folders of this machine on ``target`` as a person dragging them from a
    file manager would: Chromium's own drag and drop (CDP ``Input.dispatchDragEvent``), so the
    page's drop handler gets a DataTransfer whose folders are real directory entries
    (``webkitGetAsEntry().isDirectory``), which a DataTransfer made in the page cannot carry."""
    box = page.locator(target).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = page.context.new_cdp_session(page)
    data = {"items": [], "files": [str(p) for p in paths], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})
    cdp.detach()


def test_drop_a_folder_with_subfolders_and_a_loose_file(server: DemoServer, new_context: Any,
                                                        tmp_path: Path) -> None:
    """A folder dropped on the upload area is walked (its subfolders too): each image in it is
    uploaded with its path, the rest skipped with a reason, beside a file dropped with it."""
    project = fresh_project(server)
    pid = project["id"]
    trip = tmp_path / "trip"
    (trip / "day1" / "evening").mkdir(parents=True)
    (trip / "top.png").write_bytes(sample_png(9301, (240, 180)))
    (trip / "day1" / "beach.png").write_bytes(sample_png(9302, (240, 180)))
    (trip / "day1" / "evening" / "sunset.png").write_bytes(sample_png(9303, (240, 180)))
    (trip / "day1" / "notes.txt").write_text("not a picture\n")
    (trip / ".thumb.png").write_bytes(sample_png(9304, (120, 90)))
    loose = tmp_path / "loose.png"
    loose.write_bytes(sample_png(9305, (240, 180)))

    page = new_context().new_page()
    errors = log_in(page, server.base, "maria", then=f"#/projects/{pid}")
    expect(page.locator("#upload-panel")).to_have_attribute("open", "")  # no images yet
    expect(page.locator("#upload-drop")).to_be_visible()
    drop_paths(page, "#upload-drop", [trip, loose])

    expect(page.locator("#upload-counts")).to_have_text("4 added · 2 skipped")
    expect(page.locator("#upload-live")).to_have_text("Upload finished: 4 added · 2 skipped")
    paths = {"top.png": "trip/top.png", "beach.png": "trip/day1/beach.png",
             "sunset.png": "trip/day1/evening/sunset.png", "loose.png": "loose.png"}
    for name, path in paths.items():
        expect(row(page, name)).to_have_attribute("data-state", "added")
        expect(row(page, name).locator(".upload-name")).to_have_text(path)
    expect(row(page, "notes.txt")).to_have_attribute("data-state", "skipped")
    expect(row(page, "notes.txt")).to_contain_text("not a JPEG, PNG, GIF, BMP, TIFF or WebP")
    expect(row(page, ".thumb.png")).to_have_attribute("data-state", "skipped")
    expect(row(page, ".thumb.png")).to_contain_text("not sent: a hidden file")
    expect(page.locator("#upload-results li")).to_have_count(6)

    # The images are in the project, and on this page.
    listed = server.api("admin").get(f"/projects/{pid}/images", limit=50)["images"]
    assert sorted(i["file_name"] for i in listed) == sorted(paths)
    expect(page.locator(".image-card")).to_have_count(4)
    expect(page.locator(".chip[data-status='all'] .chip-count")).to_have_text("4")
    shot(page, "upload-dropped-folder")
    errors.check()

def test_requests_stay_small_and_a_file_the_server_refuses_costs_only_itself(
        server: DemoServer, new_context: Any) -> None:
    """The queue itself against the server: five files in requests of two, one of them over the
    server's per-file limit (let through by a client that believes a larger one): the server's
    413 names it, the file next to it is sent again, the rest go on."""
    project = fresh_project(server)
    page = new_context().new_page()
    errors = log_in(page, server.base, "maria", then=f"#/projects/{project['id']}")
    page.wait_for_selector("#upload-drop")
    pngs = [list(sample_png(9200 + i, (120, 90))) for i in range(3)]
    result = page.evaluate("""async ([projectId, pngs]) => {
      const { UploadQueue, LIMITS } = await import('/static/js/upload_queue.js');
      const { upload } = await import('/static/js/api.js');
      const requests = [];
      const send = (path, form, options) => {
        requests.push(form.getAll('file').map((f) => f.name));
        return upload(path, form, options);
      };
      const queue = new UploadQueue(projectId, {
        limits: { ...LIMITS, maxFileBytes: 128 * 1024 * 1024 },
        batch: { bytes: 1e9, files: 2 }, send });
      const png = (i, name) => new File([Uint8Array.from(pngs[i])], name, { type: 'image/png' });
      queue.add([png(0, 'p0.png'), png(1, 'p1.png'),
                 new File([new Uint8Array(65 * 1024 * 1024)], 'huge.png', { type: 'image/png' }),
                 png(2, 'p2.png'), png(0, 'again.png')]);
      await queue.start();
      return { requests, items: queue.items.map((it) => [it.file.name, it.state, it.message]),
               progress: queue.progress() };
    }""", [project["id"], pngs])
    assert result["requests"] == [["p0.png", "p1.png"], ["huge.png", "p2.png"], ["p2.png"],
                                  ["again.png"]]
    states = {name: (state, message) for name, state, message in result["items"]}
    assert states["p0.png"] == ("added", None) and states["p1.png"] == ("added", None)
    assert states["p2.png"] == ("added", None)
    assert states["huge.png"] == ("refused", "file 'huge.png' is larger than 67,108,864 bytes")
    assert states["again.png"] == ("duplicate", "already in the project (as p0.png)")
    assert result["progress"]["done"] == result["progress"]["total"] == 5
    names = sorted(i["file_name"] for i in
                   server.api("admin").get(f"/projects/{project['id']}/images")["images"])
    assert names == ["p0.png", "p1.png", "p2.png"]
    errors.check(expected=("413",))
