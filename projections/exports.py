"""Project exports, streamed: ``stream_export`` picks the rows and the format.

Formats are the :data:`EXPORTERS` registry; the export endpoint, the CLI's ``--format``
choices and the OpenAPI ``format`` enum all read it. One module per format:

* ``coco`` — one COCO JSON document (:mod:`projections.export_coco`);
* ``yolo``, ``yolo_seg`` — YOLO detection / segmentation zips (:mod:`projections.export_yolo`,
  :mod:`projections.export_yolo_seg`);
* ``voc`` — a Pascal VOC zip (:mod:`projections.export_voc`);
* ``cvat`` — CVAT for images 1.1 XML, zipped with the images (:mod:`projections.export_cvat`);
* ``labelstudio`` — Label Studio's JSON task list (:mod:`projections.export_labelstudio`);
* ``labelwright`` — the lossless JSON document (:mod:`projections.export_labelwright`).

Adding a format is one module with an :class:`ExportWriter` function plus one ``EXPORTERS``
entry (docs/internal-interfaces.md).

Rows come from the current read model, or — for an export "as of position P" — from replaying
each image of the project to its version at P (:mod:`projections.export_rows`); either way a
writer gets the same ``ExportRows``, so every format can be exported as of a position. The
document is produced one image at a time and handed out in ~64 KB chunks (zips entry by entry,
:mod:`projections.export_zip`), so memory stays bounded whatever the size of the project, and
the same rows always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from domain.application import Labeling
from domain.errors import ValidationFailed
from projections.export_coco import coco_chunks
from projections.export_cvat import cvat_chunks
from projections.export_files import ImageFiles
from projections.export_labelstudio import labelstudio_chunks
from projections.export_labelwright import labelwright_chunks
from projections.export_options import ExportOptions
from projections.export_rows import CurrentRows, ExportRows, ExportSource, RowsAsOf
from projections.export_splits import DEFAULT_SPLIT, SplitPlan
from projections.export_voc import voc_chunks
from projections.export_yolo import yolo_chunks
from projections.export_yolo_seg import yolo_seg_chunks

ZIP = "application/zip"


class ExportWriter(Protocol):
    """Writes the document of ``project`` from ``rows`` (images in export order), in chunks."""

    def __call__(self, project: dict[str, Any], rows: ExportRows,
                 options: ExportOptions) -> Iterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class Exporter:
    """One export format: how to write it and how to serve it."""

    summary: str  # one line, for the CLI help and the OpenAPI document
    media_type: str  # the Content-Type of the document (without the image files)
    extension: str  # of the download's file name, without the dot
    write: ExportWriter
    optional_proposals: bool  # include_proposed adds pending pre-labels (else ignored)
    with_images: bool = False  # images=true puts the image files in (always a zip then)
    uses_split: bool = False  # the split shows in the export (folders, lists or subsets)

    def served_as(self, images: bool) -> tuple[str, str]:
        """``(media type, file extension)`` of the download."""
        return (ZIP, "zip") if images else (self.media_type, self.extension)


def _coco(project: dict[str, Any], rows: ExportRows, options: ExportOptions
          ) -> Iterator[bytes]:
    return coco_chunks(project, rows, options.include_proposed)


def _lossless(project: dict[str, Any], rows: ExportRows,
              options: ExportOptions) -> Iterator[bytes]:
    return labelwright_chunks(project, rows)  # always has the pre-labels, proposed or not


EXPORTERS: dict[str, Exporter] = {
    "coco": Exporter("COCO JSON (accepted, edited and manual annotations)",
                     "application/json", "json", _coco, optional_proposals=True),
    "yolo": Exporter("YOLO detection zip (labels/<split>/*.txt, data.yaml; boxes, and the "
                     "boxes around polygons and masks)", ZIP, "zip", yolo_chunks,
                     optional_proposals=True, with_images=True, uses_split=True),
    "yolo_seg": Exporter("YOLO segmentation zip (polygons; masks as their outer contours, "
                         "boxes as 4-point polygons)", ZIP, "zip", yolo_seg_chunks,
                         optional_proposals=True, with_images=True, uses_split=True),
    "voc": Exporter("Pascal VOC zip (Annotations/*.xml, ImageSets/Main/<split>.txt)", ZIP,
                    "zip", voc_chunks, optional_proposals=True, with_images=True,
                    uses_split=True),
    "cvat": Exporter("CVAT for images 1.1 XML (a zip with images=true)", "application/xml",
                     "xml", cvat_chunks, optional_proposals=True, with_images=True,
                     uses_split=True),
    "labelstudio": Exporter("Label Studio JSON tasks (percent coordinates; pending "
                            "pre-labels as predictions)", "application/json", "json",
                            labelstudio_chunks, optional_proposals=True),
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
            f"unknown export format {fmt!r}; one of: {', '.join(sorted(EXPORTERS))}",
            {"field": "format", "allowed": sorted(EXPORTERS)},
        )
    return found


def export_media_type(fmt: str, images: bool = False) -> str:
    """The ``Content-Type`` of an export in format ``fmt`` (``ValidationFailed`` if unknown)."""
    return exporter(fmt).served_as(images)[0]


def export_file_name(project: dict[str, Any], fmt: str, position: int | None,
                     images: bool = False) -> str:
    """A download name for the export, e.g. ``<project id>-coco-at-42.json``."""
    at = "" if position is None else f"-at-{position}"
    return f"{project['id']}-{fmt}{at}.{exporter(fmt).served_as(images)[1]}"


def check_images(fmt: str, images: bool) -> None:
    """``ValidationFailed`` when ``images=true`` is asked of a format without image files."""
    if images and not exporter(fmt).with_images:
        allowed = sorted(name for name, e in EXPORTERS.items() if e.with_images)
        raise ValidationFailed(
            f"images=true needs a folder format ({', '.join(allowed)}); {fmt} is one file "
            "of labels", {"field": "images", "allowed": allowed})


def stream_export(
    read: ExportSource,
    app: Labeling,
    project: dict[str, Any],
    fmt: str,
    position: int | None,
    include_proposed: bool = False,
    *,
    images: ImageFiles | None = None,
    split: SplitPlan = DEFAULT_SPLIT,
) -> Iterator[bytes]:
    """The export document of ``project`` in format ``fmt``, as an iterator of byte chunks.

    ``project`` is the dict ``ReadModels.project`` returns. ``position`` None exports the
    current labels (from the read model; the caller makes it catch up first if it must);
    otherwise the labels as they were right after that global position. The caller checks
    that ``position`` is not beyond the head; a negative one is refused here.
    ``include_proposed`` adds pending pre-labels where the format makes them optional
    (``Exporter.optional_proposals``; the lossless format always has them). ``images``, when
    given, is where the image files are read to put them in the zip (formats with
    ``Exporter.with_images`` only); ``split`` assigns images to splits where the format
    shows them (:mod:`projections.export_splits`).

    Arguments are checked before this returns (``ValidationFailed`` for an unknown format or
    a bad position), so a web handler can answer an error before it starts streaming; the
    rows themselves are only read as the iterator is consumed.
    """
    write = exporter(fmt).write
    check_images(fmt, images is not None)
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
    return write(project, rows, ExportOptions(include_proposed, images, split))
