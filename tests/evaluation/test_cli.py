"""``labelwright evaluate``: the table, ``--json``, ``--position`` and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labelwright.cli import main
from tests.evaluation.conftest import EvaluationLab

CAR = {"x": 10.0, "y": 10.0, "w": 100.0, "h": 80.0}
TRUCK = {"x": 200.0, "y": 50.0, "w": 120.0, "h": 90.0}


def scenario(data: Path) -> tuple[str, str, int]:
    """A car found, a truck taken for a car, a person missed; returns (project, model,
    the position right after the first image was labelled)."""
    lab = EvaluationLab(data)
    try:
        pid = lab.create_project(["car", "truck", "person"], ["box"])
        model_id = lab.register_model(pid, classes=["car", "truck", "person"])
        first, second = lab.add_images(pid, 2)
        car = lab.propose(first, "box", "car", CAR, 0.9)
        lab.run(first, {"type": "accept", "annotation_id": car})
        position = lab.head()
        truck = lab.propose(second, "box", "car", TRUCK, 0.8)
        lab.run(second, {"type": "edit", "annotation_id": truck, "changes": {"label": "truck"}})
        lab.create(second, "box", "person", {"x": 400, "y": 200, "w": 40, "h": 120})
        lab.catch_up()
    finally:
        lab.close()
    return pid, model_id, position


def test_the_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pid, model_id, position = scenario(tmp_path)
    assert main(["evaluate", pid, "--model", model_id, "--data-dir", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "model detector 1 (detect), its imported pre-labels" in table
    assert "images evaluated: 2" in table
    lines = table.splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("class"))
    assert lines[header].split() == ["class", "AP50", "AP50:95", "precision", "recall", "TP",
                                     "FP", "FN"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[header + 1:header + 4]}
    assert rows["car"] == ["1.000", "1.000", "0.500", "1.000", "1", "1", "0"]
    assert rows["truck"][-3:] == ["0", "0", "1"] and rows["person"][-3:] == ["0", "0", "1"]
    assert "  truck -> car: 1" in table and "  person -> (missed): 1" in table

    assert main(["evaluate", pid, "--model", model_id, "--position", str(position), "--json",
                 "--data-dir", str(tmp_path)]) == 0
    then = json.loads(capsys.readouterr().out)
    assert then["position"] == position and then["images"] == 1 and then["map50"] == 1.0


def test_errors_say_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pid, model_id, _ = scenario(tmp_path)
    assert main(["evaluate", pid, "--model", model_id, "--position", "999999",
                 "--data-dir", str(tmp_path)]) == 2
    assert "position 999999 is beyond the head of the log" in capsys.readouterr().err
    assert main(["evaluate", pid, "--model", "nope", "--data-dir", str(tmp_path)]) == 2
    assert "no model" in capsys.readouterr().err


@pytest.mark.slow
def test_as_a_subprocess(tmp_path: Path) -> None:
    pid, model_id, _ = scenario(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
    binary = str(Path(sys.executable).parent / "labelwright")
    done = subprocess.run([binary, "evaluate", pid, "--model", model_id, "--json",
                           "--data-dir", str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    assert json.loads(done.stdout)["model"]["id"] == model_id
