"""An export as of position P equals the current export taken when the log was at P."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from domain import rle
from domain.errors import ValidationFailed
from projections.exports import stream_export
from tests.exports.lab import Lab


def labels(doc: dict[str, Any]) -> dict[str, Any]:
    """What an export says about the images (``info`` names the position, so it differs)."""
    return {k: v for k, v in doc.items() if k not in ("info", "position")}


def work(lab: Lab, pid: str, round_: int) -> None:
    """A round of changes of every kind."""
    images = lab.add_images(pid, 3, width=50, height=40, prefix=f"r{round_}")
    mask = np.zeros((40, 50), dtype=np.uint8)
    mask[round_: round_ + 5, 3:9] = 1
    for n, image_id in enumerate(images):
        box = lab.create(image_id, "box", "car", {"x": n, "y": round_, "w": 5, "h": 6})
        lab.create(image_id, "mask", "person", {"rle": rle.encode(mask)})
        lab.create(image_id, "tag", "car", {})
        keep = lab.propose(image_id, "polygon", "person",
                           {"points": [[1, 1], [9, 1], [5, 7 + n]]}, 0.6)
        drop = lab.propose(image_id, "point", "car", {"x": 3, "y": 4}, None)
        if n == 0:
            lab.run(image_id, {"type": "accept", "annotation_id": keep})
            lab.run(image_id, {"type": "delete", "annotation_id": box})
        if n == 1:
            lab.run(image_id, {"type": "delete", "annotation_id": drop})
            lab.run(image_id, {"type": "edit", "annotation_id": box,
                               "changes": {"label": "person"}})
            lab.run(image_id, {"type": "submit"})
            lab.run(image_id, {"type": "review", "verdict": "reject"})


def recorded_position(doc: dict[str, Any]) -> int:
    position = doc["info"]["labelwright"]["position"] if "info" in doc else doc["position"]
    assert isinstance(position, int)
    return position


@pytest.mark.parametrize("fmt,include_proposed", [
    ("coco", False), ("coco", True), ("labelwright", False)])
def test_as_of_equals_the_current_export_of_that_time(lab: Lab, fmt: str,
                                                      include_proposed: bool) -> None:
    pid = lab.create_project(["car", "person"])
    work(lab, pid, 1)
    then_bytes = lab.export_bytes(pid, fmt, include_proposed=include_proposed)
    then = orjson.loads(then_bytes)
    recorded = recorded_position(then)
    assert recorded == lab.head()  # the last event so far was one of the project's images
    lab.create_project(["other"])  # the log moves on without touching this project
    later = lab.head()

    work(lab, pid, 2)
    for image in then["images"]:  # and change everything that was there
        image_id = image["labelwright_id"] if fmt == "coco" else image["id"]
        lab.run(lab.app.image(image_id).id, {"type": "create", "annotation": {
            "type": "box", "label": "car", "geometry": {"x": 0, "y": 0, "w": 1, "h": 1}}})
    now = lab.export(pid, fmt, include_proposed=include_proposed)
    assert labels(now) != labels(then)

    # As of the position the current export recorded: the very same document.
    assert lab.export_bytes(pid, fmt, recorded, include_proposed) == then_bytes
    # As of any later position before the next change: the same labels.
    as_of = lab.export(pid, fmt, later, include_proposed)
    assert labels(as_of) == labels(then)
    assert recorded_position(as_of) == later


def test_as_of_the_start_is_empty(lab: Lab) -> None:
    pid = lab.create_project(["car", "person"])
    work(lab, pid, 1)
    doc = lab.export(pid, "coco", position=0)
    assert doc["images"] == [] and doc["annotations"] == []
    assert len(doc["categories"]) == 2


def test_bad_arguments_fail_before_streaming(lab: Lab) -> None:
    pid = lab.create_project(["car"])
    project = lab.project(pid)
    for fmt in ("yolov8", "pascal", "", "COCO"):
        with pytest.raises(ValidationFailed) as failure:
            stream_export(lab.read, lab.app, project, fmt, None)
        assert failure.value.details["field"] == "format"
    for position in (-1, True, "3", 1.5):
        with pytest.raises(ValidationFailed) as failure:
            stream_export(lab.read, lab.app, project, "coco", position)  # type: ignore[arg-type]
        assert failure.value.details["field"] == "position"
