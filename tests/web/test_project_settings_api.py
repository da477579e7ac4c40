"""PATCH /projects/{id}: a class's colour and the project's annotation types (the settings
screen's two changes beyond adding and retiring classes), and what bad input gets."""

from __future__ import annotations

from tests.web.conftest import Site, assert_error, check_schema


def test_recolour_a_class_and_set_annotation_types(site: Site) -> None:
    pid = site.new_project(["cat", "dog"])
    patched = site.ok(site.call("PATCH", f"/projects/{pid}", "manager", json={
        "class_colors": {"dog": "#00ff00"}, "annotation_types": ["box", "polygon"]}))
    check_schema(patched, "Project")
    assert {c["name"]: c["color"] for c in patched["classes"]}["dog"] == "#00ff00"
    assert patched["annotation_types"] == ["box", "polygon"]
    site.settle()
    listed = site.ok(site.get("/projects", "manager"))["projects"]
    row = next(p for p in listed if p["id"] == pid)
    assert {c["name"]: c["color"] for c in row["classes"]}["dog"] == "#00ff00"
    assert row["annotation_types"] == ["box", "polygon"]
    # A type taken away: new annotations of it are refused.
    image = site.new_image(pid)
    r = site.command(image, {"type": "create", "annotation": {
        "type": "point", "label": "cat", "geometry": {"x": 3, "y": 4}}})
    assert_error(r, 422, "validation")


def test_bad_colours_and_types_record_nothing(site: Site) -> None:
    pid = site.new_project(["cat"])
    before = site.ok(site.get(f"/projects/{pid}", "manager"))["version"]
    for body, field in (({"class_colors": {"cat": "red"}}, "class_colors.cat"),
                        ({"class_colors": {"cow": "#123456"}}, "class_colors"),
                        ({"class_colors": ["cat"]}, "class_colors"),
                        ({"annotation_types": []}, "annotation_types"),
                        ({"annotation_types": None}, "annotation_types"),
                        ({"annotation_types": ["hexagon"]}, "annotation_types")):
        err = assert_error(site.call("PATCH", f"/projects/{pid}", "manager", json=body),
                           422, "validation")
        assert err["details"]["field"] == field, (body, err)
    assert site.ok(site.get(f"/projects/{pid}", "manager"))["version"] == before
    # Annotators may not change settings.
    assert_error(site.call("PATCH", f"/projects/{pid}", "annotator",
                           json={"class_colors": {"cat": "#123456"}}), 403, "forbidden")
