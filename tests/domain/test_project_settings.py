"""The Project aggregate's settings changes: recolouring classes and setting the annotation
types. Whatever is sent, it is either recorded as asked or refused (ValidationFailed naming
the field) with nothing recorded."""

from __future__ import annotations

import re
import uuid

from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from domain.geometry import ANNOTATION_TYPES
from domain.project import Project


def _project() -> Project:
    return Project.start(uuid.uuid4(), "p", [{"name": "cat", "color": "#000000"},
                                            {"name": "dog"}], None, "mgr")


def test_recolour_and_types_are_events_applied_to_the_aggregate() -> None:
    project = _project()
    project.retire_class("dog", "mgr")
    project.recolor_classes({"dog": "#ABCDEF", "cat": "#000000"}, "mgr")  # cat unchanged
    project.set_annotation_types(["polygon", "box", "polygon"], "mgr")
    events = project.collect_events()
    assert [type(e).__name__ for e in events][-2:] == ["ClassColorChanged",
                                                       "AnnotationTypesSet"]
    assert [(c["name"], c["color"], c["retired"]) for c in project.classes] == [
        ("cat", "#000000", False), ("dog", "#ABCDEF", True)]
    assert project.annotation_types == ["polygon", "box"]
    # The same again records nothing.
    project.recolor_classes({"dog": "#abcdef"}, "mgr")
    project.set_annotation_types(["polygon", "box"], "mgr")
    assert project.collect_events() == []


colours = st.one_of(st.text(max_size=9), st.from_regex(r"#[0-9a-fA-F]{6}", fullmatch=True),
                    st.integers(), st.none())


@given(st.one_of(st.dictionaries(st.sampled_from(["cat", "dog", "cow", ""]), colours,
                                 max_size=3),
                 st.lists(st.text(max_size=4), max_size=2), st.text(max_size=4), st.none()))
def test_any_colour_change_is_recorded_or_refused_whole(raw: object) -> None:
    project = _project()
    project.collect_events()
    try:
        project.recolor_classes(raw, "mgr")
    except ValidationFailed as e:
        assert str(e.details["field"]).startswith("class_colors")
        assert project.collect_events() == []
        assert [c["color"] for c in project.classes] == ["#000000", "#3cb44b"]
        return
    assert isinstance(raw, dict)
    colors = {c["name"]: c["color"] for c in project.classes}
    for name, color in raw.items():
        assert isinstance(color, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", color)
        assert colors[name] == color or colors[name].lower() == color.lower()


@given(st.one_of(st.lists(st.sampled_from([*ANNOTATION_TYPES, "hexagon", ""]), max_size=6),
                 st.text(max_size=4), st.none(), st.integers()))
def test_any_types_change_is_recorded_or_refused(raw: object) -> None:
    project = _project()
    project.collect_events()
    try:
        project.set_annotation_types(raw, "mgr")
    except ValidationFailed as e:
        assert e.details["field"] == "annotation_types"
        assert project.collect_events() == []
        assert project.annotation_types == list(ANNOTATION_TYPES)
        return
    assert isinstance(raw, list) and raw
    assert project.annotation_types == list(dict.fromkeys(raw))
