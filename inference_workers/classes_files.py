"""Reading a model's class names from an uploaded classes file or from its ONNX metadata.

A classes file comes from the network beside the weights, so it is parsed as data and never as
code, within fixed bounds:

- ``.names`` / ``classes.txt`` / any ``.txt``: one name a line (blank lines and the whitespace
  around a name are ignored);
- YOLO ``data.yaml`` / ``.yml``: ``names:`` as a list or as ``{0: name, ...}``, ``nc`` checked
  against it when present. Read with ``yaml.CSafeLoader`` only (plain data, no Python tags),
  and a file with anchors or aliases (``&a`` / ``*a``) is refused before it is built: aliases
  are what lets a few hundred bytes of YAML expand into gigabytes ("billion laughs"), and a
  classes file never needs them. Without aliases a document is never larger than its text,
  which is at most ``MAX_CLASSES_BYTES``;
- COCO JSON: ``categories`` ordered by ``id``; or a JSON list of names (or ``{"names": ...}``
  as in ``data.yaml``).

Ultralytics writes ``names`` into an ONNX model's metadata as a Python dict literal
(``{0: 'person', 1: 'bicycle'}``): it is read with ``ast.literal_eval`` (literals only, nothing
is evaluated), or as JSON.

Whatever the source, the names must make a usable label list: at least one, at most
``MAX_CLASSES``, each at most ``MAX_NAME_CHARS`` characters with no control characters, and no
two equal ignoring case (the project's class map matches names case-insensitively, so ``Car``
and ``car`` could not be told apart there). Every refusal is a ``ValidationFailed`` (or
``TooLarge``) with ``details["field"] == "classes"``.
"""

from __future__ import annotations

import ast
import json
import unicodedata
from typing import Any

import yaml

from domain.errors import TooLarge, ValidationFailed

MAX_CLASSES_BYTES = 1024 * 1024
MAX_CLASSES = 5000
MAX_NAME_CHARS = 100

_YAML_SUFFIXES = (".yaml", ".yml")
_JSON_SUFFIXES = (".json",)
_LINE_SUFFIXES = (".names", ".txt")
_SUPPORTED = ("a .names/.txt file with one name a line, a YOLO data.yaml with `names:`, "
              "COCO JSON with `categories`, or a JSON list of names")


def _refuse(message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, {"field": "classes", **details})


def parse_classes_file(file_name: str, data: bytes) -> list[str]:
    """The class names in an uploaded classes file, in the model's output order.

    The format is chosen by the file name's extension; any other name is recognised by its
    content (JSON if it starts with ``[`` or ``{``, YAML if it has a ``names:`` key, else one
    name a line)."""
    if len(data) > MAX_CLASSES_BYTES:
        raise TooLarge(f"the classes file is {len(data):,} bytes; the limit is "
                       f"{MAX_CLASSES_BYTES:,}", {"field": "classes", "limit": MAX_CLASSES_BYTES})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse(f"the classes file is not UTF-8 text (byte {exc.start:,} is not)") from None
    if not text.strip():
        raise _refuse("the classes file is empty")
    lower = file_name.lower()
    if lower.endswith(_YAML_SUFFIXES):
        raw = _from_yaml(text)
    elif lower.endswith(_JSON_SUFFIXES):
        raw = _from_json(text)
    elif lower.endswith(_LINE_SUFFIXES):
        raw = _from_lines(text)
    elif text.lstrip()[:1] in ("[", "{"):
        raw = _from_json(text)
    elif any(line.startswith("names:") for line in text.splitlines()):
        raw = _from_yaml(text)
    else:
        raw = _from_lines(text)
    return _checked_names(raw, "the classes file")


def names_from_onnx_metadata(value: str) -> list[str]:
    """The class names in a model's ``names`` metadata: a Python dict literal as Ultralytics
    writes it (``{0: 'person', 1: 'bicycle'}``), JSON (``{"0": "person"}``), or a list."""
    if len(value) > MAX_CLASSES_BYTES:
        raise TooLarge(f"the model's `names` metadata is {len(value):,} characters; the limit is "
                       f"{MAX_CLASSES_BYTES:,}", {"field": "classes", "limit": MAX_CLASSES_BYTES})
    parsed: Any
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        try:
            parsed = ast.literal_eval(value.strip())
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise _refuse("the model's `names` metadata is neither a Python dict literal "
                          "({0: 'person', ...}) nor JSON") from None
    if isinstance(parsed, dict):
        raw = _names_from_index_map(parsed, "the model's `names` metadata")
    elif isinstance(parsed, (list, tuple)):
        raw = list(parsed)
    else:
        raise _refuse("the model's `names` metadata is not a dict or a list of names")
    return _checked_names(raw, "the model's `names` metadata")


# ------------------------------------------------------------------------------------------
# formats
# ------------------------------------------------------------------------------------------


