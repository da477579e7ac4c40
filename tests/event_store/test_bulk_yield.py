"""The token bucket by which background readers step aside for bulk writes."""

from __future__ import annotations

import threading
import time

from event_store.bulk_yield import BulkWriteYield


def test_no_bulk_write_no_wait() -> None:
    assert BulkWriteYield(lambda: False).wait(threading.Event()) < 0.05
    assert BulkWriteYield(None).wait(threading.Event()) == 0.0


def test_steps_aside_at_most_max_wait_then_at_most_its_share() -> None:
    stopping = threading.Event()
    y = BulkWriteYield(lambda: True, max_wait=0.2, share=0.5)
    assert 0.18 <= y.wait(stopping) < 0.5  # a full stretch
    assert y.wait(stopping) < 0.05  # the budget is spent: the reader must run now
    time.sleep(0.2)  # 0.2 s of running earns 0.1 s of stepping aside
    assert 0.07 <= y.wait(stopping) < 0.3


def test_ends_when_the_bulk_write_does_or_on_stop() -> None:
    ends = time.monotonic() + 0.05
    assert BulkWriteYield(lambda: time.monotonic() < ends, max_wait=5).wait(
        threading.Event()) < 1.0
    stopping = threading.Event()
    threading.Timer(0.05, stopping.set).start()
    assert BulkWriteYield(lambda: True, max_wait=5).wait(stopping) < 1.0
