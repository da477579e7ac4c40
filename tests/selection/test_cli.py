"""``labelwright select``: ranked ids with scores, ``--json``, ``--strategy``/``--k``, and its
errors (exit 2 with the API's message)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labelwright.cli import main
from tests.selection.conftest import ScoringLab
from tests.selection.scoring import made_up_scores, register_model


def scenario(data: Path) -> tuple[str, str, list[str], str]:
    """12 scored images, the first three labelled; (project, model, image ids, a model that
    never scored)."""
    lab = ScoringLab(data)
    try:
        pid, model_id, ids = lab.scored_project(images=12)
        for image_id in ids[:3]:
            lab.label(image_id)
        unscored = register_model(lab.app, pid, name="unscored")
        lab.catch_up()
    finally:
        lab.close()
    return pid, model_id, ids, unscored


def test_ranked_ids_with_scores_and_json(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    pid, model_id, ids, _ = scenario(tmp_path)
    assert main(["select", pid, "--model", model_id, "--k", "4",
                 "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    margins = {s.image_id: s.uncertainty["margin"] for s in made_up_scores(ids, seed=0)}
    expected = sorted(ids[3:], key=lambda i: -(margins[i] or 0))[:4]
    assert [line.split("\t")[0] for line in lines] == expected
    assert [float(line.split("\t")[1]) for line in lines] == pytest.approx(
        [margins[i] for i in expected], rel=1e-5)

    assert main(["select", pid, "--model", model_id, "--strategy", "coreset", "--k", "9",
                 "--json", "--data-dir", str(tmp_path)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["strategy"] == "coreset" and body["pool"] == 9
    assert {i["image_id"] for i in body["images"]} == set(ids[3:])


def test_errors_say_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pid, model_id, _, unscored = scenario(tmp_path)
    base = ["--data-dir", str(tmp_path)]
    assert main(["select", pid, "--model", model_id, "--k", "10", *base]) == 2
    assert "only 9 not yet labeled images" in capsys.readouterr().err
    assert main(["select", pid, "--model", model_id, "--strategy", "best", *base]) == 2
    assert "strategy must be one of" in capsys.readouterr().err
    assert main(["select", pid, "--model", unscored, *base]) == 2
    assert "run a score job first" in capsys.readouterr().err
    assert main(["select", pid, "--model", "nope", *base]) == 2
    assert "model_id does not name a model" in capsys.readouterr().err


@pytest.mark.slow
def test_as_a_subprocess(tmp_path: Path) -> None:
    pid, model_id, ids, _ = scenario(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
    binary = str(Path(sys.executable).parent / "labelwright")
    done = subprocess.run([binary, "select", pid, "--model", model_id, "--k", "9",
                           "--strategy", "entropy", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    assert {line.split("\t")[0] for line in done.stdout.splitlines()} == set(ids[3:])
