"""``labelwright export --format F [--images] [--split] [--seed]`` as a user runs it: a
subprocess on a data dir the real write side filled."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from tests.cli.test_cli import lw
from tests.exports.lab import Lab

pytestmark = pytest.mark.slow


def test_export_every_format_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    lab = Lab(data)
    try:
        pid = lab.create_project(["car", "person"])
        ids = lab.add_image_files(pid, [f"f{n}.png" for n in range(6)])
        for image_id in ids:
            lab.create(image_id, "box", "car", {"x": 1, "y": 2, "w": 10, "h": 8})
        lab.catch_up()
        position = lab.head()
    finally:
        lab.close()

    out = tmp_path / "yolo.zip"
    lw(data, "export", pid, "--format", "yolo", "--images", "--split", "train:0.5,val:0.5",
       "--seed", "3", "-o", str(out))
    names = zipfile.ZipFile(out).namelist()
    assert names[-1] == "data.yaml"
    assert sum(n.startswith("images/") for n in names) == 6
    assert {n.split("/")[1] for n in names if n.startswith("labels/")} <= {"train", "val"}

    for fmt in ("yolo_seg", "voc", "cvat", "labelstudio"):
        lw(data, "export", pid, "--format", fmt, "--position", str(position), "-o",
           str(tmp_path / f"{fmt}.out"))
    again = tmp_path / "voc.again"
    lw(data, "export", pid, "--format", "voc", "--position", str(position), "-o", str(again))
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(
        (tmp_path / "voc.out").read_bytes()).digest()
    assert b"<annotations>" in (tmp_path / "cvat.out").read_bytes()
    assert zipfile.ZipFile(io.BytesIO((tmp_path / "voc.out").read_bytes())).testzip() is None

    refused = lw(data, "export", pid, "--format", "coco", "--images", check=False)
    assert refused.returncode == 2 and "needs a folder format" in refused.stderr
    refused = lw(data, "export", pid, "--format", "yolo", "--split", "train:2", check=False)
    assert refused.returncode == 2 and "split" in refused.stderr
    refused = lw(data, "export", pid, "--format", "pdf", check=False)
    assert refused.returncode == 2 and "invalid choice" in refused.stderr
