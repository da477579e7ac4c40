"""PostgreSQL: a writer that commits late, and gaps in the notification ids."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from domain.command_pipeline import Actor
from domain.commands import parse_command
from projections.runner import all_projections
from tests.projections.conftest import Backends, dump

pytestmark = pytest.mark.postgres
ALL_TABLES = tuple(t for p in all_projections() for t in p.tables)


def test_a_late_commit_is_never_skipped(pg_backends: Backends) -> None:
    """Writer A holds the table lock with its events inserted but not committed; writer B
    waits behind it; the runner polls all the while. After both commit, every event is
    projected, and the tables equal a rebuild."""
    stack = pg_backends.stack(poll_interval=0.01)
    work = stack.workload()
    work.setup(projects=1)
    work.add_images(2)
    first, second = (img.image_id for img in work.images)
    other = pg_backends.stack()  # B: another process's writer
    stack.runner.start()
    assert stack.read.wait_for(stack.head(), timeout=10)

    recorder: Any = stack.app.recorder  # A: holds its transaction open before commit
    original = recorder._fetch_ids_after_insert_events
    inserted, release = threading.Event(), threading.Event()

    def hold_before_commit(*args: Any, **kwargs: Any) -> Any:
        ids = original(*args, **kwargs)
        if not inserted.is_set():
            inserted.set()
            assert release.wait(20)
        return ids

    recorder._fetch_ids_after_insert_events = hold_before_commit
    create = parse_command({"type": "create", "annotation": {
        "type": "point", "label": "cat", "geometry": {"x": 1, "y": 1}}})
    late = stack.pipeline.submit(first, [create], Actor("ann"))
    assert inserted.wait(10)
    blocked: list[Any] = []
    # B waits for A's table lock.
    writer_b = threading.Thread(target=lambda: blocked.append(other.pipeline.execute(
        second, [parse_command({"type": "submit"})], Actor("bob"))))
    writer_b.start()
    # The runner polls meanwhile and must see neither A nor B. (Stay well under the event
    # store's 5 s idle-in-transaction timeout, which would abort A.)
    time.sleep(0.5)
    assert not blocked
    release.set()
    a = late.result(10)
    writer_b.join(10)
    assert blocked and blocked[0].position > a.position
    assert stack.read.wait_for(blocked[0].position, timeout=10)
    recorder._fetch_ids_after_insert_events = original
    stack.runner.stop()
    view = stack.read.image_annotations(str(first))
    assert view is not None and view["version"] == a.version and view["annotations"]
    image = stack.read.image(str(second))
    assert image is not None and image["status"] == "submitted"
    history = stack.db.query("SELECT COUNT(*) FROM history")[0][0]
    assert history == stack.db.query("SELECT COUNT(*) FROM labelwright_events "
                                     "WHERE topic LIKE 'domain.image:%'")[0][0]
    live = dump(stack.db, ALL_TABLES)
    stack.runner.rebuild()
    assert dump(stack.db, ALL_TABLES) == live


def test_gaps_in_notification_ids_are_passed(pg_backends: Backends) -> None:
    """A rolled-back insert burns sequence values; the runner does not wait for them."""
    import psycopg

    stack = pg_backends.stack(poll_interval=0.01)
    work = stack.workload()
    work.setup(projects=1)
    work.add_images(1)
    stack.runner.start()
    assert stack.read.wait_for(stack.head(), timeout=10)
    with psycopg.connect(pg_backends.url) as conn:  # burn ids: insert, then roll back
        conn.execute("INSERT INTO labelwright_events (originator_id, originator_version, "
                     "topic, state) SELECT gen_random_uuid(), 1, 'x', ''::bytea "
                     "FROM generate_series(1, 5)")
        conn.rollback()
    before = stack.head()
    result = stack.pipeline.execute(work.images[0].image_id,
                                    [parse_command({"type": "submit"})], Actor("ann"))
    assert result.position > before + 1  # there is a gap
    assert stack.read.wait_for(result.position, timeout=10)
    image = stack.read.image(str(work.images[0].image_id))
    assert image is not None and image["status"] == "submitted"
