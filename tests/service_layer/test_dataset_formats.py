"""The dataset readers and the archive checks, without a server: limits, escapes, and
property tests (hypothesis) that any input is either read or refused with a
``ValidationFailed``/``TooLarge`` carrying a stable ``details.reason`` — never another
exception."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import TooLarge, ValidationFailed
from service_layer.dataset_archive import ArchiveFiles, ArchiveLimits, FolderFiles, SingleFile
from service_layer.dataset_formats import READERS
from service_layer.dataset_formats.dataset import Dataset
from service_layer.image_store import ImageStore
from tests.web.dataset_files import CVAT_XML, VOC_XML, coco_document, labelstudio_tasks, zipped

REASONS = {"malformed", "field_count", "out_of_range", "unknown_class", "duplicate_file_name",
           "unsafe_path", "archive_entries", "archive_size", "archive_ratio"}


def _zip_files(files: dict[str, bytes | str], limits: ArchiveLimits | None = None
               ) -> ArchiveFiles:
    return ArchiveFiles(io.BytesIO(zipped(files)), limits or ArchiveLimits())


def test_archive_limits() -> None:
    with pytest.raises(TooLarge) as entries:
        _zip_files({f"l/{i}.txt": "" for i in range(11)}, ArchiveLimits(max_entries=10))
    assert entries.value.details["reason"] == "archive_entries"
    with pytest.raises(TooLarge) as total:
        _zip_files({"a.txt": "x" * 600, "b.txt": "y" * 600}, ArchiveLimits(max_total=1000))
    assert total.value.details["reason"] == "archive_size"
    with pytest.raises(TooLarge) as ratio:
        _zip_files({"a.txt": "0" * 20_000}, ArchiveLimits(max_ratio=10, ratio_floor=1000))
    assert ratio.value.details["reason"] == "archive_ratio"
    assert ratio.value.details["entry"] == "a.txt"
    fine = _zip_files({"a/./b.txt": "x", "__MACOSX/._b.txt": "junk", "dir/": ""})
    assert fine.names == ["a/b.txt"] and fine.read("a/b.txt") == b"x"


@pytest.mark.parametrize("name", ["../up.txt", "a/../../up.txt", "/abs.txt", "C:/x.txt",
                                  "a\\..\\up.txt"])
def test_escaping_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _zip_files({name: "x"})
    assert refused.value.details["reason"] == "unsafe_path"


def test_a_folder_with_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "classes.txt").write_text("cat\n")
    os.symlink("/etc/passwd", tmp_path / "a.txt")
    with pytest.raises(ValidationFailed) as refused:
        FolderFiles(tmp_path)
    assert refused.value.details["reason"] == "unsafe_path"


def test_not_a_zip_is_malformed() -> None:
    with pytest.raises(ValidationFailed) as refused:
        ArchiveFiles(io.BytesIO(b"PK\x03\x04 but not really a zip"))
    assert refused.value.details["reason"] == "malformed"


def _read(fmt: str, files: SingleFile | ArchiveFiles) -> Dataset | None:
    """Read, or check the refusal's shape; None when refused."""
    try:
        return READERS[fmt](files)
    except (ValidationFailed, TooLarge) as e:
        assert e.details["reason"] in REASONS, e.details
        assert e.message
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.lists(st.one_of(
    st.integers(-2, 4).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["0.5", "1", "0", "x", "1e-3", "-0.0", ""])), max_size=9), max_size=5),
    seg=st.booleans())
def test_yolo_lines_are_read_or_refused_naming_the_line(lines: list[list[str]],
                                                        seg: bool) -> None:
    text = "\n".join(" ".join(fields) for fields in lines)
    files = _zip_files({"classes.txt": "cat\ndog\n", "labels/a.txt": text})
    fmt = "yolo_seg" if seg else "yolo"
    try:
        dataset = READERS[fmt](files)
    except ValidationFailed as e:
        assert e.details["reason"] in REASONS
        assert e.details["file"] == "labels/a.txt" and e.details["line"] >= 1
        return
    for label in dataset.labels():
        assert label.label in ("cat", "dog")
        assert label.kind == ("polygon" if seg else "box")
        values = ([c for p in label.geometry["points"] for c in p] if seg else
                  [label.geometry["x"] + label.geometry["w"] / 2,
                   label.geometry["y"] + label.geometry["h"] / 2])
        assert all(0.0 <= v <= 1.0 for v in values)


