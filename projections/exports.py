"""Project exports, streamed: ``stream_export`` picks the rows and the format.

Formats (:data:`EXPORT_FORMATS`):

* ``coco`` — one COCO JSON document (see :mod:`projections.export_coco` for the exact layout,
  where tags go and how each annotation type maps);
* ``labelwright`` — the lossless JSON document (see :mod:`projections.export_labelwright`).

Rows come from the current read model, or — for an export "as of position P" — from replaying
each image of the project to its version at P (:mod:`projections.export_rows`). Either way the
document is produced one image at a time and handed out in ~64 KB chunks, so memory stays
bounded whatever the size of the project.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from domain.application import Labeling
from domain.errors import ValidationFailed
from projections.export_coco import coco_chunks
from projections.export_labelwright import labelwright_chunks
from projections.export_rows import CurrentRows, ExportRows, ExportSource, RowsAsOf

EXPORT_FORMATS = {"coco": "application/json", "labelwright": "application/json"}
"""Supported export formats and the media type of their document."""


def export_media_type(fmt: str) -> str:
    """The ``Content-Type`` of an export in format ``fmt`` (``ValidationFailed`` if unknown)."""
    _check_format(fmt)
    return EXPORT_FORMATS[fmt]


def export_file_name(project: dict[str, Any], fmt: str, position: int | None) -> str:
    """A download name for the export, e.g. ``<project id>-coco-at-42.json``."""
    _check_format(fmt)
    at = "" if position is None else f"-at-{position}"
    return f"{project['id']}-{fmt}{at}.json"


def _check_format(fmt: str) -> None:
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(
            f"unknown export format {fmt!r}",
            {"field": "format", "allowed": sorted(EXPORT_FORMATS)},
        )


def stream_export(
    read: ExportSource,
    app: Labeling,
    project: dict[str, Any],
    fmt: str,
    position: int | None,
    include_proposed: bool = False,
) -> Iterator[bytes]:
    """The export document of ``project`` in format ``fmt``, as an iterator of byte chunks.

    ``project`` is the dict ``ReadModels.project`` returns. ``position`` None exports the
    current labels (from the read model; the caller makes it catch up first if it must);
    otherwise the labels as they were right after that global position. The caller checks
    that ``position`` is not beyond the head; a negative one is refused here.
    ``include_proposed`` adds pending pre-labels to a COCO export (the lossless format always
    has them).

    Arguments are checked before this returns (``ValidationFailed`` for an unknown format or
    a bad position), so a web handler can answer an error before it starts streaming; the
    rows themselves are only read as the iterator is consumed.
    """
    _check_format(fmt)
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)
                                 or position < 0):
        raise ValidationFailed("position must be a non-negative integer",
                               {"field": "position"})
    project_id = str(project["id"])
    rows: ExportRows
    if position is None:
        rows = CurrentRows(read, project_id)
    else:
        rows = RowsAsOf(read, app, project_id, position)
    if fmt == "coco":
        return coco_chunks(project, rows, include_proposed)
    return labelwright_chunks(project, rows)
