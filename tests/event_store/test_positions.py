"""``log_head``: where the log ends, the one position every reader compares against."""

from __future__ import annotations

from pathlib import Path

from domain.application import Labeling
from event_store.positions import log_head
from tests.projections.workload import event_store_env


def test_the_head_is_zero_for_an_empty_log_then_the_last_event_written(tmp_path: Path) -> None:
    app = Labeling(env=event_store_env(str(tmp_path / "events.sqlite")))
    try:
        assert log_head(app) == 0
        _, first = app.create_project("p", [{"name": "cat"}], ["box"], "mgr")
        assert log_head(app) == first
        _, second = app.create_project("q", [{"name": "dog"}], ["box"], "mgr")
        assert log_head(app) == second > first
    finally:
        app.close()
