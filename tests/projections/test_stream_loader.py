"""Bulk loading of image streams (the writer's batch cache misses) equals the repository."""

from __future__ import annotations

from domain.command_pipeline import Actor
from domain.commands import parse_command
from event_store.positions import EventPositions
from event_store.stream_loader import StreamLoader
from tests.projections.conftest import Backends


def test_bulk_loaded_images_equal_the_repository_including_snapshots(
        backends: Backends) -> None:
    stack = backends.stack()
    work = stack.workload()
    work.setup(projects=1)
    work.add_images(12)
    work.sessions(per_image=6, concurrent=12)
    # One long stream, past a snapshot (every 100 events) and a few events beyond it.
    long_id = work.images[0].image_id
    create = parse_command({"type": "create", "annotation": {
        "type": "point", "label": "car", "geometry": {"x": 1, "y": 1}}})
    for _ in range(110):
        stack.pipeline.execute(long_id, [create], Actor("mgr", is_admin=True))
    assert stack.app.snapshots is not None
    assert list(stack.app.snapshots.get(long_id))
    ids = [img.image_id for img in work.images]
    loaded = StreamLoader(stack.app)(ids)
    assert set(loaded) == set(ids)
    for image_id in ids:
        expected = stack.app.image(image_id)
        got = loaded[image_id]
        assert got.version == expected.version
        assert got.public_annotations() == expected.public_annotations()
        assert got.command_log == expected.command_log
        assert EventPositions(stack.app)(image_id, [got.version])
        recorded = EventPositions(stack.app).recorded([(image_id, 1, got.version)])[image_id]
        assert [e.originator_version for e, _ in recorded] == list(range(1, got.version + 1))
        assert [p for _, p in recorded] == sorted(p for _, p in recorded)
