"""The ``work_queue`` read model: live equals a rebuild in any batch size, and each lease's
``expires_at`` is what the domain says (``ImageLease.held_until`` over the image's events)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from domain.work_queue import ImageActivity, ImageLease, lease_id
from service_layer.work_queue import NextRequest, WorkQueueService
from tests.projections.conftest import Backends, Stack, dump
from tests.projections.workload import ANNOTATORS, MANAGER, REVIEWER

TABLES = ("queue_leases", "queue_assignments", "queue_priority")


def queue_log(stack: Stack) -> None:
    """Leases taken, renewed by work, ended by submits and reviews, skipped; assignments and
    priority lists set and cleared, while the runner projects in small batches."""
    stack.runner.start()
    work = stack.workload(seed=11)
    work.setup()
    work.add_images(16)
    queue = WorkQueueService(stack.app, stack.read, lease_seconds=60)
    projects = [stack.app.project(p) for p in work.projects]
    first = [i for i in work.images if i.project_id == work.projects[0]]
    queue.assign(projects[0], {"username": ANNOTATORS[0],
                               "image_ids": [str(i.image_id) for i in first[:3]]}, MANAGER)
    queue.prioritise(projects[1], {"image_ids": [str(i.image_id) for i in work.images
                                                 if i.project_id == work.projects[1]][:4]},
                     MANAGER)
    for round_ in range(5):
        for project in projects:
            for user in ANNOTATORS:
                handed = queue.next_image(project, user, NextRequest(), "label")
                if handed is not None and round_ % 2 == 1 and user == ANNOTATORS[1]:
                    queue.next_image(project, user, NextRequest(skip=handed.image_id),
                                     "label")
            queue.next_image(project, REVIEWER, NextRequest(), "review")
        work.round()
    queue.clear_priority(projects[1], MANAGER)
    queue.assign(projects[0], {"username": ANNOTATORS[0], "image_ids": []}, MANAGER)
    assert stack.read.wait_for(stack.head(), timeout=20)
    stack.runner.stop()


def _activity(stack: Stack, lease: ImageLease) -> list[ImageActivity]:
    events: list[Any] = list(stack.app.events.get(UUID(lease.image_id)))
    return [ImageActivity(type(e).__name__, getattr(e, "actor", None), e.timestamp)
            for e in events]


def test_live_equals_rebuild_and_the_domain(stack: Stack) -> None:
    queue_log(stack)
    live = dump(stack.db, TABLES)
    assert live["queue_leases"]
    rows = stack.db.query("SELECT image_id, username, expires_at FROM queue_leases")
    held = 0
    for image_id, username, expires_at in rows:
        lease: Any = stack.app.repository.get(lease_id(image_id))
        until = lease.held_until(_activity(stack, lease))
        if username is None:
            assert until is None
            continue
        held += 1
        assert username == lease.holder
        assert until is not None and abs(until.timestamp() - expires_at) < 1e-3
    assert held
    assert stack.runner.rebuild() == stack.head()
    assert dump(stack.db, TABLES) == live


@pytest.mark.parametrize("batch_size", [1, 5000])
def test_batch_boundaries_do_not_matter(backends: Backends, batch_size: int) -> None:
    stack = backends.stack(poll_interval=0.02)
    queue_log(stack)
    live = dump(stack.db, TABLES)
    other = backends.stack(batch_size=batch_size)
    other.runner.rebuild()
    assert dump(other.db, TABLES) == live


def test_an_image_reviewed_without_a_lease_is_not_handed_from_a_stale_row(stack: Stack) -> None:
    """A reviewer who opened a submitted image by its address (no lease) approves it; a
    ``next`` served from a read-model row older than the verdict must not hand it out."""
    from domain.command_pipeline import Actor
    from domain.commands import parse_command

    work = stack.workload(seed=3)
    work.setup(projects=1)
    work.add_images(1)
    image = work.images[0]
    project = stack.app.project(image.project_id)
    stack.pipeline.start()
    create = parse_command({"type": "create", "annotation": {
        "type": "box", "label": "car", "geometry": {"x": 1, "y": 1, "w": 5, "h": 5}}})
    stack.pipeline.execute(image.image_id, [create, parse_command({"type": "submit"})],
                           Actor(ANNOTATORS[0]))
    submitted = stack.app.image(image.image_id).version  # what a lagging row says
    stack.pipeline.execute(image.image_id, [parse_command(
        {"type": "review", "verdict": "approve"})], Actor(REVIEWER))
    queue = WorkQueueService(stack.app, stack.read, lease_seconds=60)
    now = queue.clock()
    assert queue._lease(str(project.id), str(image.image_id), REVIEWER, now,
                        seen=submitted) is None
    # Served from an up-to-date row, nothing was reviewed after it: the lease is granted.
    current = stack.app.image(image.image_id).version
    assert queue._lease(str(project.id), str(image.image_id), REVIEWER, now,
                        seen=current) is not None
