"""A manager imports a labeled dataset from the project's page (issue 13): a COCO zip whose
images are added and whose labels become human labels, the result shown; a YOLO zip with a
bad line is refused in the server's words, naming the file and line, nothing recorded."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import DemoServer, expect, log_in, sample_png, shot
from tests.browser.test_upload_images import fresh_project

pytestmark = pytest.mark.browser


def _zip(path: Path, files: dict[str, bytes | str]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path


def test_import_a_coco_zip_then_a_refused_yolo_zip(server: DemoServer, new_context: Any,
                                                   tmp_path: Path) -> None:
    project = fresh_project(server)
    pid = project["id"]
    admin = server.api("admin")
    coco = {"images": [{"id": 1, "file_name": "d1.png", "width": 320, "height": 240},
                       {"id": 2, "file_name": "d2.png", "width": 320, "height": 240}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 40]},
                            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [5, 5, 20, 20]},
                            {"id": 3, "image_id": 2, "category_id": 3, "bbox": [50, 5, 20, 20]}],
            "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"},
                           {"id": 3, "name": "bicycle"}]}
    dataset = _zip(tmp_path / "coco-street.zip", {
        "annotations/instances.json": json.dumps(coco),
        "images/d1.png": sample_png(9101, (320, 240)),
        "images/d2.png": sample_png(9102, (320, 240))})

    page = new_context().new_page()
    errors = log_in(page, server.base, "maria", then=f"#/projects/{pid}")
    page.wait_for_selector("#dataset-drop", state="attached")
    expect(page.locator("#upload-panel")).to_have_attribute("open", "")  # no images yet
    page.set_input_files("#dataset-file", str(dataset))
    expect(page.locator("#dataset-chosen")).to_contain_text("coco-street.zip")
    expect(page.locator("#dataset-format")).to_have_value("coco")  # guessed from the name
    page.click("#dataset-import")
    result = page.locator("#dataset-result")
    expect(result).to_contain_text("bicycle")
    expect(result).to_contain_text("Add them to the project", ignore_case=True)
    page.check("#dataset-create-classes")
    page.click("#dataset-import")
    expect(result).to_have_text(
        "3 labels on 2 images imported; 2 new images added; classes added: bicycle.")
    images = admin.get(f"/projects/{pid}/images")["images"]
    assert sorted(i["file_name"] for i in images) == ["d1.png", "d2.png"]
    d2 = next(i for i in images if i["file_name"] == "d2.png")
    labels = admin.labels(d2["id"])["annotations"]
    assert sorted((a["label"], a["source"], a["status"]) for a in labels) == [
        ("bicycle", "import", "manual"), ("person", "import", "manual")]
    shot(page, "dataset-import-done")

    bad = _zip(tmp_path / "yolo.zip", {"data.yaml": "names: [car, person]\n",
                                       "labels/d1.txt": "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n"})
    page.set_input_files("#dataset-file", str(bad))
    page.select_option("#dataset-format", "yolo")
    page.click("#dataset-import")
    expect(result).to_contain_text("The dataset was not imported: labels/d1.txt:2:")
    expect(page.locator("#dataset-error-where")).to_have_text("labels/d1.txt, line 2")
    assert len(admin.labels(next(i for i in images if i["file_name"] == "d1.png")["id"])[
        "annotations"]) == 1
    shot(page, "dataset-import-refused")
    errors.check(expected=("422",))