def _from_lines(text: str) -> list[Any]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _from_json(text: str) -> list[Any]:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _refuse(f"the classes file is not valid JSON: {_first_line(exc)}") from None
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and "categories" in doc:
        return _names_from_categories(doc["categories"])
    if isinstance(doc, dict) and "names" in doc:
        return _names_from_yolo(doc)
    raise _refuse(f"the JSON classes file has neither `categories` nor a list of names; "
                  f"send {_SUPPORTED}")


def _from_yaml(text: str) -> list[Any]:
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise _refuse("the YAML classes file uses anchors and aliases (&name / *name); "
                              "they are refused because they can expand a small file hugely, "
                              "and a list of names does not need them")
        doc = yaml.load(text, Loader=yaml.CSafeLoader)  # the safe loader: plain data only
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise _refuse(f"the classes file is not valid YAML: {_first_line(exc)}") from None
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and "names" in doc:
        return _names_from_yolo(doc)
    raise _refuse("the YAML classes file has no `names:` (a list, or {0: name, ...})")


def _names_from_yolo(doc: dict[Any, Any]) -> list[Any]:
    """``names`` of a YOLO ``data.yaml`` (a list or an index map), checked against ``nc``."""
    names = doc["names"]
    if isinstance(names, dict):
        raw = _names_from_index_map(names, "`names`")
    elif isinstance(names, list):
        raw = names
    else:
        raise _refuse("`names` must be a list of names or a map {0: name, 1: name, ...}")
    if "nc" in doc:
        nc = doc["nc"]
        if isinstance(nc, bool) or not isinstance(nc, int) or nc != len(raw):
            raise _refuse(f"`nc` is {nc!r} but `names` has {len(raw):,} names",
                          names=len(raw))
    return raw


def _names_from_index_map(mapping: dict[Any, Any], what: str) -> list[Any]:
    """``{0: 'a', 1: 'b'}`` (keys may be digit strings, as JSON writes them) -> ``['a', 'b']``;
    the keys must be exactly 0..n-1."""
    indexed: dict[int, Any] = {}
    for key, name in mapping.items():
        index = _index(key)
        if index is None:
            raise _refuse(f"{what} has the key {str(key)[:40]!r}, which is not a class index")
        indexed[index] = name
    if sorted(indexed) != list(range(len(indexed))):
        raise _refuse(f"{what} must number the classes 0, 1, 2, ... without gaps")
    return [indexed[i] for i in range(len(indexed))]


def _names_from_categories(categories: Any) -> list[Any]:
    """COCO ``categories``: ``[{"id": 1, "name": "person"}, ...]``, in ``id`` order."""
    if not isinstance(categories, list):
        raise _refuse("`categories` must be a list of {\"id\", \"name\"}")
    by_id: dict[int, Any] = {}
    for position, category in enumerate(categories):
        if not isinstance(category, dict) or "name" not in category:
            raise _refuse(f"category {position} has no `name`")
        cid = _index(category.get("id", position))
        if cid is None:
            raise _refuse(f"category {position} has an `id` that is not a whole number")
        if cid in by_id:
            raise _refuse(f"two categories have the id {cid}")
        by_id[cid] = category["name"]
    return [by_id[cid] for cid in sorted(by_id)]


def _index(key: Any) -> int | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key
    if isinstance(key, str) and key.strip().isdigit() and len(key.strip()) <= 9:
        return int(key.strip())
    return None


# ------------------------------------------------------------------------------------------
# the names themselves
# ------------------------------------------------------------------------------------------


def _checked_names(raw: list[Any], where: str) -> list[str]:
    if not raw:
        raise _refuse(f"{where} has no class names")
    if len(raw) > MAX_CLASSES:
        raise _refuse(f"{where} has {len(raw):,} classes; at most {MAX_CLASSES:,} are accepted",
                      limit=MAX_CLASSES)
    names: list[str] = []
    seen: dict[str, int] = {}
    for index, value in enumerate(raw):
        name = _name(value, index, where)
        folded = name.casefold()
        if folded in seen:
            raise _refuse(f"{where} names class {seen[folded]} and class {index} the same "
                          f"({names[seen[folded]]!r}, {name!r}; names are compared ignoring "
                          f"case)", index=index)
        seen[folded] = index
        names.append(name)
    return names


def _name(value: Any, index: int, where: str) -> str:
    # YAML reads `no`, `on`, `null`, `1.5` as other types: a whole number is a fine class name
    # ("7"), anything else most likely was not meant as one.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _refuse(f"class {index} in {where} is {_short(value)}, not a name (in YAML, put "
                      f"names such as yes, no, on, off or null in quotes)", index=index)
    name = value.strip()
    if not name:
        raise _refuse(f"class {index} in {where} has an empty name", index=index)
    if len(name) > MAX_NAME_CHARS:
        raise _refuse(f"class {index} in {where} has a name of {len(name):,} characters; at "
                      f"most {MAX_NAME_CHARS} are accepted", index=index)
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        raise _refuse(f"class {index} in {where} has a control character in its name "
                      f"{name[:40]!r}", index=index)
    return name


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
