"""Per-object attributes: what a project defines (occluded, colour...) and the values a shape
carries.

A project defines a list of attributes, each ``{"name", "type", "values"? (select only),
"default"?, "classes"? (absent: every class)}``. An annotation carries ``{name: value}``; a
value is checked against the definition as it is when the command arrives. Definitions can be
replaced at any time: values already recorded stay in the log and in exports, only new values
are checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from domain.errors import ValidationFailed

ATTRIBUTE_TYPES = ("checkbox", "select", "text", "number")
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_NAME = 64
MAX_SELECT_VALUES = 200
MAX_SELECT_VALUE = 100  # characters of one select value
MAX_TEXT_VALUE = 1000
_KEYS = {"name", "type", "values", "default", "classes"}

AttributeDefinition = dict[str, Any]


def _fail(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, {"field": field})


def check_value(definition: Mapping[str, Any], value: object, field: str) -> Any:
    """``value`` if it is a valid value of ``definition`` (numbers as given), else
    ValidationFailed naming ``field``."""
    kind = definition["type"]
    if kind == "checkbox":
        if not isinstance(value, bool):
            raise _fail(f"{field} must be true or false", field)
    elif kind == "select":
        if not isinstance(value, str) or value not in definition["values"]:
            raise ValidationFailed(f"{field} must be one of {definition['values']}",
                                   {"field": field, "allowed": list(definition["values"])})
    elif kind == "text":
        if not isinstance(value, str) or len(value) > MAX_TEXT_VALUE:
            raise _fail(f"{field} must be a string of at most {MAX_TEXT_VALUE} characters",
                        field)
    elif not _finite_number(value):
        raise _fail(f"{field} must be a finite number", field)
    return value


def _finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float: no reader could keep it
        return False


def _definition(raw: object, i: int, class_names: frozenset[str]) -> AttributeDefinition:
    where = f"attributes[{i}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise _fail('each attribute is {"name", "type", "values"?, "default"?, "classes"?}',
                    where)
    extra = set(raw) - _KEYS
    if extra:
        raise _fail(f"unexpected attribute field {sorted(extra)[0]!r}", where)
    name = raw["name"].strip()
    if not name or len(name) > MAX_ATTRIBUTE_NAME:
        raise _fail(f"an attribute name is 1 to {MAX_ATTRIBUTE_NAME} characters",
                    f"{where}.name")
    kind = raw.get("type")
    if kind not in ATTRIBUTE_TYPES:
        raise ValidationFailed(f"unknown attribute type {kind!r}",
                               {"field": f"{where}.type", "allowed": list(ATTRIBUTE_TYPES)})
    out: AttributeDefinition = {"name": name, "type": kind}
    values = raw.get("values")
    if kind == "select":
        if (not isinstance(values, list) or not 1 <= len(values) <= MAX_SELECT_VALUES
                or not all(isinstance(v, str) and 0 < len(v) <= MAX_SELECT_VALUE
                           for v in values)):
            raise _fail(f"a select attribute needs values: 1 to {MAX_SELECT_VALUES} strings of "
                        f"1 to {MAX_SELECT_VALUE} characters", f"{where}.values")
        if len(set(values)) != len(values):
            raise _fail("a select value is listed twice", f"{where}.values")
        out["values"] = list(values)
    elif values is not None:
        raise _fail("only a select attribute has values", f"{where}.values")
    if raw.get("default") is not None:
        out["default"] = check_value(out, raw["default"], f"{where}.default")
    classes = raw.get("classes")
    if classes is not None:
        if (not isinstance(classes, list) or not classes
                or not all(isinstance(c, str) for c in classes)):
            raise _fail("classes is a non-empty list of class names (leave it out for every "
                        "class)", f"{where}.classes")
        unknown = [c for c in classes if c not in class_names]
        if unknown:
            raise _fail(f"no class named {unknown[0]!r}", f"{where}.classes")
        out["classes"] = list(dict.fromkeys(classes))
    return out


def parse_attribute_definitions(raw: object, class_names: Sequence[str]
                                ) -> list[AttributeDefinition]:
    """Validate a project's attribute list against its ``class_names``; the normalised list
    (names stripped, only the keys that apply)."""
    if not isinstance(raw, list):
        raise _fail("attributes must be a list", "attributes")
    if len(raw) > MAX_ATTRIBUTES:
        raise _fail(f"a project has at most {MAX_ATTRIBUTES} attributes", "attributes")
    known = frozenset(class_names)
    out = [_definition(item, i, known) for i, item in enumerate(raw)]
    names = [d["name"] for d in out]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise _fail(f"attribute {name!r} is defined twice", f"attributes[{i}].name")
    return out


def applies_to(definition: Mapping[str, Any], label: str) -> bool:
    classes = definition.get("classes")
    return classes is None or label in classes


def resolve_values(definitions: Sequence[Mapping[str, Any]], label: str,
                   current: Mapping[str, Any], changes: object, field: str,
                   ) -> dict[str, Any]:
    """The attribute values of an annotation of class ``label`` after ``changes``
    (``{name: value}``; a null value removes the key; other keys of ``current`` stay).

    Every given value is checked against its definition; an unknown name, a wrong type, a
    select value not listed or an attribute that is not for ``label`` is ValidationFailed
    naming ``field.name``."""
    if not isinstance(changes, dict):
        raise _fail("attributes is an object {name: value}", field)
    by_name = {d["name"]: d for d in definitions}
    result = dict(current)
    for name, value in changes.items():
        where = f"{field}.{name}"
        if value is None:
            result.pop(name, None)
            continue
        definition = by_name.get(name)
        if definition is None:
            raise ValidationFailed(f"the project has no attribute {name!r}",
                                   {"field": where, "allowed": sorted(by_name)})
        if not applies_to(definition, label):
            raise _fail(f"attribute {name!r} is not for class {label!r}", where)
        result[name] = check_value(definition, value, where)
    return result


def default_values(definitions: Sequence[Mapping[str, Any]], label: str) -> dict[str, Any]:
    """The defaults of the attributes of class ``label`` that have one."""
    return {d["name"]: d["default"] for d in definitions
            if "default" in d and applies_to(d, label)}
