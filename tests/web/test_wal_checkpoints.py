"""The SQLite write-ahead logs shrink back once the service is idle (projections.database).

Without checkpoints on idle, the read-model WAL of the embedded store stayed at 40 MB after a
2,000-image import (SQLite keeps a WAL file at its largest size until it is truncated).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import projections.database
from tests.web.conftest import Site, sqlite_settings

SMALL = 64 * 1024


def test_after_an_import_and_a_pause_the_wal_files_are_small(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projections.database, "CHECKPOINT_INTERVAL", 0.3)
    site = Site(sqlite_settings(tmp_path / "data"))
    try:
        pid = site.new_project()
        app = site.services.app
        for batch in range(4):  # an import: 400 images registered in batches
            app.add_images(pid, [{"file_name": f"{batch}-{i}.png", "width": 64, "height": 48,
                                  "sha256": f"{batch:04x}{i:060x}",
                                  "content_type": "image/png"} for i in range(100)], "admin")
        site.settle()
        data = tmp_path / "data"
        wals = [data / "events.sqlite-wal", data / "views.sqlite-wal"]
        deadline = time.monotonic() + 10
        while (any(w.stat().st_size > SMALL for w in wals)
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert {w.name: w.stat().st_size for w in wals if w.stat().st_size > SMALL} == {}
        # The service works on as before.
        listed = site.ok(site.get(f"/projects/{pid}/images", params={"limit": 500}))
        assert len(listed["images"]) == 400
    finally:
        site.close()
