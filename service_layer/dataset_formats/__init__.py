"""Readers of labeled dataset formats, one module per format, each turning the files of an
upload into the neutral ``dataset.Dataset``. ``READERS`` is the registry the endpoint, the
CLI's ``--format`` choices and the OpenAPI enum read."""

from __future__ import annotations

from collections.abc import Callable

from domain.errors import ValidationFailed
from service_layer.dataset_formats import coco, cvat, labelstudio, labelwright, voc, yolo
from service_layer.dataset_formats.dataset import Dataset, DatasetFiles

Reader = Callable[[DatasetFiles], Dataset]

READERS: dict[str, Reader] = {
    "coco": coco.read,
    "yolo": yolo.read_detection,
    "yolo_seg": yolo.read_segmentation,
    "voc": voc.read,
    "cvat": cvat.read,
    "labelstudio": labelstudio.read,
    "labelwright": labelwright.read,
}
# Formats that only come as a zip (a folder of label files).
ZIP_ONLY = frozenset({"yolo", "yolo_seg"})


def reader_for(fmt: object) -> Reader:
    """The reader of format ``fmt`` (``ValidationFailed`` naming the formats if unknown)."""
    found = READERS.get(fmt) if isinstance(fmt, str) else None
    if found is None:
        raise ValidationFailed(f"unknown dataset format {fmt!r}; expected one of "
                               f"{', '.join(READERS)}",
                               {"field": "format", "allowed": list(READERS)})
    return found
