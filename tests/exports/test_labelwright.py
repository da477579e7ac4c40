"""The lossless format keeps every field of every annotation, proposed ones included."""

from __future__ import annotations

import numpy as np

from domain import rle
from projections.export_labelwright import PROJECT_FIELDS
from tests.exports.lab import Lab


def test_round_trip_of_every_field(lab: Lab) -> None:
    pid = lab.create_project(["car", "person", "old"])
    first, second = lab.add_images(pid, 2, width=30, height=20)
    mask = np.zeros((20, 30), dtype=np.uint8)
    mask[2:5, 3:9] = 1
    lab.create(first, "box", "old", {"x": 0.25, "y": 1, "w": 2.5, "h": 3})
    lab.create(first, "mask", "car", {"rle": rle.encode(mask)})
    lab.create(first, "polygon", "person", {"points": [[1, 1], [9, 1], [5, 7.5]]})
    lab.create(second, "point", "car", {"x": 3, "y": 4})
    lab.create(second, "tag", "person", {})
    lab.propose(second, "box", "car", {"x": 1, "y": 1, "w": 5, "h": 5}, 0.125, "yolo", "8n")
    lab.propose(second, "box", "car", {"x": 2, "y": 2, "w": 5, "h": 5}, None, "yolo", "8n")
    accepted = lab.propose(second, "box", "person", {"x": 3, "y": 3, "w": 2, "h": 2}, 0.5)
    lab.run(second, {"type": "accept", "annotation_id": accepted})
    last_image_event = lab.run(first, {"type": "submit"}).position
    lab.retire(pid, "old")

    doc = lab.export(pid, "labelwright")
    assert doc["format"] == "labelwright" and doc["format_version"] == 1
    project = lab.project(pid)
    assert doc["project"] == {k: project[k] for k in PROJECT_FIELDS}
    assert set(doc["project"]) == {"id", "name", "classes", "annotation_types", "attributes",
                                   "created_by", "created_at"}
    # The position the labels reflect: that of the project's latest image event.
    assert doc["position"] == last_image_event < lab.head()
    assert [c["retired"] for c in doc["project"]["classes"]] == [False, False, True]
    assert len(doc["images"]) == 2
    for exported, image_id in zip(doc["images"], (first, second), strict=True):
        image = lab.app.image(image_id)
        assert exported == {
            "id": str(image_id), "file_name": image.file_name, "width": image.width,
            "height": image.height, "sha256": image.sha256, "status": image.status,
            "version": image.version, "annotations": image.public_annotations(),
        }
    statuses = [a["status"] for i in doc["images"] for a in i["annotations"]]
    assert sorted(statuses) == ["accepted", "manual", "manual", "manual", "manual", "manual",
                                "proposed", "proposed"]
    proposed = [a for a in doc["images"][1]["annotations"] if a["status"] == "proposed"]
    assert [(a["model"], a["score"], a["revision"]) for a in proposed] == [
        ({"name": "yolo", "version": "8n"}, 0.125, 1), ({"name": "yolo", "version": "8n"},
                                                        None, 1)]
    assert doc["images"][1]["annotations"][-1]["revision"] == 2  # accepted
    assert doc["images"][0]["status"] == "submitted"


def test_position_is_recorded(lab: Lab) -> None:
    pid = lab.create_project(["car"])
    assert lab.export(pid, "labelwright")["position"] is None  # no images: nothing to pin
    lab.add_images(pid, 1)
    position = lab.head()
    assert lab.export(pid, "labelwright", position)["position"] == position
    assert lab.export(pid, "labelwright")["position"] == position
