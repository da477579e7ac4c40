"""The content-addressed store's clean-up of files a killed process left half-written."""

from __future__ import annotations

import os
import time
from pathlib import Path

from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings
from service_layer.image_store import ImageStore


def _leftover(folder: Path, name: str, age: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"half an upload")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_old_leftovers_are_swept_and_live_uploads_kept(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "models")
    assert store.sweep_incoming() == 0  # no tmp folder yet
    old = _leftover(store.root / "tmp", ".incoming-model-abc", 3 * 24 * 3600)
    live = _leftover(store.root / "tmp", ".incoming-model-def", 60)
    other = _leftover(store.root / "tmp", "notes.txt", 3 * 24 * 3600)
    assert store.sweep_incoming() == 1
    assert not old.exists() and live.exists() and other.exists()


def test_a_starting_server_sweeps_both_stores(tmp_path: Path) -> None:
    data = tmp_path / "data"
    images = _leftover(data / "images" / "tmp", ".incoming-x", 2 * 24 * 3600)
    weights = _leftover(data / "models" / "tmp", ".incoming-model-y", 2 * 24 * 3600)
    services = bootstrap(Settings(data_dir=data), live=False, run_jobs=False)
    try:
        assert not images.exists() and not weights.exists()
    finally:
        shutdown(services)
