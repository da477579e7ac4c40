"""Every format: the same position gives the same bytes (also after the log moves on), zips
carry fixed dates and modes, and splits are stable as images are added."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from projections.export_splits import parse_split
from projections.exports import EXPORTERS
from tests.exports.lab import Lab
from tests.exports.scene import scene_fixture  # noqa: F401
from tests.exports.test_streaming import PROJECT, Rows, synthetic_rows

FORMATS = sorted(EXPORTERS)
WITH_IMAGES = sorted(name for name, e in EXPORTERS.items() if e.with_images)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("images", [False, True], ids=["labels", "with-images"])
def test_same_position_same_bytes_after_new_events(lab: Lab, scene: dict[str, Any],
                                                   images: bool) -> None:
    pid = scene["pid"]
    plan = parse_split("train:0.6,val:0.4", 5)
    formats = WITH_IMAGES if images else FORMATS
    position = lab.head()
    before = {fmt: sha(lab.export_bytes(pid, fmt, position, True, images=images, split=plan))
              for fmt in formats}
    # The log moves on: a new image, an edit, a deletion, another project.
    new = lab.add_image_files(pid, ["late.png"])
    lab.create(new[0], "box", "car", {"x": 1, "y": 1, "w": 4, "h": 4})
    lab.create(scene["ids"][2], "box", "dog", {"x": 2, "y": 2, "w": 4, "h": 4})
    lab.create_project(["other"])
    for fmt in formats:
        again = lab.export_bytes(pid, fmt, position, True, images=images, split=plan)
        assert sha(again) == before[fmt], fmt
        assert sha(lab.export_bytes(pid, fmt, None, True, images=images, split=plan)
                   ) != before[fmt], fmt  # the current export did change


@pytest.mark.parametrize("fmt", WITH_IMAGES)
def test_zip_entries_have_fixed_dates_modes_and_no_extra_fields(
        lab: Lab, scene: dict[str, Any], fmt: str) -> None:
    archive = zipfile.ZipFile(io.BytesIO(lab.export_bytes(scene["pid"], fmt, images=True)))
    infos = archive.infolist()
    assert infos
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644
        assert info.create_system == 3 and info.extra == b"" and info.comment == b""
        assert not info.filename.startswith(("/", "..")) and ".." not in info.filename
    assert archive.testzip() is None


def test_an_image_keeps_its_split_as_images_are_added(lab: Lab) -> None:
    pid = lab.create_project(["car"])
    lab.add_images(pid, 60, prefix="old")
    plan = parse_split("train:0.7,val:0.2,test:0.1", 42)

    def splits() -> dict[str, str]:
        archive = zipfile.ZipFile(io.BytesIO(lab.export_bytes(pid, "yolo", split=plan)))
        found = {}
        for name in archive.namelist():
            if name.startswith("labels/"):
                _, split, file = name.split("/")
                found[file] = split
        return found

    first = splits()
    assert set(first.values()) == {"train", "val", "test"}
    lab.add_images(pid, 200, prefix="new")
    later = splits()
    assert {k: later[k] for k in first} == first
    assert len(later) == 260
    other_seed = parse_split("train:0.7,val:0.2,test:0.1", 43)
    assert any(other_seed.of({"id": n, "sha256": f"{n:064x}"}) != plan.of(
        {"id": n, "sha256": f"{n:064x}"}) for n in range(50))


def test_split_fractions_hold_for_many_images() -> None:
    plan = parse_split("train:0.8,val:0.1,test:0.1", 0)
    counts = {"train": 0, "val": 0, "test": 0}
    for n in range(20_000):
        counts[plan.of({"id": str(n), "sha256": hashlib.sha256(str(n).encode()).hexdigest()})
               ] += 1
    assert abs(counts["train"] / 20_000 - 0.8) < 0.015
    assert abs(counts["val"] / 20_000 - 0.1) < 0.01


@pytest.mark.parametrize("raw,reason", [
    ("train", "not name:fraction"), ("Train:1", "split name"), ("train:0.5,train:0.5", "twice"),
    ("train:x", "not a number"), ("train:0", "above 0"), ("train:nan", "above 0"),
    ("train:0.5,val:0.4", "add up to 0.9"), ("../x:1", "split name"),
    (",".join(f"s{n}:0.1" for n in range(10)), "at most 8"),
])
def test_bad_splits_are_validation_errors(raw: str, reason: str) -> None:
    with pytest.raises(ValidationFailed, match=reason) as error:
        parse_split(raw)
    assert error.value.details == {"field": "split"}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_split_text_is_a_plan_or_a_validation_error(raw: str) -> None:
    try:
        plan = parse_split(raw)
    except ValidationFailed:
        return
    assert abs(sum(f for _, f in plan.fractions) - 1) < 1e-6
    assert plan.of({"id": "x", "sha256": "0" * 64}) in plan.names


def test_seed_must_be_a_whole_number_in_range() -> None:
    for seed in (-1, 2**63, True):
        with pytest.raises(ValidationFailed) as error:
            parse_split("train:1", seed)  # type: ignore[arg-type]
        assert error.value.details == {"field": "seed"}


@pytest.mark.parametrize("fmt", ["yolo", "yolo_seg", "voc", "cvat", "labelstudio"])
def test_new_formats_stream_lazily_in_bounded_chunks(fmt: str) -> None:
    from projections.export_chunks import CHUNK_SIZE
    from projections.export_options import ExportOptions

    consumed: list[int] = []
    stream = EXPORTERS[fmt].write(PROJECT, synthetic_rows(20_000, 3, consumed),
                                  ExportOptions())
    first = next(stream)
    if fmt != "cvat":  # CVAT spools its images until <meta> is known
        assert len(consumed) < 10_000  # the first chunk went out long before the last image
    sizes = [len(first)] + [len(c) for c in stream]
    assert max(sizes) < 4 * CHUNK_SIZE
    assert len(consumed) == 20_000


def test_an_abandoned_zip_stream_closes_the_rows() -> None:
    from projections.export_options import ExportOptions

    closed: list[bool] = []

    def rows() -> Any:
        try:
            yield from synthetic_rows(100_000, 2)
        finally:
            closed.append(True)

    stream = EXPORTERS["yolo"].write(PROJECT, Rows(rows()), ExportOptions())
    next(stream)
    stream.close()
    assert closed == [True]