VALID = {
    "coco": ("c.json", orjson.dumps(coco_document(["a.png", "b.png", "c.png"]))),
    "cvat": ("annotations.xml", CVAT_XML.encode()),
    "voc": ("v.xml", VOC_XML.format(name="v.png").encode()),
    "labelstudio": ("ls.json", orjson.dumps(labelstudio_tasks("a.png"))),
}


@settings(max_examples=120, deadline=None)
@given(fmt=st.sampled_from(sorted(VALID)), cut=st.integers(0, 10_000),
       junk=st.binary(max_size=40), at=st.integers(0, 10_000))
def test_damaged_documents_are_read_or_refused(fmt: str, cut: int, junk: bytes,
                                               at: int) -> None:
    name, data = VALID[fmt]
    cut %= len(data) + 1
    at %= cut + 1
    damaged = data[:at] + junk + data[at:cut]
    _read(fmt, SingleFile(name, damaged))


@settings(max_examples=60, deadline=None)
@given(doc=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(
    max_size=8), lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["images", "annotations", "categories", "id", "image_id", "file_name",
                     "category_id", "bbox", "segmentation", "name", "data", "image",
                     "result", "value", "type", "keypoints", "counts", "size"]), inner,
    max_size=5), max_leaves=30), fmt=st.sampled_from(["coco", "labelstudio"]))
def test_any_json_is_read_or_refused(doc: object, fmt: str) -> None:
    _read(fmt, SingleFile("d.json", json.dumps(doc).encode()))


def test_valid_documents_read() -> None:
    for fmt, (name, data) in VALID.items():
        dataset = _read(fmt, SingleFile(name, data))
        assert dataset is not None and list(dataset.labels()), fmt


def test_put_many_stores_each_file_once_and_checks_the_hash(tmp_path: Path) -> None:
    import hashlib

    store = ImageStore(tmp_path / "images")
    blobs = [bytes([i]) * 100 for i in range(5)]
    shas = [hashlib.sha256(b).hexdigest() for b in blobs]
    store.put_many(((s, lambda b=b: b) for s, b in zip(shas, blobs, strict=True)), batch=2)
    assert all(store.path(s).read_bytes() == b for s, b in zip(shas, blobs, strict=True))
    with pytest.raises(ValueError):
        store.put_many([("0" * 64, lambda: b"other bytes")])
    assert not store.exists("0" * 64)
    assert not list((tmp_path / "images").rglob(".incoming-*"))


def test_a_zip_entry_larger_than_its_header_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("a.json", b"{}" * 100)
    raw = bytearray(buffer.getvalue())
    # Shrink the central directory's uncompressed size: the reader must stop there.
    at = raw.rindex(b"PK\x01\x02")
    raw[at + 24:at + 28] = (10).to_bytes(4, "little")
    files = ArchiveFiles(io.BytesIO(bytes(raw)))
    with pytest.raises((TooLarge, ValidationFailed)):
        files.read("a.json")


def test_yaml_aliases_and_large_documents_are_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)) + "names: [*i]\n"
    with pytest.raises(ValidationFailed) as refused:
        READERS["yolo"](_zip_files({"data.yaml": bomb, "l/a.txt": ""}))
    assert refused.value.details["reason"] == "malformed"
    from service_layer.dataset_formats.dataset import document

    with pytest.raises(TooLarge) as large:
        document(SingleFile("big.json", b"[" + b"0," * 100 + b"0]"), "big.json", limit=100)
    assert large.value.details["reason"] == "document_size"


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_cvat_mask_box_becomes_the_images_rle(data: st.DataObject) -> None:
    """The region-only conversion equals encoding the whole image's mask."""
    import numpy as np

    from domain import rle
    from service_layer.dataset_formats.cvat import _image_runs

    height, width = data.draw(st.integers(1, 24)), data.draw(st.integers(1, 24))
    h, w = data.draw(st.integers(1, height)), data.draw(st.integers(1, width))
    top, left = data.draw(st.integers(0, height - h)), data.draw(st.integers(0, width - w))
    cells = data.draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))
    region = np.array(cells, dtype=np.int8).reshape(h, w)
    full = np.zeros((height, width), dtype=np.uint8)
    full[top:top + h, left:left + w] = region
    assert rle.counts_from_runs(_image_runs(region, left, top, height, width)) == rle.encode(
        full)["counts"]
