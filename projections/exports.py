"""Project exports, streamed: ``stream_export`` picks the rows and the format.

Formats are the :data:`EXPORTERS` registry; the export endpoint, the CLI's ``--format``
choices and the OpenAPI ``format`` enum all read it. Today:

* ``coco`` — one COCO JSON document (see :mod:`projections.export_coco` for the exact layout,
  where tags go and how each annotation type maps);
* ``labelwright`` — the lossless JSON document (see :mod:`projections.export_labelwright`).

Adding a format is one module with a :class:`ExportWriter` function plus one ``EXPORTERS``
entry (docs/internal-interfaces.md).

Rows come from the current read model, or — for an export "as of position P" — from replaying
each image of the project to its version at P (:mod:`projections.export_rows`); either way a
writer gets the same ``ExportRows``, so every format can be exported as of a position. The
document is produced one image at a time and handed out in ~64 KB chunks, so memory stays
bounded whatever the size of the project.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from domain.application import Labeling
from domain.errors import ValidationFailed
from projections.export_coco import coco_chunks
from projections.export_labelwright import labelwright_chunks
from projections.export_rows import CurrentRows, ExportRows, ExportSource, RowsAsOf


class ExportWriter(Protocol):
    """Writes the document of ``project`` from ``rows`` (images in export order), in chunks."""

    def __call__(self, project: dict[str, Any], rows: ExportRows,
                 include_proposed: bool) -> Iterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class Exporter:
    """One export format: how to write it and how to serve it."""

    summary: str  # one line, for the CLI help and the OpenAPI document
    media_type: str  # the Content-Type of the document
    extension: str  # of the download's file name, without the dot
    write: ExportWriter
    optional_proposals: bool  # include_proposed adds pending pre-labels (else ignored)


def _lossless(project: dict[str, Any], rows: ExportRows,
              include_proposed: bool) -> Iterator[bytes]:
    return labelwright_chunks(project, rows)  # always has the pre-labels, proposed or not


EXPORTERS: dict[str, Exporter] = {
    "coco": Exporter("COCO JSON (accepted, edited and manual annotations)",
                     "application/json", "json", coco_chunks, optional_proposals=True),
    "labelwright": Exporter("lossless Labelwright JSON (every annotation and field)",
                            "application/json", "json", _lossless, optional_proposals=False),
}
"""Export formats by name (the ``format`` query parameter and ``--format``)."""

DEFAULT_EXPORT_FORMAT = "coco"


def exporter(fmt: str) -> Exporter:
    """The exporter of format ``fmt`` (``ValidationFailed`` if unknown)."""
    found = EXPORTERS.get(fmt)
    if found is None:
        raise ValidationFailed(
            f"unknown export format {fmt!r}",
            {"field": "format", "allowed": sorted(EXPORTERS)},
        )
    return found


def export_media_type(fmt: str) -> str:
    """The ``Content-Type`` of an export in format ``fmt`` (``ValidationFailed`` if unknown)."""
    return exporter(fmt).media_type


def export_file_name(project: dict[str, Any], fmt: str, position: int | None) -> str:
    """A download name for the export, e.g. ``<project id>-coco-at-42.json``."""
    at = "" if position is None else f"-at-{position}"
    return f"{project['id']}-{fmt}{at}.{exporter(fmt).extension}"


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
    ``include_proposed`` adds pending pre-labels where the format makes them optional
    (``Exporter.optional_proposals``; the lossless format always has them).

    Arguments are checked before this returns (``ValidationFailed`` for an unknown format or
    a bad position), so a web handler can answer an error before it starts streaming; the
    rows themselves are only read as the iterator is consumed.
    """
    write = exporter(fmt).write
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
    return write(project, rows, include_proposed)
