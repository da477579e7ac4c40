"""Crashes mid-batch neither skip nor double-count: restart equals a rebuild."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from event_store.log_reader import LoggedEvent
from projections.database import Cursor
from projections.image_labels import ImageLabels
from projections.projection import Projection
from projections.runner import ProjectionFailed, all_projections
from tests.projections.conftest import Backends, Stack, dump

ROOT = Path(__file__).resolve().parents[2]
ALL_TABLES = tuple(t for p in all_projections() for t in p.tables)


class FlakyImageLabels(ImageLabels):
    """ImageLabels that raises after writing its rows when a batch holds ``fail_at``."""

    fail_at: int | None = None

    def apply(self, cur: Cursor, events: Sequence[LoggedEvent]) -> None:
        super().apply(cur, events)
        if self.fail_at is not None and any(le.position == self.fail_at for le in events):
            raise RuntimeError(f"injected failure at {self.fail_at}")


def flaky_stack(backends: Backends, **options: object) -> tuple[Stack, FlakyImageLabels]:
    flaky = FlakyImageLabels()
    projections: list[Projection] = [flaky, *all_projections()[1:]]
    return backends.stack(projections=projections, **options), flaky


def a_log(stack: Stack) -> int:
    work = stack.workload(seed=13)
    work.setup()
    work.add_images(16)
    work.rounds(12)
    return stack.head()


def middle_image_event(stack: Stack) -> tuple[int, str, int]:
    """(position, image id, version) of an image event half-way through the log."""
    rows = stack.db.query("SELECT position, image_id, version FROM history WHERE version > 1 "
                          "ORDER BY position")
    position, image_id, version = rows[len(rows) // 2]
    return int(position), str(image_id), int(version)


def test_failure_rolls_back_and_restart_equals_rebuild(backends: Backends) -> None:
    stack, flaky = flaky_stack(backends)
    head = a_log(stack)
    stack.runner.rebuild()
    rebuilt = dump(stack.db, ALL_TABLES)
    bad, image_id, version = middle_image_event(stack)
    flaky.fail_at = bad
    with pytest.raises(ProjectionFailed, match=f"position {bad}"):
        stack.runner.rebuild()
    positions = stack.runner.positions()
    # The failing projection stopped right before the bad event; the others went on.
    assert positions.pop("image_labels") < bad
    assert set(positions.values()) == {head}
    image = stack.read.image(image_id)
    assert image is not None and image["version"] == version - 1
    stored = dict(stack.db.query("SELECT name, position FROM projection_tracking"))
    assert stored["image_labels"] < bad
    # A restart (new runner, fixed projection) catches up to exactly the rebuilt tables.
    again = backends.stack()
    assert again.runner.catch_up() == head
    assert dump(again.db, ALL_TABLES) == rebuilt


def test_background_runner_retries_and_others_go_on(backends: Backends) -> None:
    stack, flaky = flaky_stack(backends, poll_interval=0.02)
    head = a_log(stack)
    bad = head - 5
    flaky.fail_at = bad
    stack.runner.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = stack.runner.status()
        lags = {p["name"]: p["lag"] for p in status["projections"]}
        if lags["image_labels"] == head - (bad - 1) and not any(
                v for k, v in lags.items() if k != "image_labels"):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"runner did not settle: {stack.runner.status()}")
    assert not stack.read.wait_for(head, timeout=0.2)
    flaky.fail_at = None  # the cause goes away: the next retry succeeds
    assert stack.read.wait_for(head, timeout=20)
    stack.runner.stop()
    live = dump(stack.db, ALL_TABLES)
    stack.runner.rebuild()
    assert dump(stack.db, ALL_TABLES) == live


CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.projections.conftest import Backends
    from pathlib import Path
    b = Backends("sqlite", Path({tmp!r}))
    s = b.stack(batch_size=100)
    print("start", flush=True)
    s.runner.rebuild()
    print("done", flush=True)
""")


@pytest.mark.slow
def test_sigkill_while_projecting_then_restart_equals_rebuild(
        sqlite_backends: Backends, tmp_path: Path) -> None:
    stack = sqlite_backends.stack()
    work = stack.workload(seed=21)
    work.setup()
    work.add_images(120)
    work.rounds(40)
    head = stack.head()
    stack.runner.rebuild()
    rebuilt = dump(stack.db, ALL_TABLES)
    for attempt in range(3):  # kill at different points of the replay
        child = subprocess.Popen([sys.executable, "-c", CHILD.format(
            root=str(ROOT), tmp=str(tmp_path))], stdout=subprocess.PIPE, cwd=ROOT)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"start"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            positions = [p for (p,) in stack.db.query(
                "SELECT position FROM projection_tracking")]
            # First while every projection is half-way, then while some have not started.
            wanted = min(positions) if attempt == 0 else max(positions)
            if 0 < wanted < head:
                break
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        positions = [p for (p,) in stack.db.query("SELECT position FROM projection_tracking")]
        assert min(positions) < head, "killed too late to test anything"
        restarted = sqlite_backends.stack()
        assert restarted.runner.catch_up() == head
        assert dump(restarted.db, ALL_TABLES) == rebuilt


def test_an_undecodable_event_stops_every_projection_just_before_it(
        sqlite_backends: Backends) -> None:
    import sqlite3

    stack = sqlite_backends.stack()
    work = stack.workload()
    work.setup(projects=1)
    work.add_images(2)
    good = stack.head()
    table = stack.app.recorder.events_table_name  # type: ignore[attr-defined]
    with sqlite3.connect(sqlite_backends.tmp / "events.sqlite") as conn:
        conn.execute(f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
                     "VALUES (?, 1, 'nowhere:Gone', x'7b7d')", (uuid.uuid4().hex,))
    work.round()  # more events after the bad one
    with pytest.raises(ProjectionFailed, match=f"position {good + 1}"):
        stack.runner.catch_up()
    assert set(stack.runner.positions().values()) == {good}
