"""The whole journey of docs/api.md over HTTP, on embedded SQLite and on PostgreSQL.

Reads as a usage example: a manager sets up a project, imports images and a model's
predictions, annotators work through them, a reviewer approves, and the manager looks at
history, metrics and exports. Every response is checked against the OpenAPI schemas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from domain import rle
from tests.web.conftest import PASSWORD, Site, assert_error, check_schema, png_bytes


def _labels(site: Site, image_id: str, user: str = "annotator", **params: Any
            ) -> dict[str, Any]:
    body = site.ok(site.get(f"/images/{image_id}/annotations", user, params=params))
    check_schema(body, "ImageLabels")
    return dict(body)


def _by_id(labels: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in labels["annotations"]}


def test_full_flow(any_site: Site) -> None:
    site = any_site

    # -- log in (token + session cookie) ----------------------------------------------------
    r = site.post("/auth/login", None, json={"username": "admin", "password": PASSWORD})
    login = site.ok(r)
    check_schema(login, "LoginResult")
    assert "lw_session" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    site.tokens["admin"] = login["token"]

    # -- a project, its members and settings ------------------------------------------------
    project = site.ok(site.post("/projects", json={
        "name": "Street scenes", "classes": [{"name": "cat", "color": "#ff0000"},
                                             {"name": "dog"}, {"name": "bird"}]}), 201)
    check_schema(project, "Project")
    pid = project["id"]
    assert project["members"] == [{"username": "admin", "role": "manager"}]
    for user in ("manager", "annotator", "reviewer"):
        site.ok(site.call("PUT", f"/projects/{pid}/members/{user}", json={"role": user}))
    patched = site.ok(site.call("PATCH", f"/projects/{pid}", "manager", json={
        "name": "Streets", "add_classes": [{"name": "fish"}], "retire_classes": ["bird"]}))
    check_schema(patched, "Project")
    assert patched["name"] == "Streets"
    assert [(c["name"], c["retired"]) for c in patched["classes"]] == [
        ("cat", False), ("dog", False), ("bird", True), ("fish", False)]

    # -- images ------------------------------------------------------------------------------
    datas = [png_bytes(64, 48, (i * 40, 10, 10)) for i in range(3)]
    uploaded = site.upload(pid, *[(f"img{i}.png", d) for i, d in enumerate(datas)],
                           user="manager")
    check_schema({"images": uploaded}, "UploadResult")
    assert [u["file_name"] for u in uploaded] == ["img0.png", "img1.png", "img2.png"]
    assert [(u["width"], u["height"]) for u in uploaded] == [(64, 48)] * 3
    ids = [u["id"] for u in uploaded]
    again = site.upload(pid, ("copy.png", datas[0]), user="manager")
    assert again[0]["id"] == ids[0] and again[0]["created"] is False

    page1 = site.ok(site.get(f"/projects/{pid}/images", "annotator",
                             params={"limit": 2, "min_position": site.head()}))
    check_schema(page1, "ImagePage")
    assert [i["id"] for i in page1["images"]] == ids[:2] and page1["next_cursor"]
    page2 = site.ok(site.get(f"/projects/{pid}/images", "annotator",
                             params={"limit": 2, "cursor": page1["next_cursor"]}))
    assert [i["id"] for i in page2["images"]] == ids[2:] and page2["next_cursor"] is None
    meta = site.ok(site.get(f"/images/{ids[0]}", "annotator"))
    check_schema(meta, "Image")
    content = site.get(f"/images/{ids[0]}/content", "annotator")
    assert content.status_code == 200 and content.content == datas[0]
    assert content.headers["content-type"] == "image/png"
    assert content.headers["etag"] == f'"{meta["sha256"]}"'
    assert "immutable" in content.headers["cache-control"]
    cached = site.get(f"/images/{ids[0]}/content", "annotator",
                      headers={"If-None-Match": content.headers["etag"]})
    assert cached.status_code == 304

    # -- predictions: COCO results (category ids 1..K, image by number or file name) --------
    coco = [
        {"image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 10], "score": 0.9},
        {"image_id": 1, "category_id": 2, "bbox": [30, 20, 10, 10], "score": 0.4},
        {"image_id": "img1.png", "category_id": 1, "score": 0.8, "bbox": [0, 0, 4, 4],
         "segmentation": [[1, 1, 10, 1, 10, 10, 1, 10]]},
    ]
    imported = site.ok(site.post(f"/projects/{pid}/predictions", "manager", json=coco,
                                 params={"model": "yolo", "model_version": "8"}))
    check_schema(imported, "PredictionImport")
    assert imported["images"] == 2 and imported["annotations"] == 3
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[10:20, 10:30] = 1
    lw = {"model": {"name": "sam", "version": "1"}, "predictions": [
        {"image_id": ids[2], "annotations": [
            {"type": "mask", "label": "dog", "geometry": {"rle": rle.encode(mask)},
             "score": 0.7}]}]}
    imported2 = site.ok(site.post(f"/projects/{pid}/predictions", "manager", json=lw))
    assert imported2 == {"images": 1, "annotations": 1, "position": imported2["position"]}

    labels = _labels(site, ids[0], min_position=imported["position"])
    proposals = labels["annotations"]
    assert [(a["status"], a["source"], a["label"]) for a in proposals] == [
        ("proposed", "prelabel", "cat"), ("proposed", "prelabel", "dog")]
    assert proposals[0]["model"] == {"name": "yolo", "version": "8"}
    assert proposals[0]["score"] == 0.9

    # -- annotators act on the pre-labels ---------------------------------------------------
    accepted = site.ok(site.command(ids[0], {"type": "accept", "annotation_id":
                                             proposals[0]["id"], "base_revision": 1}))
    check_schema(accepted, "CommandResult")
    assert accepted["events"][0]["type"] == "PrelabelAccepted"
    edited = site.ok(site.command(ids[0], {
        "type": "edit", "annotation_id": proposals[1]["id"], "base_revision": 1,
        "changes": {"geometry": {"x": 30, "y": 20, "w": 10, "h": 5}}}))
    assert edited["events"][0]["type"] == "PrelabelEdited"
    assert abs(edited["events"][0]["data"]["iou"] - 0.5) < 1e-6
    poly = _labels(site, ids[1], min_position=edited["position"])["annotations"][0]
    rejected = site.ok(site.command(ids[1], {"type": "delete", "annotation_id": poly["id"]}))
    assert rejected["events"][0]["type"] == "PrelabelRejected"

    # -- every geometry type, by hand, in one atomic batch -----------------------------------
    batch = site.ok(site.command(ids[0], {"commands": [
        {"type": "create", "annotation": {"type": "box", "label": "cat",
                                          "geometry": {"x": 1, "y": 1, "w": 5, "h": 5}}},
        {"type": "create", "annotation": {"type": "polygon", "label": "dog", "geometry": {
            "points": [[1, 1], [20, 1], [20, 20]]}}},
        {"type": "create", "annotation": {"type": "mask", "label": "cat",
                                          "geometry": {"rle": rle.encode(mask)}}},
        {"type": "create", "annotation": {"type": "point", "label": "fish",
                                          "geometry": {"x": 3.5, "y": 4.25}}},
        {"type": "create", "annotation": {"type": "tag", "label": "dog", "geometry": {}}},
    ]}))
    check_schema(batch, "CommandResult")
    assert len(batch["events"]) == 5
    assert batch["version"] == edited["version"] + 5
    box_id = batch["events"][0]["data"]["annotation_id"]
    point_id = batch["events"][3]["data"]["annotation_id"]
    site.ok(site.command(ids[0], {"type": "edit", "annotation_id": box_id,
                                  "changes": {"label": "dog"}}))
    site.ok(site.command(ids[0], {"type": "delete", "annotation_id": point_id}))
    assist = site.ok(site.command(ids[0], {"type": "assist", "mode": "extreme_points",
                                           "label": "cat", "points": [[10, 20], [20, 10],
                                                                      [30, 20], [20, 30]]}))
    assert [e["type"] for e in assist["events"]] == ["AssistClicked", "AnnotationCreated"]

    submitted = site.ok(site.command(ids[0], {"type": "submit"}))
    assert submitted["events"][0]["type"] == "ImageSubmitted"
    review = site.ok(site.command(ids[0], {"type": "review", "verdict": "approve",
                                           "comment": "fine"}, user="reviewer"))
    assert review["events"][0]["type"] == "ReviewRecorded"

    # -- read side ---------------------------------------------------------------------------
    now = _labels(site, ids[0], min_position=review["position"])
    assert now["version"] == review["version"] and now["position"] == review["position"]
    statuses = {a["id"]: (a["status"], a["type"]) for a in now["annotations"]}
    assert statuses[proposals[0]["id"]] == ("accepted", "box")
    assert statuses[proposals[1]["id"]] == ("edited", "box")
    assert point_id not in statuses
    assert sorted(t for _, t in statuses.values()) == sorted(
        ["box", "box", "box", "polygon", "mask", "tag", "box"])
    assert _by_id(now)[box_id]["label"] == "dog" and _by_id(now)[box_id]["revision"] == 2
    image_row = site.ok(site.get(f"/images/{ids[0]}", "reviewer"))
    assert image_row["status"] == "approved"

    # The labels as they were right after the acceptance (replayed from the log).
    then = _labels(site, ids[0], version=accepted["version"])
    assert then["version"] == accepted["version"] and then["position"] == accepted["position"]
    assert [a["status"] for a in then["annotations"]] == ["accepted", "proposed"]
    assert_error(site.get(f"/images/{ids[0]}/annotations", "annotator",
                          params={"version": now["version"] + 1}), 422, "validation")

    history = site.ok(site.get(f"/images/{ids[0]}/history", "reviewer"))
    check_schema(history, "History")
    types = [e["type"] for e in history["events"]]
    assert types[0] == "ImageAdded" and types[-2:] == ["ImageSubmitted", "ReviewRecorded"]
    assert [e["version"] for e in history["events"]] == list(range(1, now["version"] + 1))
    assert all(e["actor"] for e in history["events"])
    first = site.ok(site.get(f"/images/{ids[0]}/history", "reviewer",
                             params={"limit": 2}))
    assert len(first["events"]) == 2 and first["next_after"] == 2
    rest = site.ok(site.get(f"/images/{ids[0]}/history", "reviewer",
                            params={"after": first["next_after"]}))
    assert [e["version"] for e in rest["events"]] == list(range(3, now["version"] + 1))

    # -- the manager's view ------------------------------------------------------------------
    metrics = site.ok(site.get(f"/projects/{pid}/metrics/annotators", "manager",
                               params={"min_position": site.head()}))
    check_schema(metrics, "AnnotatorMetrics")
    mine = {m["username"]: m for m in metrics["annotators"]}["annotator"]
    assert (mine["created"], mine["edited"], mine["deleted"]) == (6, 1, 1)
    assert (mine["prelabels_accepted"], mine["prelabels_edited"],
            mine["prelabels_rejected"]) == (1, 1, 1)
    assert mine["images_submitted"] == 1 and mine["review_approvals"] == 1
    prelabels = site.ok(site.get(f"/projects/{pid}/metrics/prelabels", "manager",
                                 params={"group_by": "model"}))
    check_schema(prelabels, "PrelabelMetrics")
    yolo = {g["key"]["model"]: g for g in prelabels["groups"]}["yolo@8"]
    assert (yolo["proposed"], yolo["accepted"], yolo["edited"], yolo["rejected"]) == (3, 1, 1, 1)
    assert abs(yolo["acceptance_rate"] - 1 / 3) < 1e-9
    assert abs(yolo["mean_iou_edited"] - 0.5) < 1e-6

    export = site.get(f"/projects/{pid}/export", "manager", params={"format": "coco"})
    assert export.status_code == 200 and export.headers["content-type"].startswith(
        "application/json")
    doc = orjson.loads(export.content)
    assert [c["id"] for c in doc["categories"]] == [1, 2, 3, 4]
    assert [c["name"] for c in doc["categories"]] == ["cat", "dog", "bird", "fish"]
    assert [i["file_name"] for i in doc["images"]] == ["img0.png", "img1.png", "img2.png"]
    assert all(a["status"] != "proposed" for a in doc["annotations"])
    with_proposed = orjson.loads(site.get(f"/projects/{pid}/export", "manager", params={
        "format": "coco", "include_proposed": "true"}).content)
    assert len(with_proposed["annotations"]) == len(doc["annotations"]) + 1  # the SAM mask

    early = orjson.loads(site.get(f"/projects/{pid}/export", "manager", params={
        "format": "labelwright", "position": accepted["position"]}).content)
    early_annotations = [a for image in early["images"] for a in image["annotations"]]
    # img0: the accepted box and the dog proposal; img1's polygon and img2's mask pending.
    assert sorted(a["status"] for a in early_annotations) == ["accepted", "proposed",
                                                              "proposed", "proposed"]
    assert_error(site.get(f"/projects/{pid}/export", "manager",
                          params={"position": site.head() + 100}), 422, "validation")

    # -- who am I, where are the projections -------------------------------------------------
    me = site.ok(site.get("/me", "annotator", params={"min_position": site.head()}))
    check_schema(me, "Me")
    assert me["username"] == "annotator" and not me["is_admin"]
    # The PostgreSQL database is one per test session: other tests' projects may list the
    # same user, so only this test's project is looked at.
    assert [p["role"] for p in me["projects"] if p["project_id"] == pid] == ["annotator"]
    listed = site.ok(site.get("/projects", "annotator"))
    check_schema(listed, "ProjectList")
    mine = [p for p in listed["projects"] if p["id"] == pid]
    assert len(mine) == 1
    assert mine[0]["counts"]["approved"] == 1
    status = site.ok(site.get("/projections", "annotator"))
    check_schema(status, "ProjectionStatus")
    assert status["head"] == site.head()
    assert site.ok(site.get("/healthz", None)) == {"status": "ok"}
    assert site.ok(site.get("/readyz", None))["status"] == "ok"

    # -- log out: the token stops working ----------------------------------------------------
    assert site.ok(site.post("/auth/logout"))["revoked"] is True
    assert_error(site.get("/me"), 401, "unauthorized")
