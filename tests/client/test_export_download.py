"""Unpacking an export zip on the client's disk: nothing lands outside the folder, whatever the
archive names; links, absolute paths and bombs are refused."""

from __future__ import annotations

import contextlib
import hashlib
import stat
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelwright.export_download import UnsafeArchive, save_stream, unpack_zip


def make_zip(path: Path, members: list[tuple[str, bytes]], link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_a_yolo_like_zip_unpacks_in_order(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("data.yaml", b"names: [a]\n"),
                                            ("labels/train/x.txt", b"0 0.5 0.5 0.1 0.1\n"),
                                            ("images/train/", b"")])
    written = unpack_zip(archive, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == [
        "data.yaml", "labels/train/x.txt"]
    assert (tmp_path / "out" / "labels/train/x.txt").read_bytes() == b"0 0.5 0.5 0.1 0.1\n"


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt",
                                  "C:/evil.txt", "a\\..\\..\\evil.txt", "a//b.txt"])
def test_paths_outside_the_folder_are_refused_before_anything_is_written(
        tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "a.zip", [("fine.txt", b"x"), (name, b"evil")])
    with pytest.raises(UnsafeArchive):
        unpack_zip(archive, tmp_path / "out")
    assert files_under(tmp_path / "out") == set()
    assert not (tmp_path / "evil.txt").exists()


def test_links_are_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("fine.txt", b"x")], link="passwd")
    with pytest.raises(UnsafeArchive, match="link"):
        unpack_zip(archive, tmp_path / "out")
    assert files_under(tmp_path / "out") == set()


def test_a_folder_link_already_in_the_destination_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "labels").symlink_to(tmp_path / "elsewhere")
    archive = make_zip(tmp_path / "a.zip", [("labels/x.txt", b"x")])
    with pytest.raises(UnsafeArchive, match="outside"):
        unpack_zip(archive, tmp_path / "out")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("big.bin", b"\0" * 5_000_000)])
    assert archive.stat().st_size < 100_000
    with pytest.raises(UnsafeArchive, match="more than"):
        unpack_zip(archive, tmp_path / "out", max_bytes=1_000_000)


def test_save_stream_hashes_and_leaves_no_part_file(tmp_path: Path) -> None:
    chunks = [b"abc", b"", b"def" * 1000]
    sha = save_stream(iter(chunks), tmp_path / "d" / "out.json")
    assert sha == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert files_under(tmp_path) == {"d/out.json"}

    def broken() -> object:
        yield b"half"
        raise ConnectionError("cut")

    with pytest.raises(ConnectionError):
        save_stream(broken(), tmp_path / "d" / "cut.json")  # type: ignore[arg-type]
    assert files_under(tmp_path) == {"d/out.json"}


_segment = st.one_of(st.sampled_from(["..", ".", "", "a", "b", "~", "C:", "\\..", " "]),
                     st.text(alphabet="ab./\\:", min_size=1, max_size=4))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.lists(_segment, min_size=1, max_size=4).map("/".join),
                      min_size=1, max_size=4),
       leading_slash=st.booleans())
def test_whatever_the_names_nothing_lands_outside(tmp_path_factory: pytest.TempPathFactory,
                                                 names: list[str],
                                                 leading_slash: bool) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    box = root / "box"
    out = box / "out"
    members = [(("/" if leading_slash else "") + n, b"x") for n in names]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
            archive = make_zip(root / "a.zip", members)
    except (ValueError, OSError, IndexError):
        return  # zipfile itself will not write such a name (one that normalises to "")
    # a file and a folder of one name clash (OSError): a refusal too, just a plainer one
    with contextlib.suppress(UnsafeArchive, OSError):
        unpack_zip(archive, out)
    outside = {p for p in root.rglob("*") if p.is_file()} - {archive}
    assert all(p.resolve().is_relative_to(out.resolve()) for p in outside), outside
