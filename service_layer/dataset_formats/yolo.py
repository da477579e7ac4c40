"""YOLO detection and segmentation folders (zipped) → ``Dataset``.

* Class names: ``names`` of a ``data.yaml`` (or any ``.yaml`` with ``names``; a list, or a
  ``{index: name}`` dict), else ``classes.txt`` / ``obj.names`` (one name a line).
* Label files: every other ``.txt`` (``train.txt``-style image lists are skipped), one object
  a line, named after its image (``labels/train/cat1.txt`` ↔ ``images/train/cat1.jpg``).
  Detection (``yolo``): ``class cx cy w h``; segmentation (``yolo_seg``): ``class x1 y1 x2 y2
  ...`` (at least 3 points). Coordinates are fractions of the image's size in [0, 1]; the
  import scales them with the size of the image in the zip, or of the project's image of that
  name when the zip carries no images.
* An image in the zip without a label file is added with no labels (a background image).
"""

from __future__ import annotations

from typing import Any

import yaml

from service_layer.dataset_formats.dataset import (
    Dataset,
    DatasetFiles,
    DatasetImage,
    DatasetLabel,
    base_name,
    dataset_error,
    stem,
    text_of,
)
from service_layer.image_registration import IMAGE_SUFFIXES

CLASS_FILES = ("classes.txt", "obj.names")
IMAGE_LISTS = frozenset({"train.txt", "val.txt", "valid.txt", "test.txt"})
MAX_CLASSES = 10_000
MAX_YAML = 1024 * 1024  # a data.yaml


def read_detection(files: DatasetFiles) -> Dataset:
    return _read(files, segmentation=False)


def read_segmentation(files: DatasetFiles) -> Dataset:
    return _read(files, segmentation=True)


def _read(files: DatasetFiles, *, segmentation: bool) -> Dataset:
    names = _class_names(files)
    dataset = Dataset(classes=list(names))
    images = {stem(n): base_name(n) for n in files.names if _is_image(n)}
    labelled: set[str] = set()
    for name in files.names:
        base = base_name(name).lower()
        if not base.endswith(".txt") or base in CLASS_FILES or base in IMAGE_LISTS:
            continue
        key = stem(name)
        image = DatasetImage(file_name=images.get(key, key), where=name, normalized=True,
                             by_stem=key not in images)
        image.labels = [_line(text, names, f"{name}:{n}", segmentation)
                        for n, text in enumerate(text_of(files, name).splitlines(), 1)
                        if text.strip()]
        if key in labelled:
            raise dataset_error("duplicate_file_name", f"two label files are named "
                                f"{key + '.txt'!r}", name, file_name=key)
        labelled.add(key)
        dataset.images.append(image)
    for key, file_name in images.items():
        if key not in labelled:
            dataset.images.append(DatasetImage(file_name=file_name, where=file_name,
                                               normalized=True))
    return dataset


def _is_image(name: str) -> bool:
    return "." in name and "." + name.rsplit(".", 1)[1].lower() in IMAGE_SUFFIXES


def _class_names(files: DatasetFiles) -> list[str]:
    for name in files.names:
        if name.lower().endswith((".yaml", ".yml")):
            try:
                # Small, and only scalar names below: YAML aliases cannot make it expand.
                raw = yaml.safe_load(text_of(files, name, MAX_YAML))
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None)
                where = f"{name}:{mark.line + 1}" if mark is not None else name
                raise dataset_error("malformed", f"not valid YAML ({e})", where) from None
            if isinstance(raw, dict) and "names" in raw:
                return _names_of(raw["names"], name)
    for name in files.names:
        if base_name(name).lower() in CLASS_FILES:
            return [line.strip() for line in text_of(files, name).splitlines() if line.strip()]
    raise dataset_error("malformed", "no class names: a YOLO dataset needs a data.yaml with "
                        "'names' or a classes.txt")


def _names_of(raw: Any, where: str) -> list[str]:
    values = list(raw.values()) if isinstance(raw, dict) else raw
    if not isinstance(values, list) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in values):
        raise dataset_error("malformed", "names must be a list or a {number: name} dict of "
                            "names", where)
    if isinstance(raw, dict):
        if (not all(isinstance(k, int) and 0 <= k < MAX_CLASSES for k in raw)
                or len(raw) > MAX_CLASSES):
            raise dataset_error("malformed", "names as a dict maps class numbers to names",
                                where)
        out = [""] * (max(raw, default=-1) + 1)
        for k, v in raw.items():
            out[k] = str(v)
        return out
    if len(values) <= MAX_CLASSES:
        return [str(v) for v in values]
    raise dataset_error("malformed", "names must be a list or a {number: name} dict", where)


def _line(text: str, names: list[str], where: str, segmentation: bool) -> DatasetLabel:
    fields = text.split()
    if segmentation:
        if len(fields) < 7 or len(fields) % 2 == 0:
            raise dataset_error("field_count", f"a segmentation line is 'class x1 y1 x2 y2 "
                                f"x3 y3 ...' (an odd count of at least 7 fields), not "
                                f"{len(fields)} fields", where)
    elif len(fields) != 5:
        raise dataset_error("field_count", f"a detection line is 'class cx cy w h' (5 "
                            f"fields), not {len(fields)}", where)
    try:
        index = int(fields[0])
    except ValueError:
        raise dataset_error("malformed", f"the class {fields[0]!r} is not a class number",
                            where) from None
    if not 0 <= index < len(names) or not names[index]:
        raise dataset_error("unknown_class", f"class number {index} is not in the dataset's "
                            f"names (0..{len(names) - 1})", where, label=fields[0])
    values: list[float] = []
    for raw in fields[1:]:
        try:
            value = float(raw)
        except ValueError:
            raise dataset_error("malformed", f"{raw!r} is not a number", where) from None
        if not 0.0 <= value <= 1.0:  # NaN fails this too
            raise dataset_error("out_of_range", f"coordinate {raw} is outside [0, 1] (YOLO "
                                "coordinates are fractions of the image's size)", where)
        values.append(value)
    label = names[index]
    if segmentation:
        points = [[values[i], values[i + 1]] for i in range(0, len(values), 2)]
        return DatasetLabel("polygon", label, {"points": points}, where)
    cx, cy, w, h = values
    return DatasetLabel("box", label, {"x": cx - w / 2, "y": cy - h / 2, "w": w, "h": h},
                        where)
