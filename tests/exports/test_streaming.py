"""Exports stream: bounded chunks, rows read lazily, annotations spooled past memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from projections import export_coco
from projections.export_chunks import CHUNK_SIZE
from projections.export_coco import coco_chunks
from projections.export_labelwright import labelwright_chunks
from projections.export_rows import ExportRow

PROJECT = {"id": "p", "name": "synthetic", "annotation_types": ["box"],
           "classes": [{"name": "car", "color": "#000000", "retired": False}]}


class Rows:
    """Rows made up on the fly, as of a given position."""

    def __init__(self, rows: Iterator[ExportRow], position: int | None = None) -> None:
        self.rows = rows
        self.position = position

    def __iter__(self) -> Iterator[ExportRow]:
        return self.rows


def synthetic_rows(images: int, boxes: int, consumed: list[int] | None = None) -> Rows:
    return Rows(_synthetic(images, boxes, consumed), 7)


def _synthetic(images: int, boxes: int, consumed: list[int] | None) -> Iterator[ExportRow]:
    for n in range(images):
        if consumed is not None:
            consumed.append(n)
        image = {"id": f"image-{n}", "file_name": f"{n}.jpg", "width": 100, "height": 100,
                 "sha256": "0" * 64, "status": "new"}
        annotations: list[dict[str, Any]] = [
            {"id": f"a-{n}-{k}", "type": "box", "label": "car", "status": "manual",
             "source": "manual", "revision": 1,
             "geometry": {"x": float(k), "y": 1.0, "w": 2.0, "h": 3.0}}
            for k in range(boxes)]
        yield image, annotations


@pytest.mark.parametrize("chunks", [
    lambda rows: coco_chunks(PROJECT, rows, False),
    lambda rows: labelwright_chunks(PROJECT, rows),
])
def test_chunks_are_bounded_and_rows_read_lazily(chunks: Any) -> None:
    consumed: list[int] = []
    stream = chunks(synthetic_rows(5000, 3, consumed))
    first = next(stream)
    assert CHUNK_SIZE <= len(first) < 2 * CHUNK_SIZE
    assert len(consumed) < 1000  # the first chunk went out long before the last image
    rest = list(stream)
    assert all(len(c) < 2 * CHUNK_SIZE for c in rest)
    doc = orjson.loads(first + b"".join(rest))
    assert len(doc["images"]) == 5000


def test_annotations_spooled_to_disk_give_the_same_document(
        monkeypatch: pytest.MonkeyPatch) -> None:
    in_memory = b"".join(coco_chunks(PROJECT, synthetic_rows(3000, 4), False))
    monkeypatch.setattr(export_coco, "SPOOL_IN_MEMORY", 1024)
    on_disk = b"".join(coco_chunks(PROJECT, synthetic_rows(3000, 4), False))
    assert on_disk == in_memory
    doc = orjson.loads(on_disk)
    assert doc["info"]["labelwright"]["position"] == 7
    assert [a["id"] for a in doc["annotations"]] == list(range(1, 12001))
    assert doc["annotations"][-1]["image_id"] == 3000


def test_abandoned_stream_closes_the_rows() -> None:
    closed: list[bool] = []

    def rows() -> Iterator[ExportRow]:
        try:
            yield from synthetic_rows(100_000, 2)
        finally:
            closed.append(True)

    stream = coco_chunks(PROJECT, Rows(rows()), False)
    next(stream)
    stream.close()  # a client that went away
    assert closed == [True]
