"""Only the service's user can read the data dir (labelwright.data_dir)."""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings
from tests.web.conftest import Site, png_bytes, sqlite_settings


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (022), under which files are created world-readable."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        out[path.relative_to(root).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return out


def test_a_fresh_data_dir_is_private(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "data"
    site = Site(sqlite_settings(data))
    try:
        pid = site.new_project()
        site.upload(pid, ("one.png", png_bytes(40, 30, (9, 8, 7))))
        # A big upload is spooled to a file and streamed into the store (put_file).
        site.services.images.put_file(io.BytesIO(b"\x01" * 3_000_000))
        site.settle()
        modes = _modes(data)
        for name in ("events.sqlite", "events.sqlite-wal", "events.sqlite-shm", "views.sqlite",
                     "views.sqlite-wal", "views.sqlite-shm", "secret_key", "images",
                     "images/tmp"):
            assert name in modes, sorted(modes)
        images = [p for p in modes if p.startswith("images/") and len(p.split("/")) == 4]
        assert len(images) >= 2
    finally:
        site.close()
    wrong = {path: oct(mode) for path, mode in _modes(data).items()
             if mode != (0o700 if (data / path).is_dir() else 0o600)}
    assert wrong == {}


def test_an_existing_data_dir_is_tightened_at_start(tmp_path: Path, loose_umask: None,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    services = bootstrap(settings)
    try:
        services.images.put(png_bytes())
    finally:
        shutdown(services)
    # As a data dir made before the modes were set looks (or after a careless copy).
    for path in [data, *data.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    (data / "notes.txt").write_text("an operator's file")
    os.chmod(data / "notes.txt", 0o664)
    with caplog.at_level(logging.INFO, logger="labelwright.data_dir"):
        services = bootstrap(settings)
    shutdown(services)
    open_to_others = {p: oct(m) for p, m in _modes(data).items() if m & 0o077}
    assert open_to_others == {}
    assert stat.S_IMODE((data / "notes.txt").stat().st_mode) == 0o600
    assert "removed group/other permissions" in caplog.text
    # Once the dir itself is private, later starts only look at its top level.
    deep = next(p for p in (data / "images").rglob("*") if p.is_file())
    os.chmod(deep, 0o644)
    services = bootstrap(settings)
    shutdown(services)
    assert stat.S_IMODE(deep.stat().st_mode) == 0o644  # unreachable for others anyway
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
