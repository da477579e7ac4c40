"""``labelwright model add`` / ``labelwright model list`` end to end in a temporary data dir:
in-process through ``labelwright.cli.main`` (what the console script runs), and once as a
real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labelwright.bootstrap import bootstrap, shutdown
from labelwright.cli import main
from labelwright.settings import Settings
from tests.inference import model_factory as factory

NAMES = ["Cat", "dog", "bird"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def project_id(data_dir: Path) -> str:
    services = bootstrap(Settings(data_dir=data_dir), live=False)
    try:
        project, _ = services.app.create_project("cli", [{"name": "cat"}, {"name": "dog"}],
                                                 None, "admin")
    finally:
        shutdown(services)
    return str(project.id)


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return factory.yolov8_onnx(tmp_path_factory.mktemp("w") / "yolov8n.onnx", NAMES)


def run(capsys: pytest.CaptureFixture[str], data_dir: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_and_list(capsys: pytest.CaptureFixture[str], data_dir: Path, project_id: str,
                      onnx_file: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, data_dir, "model", "add", project_id, str(onnx_file))
    assert code == 0
    first = json.loads(out)
    assert (first["name"], first["version"], first["task"], first["format"]) == (
        "yolov8n", "1", "detect", "onnx")
    assert first["class_map"] == {"Cat": "cat", "dog": "dog", "bird": None}
    assert first["created_by"] == "cli"

    classes = tmp_path / "coco.json"
    classes.write_text(json.dumps({"categories": [{"id": 3, "name": "car"},
                                                  {"id": 1, "name": "cat"},
                                                  {"id": 2, "name": "dog"}]}))
    code, out, _ = run(capsys, data_dir, "model", "add", project_id, str(onnx_file),
                       "--classes", str(classes), "--name", "detector", "--version", "7",
                       "--task", "detect", "--input-size", "64,64", "--actor", "admin")
    assert code == 0
    second = json.loads(out)
    assert second["classes"] == ["cat", "dog", "car"]
    assert (second["name"], second["version"], second["created_by"]) == (
        "detector", "7", "admin")
    assert second["unmapped"] == ["car"]

    code, out, _ = run(capsys, data_dir, "model", "list", project_id)
    assert code == 0
    assert [(m["name"], m["version"]) for m in json.loads(out)["models"]] == [
        ("yolov8n", "1"), ("detector", "7")]

    # Refusals: a message and exit status 2, nothing recorded, no file left behind.
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\0not a model" * 10)
    for args, words in (([str(garbage)], "not an ONNX model"),
                        ([str(tmp_path / "missing.onnx")], "cannot read"),
                        ([str(onnx_file), "--name", "detector", "--version", "7"],
                         "already registered"),
                        ([str(onnx_file), "--classes", str(tmp_path / "none.txt")],
                         "classes file")):
        code, out, err = run(capsys, data_dir, "model", "add", project_id, *args)
        assert code == 2 and out == "" and words in err, (args, err)
    code, out, _ = run(capsys, data_dir, "model", "list", project_id)
    assert len(json.loads(out)["models"]) == 2
    assert not list((data_dir / "models" / "tmp").iterdir())
    code, _, err = run(capsys, data_dir, "model", "list", "no-such-project")
    assert code == 2 and "no project" in err


@pytest.mark.slow
def test_the_console_script(data_dir: Path, project_id: str, onnx_file: Path) -> None:
    binary = str(Path(sys.executable).parent / "labelwright")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
    added = subprocess.run([binary, "model", "add", project_id, str(onnx_file), "--data-dir",
                            str(data_dir)], capture_output=True, text=True, env=env,
                           timeout=120)
    assert added.returncode == 0, added.stderr[-2000:]
    model = json.loads(added.stdout)
    listed = subprocess.run([binary, "model", "list", project_id, "--data-dir", str(data_dir)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert json.loads(listed.stdout) == {"models": [model]}
