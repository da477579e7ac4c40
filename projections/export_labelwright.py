"""The lossless Labelwright export: everything needed to rebuild a project's labels.

One JSON document::

    {"format": "labelwright", "format_version": 1,
     "project": {"id", "name", "classes": [{"name", "color", "retired"}], "annotation_types",
                 "created_by", "created_at"},
     "images": [{"id", "file_name", "width", "height", "sha256", "status", "version",
                 "annotations": [{"id", "type", "label", "geometry", "source", "model"?,
                                  "score"?, "status", "revision", "created_by", "updated_by",
                                  "updated_at"}, ...]}, ...],
     "position": P}

Every annotation is kept, whatever its status (pending pre-labels included), exactly as the
public annotation JSON has it, in creation order; ``version`` is the image's event count at
the export. ``position`` is the global position the labels reflect (exporting as of it gives
the same images); it comes last because a current export only knows it once every image is
written (see :mod:`projections.export_rows`), and it is null for a project without images.
``project`` is the project's definition as it is now (classes are only ever added or retired,
so it names every label of an older position too); members and counts are not labels and are
left out, which keeps an export as of a position byte-for-byte reproducible.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import orjson

from projections.export_chunks import ChunkBuffer
from projections.export_rows import ExportRows

FORMAT_VERSION = 1
PROJECT_FIELDS = ("id", "name", "classes", "annotation_types", "attributes", "created_by",
                  "created_at")
"""The project keys the document keeps (those the project dict has)."""


def labelwright_chunks(project: dict[str, Any], rows: ExportRows
                       ) -> Generator[bytes, None, None]:
    """Stream the lossless document of ``rows`` as ~64 KB chunks (one image at a time)."""
    out = ChunkBuffer()
    dumps = orjson.dumps
    definition = {key: project[key] for key in PROJECT_FIELDS if key in project}
    out.write(b'{"format":"labelwright","format_version":' + dumps(FORMAT_VERSION)
              + b',"project":' + dumps(definition) + b',"images":[')
    first = True
    for image, image_annotations in rows:
        out.write(b"\n" if first else b",\n")
        first = False
        out.write(dumps({**image, "annotations": image_annotations}))
        if out.full:
            yield out.take()
    out.write(b'\n],"position":' + dumps(rows.position) + b"}\n")
    yield out.take()
