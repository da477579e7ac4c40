"""A rebuild from position 0 gives exactly the tables the live runner built."""

from __future__ import annotations

import pytest

from projections.runner import all_projections
from tests.projections.conftest import Backends, Stack, dump

ALL_TABLES = tuple(t for p in all_projections() for t in p.tables)


def live_log(stack: Stack, images: int = 24, rounds: int = 20) -> None:
    """Work done while the background runner projects it in small, uneven batches."""
    stack.runner.start()
    work = stack.workload(seed=5)
    work.setup()
    work.add_images(images)
    for _ in range(rounds):
        work.round(work.images[: work.rng.randint(1, len(work.images))])
    assert stack.read.wait_for(stack.head(), timeout=20)
    stack.runner.stop()


def test_rebuild_equals_live(stack: Stack) -> None:
    live_log(stack)
    live = dump(stack.db, ALL_TABLES)
    assert live["history"] and live["annotations"] and live["prelabel_audit"]
    assert stack.runner.rebuild() == stack.head()
    assert dump(stack.db, ALL_TABLES) == live


@pytest.mark.parametrize("batch_size", [1, 7, 5000])
def test_batch_boundaries_do_not_matter(backends: Backends, batch_size: int) -> None:
    stack = backends.stack()
    live_log(stack, images=10, rounds=8)
    live = dump(stack.db, ALL_TABLES)
    other = backends.stack(batch_size=batch_size)
    other.runner.rebuild()
    assert dump(other.db, ALL_TABLES) == live


def test_rebuild_one_projection_leaves_the_others(stack: Stack) -> None:
    live_log(stack, images=8, rounds=6)
    before = dump(stack.db, ALL_TABLES)
    with stack.db.transaction() as cur:  # damage two read models
        cur.execute("DELETE FROM history")
        cur.execute("UPDATE annotator_metrics SET created = created + 100")
    stack.runner.rebuild("image_history")
    after = dump(stack.db, ALL_TABLES)
    assert after["history"] == before["history"]
    assert after["annotator_metrics"] != before["annotator_metrics"]
    stack.runner.rebuild("annotator_metrics")
    assert dump(stack.db, ALL_TABLES) == before


def test_rebuild_unknown_name(stack: Stack) -> None:
    with pytest.raises(ValueError, match="no projection named"):
        stack.runner.rebuild("nope")
