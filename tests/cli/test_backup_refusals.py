"""``labelwright backup`` / ``restore`` refuse what they cannot do safely, and change nothing.

An unfinished backup (no manifest), a damaged one (a file that does not match its checksum,
one missing), a manifest pointing outside the backup, a target that is not empty, a backup of
the other kind of store: each is refused with ``error: ...`` and exit status 2, and leaves
neither the target nor a half-restored staging folder behind.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelwright.backup_manifest import BackupRefused, Manifest
from labelwright.cli import main
from tests.realtime.nodes import Deployment


@pytest.fixture(autouse=True)
def _embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LABELWRIGHT_DATABASE_URL", "LABELWRIGHT_DATA_DIR", "LABELWRIGHT_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished backup of a small store with two image files."""
    root = tmp_path_factory.mktemp("backup")
    deployment = Deployment(data_dir=root / "data")
    deployment.seed(images=1)
    with deployment.services() as s:
        for data in (b"first image bytes", b"second image bytes"):
            s.images.put(data)
    assert main(["backup", "--data-dir", str(root / "data"), "--quiet", str(root / "b")]) == 0
    return root / "b"


def _copy(backup: Path, to: Path) -> Path:
    for path in backup.rglob("*"):
        if path.is_file():
            target = to / path.relative_to(backup)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return to


def _refused(args: list[str], capsys: pytest.CaptureFixture[str], words: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err, err


def _nothing_restored(target: Path) -> None:
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if ".restoring-" in p.name]


def test_a_backup_is_standalone(backup: Path) -> None:
    names = {p.name for p in backup.iterdir()}
    assert {"events.sqlite", "auth.sqlite", "manifest.json", "images"} <= names
    assert not {n for n in names if n.endswith(("-wal", "-shm"))}
    assert "views.sqlite" not in names
    _private(backup)


def _private(folder: Path) -> None:
    """``folder`` and everything in it 0700/0600: only the service's user reads labels."""
    for path in [folder, *folder.rglob("*")]:
        assert os.stat(path).st_mode & 0o077 == 0, path


def test_restore_refuses_a_data_dir_that_is_not_empty(backup: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    target = tmp_path / "data"
    target.mkdir()
    (target / "something").write_text("x")
    _refused(["restore", "--data-dir", str(target), str(backup)], capsys, "not empty")
    assert [p.name for p in target.iterdir()] == ["something"]


def test_restore_into_an_existing_empty_folder(backup: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "data"
    target.mkdir()
    assert main(["restore", "--data-dir", str(target), "--quiet", str(backup)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["head"] == result["position"] > 0
    assert (target / "views.sqlite").is_file()  # rebuilt, not copied
    _private(target)


def test_restore_refuses_an_unfinished_backup(backup: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    half = _copy(backup, tmp_path / "half")
    (half / "manifest.json").unlink()
    _refused(["restore", "--data-dir", str(tmp_path / "data"), str(half)], capsys,
             "never finished")
    _nothing_restored(tmp_path / "data")


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "remove"])
def test_restore_refuses_a_damaged_file(backup: Path, tmp_path: Path, damage: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    broken = _copy(backup, tmp_path / "broken")
    image = next((broken / "images").rglob("*"))
    while image.is_dir():
        image = next(image.iterdir())
    data = image.read_bytes()
    if damage == "flip a byte":
        image.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    elif damage == "truncate":
        image.write_bytes(data[:-1])
    else:
        image.unlink()
    words = "lacks" if damage == "remove" else "checksum"
    _refused(["restore", "--data-dir", str(tmp_path / "data"), str(broken)], capsys, words)
    _nothing_restored(tmp_path / "data")


def test_restore_refuses_a_manifest_pointing_outside_the_backup(
        backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = _copy(backup, tmp_path / "evil")
    manifest = json.loads((evil / "manifest.json").read_text())
    manifest["files"].append({"path": "../../etc/passwd", "size": 1, "sha256": "0" * 64})
    (evil / "manifest.json").write_text(json.dumps(manifest))
    _refused(["restore", "--data-dir", str(tmp_path / "data"), str(evil)], capsys,
             "never holds")
    _nothing_restored(tmp_path / "data")


def test_restore_refuses_a_sqlite_backup_into_postgresql(
        backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Refused before any connection is tried: the URL need not name a real server.
    _refused(["restore", "--data-dir", str(tmp_path / "data"), "--database-url",
              "postgresql://nobody@127.0.0.1:1/none", str(backup)], capsys, "SQLite")
    _nothing_restored(tmp_path / "data")


def test_backup_refuses_a_folder_that_is_not_empty_or_inside_the_data_dir(
        backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["restore", "--data-dir", str(data), "--quiet", str(backup)]) == 0
    capsys.readouterr()
    _refused(["backup", "--data-dir", str(data), str(backup)], capsys, "not empty")
    _refused(["backup", "--data-dir", str(data), str(data / "b")], capsys, "outside")
    assert not (data / "b").exists()
    _refused(["backup", "--data-dir", str(tmp_path / "nothing"), str(tmp_path / "b")], capsys,
             "no data dir")


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=80),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)


def _valid() -> dict[str, Any]:
    return {"format": "labelwright-backup", "version": 1, "store": "sqlite", "position": 3,
            "created_at": "2026-11-30T00:00:00+00:00", "labelwright_version": "0.1.0",
            "files": [{"path": "events.sqlite", "size": 10, "sha256": "a" * 64}]}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(["format", "version", "store", "position", "files", "path",
                            "size", "sha256"]), value=_JSON)
def test_a_malformed_manifest_is_refused_never_crashes(key: str, value: Any) -> None:
    raw = _valid()
    if key in ("path", "size", "sha256"):
        raw["files"][0][key] = value
    else:
        raw[key] = value
    try:
        manifest = Manifest.from_json(raw)
    except BackupRefused:
        return
    # Accepted: then it only names what a backup holds.
    for f in manifest.files:
        assert not f.path.startswith("/") and ".." not in f.path.split("/")


@given(_JSON)
def test_any_json_is_refused_or_a_manifest(raw: Any) -> None:
    with contextlib.suppress(BackupRefused):
        Manifest.from_json(raw)


def test_link_hard_links_the_image_files_and_restores(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    deployment = Deployment(data_dir=tmp_path / "data")
    deployment.seed(images=1)
    with deployment.services() as s:
        sha = s.images.put(b"linked image bytes")
        source = s.images.path(sha)
    assert main(["backup", "--data-dir", str(tmp_path / "data"), "--link", "--quiet",
                 str(tmp_path / "b")]) == 0
    copied = tmp_path / "b" / source.relative_to(tmp_path / "data")
    assert os.path.samefile(source, copied)
    assert main(["restore", "--data-dir", str(tmp_path / "r"), "--quiet",
                 str(tmp_path / "b")]) == 0
    restored = tmp_path / "r" / source.relative_to(tmp_path / "data")
    assert restored.read_bytes() == b"linked image bytes"
    assert not os.path.samefile(copied, restored)  # a restore copies unless --link
    capsys.readouterr()


def test_a_files_only_backup_needs_the_database_restored_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deployment = Deployment(data_dir=tmp_path / "data")
    deployment.seed(images=1)
    assert main(["backup", "--data-dir", str(tmp_path / "data"), "--files-only", "--quiet",
                 str(tmp_path / "b")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["store"] == "files"
    assert not (tmp_path / "b" / "events.sqlite").exists()
    _refused(["restore", "--data-dir", str(tmp_path / "r"), str(tmp_path / "b")], capsys,
             "pg_restore")
    _nothing_restored(tmp_path / "r")
