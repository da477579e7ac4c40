"""Assist over HTTP: outputs, refinement, the preview, tracking, and bad input.

Clicks and boxes are answered by a small real engine written for these tests (a disk around
each positive click, less disks around negative ones), registered on the site's pipeline as
the composition root registers GrabCut or SAM; extreme points by the built-in engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from domain import geometry as g
from domain import rle
from domain.assist import AssistRequest, Scored
from tests.web.conftest import Site, assert_error, check_schema

EXTREME = [[10, 20], [20, 10], [30, 20], [20, 30]]
RADIUS = 5


class Disks:
    """Clicks → a mask (disks of ``RADIUS`` px), scored 0.5; a box → the disk at its
    centre."""

    def propose(self, request: AssistRequest) -> Scored:
        h, w = request.image.height, request.image.width
        ys, xs = np.mgrid[0:h, 0:w]
        clicks = list(request.previous + request.points)
        if request.mode == "box":
            (x0, y0, _), (x1, y1, _) = request.points
            clicks = [((x0 + x1) / 2, (y0 + y1) / 2, 1)]
        keep = np.zeros((h, w), dtype=np.bool_)
        for sign in (1, -1):
            for x, y, s in clicks:
                if s == sign:
                    disk = (xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2 <= RADIUS ** 2
                    keep = keep | disk if sign > 0 else keep & ~disk
        return Scored(g.Mask(rle.encode(keep)), 0.5)


@pytest.fixture(scope="module")
def place(shared_site: Site) -> Iterator[dict[str, Any]]:
    site = shared_site
    for mode in ("clicks", "box"):
        site.services.pipeline.assist.register(mode, Disks())
    pid = site.new_project(types=["box", "polygon", "mask"])
    other = site.new_project()
    register = site.services.app.register_model
    spec: dict[str, Any] = {"version": "1", "format": "onnx", "architecture": None,
                            "input_size": None, "sha256": "0" * 64, "size_bytes": 1,
                            "file_name": "m.onnx", "details": {}}
    detector, _ = register(pid, "admin", name="det", task="detect", layout="generic",
                           classes=["cat"], **spec)
    foreign, _ = register(other, "admin", name="sam", task="interactive", layout="generic",
                          classes=[], **spec)
    yield {"pid": pid, "image": site.new_image(pid, 64, 48), "tiny": site.new_image(pid, 1, 1),
           "detector": str(detector.id), "foreign": str(foreign.id)}


def _assist(**extra: Any) -> dict[str, Any]:
    return {"type": "assist", "mode": "clicks", "label": "cat", "points": [[30, 20, 1]],
            **extra}


def _preview(site: Site, image_id: str, body: Any, user: str = "annotator") -> Any:
    return site.post(f"/images/{image_id}/assist/preview", user, json=body)


def test_the_preview_answers_the_proposal_and_records_nothing(
        shared_site: Site, place: dict[str, Any]) -> None:
    site, image = shared_site, place["image"]
    head = site.head()
    box = site.ok(_preview(site, image, {"mode": "extreme_points", "label": "cat",
                                         "points": EXTREME}))
    check_schema(box, "AssistPreview")
    assert box["type"] == "box" and box["geometry"] == {"x": 10.0, "y": 10.0, "w": 20.0,
                                                        "h": 20.0}
    assert "score" not in box and box["ms"] >= 0
    polygon = site.ok(_preview(site, image, {"type": "assist", "mode": "extreme_points",
                                             "label": "cat", "points": EXTREME,
                                             "output": "polygon"}))
    # Asked for a shape, the extreme points go to the built-in GrabCut engine: an outline
    # within the box they span (a box is still the exact tight box, above).
    points = polygon["geometry"]["points"]
    assert len(points) >= 3
    assert all(10 <= x <= 30 and 10 <= y <= 30 for x, y in points)
    mask = site.ok(_preview(site, image, _assist(output="mask")))
    assert mask["type"] == "mask" and mask["score"] == 0.5
    assert mask["geometry"]["rle"]["size"] == [48, 64]
    assert site.head() == head


def test_a_committed_proposal_is_refined_previewed_and_tracked(
        shared_site: Site, place: dict[str, Any]) -> None:
    site, image = shared_site, place["image"]
    created = site.ok(site.command(image, _assist(output="mask")))
    assert [e["type"] for e in created["events"]] == ["AssistClicked", "AnnotationCreated"]
    aid = created["events"][1]["data"]["annotation_id"]
    refine = _assist(points=[[40, 20, 1]], annotation_id=aid)
    head = site.head()
    preview = site.ok(_preview(site, image, refine))
    assert site.head() == head
    refined = site.ok(site.command(image, refine))
    assert [e["type"] for e in refined["events"]] == ["AssistClicked", "AnnotationEdited"]
    assert refined["events"][1]["data"]["geometry"] == preview["geometry"]
    # A person paints over it: the edit is tracked with the IoU to the proposal.
    edited = site.ok(site.command(image, {"type": "edit", "annotation_id": aid, "changes": {
        "geometry": created["events"][1]["data"]["geometry"]}}))
    assert [e["type"] for e in edited["events"]] == ["AnnotationEdited", "AssistEdited"]
    assert edited["events"][1]["data"]["iou"] == pytest.approx(0.5, abs=0.05)
    site.settle()
    labels = site.ok(site.get(f"/images/{image}/annotations", "annotator"))
    mine = next(a for a in labels["annotations"] if a["id"] == aid)
    assert (mine["source"], mine["status"], mine["revision"]) == ("assist", "manual", 3)
    assert mine["geometry"] == created["events"][1]["data"]["geometry"]
    deleted = site.ok(site.command(image, {"type": "delete", "annotation_id": aid}))
    assert [e["type"] for e in deleted["events"]] == ["AssistRejected", "AnnotationDeleted"]


BAD: list[tuple[str, dict[str, Any], int, str, str]] = [
    # (case, command fields, status, code, details.field)
    ("a point outside the image", {"mode": "extreme_points",
                                   "points": [[10, 20], [20, 10], [99, 20], [20, 30]]},
     422, "validation", "points[2]"),
    ("3 extreme points", {"mode": "extreme_points", "points": EXTREME[:3]},
     422, "validation", "points"),
    ("10,000 clicks", {"points": [[30, 20, 1]] * 10_000}, 422, "validation", "points"),
    ("only a negative click", {"points": [[30, 20, -1]]}, 422, "validation", "points"),
    ("a click on a 1x1 image", {"points": [[0.5, 0.5, 1]], "image": "tiny"},
     422, "validation", "image_id"),
    ("a detector's model_id", {"model_id": "detector"}, 422, "validation", "model_id"),
    ("another project's model_id", {"model_id": "foreign"}, 404, "not_found", "model_id"),
    ("an unknown output", {"output": "circle"}, 422, "validation", "output"),
    ("a refinement of a manual annotation", {"annotation_id": "manual"},
     422, "validation", "annotation_id"),
    ("a box with zero area", {"mode": "box", "points": [[10, 10], [10, 30]]},
     422, "validation", "points"),
    ("a box of three corners", {"mode": "box", "points": [[10, 10], [20, 30], [1, 1]]},
     422, "validation", "points"),
]


@pytest.mark.parametrize(("case", "fields", "status", "code", "field"), BAD,
                         ids=[b[0] for b in BAD])
@pytest.mark.parametrize("route", ["command", "preview"])
def test_bad_assists_are_refused_and_record_nothing(
        shared_site: Site, place: dict[str, Any], route: str, case: str,
        fields: dict[str, Any], status: int, code: str, field: str) -> None:
    site = shared_site
    fields = dict(fields)
    image = place[fields.pop("image", "image")]
    if fields.get("model_id") in place:
        fields["model_id"] = place[fields["model_id"]]
    if fields.get("annotation_id") == "manual":
        fields["annotation_id"] = site.create(image)["events"][0]["data"]["annotation_id"]
    body = _assist(**fields)
    head = site.head()
    response = (site.command(image, body) if route == "command"
                else _preview(site, image, body))
    error = assert_error(response, status, code)
    assert error["details"]["field"] == field, error
    if case == "a detector's model_id":
        assert "interactive" in error["message"] and error["details"]["task"] == "detect"
    assert site.head() == head


def test_a_preview_is_refused_to_outsiders_before_its_body_is_read(
        shared_site: Site, place: dict[str, Any]) -> None:
    site, image = shared_site, place["image"]
    assert_error(_preview(site, image, _assist(), "outsider"), 403, "forbidden")
    assert_error(_preview(site, image, {"mode": "magic"}, "outsider"), 403, "forbidden")
    error = assert_error(_preview(site, image, {"type": "create"}), 422, "validation")
    assert error["details"]["field"] == "type"
    assert_error(_preview(site, "0" * 8, _assist()), 404, "not_found")


def test_the_assist_metrics_group_proposals_by_engine_and_mode(shared_site: Site) -> None:
    site = shared_site
    pid = site.new_project(types=["box", "mask"])
    image = site.new_image(pid, 64, 48)
    sam, _ = site.services.app.register_model(
        pid, "admin", name="sam", version="1", task="interactive", format="onnx",
        architecture=None, layout="generic", classes=[], input_size=None, sha256="0" * 64,
        size_bytes=1, file_name="m.onnx", details={})
    site.services.pipeline.assist.register_model_engine(Disks())

    def assisted(**fields: Any) -> str:
        result = site.ok(site.command(image, _assist(**fields)))
        return str(result["events"][1]["data"]["annotation_id"])

    site.ok(site.command(image, {"type": "assist", "mode": "extreme_points", "label": "cat",
                                 "points": EXTREME}))
    kept = assisted(output="mask")
    site.ok(site.command(image, _assist(points=[[10, 10, 1]], annotation_id=kept)))
    edited = assisted(points=[[40, 30, 1]])
    site.ok(site.command(image, {"type": "edit", "annotation_id": edited, "changes": {
        "geometry": {"x": 35, "y": 25, "w": 10, "h": 5}}}))
    site.ok(site.command(image, {"type": "delete", "annotation_id": assisted()}))
    assisted(model_id=str(sam.id), points=[[20, 20, 1], [30, 30, -1]])
    body = site.ok(site.get(f"/projects/{pid}/metrics/assist?min_position={site.head()}",
                            "manager"))
    check_schema(body, "AssistMetrics")
    by = {(g["engine"], g["mode"]): g for g in body["groups"]}
    assert set(by) == {("built-in", "clicks"), ("built-in", "extreme_points"),
                       (str(sam.id), "clicks")}
    clicks = by["built-in", "clicks"]
    assert {k: clicks[k] for k in ("proposals", "accepted", "edited", "rejected", "clicks")
            } == {"proposals": 3, "accepted": 1, "edited": 1, "rejected": 1, "clicks": 4}
    assert clicks["acceptance_rate"] == pytest.approx(1 / 3)
    assert clicks["clicks_per_accepted"] == 2.0
    assert clicks["mean_iou_edited"] == pytest.approx(0.5, abs=0.05)
    extreme = by["built-in", "extreme_points"]
    assert (extreme["accepted"], extreme["clicks_per_accepted"],
            extreme["mean_iou_edited"]) == (1, 4.0, None)
    assert by[str(sam.id), "clicks"]["clicks"] == 2
    assert_error(site.get(f"/projects/{pid}/metrics/assist", "annotator"), 403, "forbidden")


def test_painting_a_proposal_with_a_mask_of_another_size_is_refused(
        shared_site: Site, place: dict[str, Any]) -> None:
    site, image = shared_site, place["image"]
    created = site.ok(site.command(image, _assist(output="mask")))
    aid = created["events"][1]["data"]["annotation_id"]
    wrong = rle.encode(np.ones((10, 10), dtype=np.bool_))
    head = site.head()
    error = assert_error(site.command(image, {"type": "edit", "annotation_id": aid, "changes": {
        "geometry": {"rle": wrong}}}), 422, "validation")
    assert error["details"]["field"].endswith("rle.size"), error
    assert site.head() == head
