"""``POST /projects/{id}/datasets``: labeled datasets in every format become human labels
(source ``import``), on SQLite and PostgreSQL; a retried request records nothing twice; bad
uploads are refused with a stable ``details.reason`` naming the file (and line), nothing
recorded."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.conftest import Site, assert_error, sqlite_settings
from tests.web.dataset_files import (
    CVAT_XML,
    VOC_XML,
    coco_document,
    coco_zip,
    images,
    labelstudio_tasks,
    zipped,
)


def send(site: Site, project_id: str, data: bytes, fmt: str, *, name: str = "dataset.zip",
         user: str = "manager", **fields: str) -> Any:
    return site.post(f"/projects/{project_id}/datasets", user,
                     files=[("file", (name, data, "application/octet-stream"))],
                     data={"format": fmt, **fields})


def labels_of(site: Site, image_id: str) -> list[dict[str, Any]]:
    site.settle()
    body = site.ok(site.get(f"/images/{image_id}/annotations"))
    return list(body["annotations"])


def project_images(site: Site, project_id: str) -> dict[str, str]:
    site.settle()
    body = site.ok(site.get(f"/projects/{project_id}/images?limit=500"))
    return {row["file_name"]: row["id"] for row in body["images"]}


def test_a_coco_zip_adds_its_images_and_labels_once(any_site: Site) -> None:
    site = any_site
    pid = site.new_project(types=["box", "polygon", "mask"])
    names = ["a.png", "b.png", "c.png"]
    data = coco_zip(names)
    answer = site.ok(send(site, pid, data, "coco"))
    assert answer["images"] == 3
    assert answer["annotations"] == 5
    assert answer["images_added"] == 3
    head = site.head()
    assert answer["position"] == head
    ids = project_images(site, pid)
    assert set(ids) == set(names)
    a = labels_of(site, ids["a.png"])
    assert sorted((x["type"], x["label"]) for x in a) == [("box", "cat"), ("polygon", "dog")]
    assert {x["source"] for x in a} == {"import"}
    assert {x["status"] for x in a} == {"manual"}
    box = next(x for x in a if x["type"] == "box")
    assert box["geometry"] == {"x": 1.0, "y": 2.0, "w": 10.0, "h": 8.0}
    b = labels_of(site, ids["b.png"])
    # The outline of its bbox is a box; the crowd RLE a mask.
    assert sorted(x["type"] for x in b) == ["box", "mask"]
    c = labels_of(site, ids["c.png"])
    assert [x["type"] for x in c] == ["mask"]  # from uncompressed counts
    assert c[0]["geometry"]["rle"]["counts"] == b[1 if b[1]["type"] == "mask" else 0][
        "geometry"]["rle"]["counts"]
    # Imported labels are nobody's work in the annotator metrics.
    metrics = site.ok(site.get(f"/projects/{pid}/metrics/annotators"))
    assert all(row["created"] == 0 for row in metrics["annotators"]), metrics
    # The same upload again: nothing is recorded twice.
    again = site.ok(send(site, pid, data, "coco"))
    assert again["annotations"] == 5 and again["images_added"] == 0
    assert site.head() == head
    assert len(labels_of(site, ids["a.png"])) == 2


def test_yolo_labels_match_the_projects_images_by_name(any_site: Site) -> None:
    site = any_site
    pid = site.new_project(types=["box", "polygon"])
    site.upload(pid, *images("one.png", "two.png").items())
    detection = zipped({"data.yaml": "names:\n  0: cat\n  1: dog\n",
                        "labels/train/one.txt": "0 0.5 0.5 0.25 0.5\n1 0.1 0.1 0.1 0.1\n",
                        "labels/train/two.txt": ""})
    answer = site.ok(send(site, pid, detection, "yolo"))
    assert (answer["images"], answer["annotations"]) == (2, 2)
    ids = project_images(site, pid)
    one = labels_of(site, ids["one.png"])
    cat = next(x for x in one if x["label"] == "cat")
    assert cat["geometry"] == {"x": 24.0, "y": 12.0, "w": 16.0, "h": 24.0}
    segmentation = zipped({"classes.txt": "cat\ndog\n",
                           "labels/two.txt": "1 0.1 0.1 0.5 0.1 0.5 0.5\n"})
    answer = site.ok(send(site, pid, segmentation, "yolo_seg"))
    assert answer["annotations"] == 1
    polygon = labels_of(site, ids["two.png"])[0]
    assert polygon["type"] == "polygon"
    assert polygon["geometry"]["points"][1] == pytest.approx([32.0, 4.8])


def test_voc_cvat_and_label_studio(site: Site) -> None:
    pid = site.new_project(types=["box", "polygon", "point", "mask", "tag"])
    voc = zipped({"Annotations/v.xml": VOC_XML.format(name="v.png"),
                  "JPEGImages/v.png": images("v.png")["v.png"]})
    answer = site.ok(send(site, pid, voc, "voc"))
    assert (answer["images"], answer["annotations"]) == (1, 2)
    cat = next(x for x in labels_of(site, project_images(site, pid)["v.png"])
               if x["label"] == "cat")
    # VOC's whole pixels from 1, both ends included: xmin 1..xmax 11 is x 0, w 11.
    assert cat["geometry"] == {"x": 0.0, "y": 1.0, "w": 11.0, "h": 9.0}
    assert cat["attributes"] == {}  # 'difficult' is not an attribute of this project
    site.upload(pid, *images("a.png", "ls.png").items())
    site.ok(site.call("PATCH", f"/projects/{pid}", json={"attributes": [
        {"name": "occluded", "type": "checkbox", "default": False},
        {"name": "color", "type": "text", "classes": ["cat"]}]}))
    cvat = site.ok(send(site, pid, CVAT_XML.encode(), "cvat", name="annotations.xml"))
    # box, polygon, 2 points, mask, tag; the polyline is skipped with a warning
    assert cvat["annotations"] == 6
    assert cvat["skipped"] == 1 and "polyline" in cvat["warnings"][0]
    ids = project_images(site, pid)
    found = labels_of(site, ids["a.png"])
    assert sorted(x["type"] for x in found) == ["box", "mask", "point", "point", "polygon",
                                                "tag"]
    box = next(x for x in found if x["type"] == "box")
    assert box["attributes"] == {"occluded": True, "color": "black"}
    polygon = next(x for x in found if x["type"] == "polygon")
    assert polygon["attributes"] == {"occluded": False}  # the project's default
    tasks = orjson.dumps(labelstudio_tasks("ls.png"))
    ls = site.ok(send(site, pid, tasks, "labelstudio", name="export.json"))
    assert ls["annotations"] == 4 and ls["skipped"] == 1
    found = {x["type"]: x for x in labels_of(site, ids["ls.png"])}
    assert found["box"]["geometry"] == {"x": 6.4, "y": 4.8, "w": 16.0, "h": 24.0}
    assert found["point"]["geometry"] == {"x": 32.0, "y": 24.0}
    assert found["tag"]["label"] == "dog"


def test_unknown_classes_are_refused_or_created(any_site: Site) -> None:
    site = any_site
    pid = site.new_project(classes=["cat"])
    doc = coco_document(["a.png"])
    doc["annotations"] = doc["annotations"][:2]
    data = zipped({"instances.json": orjson.dumps(doc), **images("a.png")})
    head = site.head()
    error = assert_error(send(site, pid, data, "coco"), 422, "validation")
    assert error["details"]["reason"] == "unknown_class"
    assert error["details"]["classes"] == ["dog"]
    assert error["details"]["file"] == "instances.json"
    assert "'dog'" in error["message"]
    assert site.head() == head
    answer = site.ok(send(site, pid, data, "coco", create_classes="true"))
    assert answer["classes_added"] == ["dog"] and answer["annotations"] == 2
    project = site.ok(site.get(f"/projects/{pid}"))
    assert [c["name"] for c in project["classes"]] == ["cat", "dog"]


def test_managers_only(site: Site) -> None:
    pid = site.new_project()
    for user in ("annotator", "reviewer"):
        assert_error(send(site, pid, coco_zip(["a.png"]), "coco", user=user), 403,
                     "forbidden")


BAD: list[tuple[str, str, str, bytes, int, str]] = [
    # (case, format, file name, bytes, status, details.reason)
    ("malformed JSON", "coco", "x.json", b'{"images": [\n  {"id": 1,,}]}', 422, "malformed"),
    ("malformed XML", "cvat", "x.xml", b"<annotations>\n<image name='a.png'>\n</annotations>",
     422, "malformed"),
    ("XML entities", "voc", "x.xml",
     b'<!DOCTYPE a [<!ENTITY b "cccccccc">]><annotation>&b;</annotation>', 422, "malformed"),
    ("YOLO field count", "yolo", "y.zip",
     zipped({"classes.txt": "cat\n", "l/a.txt": "0 0.5 0.5 0.1\n"}), 422, "field_count"),
    ("YOLO out of range", "yolo", "y.zip",
     zipped({"classes.txt": "cat\n", "l/a.txt": "0 0.5 0.5 0.1 0.1\n0 1.5 0.5 0.1 0.1\n"}),
     422, "out_of_range"),
    ("YOLO class number", "yolo", "y.zip",
     zipped({"classes.txt": "cat\n", "l/a.txt": "3 0.5 0.5 0.1 0.1\n"}), 422,
     "unknown_class"),
    ("YOLO without a zip", "yolo", "a.txt", b"0 0.5 0.5 0.1 0.1\n", 422, "zip_required"),
    ("image not found", "coco", "x.json", orjson.dumps(coco_document(["nowhere.png"])), 422,
     "image_not_found"),
    ("duplicate names in the dataset", "yolo", "y.zip",
     zipped({"classes.txt": "cat\n", "train/a.txt": "", "val/a.txt": ""}), 422,
     "duplicate_file_name"),
    ("duplicate images in the zip", "coco", "c.zip",
     zipped({"c.json": orjson.dumps(coco_document(["a.png"])),
             "train/a.png": images("a.png")["a.png"], "val/a.png": images("b.png")["b.png"]}),
     422, "duplicate_file_name"),
    ("path escaping the zip", "coco", "c.zip", zipped({"../evil.json": "{}"}), 422,
     "unsafe_path"),
    ("absolute path", "coco", "c.zip", zipped({"/etc/evil.json": "{}"}), 422, "unsafe_path"),
    ("symlink", "coco", "c.zip", zipped({"c.json": "{}", "link.png": "/etc/passwd"},
                                        symlinks=("link.png",)), 422, "unsafe_path"),
    ("zip bomb", "coco", "c.zip", zipped({"c.json": "{}", "bomb.png": b"\0" * (4 << 20)}),
     413, "archive_ratio"),
    ("not an image in the zip", "coco", "c.zip",
     zipped({"c.json": orjson.dumps(coco_document(["a.png"])), "a.png": b"not a png"}), 422,
     "not_an_image"),
    ("polygon outside the image", "coco", "c.zip",
     zipped({"c.json": orjson.dumps({**coco_document(["a.png"]), "annotations": [
         {"id": 1, "image_id": 1, "category_id": 7, "segmentation": [[1, 1, 500, 1, 500, 9]],
          "bbox": [1, 1, 499, 8]}]}), **images("a.png")}), 422, "invalid_geometry"),
    ("iscrowd not 0 or 1", "coco", "c.zip",
     zipped({"c.json": orjson.dumps({**coco_document(["a.png"]), "annotations": [
         {"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 1, 5, 5], "iscrowd": 2}]}),
         **images("a.png")}), 422, "malformed"),
    ("unknown format", "darknet", "c.zip", zipped({"c.json": "{}"}), 422, ""),
]


@pytest.mark.parametrize(("case", "fmt", "name", "data", "status", "reason"), BAD,
                         ids=[b[0] for b in BAD])
def test_bad_uploads_record_nothing(shared_site: Site, case: str, fmt: str, name: str,
                                    data: bytes, status: int, reason: str) -> None:
    site = shared_site
    pid = site.new_project(types=["box", "polygon", "mask"])
    head = site.head()
    error = assert_error(send(site, pid, data, fmt, name=name), status,
                         "too_large" if status == 413 else "validation")
    if reason:
        assert error["details"]["reason"] == reason, error
    else:
        assert error["details"]["field"] == "format"
    if reason in ("malformed", "field_count", "out_of_range"):
        # A line in text and XML files; a JSON document's structure is named by its path
        # (annotations[0]), which a JSON reader points at where a line number would not.
        where = error["details"].get("line", error["details"].get("at"))
        assert error["details"]["file"] and where is not None, error
    assert site.head() == head
    assert project_images(site, pid) == {}


def test_an_upload_over_the_limit_is_413(tmp_path: Any) -> None:
    site = Site(sqlite_settings(tmp_path / "data", max_dataset_bytes=10_000))
    try:
        pid = site.new_project()
        head = site.head()
        error = assert_error(send(site, pid, b"x" * 20_000, "coco", name="big.json"), 413,
                             "too_large")
        assert error["details"]["field"] == "file"
        assert site.head() == head
    finally:
        site.close()


def test_an_attribute_value_the_definition_refuses_names_the_shape(site: Site) -> None:
    pid = site.new_project(types=["box", "polygon", "point", "mask", "tag"])
    site.upload(pid, *images("a.png").items())
    site.ok(site.call("PATCH", f"/projects/{pid}", json={"attributes": [
        {"name": "color", "type": "select", "values": ["white"]}]}))
    head = site.head()
    error = assert_error(send(site, pid, CVAT_XML.encode(), "cvat", name="annotations.xml"),
                         422, "validation")
    assert error["details"]["reason"] == "invalid_attribute"
    assert (error["details"]["file"], error["details"]["line"]) == ("annotations.xml", 8)
    assert site.head() == head


def test_coco_crowd_regions_keep_their_flag_through_an_iscrowd_attribute(site: Site) -> None:
    """COCO's ``iscrowd`` 1 is kept as the ``iscrowd`` checkbox attribute when the project
    defines it, and the COCO export writes it back; without the definition the import says
    the flag is not kept."""
    names = ["a.png", "b.png", "c.png"]
    plain = site.new_project(types=["box", "polygon", "mask"])
    answer = site.ok(send(site, plain, coco_zip(names), "coco"))
    assert any("'iscrowd'" in w for w in answer["warnings"]), answer["warnings"]
    pid = site.new_project(types=["box", "polygon", "mask"])
    site.ok(site.call("PATCH", f"/projects/{pid}", json={"attributes": [
        {"name": "iscrowd", "type": "checkbox", "default": False}]}))
    answer = site.ok(send(site, pid, coco_zip(names), "coco"))
    assert not any("iscrowd" in w for w in answer["warnings"]), answer["warnings"]
    ids = project_images(site, pid)
    masks = [x for n in ("b.png", "c.png") for x in labels_of(site, ids[n])
             if x["type"] == "mask"]
    assert len(masks) == 2 and all(m["attributes"]["iscrowd"] is True for m in masks)
    boxes = [x for x in labels_of(site, ids["a.png"]) if x["type"] == "box"]
    assert boxes[0]["attributes"]["iscrowd"] is False  # the definition's default
    exported = site.ok(site.get(f"/projects/{pid}/export?format=coco"))
    crowd = sorted((a["iscrowd"], "counts" in a["segmentation"]) for a in exported["annotations"])
    assert crowd == [(0, False)] * 3 + [(1, True)] * 2


def test_unseen_images_that_exist_after_all_are_found_not_added(site: Site) -> None:
    """``add_images(unseen=True)`` (an import whose image list lagged) skips the look-ups;
    an image registered already collides in the store and is returned as it is."""
    pid = site.new_project()
    data = images("a.png")["a.png"]
    [row] = site.upload(pid, ("a.png", data))
    fresh = {"file_name": "b.png", "width": 64, "height": 48, "content_type": "image/png",
             "sha256": "1" * 64}
    again = {k: row[k] for k in ("file_name", "width", "height", "sha256", "content_type")}
    head = site.head()
    added, position = site.services.app.add_images(pid, [fresh, again], "admin", unseen=True)
    assert [(str(img.id), created) for img, created in added][1] == (row["id"], False)
    assert added[0][1] is True and position == head + 1


def test_a_labelwright_export_imports_into_another_project(site: Site) -> None:
    source = site.new_project(types=["box", "polygon"])
    data = images("a.png")["a.png"]
    [image] = site.upload(source, ("a.png", data))
    site.create(image["id"], geometry={"x": 3, "y": 4, "w": 10, "h": 8})
    site.ok(site.post(f"/projects/{source}/predictions", json={
        "model": {"name": "m", "version": "1"}, "predictions": [{"image_id": "a.png",
        "annotations": [{"type": "box", "label": "dog", "score": 0.5,
                         "geometry": {"x": 1, "y": 1, "w": 5, "h": 5}}]}]}))
    site.settle()
    exported = site.get(f"/projects/{source}/export?format=labelwright&include_proposed=true")
    assert exported.status_code == 200, exported.text
    target = site.new_project(types=["box", "polygon"])
    [copy] = site.upload(target, ("a.png", data))
    answer = site.ok(send(site, target, exported.content, "labelwright", name="export.json"))
    assert (answer["annotations"], answer["skipped"]) == (1, 1)  # the pending pre-label
    [label] = labels_of(site, copy["id"])
    assert (label["label"], label["source"], label["geometry"]) == (
        "cat", "import", {"x": 3.0, "y": 4.0, "w": 10.0, "h": 8.0})


def test_a_retry_after_a_partial_write_records_only_the_rest(any_site: Site) -> None:
    """An import cut off halfway (only some images' labels recorded) and sent again: the
    recorded ones answer as repeats (their command ids come from the upload), the rest are
    recorded, nothing twice."""
    import hashlib
    import io

    from service_layer.dataset_archive import open_upload
    from service_layer.dataset_import import import_dataset, plan_import, record_import

    site = any_site
    services = site.services
    pid = site.new_project(types=["box", "polygon", "mask"])
    data = coco_zip(["a.png", "b.png", "c.png"])
    digest = hashlib.sha256(data).hexdigest()
    files = open_upload("d.zip", io.BytesIO(data))
    plan = plan_import(services.app, services.read, pid, files, "coco", digest,
                       max_pixels=10**8)
    plan.requests = plan.requests[:1]  # the write stops after the first image's labels
    record_import(services.app, services.pipeline, services.images, files, plan, "manager")
    answer = import_dataset(services.app, services.pipeline, services.read, services.images,
                            pid, open_upload("d.zip", io.BytesIO(data)), "coco", digest,
                            "manager", max_pixels=10**8)
    assert answer["annotations"] == 5 and answer["images_added"] == 0
    ids = project_images(site, pid)
    assert sorted(len(labels_of(site, ids[n])) for n in ("a.png", "b.png", "c.png")) == [1, 2, 2]
    assert site.ok(send(site, pid, data, "coco"))["position"] == site.head()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=300), st.builds(
    lambda names, body: zipped({n: body for n in names}),
    st.lists(st.sampled_from(["a.json", "b.xml", "l/a.txt", "classes.txt", "data.yaml",
                              "x.png", "../up.txt"]), min_size=1, max_size=4, unique=True),
    st.binary(max_size=200))),
       fmt=st.sampled_from(["coco", "yolo", "yolo_seg", "voc", "cvat", "labelstudio",
                            "labelwright", "nope"]),
       name=st.sampled_from(["d.zip", "d.json", "d.xml", "x"]))
def test_any_upload_is_a_4xx_or_recorded_never_a_5xx(shared_site: Site, data: bytes,
                                                      fmt: str, name: str) -> None:
    site = shared_site
    pid = _FUZZ_PROJECT.get("id") or _FUZZ_PROJECT.setdefault("id", site.new_project())
    head = site.head()
    response = send(site, pid, data, fmt, name=name)
    assert response.status_code in (200, 413, 422), response.text
    if response.status_code != 200:
        assert response.json()["error"]["details"].get("reason") or fmt == "nope"
        assert site.head() == head


_FUZZ_PROJECT: dict[str, str] = {}
