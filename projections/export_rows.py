"""Where an export's rows come from: the current read model, or the event log as of a position.

An export row is ``(image, annotations)``: the image's public fields (:data:`IMAGE_FIELDS`)
and its annotations as public annotation JSON (every status, pre-labels included; the format
decides what it keeps). Both sources yield rows one image at a time, in the order images were
added to the project, so an export never holds a whole project.

Each source also says which global position its rows reflect (:attr:`ExportRows.position`):
the requested one for an export "as of P"; for a current export, the latest position among the
exported images' last events, known once the rows are exhausted. Exporting as of that position
gives the same images and annotations, which is what makes it worth recording.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol
from uuid import UUID

from domain.application import Labeling
from domain.image import Image
from event_store.stream_events import image_at, image_streams

ExportRow = tuple[dict[str, Any], list[dict[str, Any]]]
"""One image of an export and its annotations."""

IMAGE_FIELDS = ("id", "file_name", "width", "height", "sha256", "status", "version")
"""The image fields every export row carries (``version``: the image's event count)."""


class ExportSource(Protocol):
    """What exports need of the read models (``projections.read_models.ReadModels``)."""

    def current_export_rows(self, project_id: str) -> Iterable[ExportRow]:
        """The project's images (with ``position``: that of the image's last event) and
        their current annotations, in the order the images were added."""
        ...

    def version_at_position(self, project_id: str, position: int
                            ) -> Iterable[tuple[str | UUID, int]]:
        """``(image_id, version)`` of each image that existed at ``position``: its version
        right after the last of its events at or before ``position``, in added order."""
        ...


class ExportRows(Protocol):
    """The rows of one export and the global position they reflect."""

    @property
    def position(self) -> int | None:
        """The position the rows reflect; for a current export only final once the rows are
        exhausted (None for a project without images)."""
        ...

    def __iter__(self) -> Iterator[ExportRow]: ...


def image_fields(image: Image) -> dict[str, Any]:
    """The export row fields of a (replayed) Image aggregate."""
    return {
        "id": str(image.id), "file_name": image.file_name, "width": image.width,
        "height": image.height, "sha256": image.sha256, "status": image.status,
        "version": image.version,
    }


class CurrentRows:
    """The project's rows as the read model has them now (one consistent snapshot)."""

    def __init__(self, read: ExportSource, project_id: str) -> None:
        self._read = read
        self._project_id = project_id
        self.position: int | None = None

    def __iter__(self) -> Iterator[ExportRow]:
        for image, image_annotations in self._read.current_export_rows(self._project_id):
            last = image.get("position")
            if last is not None and (self.position is None or last > self.position):
                self.position = int(last)
            yield {key: image.get(key) for key in IMAGE_FIELDS}, image_annotations


class RowsAsOf:
    """The project's rows as they were right after global position ``position``: each image
    is replayed from the event store to its version at that position."""

    def __init__(self, read: ExportSource, app: Labeling, project_id: str,
                 position: int) -> None:
        self._read = read
        self._app = app
        self._project_id = project_id
        self.position: int | None = position

    def __iter__(self) -> Iterator[ExportRow]:
        assert self.position is not None
        wanted = ((i if isinstance(i, UUID) else UUID(i), version) for i, version
                  in self._read.version_at_position(self._project_id, self.position))
        # Streams read CHUNK images at a time (one query each instead of the repository's
        # two per image: 10,000 images as of a position took ~2.7 s of queries and checks).
        for _, version, events in image_streams(self._app, wanted):
            image = image_at(events, version)
            yield image_fields(image), image.public_annotations()
