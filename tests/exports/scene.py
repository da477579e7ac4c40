"""A project with every kind of annotation on real image files, for the format tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from domain import rle
from tests.exports.lab import Lab

W, H = 64, 48


@pytest.fixture(name="out")
def out_fixture(tmp_path: Path) -> Path:
    """Where an export is unpacked (``tmp_path`` itself holds the lab's data dir)."""
    return tmp_path / "export"


@pytest.fixture(name="scene")
def scene_fixture(lab: Lab) -> dict[str, Any]:
    """Three image files with every kind of annotation and status on the first two."""
    pid = lab.create_project(["car", "person", "dog"],
                             ["box", "polygon", "mask", "point", "tag"])
    ids = lab.add_image_files(pid, ["street.png", "park.png", "empty.png"], W, H)
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[10:20, 30:45] = 1
    mask[30:40, 5:12] = 1  # a second piece: two outlines in yolo_seg
    lab.create(ids[0], "box", "car", {"x": 2.4, "y": 3.6, "w": 20, "h": 10.2})
    lab.create(ids[0], "polygon", "person", {"points": [[40, 30], [60, 32], [50, 46]]})
    lab.create(ids[0], "mask", "dog", {"rle": rle.encode(mask)})
    lab.create(ids[0], "point", "car", {"x": 3, "y": 4})
    lab.create(ids[0], "tag", "person", {})
    gone = lab.create(ids[1], "box", "car", {"x": 0, "y": 0, "w": 5, "h": 5})
    lab.run(ids[1], {"type": "delete", "annotation_id": gone})
    lab.create(ids[1], "box", "person", {"x": 10, "y": 10, "w": 30, "h": 20})
    lab.propose(ids[1], "box", "dog", {"x": 1, "y": 1, "w": 8, "h": 8}, 0.4)
    return {"pid": pid, "ids": ids, "mask": mask}


# The boxes (x0, y0, x1, y1) a detector format must carry, per image file name.
EXPECTED = {
    "street.png": [("car", (2.4, 3.6, 22.4, 13.8)), ("person", (40, 30, 60, 46)),
                   ("dog", (5, 10, 45, 40))],
    "park.png": [("person", (10, 10, 40, 30))],
    "empty.png": [],
}
