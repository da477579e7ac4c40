"""Group commit, idempotency and concurrent writers on the real SQLite event store."""

from __future__ import annotations

import threading

import pytest

from domain.command_pipeline import Actor, CommandIdTaken, CommandPipeline
from domain.commands import parse_command, parse_prelabel
from event_store.positions import EventPositions, log_head
from tests.domain.conftest import World


def _point(i: int, command_id: str | None = None) -> dict:
    raw = {"type": "create", "annotation": {"type": "point", "label": "cat",
                                             "geometry": {"x": i % 90, "y": 5}}}
    if command_id:
        raw["command_id"] = command_id
    return raw


def test_concurrent_requests_for_many_images_all_commit_once(world: World) -> None:
    images = [world.add_image(f"{i:064x}") for i in range(20)]
    futures = [world.pipeline.submit(images[i % 20], [parse_command(_point(i))], Actor("ann"))
               for i in range(400)]
    results = [f.result(30) for f in futures]
    positions = [r.position for r in results]
    assert len(set(positions)) == 400
    for image_id in images:
        assert len(world.app.image(image_id).annotations) == 20
    # Requests for one image are applied in arrival order.
    per_image = [r.version for r in results if r.image_id == str(images[0])]
    assert per_image == sorted(per_image) == list(range(2, 22))


def test_repeated_command_id_returns_the_first_result_even_after_restart(world: World) -> None:
    first = world.run(_point(1, "cmd-1"))
    again = world.run({"type": "submit", "command_id": "cmd-1"})
    assert again.repeated and again.to_json() == first.to_json()
    head = world.head()
    world.pipeline.stop()
    reopened = world.open_app()
    pipeline = CommandPipeline(reopened, EventPositions(reopened))
    try:
        after = pipeline.execute(world.image_id, [parse_command(_point(1, "cmd-1"))],
                                 Actor("ann"))
    finally:
        pipeline.stop()
    assert after.to_json() == first.to_json()
    assert log_head(reopened) == head


def test_repeats_of_several_commands_on_one_image_in_one_batch(world: World) -> None:
    """A reconnecting client resends its outbox: several already-applied commands of one
    image (and of others) arrive together and are answered together, each with its own
    first result, one of them someone else's id."""
    others = [world.add_image(f"{i:064x}") for i in range(3)]
    firsts = [world.run(_point(i, f"cmd-{i}")) for i in range(4)]
    elsewhere = [world.pipeline.execute(image_id, [parse_command(_point(9, "cmd-x"))],
                                        Actor("ann")) for image_id in others]
    taken = world.pipeline.execute(others[0], [parse_command(_point(8, "cmd-bob"))],
                                   Actor("bob"))
    head = world.head()
    requests = [(world.image_id, [parse_command(_point(i, f"cmd-{i}"))]) for i in (2, 0, 3)]
    requests += [(image_id, [parse_command(_point(9, "cmd-x"))]) for image_id in others]
    requests.append((others[0], [parse_command(_point(8, "cmd-bob"))]))
    futures = world.pipeline.submit_many(requests, Actor("ann"))
    answers = [f.result(30) for f in futures[:-1]]
    assert [a.to_json() for a in answers] == [
        firsts[2].to_json(), firsts[0].to_json(), firsts[3].to_json(),
        *[e.to_json() for e in elsewhere]]
    assert all(a.repeated for a in answers)
    with pytest.raises(CommandIdTaken):
        futures[-1].result(30)
    assert taken.position <= head == world.head()  # nothing recorded again


def test_two_writers_on_one_store_lose_nothing(world: World) -> None:
    """Two processes' worth of pipelines (separate apps and caches) hammer the same images.

    Each writer's cached image goes stale when the other appends; the clash on the stream
    version makes it reload and re-decide, so every acknowledged command is stored once.
    """
    images = [world.add_image(f"{i:064x}") for i in range(3)]
    other_app = world.open_app()
    other = CommandPipeline(other_app, EventPositions(other_app))
    acked: list[str] = []
    lock = threading.Lock()

    def client(pipeline: CommandPipeline, name: str) -> None:
        for i in range(60):
            cid = f"{name}-{i}"
            result = pipeline.execute(images[i % 3], [parse_command(_point(i, cid))],
                                      Actor("ann"))
            assert result.position > 0
            with lock:
                acked.append(cid)

    threads = [threading.Thread(target=client, args=(p, f"{n}{k}"))
               for k in range(2) for n, p in (("a", world.pipeline), ("b", other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    other.stop()
    assert len(acked) == 240
    stored = [cid for image_id in images
              for cid in world.app.image(image_id).command_log]
    assert sorted(stored) == sorted(acked)


def test_a_bulk_submission_commits_each_request_once_and_on_its_own(world: World) -> None:
    """``submit_many`` (imports): one queue item for the writer, but every request is still
    its own atomic unit: an invalid one fails alone, the rest commit, in submission order."""
    images = [world.add_image(f"{i:064x}") for i in range(700)]  # more than one batch
    prelabel = parse_prelabel({"type": "box", "label": "cat", "score": 0.5,
                               "geometry": {"x": 1, "y": 1, "w": 5, "h": 5}}, "m", "1")
    bad = parse_prelabel({"type": "box", "label": "cat", "score": 0.5,
                          "geometry": {"x": 1, "y": 1, "w": 500, "h": 5}}, "m", "1")
    requests = [(iid, [prelabel, prelabel]) for iid in images]
    requests[5] = (images[5], [prelabel, bad])  # the second fails: nothing of it is stored
    requests.insert(9, (images[9], []))  # no commands: refused without reaching the writer
    futures = world.pipeline.submit_many(requests, Actor("mgr", trusted=True))
    assert len(futures) == len(requests)
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(60))
        except Exception as e:
            outcomes.append(e)
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, Exception)]
    assert failed == [5, 9]
    positions = [o.position for o in outcomes if not isinstance(o, Exception)]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert len(world.app.image(images[5]).annotations) == 0
    assert all(len(world.app.image(iid).annotations) == 2 for iid in images if iid != images[5])
    assert world.pipeline.backlog() == 0 and not world.pipeline.bulk_writing()


def test_adopted_images_serve_the_next_commands_and_a_stale_one_is_reloaded(world: World
                                                                            ) -> None:
    """Uploads hand their new aggregates to the writer's cache (``adopt``). A cached image
    that another process has since changed must not lose that change: the store refuses the
    stale version and the writer re-decides against a fresh load."""
    (fresh, _), (stale, _) = world.app.add_images(world.project_id, [
        {"file_name": f"{n}.png", "width": 100, "height": 80, "sha256": n * 64,
         "content_type": "image/png"} for n in ("b", "c")], "mgr")[0]
    world.pipeline.adopt([fresh, stale])
    other_app = world.open_app()
    other = CommandPipeline(other_app, EventPositions(other_app))
    try:
        theirs = other.execute(stale.id, [parse_command(_point(3))], Actor("bob"))
    finally:
        other.stop()
    mine = world.pipeline.execute(stale.id, [parse_command(_point(4))], Actor("ann"))
    assert (theirs.version, mine.version) == (2, 3)
    assert len(world.app.image(stale.id).annotations) == 2
    assert world.pipeline.execute(fresh.id, [parse_command(_point(5))], Actor("ann")).version == 2
