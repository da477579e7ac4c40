"""Labelwright's own lossless JSON export (``format: "labelwright"``) → ``Dataset``.

Images by ``file_name`` (their stated ``width``/``height`` checked against the image); every
annotation with its ``type``, ``label``, ``geometry`` and ``attributes``. Pending pre-labels
(status ``proposed``) are a model's guesses, not labels: they are skipped with a warning. The
rest are imported as human labels (source ``import``): who made them and their history stay
in the project they came from.
"""

from __future__ import annotations

from typing import Any

from service_layer.dataset_formats.coco import load_json
from service_layer.dataset_formats.dataset import (
    Dataset,
    DatasetFiles,
    DatasetImage,
    DatasetLabel,
    base_name,
    dataset_error,
    label_documents,
    number,
)


def read(files: DatasetFiles) -> Dataset:
    documents = label_documents(files, ".json", "Labelwright JSON")
    dataset = Dataset()
    for name in documents:
        _read_document(name, load_json(files, name), dataset)
    return dataset


def _read_document(name: str, raw: Any, dataset: Dataset) -> None:
    if (not isinstance(raw, dict) or raw.get("format") != "labelwright"
            or not isinstance(raw.get("images"), list)):
        raise dataset_error("malformed", 'a Labelwright export is {"format": "labelwright", '
                            '"images": [...]}', name)
    project = raw.get("project")
    for cls in (project.get("classes") or []) if isinstance(project, dict) else []:
        if isinstance(cls, dict) and isinstance(cls.get("name"), str) and not cls.get(
                "retired") and cls["name"] not in dataset.classes:
            dataset.classes.append(cls["name"])
    for i, img in enumerate(raw["images"]):
        where = f"{name}: images[{i}]"
        if not isinstance(img, dict) or not isinstance(img.get("file_name"), str):
            raise dataset_error("malformed", "an image needs a file_name", where)
        width, height = img.get("width"), img.get("height")
        image = DatasetImage(
            file_name=base_name(img["file_name"]), where=where,
            width=int(number(width, where, "width")) if width is not None else None,
            height=int(number(height, where, "height")) if height is not None else None)
        annotations = img.get("annotations") or []
        if not isinstance(annotations, list):
            raise dataset_error("malformed", "annotations must be a list", where)
        for j, ann in enumerate(annotations):
            at = f"{where}.annotations[{j}]"
            if (not isinstance(ann, dict) or not isinstance(ann.get("type"), str)
                    or not isinstance(ann.get("label"), str)
                    or not isinstance(ann.get("geometry"), dict)):
                raise dataset_error("malformed", "an annotation needs type, label and "
                                    "geometry", at)
            if ann.get("status") == "proposed":
                dataset.warn(f"{at}: skipped a pending pre-label of {ann['label']!r}")
                continue
            attributes = ann.get("attributes")
            image.labels.append(DatasetLabel(ann["type"], ann["label"], ann["geometry"], at,
                                             attributes if isinstance(attributes, dict)
                                             else {}))
        dataset.images.append(image)
