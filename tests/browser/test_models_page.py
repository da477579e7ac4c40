"""The Models page: a manager drops a real (planted-output) YOLOv8 ONNX model and its classes
file on the page, sees what the server detected, maps a class, runs a pre-label job, watches
it reach done, and finds the pre-labels on an image; an annotator never sees the page; a file
the server refuses is explained in the API's own words."""

from __future__ import annotations

import argparse
import base64
import io
import warnings
from pathlib import Path
from typing import Any

import onnx
import pytest
import torch
from torch import nn

from tests.browser.lab import DemoServer, doc_shot, expect, log_in, open_image, shot, start_job
from tests.inference.model_factory import ultralytics_metadata, yolov8_onnx, yolov8_output

pytestmark = pytest.mark.browser

IMGSZ = (64, 64)
# The model's own classes (from the classes file): "Cat" maps onto the project's "cat" by
# itself (case-insensitive), "mug" is mapped onto "cup" on the page, "tree" stays dropped.
CLASSES = ["Cat", "mug", "tree"]
# (cx, cy, w, h, class, score) in the 64 x 64 letterboxed input.
PLANTED = [(32.0, 32.0, 20.0, 20.0, 1, 0.9), (16.0, 24.0, 10.0, 8.0, 0, 0.8),
           (48.0, 40.0, 8.0, 8.0, 2, 0.7), (40.0, 20.0, 6.0, 6.0, 0, 0.3)]
THRESHOLD = 0.5  # drops the 0.3 cat


def drop_files(page: Any, selector: str, files: list[tuple[str, bytes]]) -> None:
    """Drop ``files`` on ``selector`` as a person dragging them from the desktop would
    (dragenter, dragover and drop events carrying a DataTransfer with the files)."""
    page.evaluate("""([selector, files]) => {
        const dt = new DataTransfer();
        for (const f of files) {
            const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
            dt.items.add(new File([bytes], f.name, { type: "application/octet-stream" }));
        }
        const target = document.querySelector(selector);
        for (const type of ["dragenter", "dragover", "drop"]) {
            target.dispatchEvent(new DragEvent(type, {
                bubbles: true, cancelable: true, dataTransfer: dt }));
        }
    }""", [selector, [{"name": n, "b64": base64.b64encode(b).decode()} for n, b in files]])


def model_file(tmp_path: Path, names: list[str] | None = None) -> bytes:
    # The metadata's names differ from the classes file's: the page must send the file.
    path = yolov8_onnx(tmp_path / "model.onnx", names or ["a", "b", "c"], IMGSZ, PLANTED)
    return path.read_bytes()


