"""The writer never waits on an assist engine: commands on other images keep their latency
while 4 users preview and commit assists continuously (issue 10; the measurement is in
benchmarks/assist_writer.py, this is the quick check)."""

from __future__ import annotations

import threading
import time
from typing import Any

from domain import geometry as g
from domain.assist import AssistRequest
from domain.command_pipeline import Actor
from domain.commands import parse_command
from tests.domain.conftest import World


class Gate:
    """An engine that answers only once the gate opens (a model stuck for as long as the test
    wants), or after ``seconds`` when it is open."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.open = threading.Event()
        self.calls = 0

    def propose(self, request: AssistRequest) -> g.Geometry:
        self.calls += 1
        self.open.wait()
        time.sleep(self.seconds)
        x, y, _ = request.points[0]
        return g.Box(x - 5, y - 5, 10, 10)


def _create(i: int) -> Any:
    return parse_command({"type": "create", "annotation": {
        "type": "box", "label": "cat", "geometry": {"x": i % 50, "y": 1, "w": 5, "h": 5}}})


def _latencies(world: World, image_id: Any, n: int) -> list[float]:
    out = []
    for i in range(n):
        started = time.perf_counter()
        world.pipeline.execute(image_id, [_create(i)], Actor("bob"), timeout=5)
        out.append(time.perf_counter() - started)
    return sorted(out)


def test_commands_on_other_images_do_not_wait_for_assist_users(world: World) -> None:
    gate = Gate(0.02)
    world.pipeline.assist.register("clicks", gate)
    other = world.add_image("b" * 64)
    baseline = _latencies(world, other, 20)
    stop = threading.Event()
    done = {"previews": 0, "assists": 0}

    def user(kind: str) -> None:
        clicks = parse_command({"type": "assist", "mode": "clicks", "label": "cat",
                                "points": [[40, 30, 1]]})
        while not stop.is_set():
            if kind == "previews":
                world.pipeline.prepare(world.image_id, [clicks], Actor("ann"))
            else:
                world.pipeline.execute(world.image_id, [clicks], Actor("ann"), timeout=10)
            done[kind] += 1

    users = [threading.Thread(target=user, args=(k,), daemon=True)
             for k in ("previews", "previews", "assists", "assists")]
    for t in users:
        t.start()
    try:
        time.sleep(0.05)  # all four are inside the engine, which does not answer yet
        stuck = _latencies(world, other, 20)
        gate.open.set()  # now they click continuously, 20 ms per proposal
        loaded = _latencies(world, other, 40)
    finally:
        stop.set()
        gate.open.set()
        for t in users:
            t.join(10)
    assert done["previews"] > 0 and done["assists"] > 0, done
    # Generous bounds (2 shared cores in CI): a writer waiting on the engine would take
    # 20 ms per assist in its batch at least, and for ever while the gate was shut.
    assert stuck[-1] < 1.0, stuck
    assert loaded[-2] < max(0.25, 10 * baseline[-2]), (baseline, loaded)
