"""Per-object attributes over HTTP, on SQLite and PostgreSQL: defined on the project (create
body, PATCH, GET), set by create/edit commands, read back from the labels, history and
exports (COCO loaded by pycocotools), the same after a projection rebuild; bad input is 422
naming the field and records nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from pycocotools.coco import COCO

from tests.web.conftest import Site, assert_error, check_schema

DEFINITIONS: list[dict[str, Any]] = [
    {"name": "occluded", "type": "checkbox"},
    {"name": "colour", "type": "select", "values": ["red", "blue"], "default": "red",
     "classes": ["cat"]},
    {"name": "note", "type": "text"},
    {"name": "age", "type": "number"},
]
BOX = {"x": 1, "y": 2, "w": 10, "h": 8}


def _project(site: Site) -> str:
    pid = site.new_project(["cat", "dog"])
    patched = site.ok(site.call("PATCH", f"/projects/{pid}", "manager",
                                json={"attributes": DEFINITIONS}))
    check_schema(patched, "Project")
    assert patched["attributes"] == DEFINITIONS
    return pid


def _labels(site: Site, image: str) -> dict[str, dict[str, Any]]:
    site.settle()
    body = site.ok(site.get(f"/images/{image}/annotations", "annotator"))
    return {a["id"]: a for a in body["annotations"]}


def test_attributes_defined_set_read_and_exported(any_site: Site, tmp_path: Path) -> None:
    site = any_site
    pid = _project(site)
    assert site.ok(site.get(f"/projects/{pid}", "annotator"))["attributes"] == DEFINITIONS
    image = site.new_image(pid)
    created = site.ok(site.command(image, {"type": "create", "annotation": {
        "type": "box", "label": "cat", "geometry": BOX,
        "attributes": {"occluded": True, "note": "behind a car"}}}))
    assert [e["type"] for e in created["events"]] == ["AnnotationCreated",
                                                      "AnnotationAttributesSet"]
    aid = created["events"][0]["data"]["annotation_id"]
    plain = site.create(image, label="dog")["events"][0]["data"]["annotation_id"]
    ann = _labels(site, image)[aid]
    check_schema(ann, "Annotation")
    assert ann["attributes"] == {"colour": "red", "occluded": True, "note": "behind a car"}
    assert ann["revision"] == 1
    assert _labels(site, image)[plain]["attributes"] == {}

    edited = site.ok(site.command(image, {
        "type": "edit", "annotation_id": aid, "base_revision": 1,
        "changes": {"attributes": {"colour": "blue", "note": None, "age": 2.5}}}))
    assert [e["type"] for e in edited["events"]] == ["AnnotationAttributesSet"]
    ann = _labels(site, image)[aid]
    assert ann["attributes"] == {"colour": "blue", "occluded": True, "age": 2.5}
    assert ann["revision"] == 2

    history = site.ok(site.get(f"/images/{image}/history", "annotator"))["events"]
    last = history[-1]
    assert last["type"] == "AnnotationAttributesSet"
    assert last["data"] == {"annotation_id": aid, "attributes": ann["attributes"],
                            "revision": 2}

    coco_bytes = site.get(f"/projects/{pid}/export", "manager",
                          params={"format": "coco"}).content
    path = tmp_path / "coco.json"
    path.write_bytes(coco_bytes)
    coco = COCO(str(path))
    by_id = {a["labelwright_id"]: a for a in coco.dataset["annotations"]}
    assert by_id[aid]["attributes"] == {"colour": "blue", "occluded": True, "age": 2.5}
    assert "attributes" not in by_id[plain]
    assert coco.loadAnns([by_id[aid]["id"]])[0]["attributes"]["colour"] == "blue"

    lw = orjson.loads(site.get(f"/projects/{pid}/export", "manager",
                               params={"format": "labelwright"}).content)
    assert lw["project"]["attributes"] == DEFINITIONS
    exported = {a["id"]: a for i in lw["images"] for a in i["annotations"]}
    assert exported[aid]["attributes"] == ann["attributes"]
    # As of the create's position: the values of that moment, from the event log.
    early = orjson.loads(site.get(f"/projects/{pid}/export", "manager", params={
        "format": "labelwright", "position": created["position"]}).content)
    assert {a["id"]: a for i in early["images"] for a in i["annotations"]}[aid][
        "attributes"] == {"colour": "red", "occluded": True, "note": "behind a car"}

    # A rebuild of the read model from position 0 gives the same labels.
    before = site.ok(site.get(f"/images/{image}/annotations", "annotator"))
    site.services.runner.rebuild("image_labels")
    site.settle()
    assert site.ok(site.get(f"/images/{image}/annotations", "annotator")) == before


@pytest.mark.parametrize(("body", "field"), [
    ({"attributes": {"occluded": True}}, "attributes"),
    ({"attributes": [{"name": "a", "type": "date"}]}, "attributes[0].type"),
    ({"attributes": [{"name": "a", "type": "select"}]}, "attributes[0].values"),
    ({"attributes": [{"name": "a", "type": "text", "classes": ["cow"]}]},
     "attributes[0].classes"),
    ({"attributes": [{"name": "a", "type": "number"}, {"name": "a", "type": "text"}]},
     "attributes[1].name"),
])
def test_bad_definitions_are_422_and_record_nothing(shared_site: Site, body: dict[str, Any],
                                                    field: str) -> None:
    site = shared_site
    pid = site.new_project(["cat"])
    before = site.ok(site.get(f"/projects/{pid}", "manager"))["version"]
    err = assert_error(site.call("PATCH", f"/projects/{pid}", "manager", json=body), 422,
                       "validation")
    assert err["details"]["field"] == field
    assert site.ok(site.get(f"/projects/{pid}", "manager"))["version"] == before
    created = site.post("/projects", json={"name": "x", "classes": ["cat"], **body})
    assert assert_error(created, 422, "validation")["details"]["field"] == field


def test_only_managers_define_attributes_and_create_takes_them(shared_site: Site) -> None:
    site = shared_site
    pid = site.new_project(["cat"])
    for user in ("annotator", "reviewer"):
        assert_error(site.call("PATCH", f"/projects/{pid}", user,
                               json={"attributes": DEFINITIONS[:1]}), 403, "forbidden")
    created = site.ok(site.post("/projects", json={
        "name": "with attributes", "classes": ["cat"], "attributes": DEFINITIONS[:3]}), 201)
    check_schema(created, "Project")
    assert created["attributes"] == DEFINITIONS[:3]


@pytest.mark.parametrize(("command", "field"), [
    ({"type": "create", "annotation": {"type": "box", "label": "cat", "geometry": BOX,
                                       "attributes": {"size": 3}}},
     "annotation.attributes.size"),
    ({"type": "create", "annotation": {"type": "box", "label": "dog", "geometry": BOX,
                                       "attributes": {"colour": "red"}}},
     "annotation.attributes.colour"),
    ({"type": "create", "annotation": {"type": "box", "label": "cat", "geometry": BOX,
                                       "attributes": {"colour": "green"}}},
     "annotation.attributes.colour"),
    ({"type": "create", "annotation": {"type": "box", "label": "cat", "geometry": BOX,
                                       "attributes": {"occluded": "yes"}}},
     "annotation.attributes.occluded"),
    ({"type": "create", "annotation": {"type": "box", "label": "cat", "geometry": BOX,
                                       "attributes": "occluded"}}, "annotation.attributes"),
    ({"type": "edit", "annotation_id": "{aid}", "changes": {"attributes": {"age": "old"}}},
     "changes.attributes.age"),
    ({"type": "edit", "annotation_id": "{aid}", "changes": {"attributes": {"note": 1}}},
     "changes.attributes.note"),
    ({"type": "edit", "annotation_id": "{aid}", "changes": {"attributes": {"": 1}}},
     "changes.attributes"),
])
def test_bad_values_are_422_naming_the_field(any_site: Site, command: dict[str, Any],
                                             field: str) -> None:
    site = any_site
    pid = _project(site)
    image = site.new_image(pid)
    aid = site.create(image)["events"][0]["data"]["annotation_id"]
    if command["type"] == "edit":
        command = {**command, "annotation_id": aid}
    head = site.head()
    err = assert_error(site.command(image, command), 422, "validation")
    assert err["details"]["field"] == field, err
    assert site.head() == head
    assert _labels(site, image)[aid]["attributes"] == {"colour": "red"}
