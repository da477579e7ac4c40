"""The runner: catch-up on start, read-your-writes, status, several runners on one database."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from domain.command_pipeline import Actor
from domain.commands import parse_command
from event_store.bulk_yield import MAX_WAIT
from projections.runner import all_projections
from tests.projections.conftest import Backends, Stack, dump

ALL_TABLES = tuple(t for p in all_projections() for t in p.tables)


def test_catch_up_on_start(backends: Backends) -> None:
    """Events written while no runner ran are projected when one starts."""
    writer = backends.stack()
    work = writer.workload()
    work.setup()
    work.add_images(6)
    work.rounds(5)
    head = writer.head()
    reader = backends.stack(poll_interval=0.02)
    assert reader.runner.position == 0
    reader.runner.start()
    assert reader.read.wait_for(head, timeout=20)
    assert reader.runner.position == head
    assert reader.read.image(str(work.images[0].image_id)) is not None


def test_commits_of_another_process_are_polled(backends: Backends) -> None:
    """Another process's commits do not wake this runner; polling finds them."""
    reader = backends.stack(poll_interval=0.02)
    reader.runner.start()
    other = backends.stack()  # its own Labeling: its commits never call reader.runner.wake
    work = other.workload()
    work.setup(projects=1)
    work.add_images(2)
    work.round()
    assert reader.read.wait_for(other.head(), timeout=10)


def test_wait_for_and_status(stack: Stack) -> None:
    assert stack.read.wait_for(None)
    work = stack.workload()
    work.setup(projects=1)
    work.add_images(3)
    head = stack.head()
    assert not stack.read.wait_for(head, timeout=0.05)  # nothing runs the projections yet
    status = stack.read.status()
    assert status["head"] == head
    assert [p["name"] for p in status["projections"]] == [p.name for p in all_projections()]
    assert all(p["position"] == 0 and p["lag"] == head for p in status["projections"])
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(stack.read.wait_for(head, 10)))
    waiter.start()
    time.sleep(0.05)
    stack.runner.start()
    waiter.join()
    assert result == [True]
    assert all(p["lag"] == 0 for p in stack.read.status()["projections"])


def test_read_your_writes(stack: Stack) -> None:
    stack.runner.start()
    work = stack.workload()
    work.setup(projects=1)
    work.add_images(1)
    iid = work.images[0].image_id
    for i in range(20):
        result = stack.pipeline.execute(iid, [parse_command({"type": "create", "annotation": {
            "type": "point", "label": "cat", "geometry": {"x": i, "y": i}}})], Actor("ann"))
        assert stack.read.wait_for(result.position, timeout=10)
        view = stack.read.image_annotations(str(iid))
        assert view is not None and view["version"] == result.version
        assert len(view["annotations"]) == i + 1


def test_two_runners_on_one_view_database_never_double_count(backends: Backends) -> None:
    """Scale-out: every node runs a runner against the shared read models."""
    nodes = [backends.stack(poll_interval=0.005, batch_size=3) for _ in range(3)]
    for node in nodes:
        node.runner.start()
    work = nodes[0].workload(seed=17)
    work.setup()
    work.add_images(10)
    work.rounds(10)
    head = nodes[0].head()
    for node in nodes:
        assert node.read.wait_for(head, timeout=30)
        node.runner.stop()
    live = dump(nodes[0].db, ALL_TABLES)
    nodes[0].runner.rebuild()
    assert dump(nodes[0].db, ALL_TABLES) == live


def test_wake_is_harmless_and_stop_is_idempotent(stack: Stack) -> None:
    runner = stack.runner
    runner.wake(123)  # a position beyond the head, before any start: nothing happens
    runner.stop()  # never started: nothing to stop
    assert runner._thread is None and runner.position == 0
    runner.start()
    thread = runner._thread
    runner.start()
    assert runner._thread is thread and thread is not None and thread.is_alive()  # one thread
    runner.stop()
    runner.stop()
    assert runner._thread is None and not thread.is_alive()
    # Stopped and started again, it still projects.
    work = stack.workload()
    work.setup(projects=1)
    work.add_images(2)
    runner.start()
    assert stack.read.wait_for(stack.head(), timeout=10)
    assert runner.position == stack.head()


def test_the_view_wal_is_truncated_once_the_runner_is_idle(sqlite_backends: Backends) -> None:
    """A big batch of writes grows views.sqlite-wal; once the runner has caught up and finds
    nothing to do, it checkpoints the WAL down to nothing (at most every interval)."""
    stack = sqlite_backends.stack(poll_interval=0.02, checkpoint_interval=0.3)
    wal = Path(stack.db.target + "-wal")
    work = stack.workload()
    work.setup(projects=1)
    work.add_images(200)
    work.rounds(2)
    stack.runner.start()
    assert stack.read.wait_for(stack.head(), timeout=30)
    deadline = time.monotonic() + 10
    while wal.stat().st_size > 64 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wal.stat().st_size <= 64 * 1024, wal.stat().st_size
    assert stack.runner.checkpoints.runs >= 1
    runs = stack.runner.checkpoints.runs
    time.sleep(0.8)  # idle, nothing written since: no more checkpoints
    assert stack.runner.checkpoints.runs == runs
    work.round()  # a write makes one due again
    assert stack.read.wait_for(stack.head(), timeout=10)
    deadline = time.monotonic() + 5
    while stack.runner.checkpoints.runs == runs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.runner.checkpoints.runs == runs + 1


def test_the_runner_steps_aside_for_bulk_writes_but_only_briefly(sqlite_backends: Backends
                                                                 ) -> None:
    """While the writer reports a bulk write, the background runner waits before each batch,
    but within a budget (``event_store.bulk_yield``): a bulk write that never ends cannot
    starve the read models."""
    bulk = threading.Event()
    stack = sqlite_backends.stack(poll_interval=0.02, step_aside=bulk.is_set)
    work = stack.workload()
    work.setup(projects=1)
    work.add_images(3)
    stack.runner.start()
    assert stack.read.wait_for(stack.head(), timeout=10)

    bulk.set()  # and it stays set
    started = time.monotonic()
    work.round()
    assert stack.read.wait_for(stack.head(), timeout=10)
    assert time.monotonic() - started >= MAX_WAIT * 0.9

    bulk.clear()
    work.round()
    assert stack.read.wait_for(stack.head(), timeout=10)
    assert stack.runner.position == stack.head()
