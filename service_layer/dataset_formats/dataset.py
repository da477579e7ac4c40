"""What every dataset reader produces: a small neutral structure, and the import's errors.

A reader (one module per format in this package) turns the files of an upload into a
``Dataset``: per image, the names it may go by and its labels, in pixels or normalised
(YOLO, Label Studio percentages are turned into pixels by the reader when the file says the
image's size, else flagged ``normalized`` and scaled once the image is known). Geometries are
the API's JSON (``domain.geometry``), so the import validates them exactly like a command.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.errors import TooLarge, ValidationFailed

MAX_WARNINGS = 20  # warnings listed in an answer (the count says how many there were)
# One JSON/XML/text label file (COCO's train2017 instances are 448 MB).
MAX_DOCUMENT = 512 * 1024 * 1024


@dataclass(slots=True)
class DatasetLabel:
    """One object (or a tag) of an image, as the file said it."""

    kind: str  # box, polygon, mask, point, tag
    label: str  # the class name, as in the file
    geometry: dict[str, Any]
    where: str  # "file:line" (or "file: annotation 12") for errors
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DatasetImage:
    """An image of the dataset, named as in the file."""

    file_name: str  # the name the file uses (its last path component)
    where: str
    width: int | None = None  # the size the file states, if it states one
    height: int | None = None
    labels: list[DatasetLabel] = field(default_factory=list)
    # Coordinates are fractions of the image's size (YOLO): scaled once the size is known.
    normalized: bool = False
    # Match by the name without its extension (YOLO label files are named after the image).
    by_stem: bool = False
    # Further names to try when ``file_name`` finds nothing (Label Studio's upload prefix).
    other_names: tuple[str, ...] = ()


@dataclass(slots=True)
class Dataset:
    """A parsed upload: images with their labels, the classes the file declares, warnings."""

    images: list[DatasetImage] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)  # declared (or seen) class names, in order
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0  # objects left out (each has a warning)

    def warn(self, message: str) -> None:
        self.skipped += 1
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)

    def labels(self) -> Iterator[DatasetLabel]:
        for image in self.images:
            yield from image.labels


class DatasetFiles(Protocol):
    """The files of an upload (``service_layer.dataset_archive``): relative POSIX paths."""

    names: list[str]

    def read(self, name: str) -> bytes: ...

    def size(self, name: str) -> int: ...


def dataset_error(reason: str, message: str, where: str | None = None,
                  **details: Any) -> ValidationFailed:
    """A refusal of the upload (422 ``validation``): ``details.reason`` is the stable,
    machine-readable cause; ``details.file`` and ``details.line`` say where when known."""
    found: dict[str, Any] = {"field": "file", "reason": reason}
    if where is not None:
        file_name, _, line = where.partition(":")
        found["file"] = file_name
        if line.strip().isdigit():
            found["line"] = int(line)
        elif line.strip():
            found["at"] = line.strip()
    found.update(details)
    return ValidationFailed(f"{where}: {message}" if where else message, found)


def too_large(reason: str, message: str, **details: Any) -> TooLarge:
    """A refusal for size (413 ``too_large``): an upload or archive over a limit."""
    return TooLarge(message, {"field": "file", "reason": reason, **details})


def base_name(path: str) -> str:
    """The last component of a path as datasets write it (``/`` or ``\\``)."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def stem(name: str) -> str:
    """A file name without its extension."""
    base = base_name(name)
    return base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base


def label_documents(files: DatasetFiles, suffix: str, what: str) -> list[str]:
    """The upload's files ending in ``suffix`` (any case), or the refusal saying no ``what``
    file is there."""
    names = [n for n in files.names if n.lower().endswith(suffix)]
    if not names:
        raise dataset_error("malformed", f"no {what} file in the upload")
    return names


def document(files: DatasetFiles, name: str, limit: int = MAX_DOCUMENT) -> bytes:
    """The bytes of a label file (JSON, XML, text), refused over ``limit`` before reading:
    parsed, a document takes about ten times its size in memory."""
    size = files.size(name)
    if size > limit:
        raise too_large("document_size", f"{name} is {size:,} bytes; a label file may have at "
                        f"most {limit:,}", file=name, limit=limit)
    return files.read(name)


def text_of(files: DatasetFiles, name: str, limit: int = MAX_DOCUMENT) -> str:
    """A text file of the dataset as UTF-8 (a byte-order mark is dropped)."""
    try:
        return document(files, name, limit).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise dataset_error("malformed", f"not UTF-8 text (byte {e.start})", name) from None


def number(value: object, where: str, what: str) -> float:
    """A finite JSON/XML number, or the reader's refusal naming ``what``."""
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]  # the common case, first
    if isinstance(value, bool):
        raise dataset_error("malformed", f"{what} must be a number, not {value!r}", where)
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise dataset_error("malformed", f"{what} must be a number, not {value!r}",
                            where) from None
    if out != out or out in (float("inf"), float("-inf")):
        raise dataset_error("malformed", f"{what} must be finite", where)
    return out
