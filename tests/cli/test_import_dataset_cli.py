"""``labelwright import-dataset``: a YOLO folder and a COCO zip, run as a user would (a
subprocess on a fresh data dir); a refusal exits 2 naming the file and line, nothing
recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings
from tests.cli.test_cli import last_json, lw
from tests.web.dataset_files import coco_zip, images

pytestmark = pytest.mark.slow


def _project(data: Path) -> str:
    services = bootstrap(Settings(data_dir=data), background=False, live=False)
    try:
        project, _ = services.app.create_project("imports", ["cat", "dog"],
                                                 ["box", "polygon", "mask"], "admin")
        return str(project.id)
    finally:
        shutdown(services)


def test_a_folder_and_a_zip(tmp_path: Path) -> None:
    data = tmp_path / "data"
    project_id = _project(data)
    folder = tmp_path / "yolo"
    (folder / "labels").mkdir(parents=True)
    (folder / "images").mkdir()
    for name, content in images("f1.png", "f2.png").items():
        (folder / "images" / name).write_bytes(content)
    (folder / "data.yaml").write_text("names: [cat, dog]\n")
    (folder / "labels" / "f1.txt").write_text("0 0.5 0.5 0.5 0.5\n1 0.2 0.2 0.1 0.1\n")
    answer = last_json(lw(data, "import-dataset", project_id, str(folder), "--format", "yolo",
                          "--quiet", "--actor", "admin").stdout)
    assert (answer["images"], answer["annotations"], answer["images_added"]) == (2, 2, 2)
    again = last_json(lw(data, "import-dataset", project_id, str(folder), "--format", "yolo",
                         "--quiet", "--actor", "admin").stdout)
    assert again["images_added"] == 0 and again["position"] == answer["position"]

    dataset = tmp_path / "coco.zip"
    dataset.write_bytes(coco_zip(["c1.png", "c2.png", "c3.png"]))
    answer = last_json(lw(data, "import-dataset", project_id, str(dataset), "--format", "coco",
                          "--quiet").stdout)
    assert (answer["images"], answer["annotations"]) == (3, 5)

    (folder / "labels" / "f2.txt").write_text("0 0.5 0.5 0.5\n")
    refused = lw(data, "import-dataset", project_id, str(folder), "--format", "yolo",
                 check=False)
    assert refused.returncode == 2
    assert "labels/f2.txt:1" in refused.stderr and "5 fields" in refused.stderr
    status = last_json(lw(data, "projections", "status", "--catch-up").stdout)
    assert status["head"] == answer["position"]  # the refusal recorded nothing