class _SlowPlanted(nn.Module):
    """The planted YOLOv8 output after a real stack of wide convolutions at 320 x 320 (about
    0.25 s an image on 2 cores): a job that runs long enough to be cancelled while it runs."""

    def __init__(self, constant: torch.Tensor, layers: int = 10, width: int = 40) -> None:
        super().__init__()
        convs: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1)]
        for _ in range(layers):
            convs += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        self.trunk = nn.Sequential(*convs)
        self.register_buffer("constant", constant.unsqueeze(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.constant + self.trunk(x).mean(dim=(1, 2, 3)).reshape(-1, 1, 1) * 0.0


def slow_model_file(tmp_path: Path) -> bytes:
    """A fixed batch of one: the worker looks at the job (cancelled?) before every image."""
    imgsz = (320, 320)
    module = _SlowPlanted(yolov8_output(["cat"], imgsz, [(160.0, 160.0, 80.0, 80.0, 0, 0.9)]))
    path = tmp_path / "slow.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(module.eval(), (torch.zeros(1, 3, *imgsz),), str(path),
                          input_names=["images"], output_names=["output0"], opset_version=17,
                          dynamo=False)
    graph = onnx.load(str(path))
    for key, value in ultralytics_metadata(["cat"], imgsz, "detect").items():
        graph.metadata_props.add(key=key, value=value)
    onnx.save(graph, str(path))
    return path.read_bytes()


def open_models_page(page: Any, server: DemoServer) -> None:
    page.goto(f"{server.base}/#/projects/{server.project_id}")
    page.click("#models-link")
    page.wait_for_selector(".models-page[data-loaded='true']")


def test_a_manager_registers_maps_and_runs_a_model(server: DemoServer, new_context: Any,
                                                   tmp_path: Path) -> None:
    pid = server.project_id
    image = server.new_image()  # unlabeled: the job must reach it
    maria = server.api("maria")
    weights = model_file(tmp_path)

    page = new_context(viewport={"width": 1440, "height": 1400}).new_page()
    errors = log_in(page, server.base, "maria")
    open_models_page(page, server)
    drop_files(page, "#model-drop", [("shapes-detector_v3.onnx", weights),
                                     ("classes.txt", "\n".join(CLASSES).encode() + b"\n")])
    expect(page.locator("#model-chosen [data-kind='weights'] .chosen-name")).to_have_text(
        "shapes-detector_v3.onnx")
    expect(page.locator("#model-chosen [data-kind='classes'] .chosen-name")).to_have_text(
        "classes.txt")
    expect(page.locator("#model-name")).to_have_value("shapes-detector")
    expect(page.locator("#model-version")).to_have_value("3")
    shot(page, "models-1-dropped")
    page.click("#model-upload")

    # What was detected, as the API recorded it.
    expect(page.locator("#model-detail-title")).to_contain_text("shapes-detector")
    registered = next(m for m in maria.get(f"/projects/{pid}/models")["models"]
                      if m["name"] == "shapes-detector" and m["version"] == "3")
    assert registered["format"] == "onnx" and registered["task"] == "detect"
    assert registered["classes"] == CLASSES and registered["input_size"] == list(IMGSZ)
    facts = page.locator("#model-facts")
    expect(facts.locator("[data-fact='format']")).to_have_text("onnx")
    expect(facts.locator("[data-fact='task']")).to_have_text("detect")
    expect(facts.locator("[data-fact='layout']")).to_have_text(registered["layout"])
    expect(facts.locator("[data-fact='input_size']")).to_have_text(
        "64 \u00d7 64 px (height \u00d7 width)")
    expect(facts.locator("[data-fact='classes']")).to_have_text("3: Cat, mug, tree")
    shapes = [", ".join("N" if d is None else str(d) for d in shape)
              for shape in registered["details"]["output_shapes"]]
    assert shapes == ["1, 7, 84"]  # 4 box numbers + 3 classes, 8x8 + 4x4 + 2x2 anchors
    expect(facts.locator("[data-fact='outputs']")).to_have_text("(1, 7, 84)")
    row = page.locator(f"#model-table tr[data-model='{registered['id']}']")
    expect(row.locator(".model-unmapped")).to_have_text("2")

    # The class mapping: Cat found its class by itself; mug and tree are highlighted.
    table = page.locator("#class-map-table")
    expect(table.locator("tr[data-model-class='Cat'] select")).to_have_value("cat")
    expect(table.locator("tr.unmapped")).to_have_count(2)
    table.locator("tr[data-model-class='Cat'] select").select_option("")
    expect(table.locator("tr.unmapped")).to_have_count(3)
    page.click("#class-map-by-name")  # finds "cat" again; "mug" and "tree" have no namesake
    expect(table.locator("tr[data-model-class='Cat'] select")).to_have_value("cat")
    expect(table.locator("tr.unmapped")).to_have_count(2)
    table.locator("tr[data-model-class='mug'] select").select_option("cup")
    expect(page.locator("#class-map-save")).to_be_enabled()
    shot(page, "models-2-detected")
    page.click("#class-map-save")
    expect(table.locator("tr.unmapped")).to_have_count(1)
    expect(table.locator("tr.unmapped")).to_have_attribute("data-model-class", "tree")
    expect(row.locator(".model-unmapped")).to_have_text("1")
    saved = maria.get(f"/models/{registered['id']}")["model"]
    assert saved["class_map"] == {"Cat": "cat", "mug": "cup", "tree": None}
    assert saved["unmapped"] == ["tree"]

    # ana has the fresh image open meanwhile: the pre-labels are to appear there live.
    annotator = new_context(viewport={"width": 1440, "height": 900}).new_page()
    ana_errors = log_in(annotator, server.base, "ana")
    open_image(annotator, server.base, image["id"])
    expect(annotator.locator(".vrow")).to_have_count(0)

    # Run it on every image with a threshold; the job's row follows it live to done.
    page.check("#run-all")
    page.fill("#run-threshold-value", str(THRESHOLD))
    expect(page.locator("#run-threshold")).to_have_value(str(THRESHOLD))
    job_row = start_job(page)
    expect(job_row).to_have_attribute("data-state", "done", timeout=60_000)
    job = next(j for j in maria.get(f"/projects/{pid}/jobs")["jobs"]
               if j["id"] == job_row.get_attribute("data-job"))
    assert job["state"] == "done" and job["model_id"] == registered["id"]
    assert job["params"]["threshold"] == THRESHOLD and job["failed"] == 0
    assert job["total"] == maria.get(f"/projects/{pid}")["image_count"]
    expect(job_row.locator(".job-count")).to_contain_text(f"{job['total']} / {job['total']} images")
    expect(job_row.locator(".job-recorded")).to_have_text(str(job["recorded"]))
    expect(job_row.locator(".job-cancel")).to_have_count(0)
    # It got there through the project room's {"op": "job"} messages, not only by polling.
    assert int(page.locator("#jobs").get_attribute("data-live-updates") or 0) > 0
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    doc_shot(page, "models-page")

    # Retired: the model keeps its pre-labels but runs no new job, on the page or by the API.
    page.click("#model-retire")
    page.click("#model-retire-confirm")
    expect(page.locator("#run-retired")).to_be_visible()
    expect(row.locator(".retired-badge")).to_have_text("retired")
    assert maria.get(f"/models/{registered['id']}")["model"]["retired"] is True
    maria.post(f"/projects/{pid}/jobs", {"type": "prelabel", "model_id": registered["id"]},
               expect=409)

    # The pre-labels are on the fresh image: cat and cup (tree dropped, the 0.3 cat below the
    # threshold), where the planted boxes are in the image's pixels (800 x 600 letterboxed into
    # 64 x 64: scale 0.08, 8 rows of padding above).
    proposed = maria.labels(image["id"])["annotations"]
    assert sorted(a["label"] for a in proposed) == ["cat", "cup"]
    cup = next(a for a in proposed if a["label"] == "cup")
    for key, want in {"x": 275, "y": 175, "w": 250, "h": 250}.items():
        assert abs(cup["geometry"][key] - want) <= 2, cup
    expect(annotator.locator(".vrow")).to_have_count(2)  # arrived without a reload
    expect(annotator.locator(".vrow .vrow-status.proposed")).to_have_count(2)
    assert sorted(annotator.locator(".vrow-label").all_inner_texts()) == ["cat", "cup"]
    shot(annotator, "models-4-prelabels-live")
    errors.check()
    ana_errors.check()


def test_an_annotator_sees_no_models_page_and_the_api_refuses(server: DemoServer,
                                                              new_context: Any,
                                                              tmp_path: Path) -> None:
    pid = server.project_id
    page = new_context().new_page()
    errors = log_in(page, server.base, "ana")
    page.wait_for_selector(f".project-card[data-project='{pid}']")
    expect(page.locator(".models-link")).to_have_count(0)
    page.goto(f"{server.base}/#/projects/{pid}")
    page.wait_for_selector("#next-image")
    expect(page.locator("#models-link")).to_have_count(0)
    page.goto(f"{server.base}/#/projects/{pid}/models")
    expect(page.locator("#models-refused")).to_be_visible()
    expect(page.locator("#model-drop")).to_have_count(0)
    shot(page, "models-5-annotator")

    ana = server.api("ana").client
    r = ana.post(f"/projects/{pid}/models", data={"name": "sneaky", "version": "1"},
                 files={"weights": ("m.onnx", model_file(tmp_path), "application/octet-stream")})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    errors.check()


def test_refused_files_are_explained_in_the_api_words(server: DemoServer, new_context: Any,
                                                      tmp_path: Path) -> None:
    pid = server.project_id
    maria = server.api("maria").client
    garbage = b"this is not a model at all\n" * 40
    refused = maria.post(f"/projects/{pid}/models", data={"name": "garbage", "version": "1"},
                         files={"weights": ("garbage.onnx", garbage, "application/octet-stream")})
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]

    page = new_context().new_page()
    choosers: list[Any] = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))  # intercepted from the start
    errors = log_in(page, server.base, "maria")
    open_models_page(page, server)

    # A file of neither kind is explained before anything is sent.
    page.set_input_files("#model-files", files=[
        {"name": "notes.zip", "mimeType": "application/zip", "buffer": b"PK"}])
    expect(page.locator("#model-error")).to_contain_text("notes.zip is neither model weights")
    expect(page.locator("#model-upload")).to_be_disabled()

    # Garbage named .onnx, chosen from the keyboard: the API's message, the drop zone marked.
    page.focus("#model-pick")
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement.id === 'model-pick'")
    for _ in range(100):
        if choosers:
            break
        page.wait_for_timeout(50)
    assert choosers, "Enter on 'Choose files…' opened no file chooser"
    choosers[0].set_files(files=[
        {"name": "garbage.onnx", "mimeType": "application/octet-stream", "buffer": garbage}])
    expect(page.locator("#model-name")).to_have_value("garbage")
    page.click("#model-upload")
    expect(page.locator("#model-error")).to_contain_text(message)
    expect(page.locator("#model-drop")).to_have_class("dropzone invalid")
    shot(page, "models-6-garbage")

    # A classes file with fewer names than the model has classes.
    short = "\n".join(CLASSES[:2]).encode()
    mismatch = maria.post(f"/projects/{pid}/models", data={"name": "short", "version": "1"},
                          files={"weights": ("m.onnx", model_file(tmp_path), "application/x"),
                                 "classes": ("classes.txt", short, "text/plain")})
    assert mismatch.status_code == 422, mismatch.text
    drop_files(page, "#model-drop", [("short-classes.onnx", model_file(tmp_path)),
                                     ("classes.txt", short)])
    expect(page.locator("#model-chosen [data-kind='weights'] .chosen-name")).to_have_text(
        "short-classes.onnx")
    page.click("#model-upload")
    expect(page.locator("#model-error")).to_contain_text(mismatch.json()["error"]["message"])

    # A torch.save checkpoint: first the architecture is asked for (that select is marked),
    # then, named, its pickle is refused because it holds more than tensors.
    buf = io.BytesIO()
    torch.save({"args": argparse.Namespace(lr=0.01), "weights": torch.zeros(2)}, buf)
    pickled = buf.getvalue()

    def refusal(architecture: str | None) -> str:
        data = {"name": "pickled", "version": "1"}
        if architecture:
            data["architecture"] = architecture
        r = maria.post(f"/projects/{pid}/models", data=data,
                       files={"weights": ("checkpoint.pt", pickled, "application/x"),
                              "classes": ("classes.txt", b"cat\n", "text/plain")})
        assert r.status_code == 422, r.text
        return str(r.json()["error"]["message"])

    drop_files(page, "#model-drop", [("checkpoint.pt", pickled), ("classes.txt", b"cat\n")])
    expect(page.locator("#model-architecture-hint")).to_contain_text("state dict")
    page.click("#model-upload")
    expect(page.locator("#model-error")).to_contain_text(refusal(None))
    expect(page.locator("#model-architecture")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#model-architecture")).to_be_focused()
    page.select_option("#model-architecture", "centernet")
    page.click("#model-upload")
    message = refusal("centernet")
    assert "pickle" in message
    expect(page.locator("#model-error")).to_contain_text(message)
    expect(page.locator("#model-drop")).to_have_class("dropzone invalid")
    shot(page, "models-6b-pickle")

    names = [m["name"] for m in server.api("maria").get(f"/projects/{pid}/models")["models"]]
    assert not {"garbage", "short-classes", "checkpoint", "pickled"} & set(names)
    errors.check(expected=("422",))


def test_upload_progress_and_cancelling_an_upload(server: DemoServer, new_context: Any) -> None:
    page = new_context().new_page()
    errors = log_in(page, server.base, "maria")
    open_models_page(page, server)
    # A slow line (256 KiB/s up) and 3 MiB of weights: the upload takes seconds.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 256 * 1024})
    drop_files(page, "#model-drop", [("big-model.onnx", bytes(3 * 1024 * 1024))])
    page.click("#model-upload")
    expect(page.locator("#model-progress-text")).to_contain_text("Uploading")
    page.wait_for_function("document.getElementById('model-progress').value > 0")
    expect(page.locator("#model-name")).to_be_disabled()
    shot(page, "models-7-uploading")
    page.click("#model-upload-cancel")
    expect(page.locator("#toasts")).to_contain_text("Upload cancelled")
    expect(page.locator("#model-progress")).to_be_hidden()
    expect(page.locator("#model-upload")).to_be_enabled()  # the file is still chosen: retry
    expect(page.locator("#model-error")).to_have_text("")
    names = [m["name"] for m in server.api("maria").get(
        f"/projects/{server.project_id}/models")["models"]]
    assert "big-model" not in names
    errors.check()


def test_cancelling_a_running_job(server: DemoServer, new_context: Any, tmp_path: Path) -> None:
    pid = server.project_id
    maria = server.api("maria")
    while maria.get(f"/projects/{pid}")["image_count"] < 12:  # 3 s of work on 2 cores
        server.new_image()
    page = new_context(viewport={"width": 1440, "height": 1200}).new_page()
    errors = log_in(page, server.base, "maria")
    open_models_page(page, server)
    drop_files(page, "#model-drop", [("slow-detector.onnx", slow_model_file(tmp_path))])
    page.click("#model-upload")
    expect(page.locator("#model-detail-title")).to_contain_text("slow-detector")
    page.check("#run-all")
    job_row = start_job(page)
    expect(job_row).to_have_attribute("data-state", "running")
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    shot(page, "models-8-running")
    job_row.locator(".job-cancel").click()
    expect(job_row).to_have_attribute("data-state", "cancelled")
    expect(job_row.locator(".job-cancel")).to_have_count(0)
    expect(page.locator("#toasts")).to_contain_text("Job cancelled")
    job = maria.get(f"/jobs/{job_row.get_attribute('data-job')}")["job"]
    assert job["state"] == "cancelled" and job["finished_at"] is not None
    assert job["done"] < job["total"]
    errors.check()
