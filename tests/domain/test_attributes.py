"""Per-object attributes: the project's definitions (AttributesDefined) and the values on
annotations (AnnotationAttributesSet after the create/edit of the same command). Whatever is
sent is either recorded as asked or refused with ValidationFailed naming the field, and
nothing recorded."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from domain.attributes import MAX_ATTRIBUTES, parse_attribute_definitions, resolve_values
from domain.errors import ValidationFailed
from domain.project import Project
from tests.domain.conftest import World

DEFINITIONS = [
    {"name": "occluded", "type": "checkbox", "default": False},
    {"name": "colour", "type": "select", "values": ["red", "blue"], "classes": ["cat"]},
    {"name": "note", "type": "text"},
    {"name": "age", "type": "number"},
]
BOX = {"x": 1, "y": 1, "w": 10, "h": 8}


def _project() -> Project:
    return Project.start(uuid.uuid4(), "p", ["cat", "dog"], None, "mgr")


def _types(result: Any) -> list[str]:
    return [e["type"] for e in result.events]


def test_definitions_are_one_event_that_replaces_the_list() -> None:
    project = _project()
    project.collect_events()
    project.define_attributes(DEFINITIONS, "mgr")
    project.define_attributes([{**d} for d in DEFINITIONS], "mgr")  # the same: nothing new
    events = project.collect_events()
    assert [type(e).__name__ for e in events] == ["AttributesDefined"]
    assert project.attributes == DEFINITIONS
    assert project.schema().attributes == tuple(DEFINITIONS)
    project.define_attributes([], "mgr")
    assert project.attributes == []


@pytest.mark.parametrize(("raw", "field"), [
    ({"name": "a"}, "attributes"),
    ([{"name": "a", "type": "colour"}], "attributes[0].type"),
    ([{"name": "", "type": "text"}], "attributes[0].name"),
    ([{"name": "x" * 65, "type": "text"}], "attributes[0].name"),
    ([{"name": "a", "type": "text"}, {"name": "a", "type": "number"}], "attributes[1].name"),
    ([{"name": "a", "type": "select"}], "attributes[0].values"),
    ([{"name": "a", "type": "select", "values": [1, 2]}], "attributes[0].values"),
    ([{"name": "a", "type": "select", "values": ["x", "x"]}], "attributes[0].values"),
    ([{"name": "a", "type": "text", "values": ["x"]}], "attributes[0].values"),
    ([{"name": "a", "type": "select", "values": ["x"], "default": "y"}],
     "attributes[0].default"),
    ([{"name": "a", "type": "number", "default": math.inf}], "attributes[0].default"),
    ([{"name": "a", "type": "checkbox", "default": 1}], "attributes[0].default"),
    ([{"name": "a", "type": "text", "default": "x" * 1001}], "attributes[0].default"),
    ([{"name": "a", "type": "text", "classes": ["cow"]}], "attributes[0].classes"),
    ([{"name": "a", "type": "text", "classes": []}], "attributes[0].classes"),
    ([{"name": "a", "type": "text", "colour": "red"}], "attributes[0]"),
    ([{"name": f"a{i}", "type": "text"} for i in range(MAX_ATTRIBUTES + 1)], "attributes"),
])
def test_bad_definitions_name_the_field_and_record_nothing(raw: object, field: str) -> None:
    project = _project()
    project.collect_events()
    with pytest.raises(ValidationFailed) as e:
        project.define_attributes(raw, "mgr")
    assert e.value.details["field"] == field
    assert project.collect_events() == [] and project.attributes == []


values = st.one_of(st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                   st.sampled_from(["red", "blue", "x" * 1001]), st.none(),
                   st.lists(st.integers(), max_size=1))


@given(label=st.sampled_from(["cat", "dog"]),
       changes=st.dictionaries(st.sampled_from(["occluded", "colour", "note", "age", "size"]),
                               values, max_size=4))
@example(label="cat", changes={"age": 10**400})
def test_any_values_are_resolved_or_refused_naming_the_field(label: str,
                                                             changes: dict[str, Any]) -> None:
    current = {"note": "kept"}
    try:
        result = resolve_values(DEFINITIONS, label, current, changes, "changes.attributes")
    except ValidationFailed as e:
        field = str(e.details["field"])
        assert field.startswith("changes.attributes.")
        assert field.removeprefix("changes.attributes.") in changes
        assert current == {"note": "kept"}
        return
    for name, value in changes.items():
        if value is None:
            assert name not in result
            continue
        definition = next(d for d in DEFINITIONS if d["name"] == name)
        assert definition.get("classes", [label]) == [label] or label in definition["classes"]
        assert result[name] == value
        if definition["type"] == "checkbox":
            assert isinstance(value, bool)
        elif definition["type"] == "number":
            assert not isinstance(value, bool) and math.isfinite(float(value))
        elif definition["type"] == "select":
            assert value in definition["values"]
        else:
            assert isinstance(value, str) and len(value) <= 1000
    for name in set(current) - set(changes):
        assert result[name] == current[name]


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.lists(st.fixed_dictionaries(
    {"name": st.text(max_size=3), "type": st.sampled_from(["checkbox", "select", "text",
                                                            "number", "date"])},
    optional={"values": st.lists(st.text(max_size=2), max_size=3),
              "default": values, "classes": st.lists(st.sampled_from(["cat", "cow"]))}),
    max_size=3))
def test_any_definition_list_is_accepted_whole_or_refused(raw: list[dict[str, Any]]) -> None:
    try:
        parsed = parse_attribute_definitions(raw, ["cat", "dog"])
    except ValidationFailed as e:
        assert str(e.details["field"]).startswith("attributes")
        return
    assert len({d["name"] for d in parsed}) == len(parsed) == len(raw)
    for d in parsed:
        assert d["type"] != "date" and ("values" in d) == (d["type"] == "select")
        assert set(d.get("classes", [])) <= {"cat"}


@pytest.fixture()
def defined(world: World) -> World:
    world.app.update_project(world.project_id, "mgr", {"attributes": DEFINITIONS})
    return world


def _annotation(world: World, annotation_id: str) -> dict[str, Any]:
    image = world.app.image(world.image_id)
    return next(a for a in image.public_annotations() if a["id"] == annotation_id)


def test_create_records_the_values_and_defaults_at_revision_one(defined: World) -> None:
    result = defined.run({"type": "create", "annotation": {
        "type": "box", "label": "cat", "geometry": BOX,
        "attributes": {"colour": "red", "age": 3}}})
    assert _types(result) == ["AnnotationCreated", "AnnotationAttributesSet"]
    aid = result.events[0]["data"]["annotation_id"]
    ann = _annotation(defined, aid)
    assert ann["attributes"] == {"occluded": False, "colour": "red", "age": 3}
    assert ann["revision"] == 1
    # A class with no value to set and only a default: still recorded (the default).
    dog = defined.run({"type": "create", "annotation": {"type": "box", "label": "dog",
                                                         "geometry": BOX}})
    assert _annotation(defined, dog.events[0]["data"]["annotation_id"])["attributes"] == {
        "occluded": False}


def test_edit_sets_given_keys_removes_nulls_and_bumps_the_revision_once(defined: World
                                                                        ) -> None:
    created = defined.run({"type": "create", "annotation": {
        "type": "box", "label": "cat", "geometry": BOX,
        "attributes": {"colour": "red", "note": "n"}}})
    aid = created.events[0]["data"]["annotation_id"]
    only = defined.run({"type": "edit", "annotation_id": aid, "base_revision": 1,
                        "changes": {"attributes": {"occluded": True, "note": None}}})
    assert _types(only) == ["AnnotationAttributesSet"]
    ann = _annotation(defined, aid)
    assert ann["attributes"] == {"occluded": True, "colour": "red"}
    assert ann["revision"] == 2 and ann["updated_by"] == "ann"
    both = defined.run({"type": "edit", "annotation_id": aid, "base_revision": 2,
                        "changes": {"geometry": {**BOX, "x": 5},
                                    "attributes": {"age": 1.5}}}, user="bob")
    assert _types(both) == ["AnnotationEdited", "AnnotationAttributesSet"]
    ann = _annotation(defined, aid)
    assert ann["revision"] == 3 and ann["geometry"]["x"] == 5
    assert ann["attributes"] == {"occluded": True, "colour": "red", "age": 1.5}
    # Stale revision: conflict, nothing recorded.
    head = defined.head()
    with pytest.raises(Exception, match="revision"):
        defined.run({"type": "edit", "annotation_id": aid, "base_revision": 2,
                     "changes": {"attributes": {"age": 2}}})
    assert defined.head() == head


@pytest.mark.parametrize(("label", "attributes", "field"), [
    ("cat", {"size": 1}, "annotation.attributes.size"),
    ("cat", {"occluded": "yes"}, "annotation.attributes.occluded"),
    ("cat", {"colour": "green"}, "annotation.attributes.colour"),
    ("dog", {"colour": "red"}, "annotation.attributes.colour"),
    ("cat", {"age": True}, "annotation.attributes.age"),
    ("cat", {"note": 5}, "annotation.attributes.note"),
    ("cat", [], "annotation.attributes"),
])
def test_bad_values_on_create_are_validation_naming_the_field(
        defined: World, label: str, attributes: Any, field: str) -> None:
    head = defined.head()
    with pytest.raises(ValidationFailed) as e:
        defined.run({"type": "create", "annotation": {"type": "box", "label": label,
                                                       "geometry": BOX,
                                                       "attributes": attributes}})
    assert e.value.details["field"] == field
    assert defined.head() == head and defined.app.image(defined.image_id).annotations == {}


def test_a_label_change_checks_values_against_the_new_class(defined: World) -> None:
    created = defined.run({"type": "create", "annotation": {"type": "box", "label": "cat",
                                                            "geometry": BOX}})
    aid = created.events[0]["data"]["annotation_id"]
    with pytest.raises(ValidationFailed) as e:
        defined.run({"type": "edit", "annotation_id": aid,
                     "changes": {"label": "dog", "attributes": {"colour": "red"}}})
    assert e.value.details["field"] == "changes.attributes.colour"
    assert _annotation(defined, aid)["label"] == "cat"


def test_accept_and_restore_keep_a_prelabels_attributes(defined: World) -> None:
    aid = defined.propose(BOX)
    defined.run({"type": "edit", "annotation_id": aid,
                 "changes": {"attributes": {"occluded": True}}})
    ann = _annotation(defined, aid)
    assert ann["status"] == "proposed" and ann["attributes"] == {"occluded": True}
    defined.run({"type": "accept", "annotation_id": aid})
    assert _annotation(defined, aid)["attributes"] == {"occluded": True}
    restored = defined.run({"type": "restore", "annotation_id": aid})
    assert _types(restored) == ["PrelabelRestored", "AnnotationAttributesSet"]
    ann = _annotation(defined, aid)
    assert ann["status"] == "proposed" and ann["attributes"] == {"occluded": True}
    assert ann["revision"] == 4
    defined.run({"type": "delete", "annotation_id": aid})
    defined.run({"type": "restore", "annotation_id": aid})
    assert _annotation(defined, aid)["attributes"] == {"occluded": True}


def test_replay_to_each_version_gives_the_attributes_of_that_version(defined: World) -> None:
    created = defined.run({"type": "create", "annotation": {
        "type": "box", "label": "cat", "geometry": BOX, "attributes": {"colour": "blue"}}})
    aid = created.events[0]["data"]["annotation_id"]
    defined.run({"type": "edit", "annotation_id": aid,
                 "changes": {"attributes": {"colour": None}}})
    image = defined.app.image(defined.image_id)
    seen = [defined.app.image(defined.image_id, version=v).annotations.get(aid, {}).get(
        "attributes") for v in range(2, image.version + 1)]
    assert seen == [{}, {"occluded": False, "colour": "blue"}, {"occluded": False}]


def test_definitions_do_not_check_values_already_recorded(defined: World) -> None:
    created = defined.run({"type": "create", "annotation": {
        "type": "box", "label": "cat", "geometry": BOX, "attributes": {"colour": "red"}}})
    aid = created.events[0]["data"]["annotation_id"]
    defined.app.update_project(defined.project_id, "mgr", {"attributes": []})
    assert _annotation(defined, aid)["attributes"] == {"occluded": False, "colour": "red"}
    with pytest.raises(ValidationFailed):
        defined.run({"type": "edit", "annotation_id": aid,
                     "changes": {"attributes": {"colour": "blue"}}})
    # Removing an old value is always allowed.
    defined.run({"type": "edit", "annotation_id": aid,
                 "changes": {"attributes": {"colour": None}}})
    assert _annotation(defined, aid)["attributes"] == {"occluded": False}


def test_an_assist_proposal_starts_with_the_defaults(defined: World) -> None:
    result = defined.run({"type": "assist", "mode": "extreme_points", "label": "cat",
                          "points": [[10, 30], [30, 10], [60, 35], [35, 50]]})
    assert _types(result) == ["AssistClicked", "AnnotationCreated", "AnnotationAttributesSet"]
    ann = _annotation(defined, result.events[1]["data"]["annotation_id"])
    assert ann["attributes"] == {"occluded": False} and ann["revision"] == 1
