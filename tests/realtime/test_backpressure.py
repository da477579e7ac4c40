"""A client that stops reading: it gets ``resync``, its backlog stays bounded, the room goes on.

In-process (the real services on an embedded store, real sessions, a transport whose
``send`` can be held), because over a real socket the kernel's buffers would swallow
megabytes before the server's own queue ever filled.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from domain.command_pipeline import Actor
from domain.commands import parse_command
from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings
from realtime.session import ClientSession
from tests.realtime.conftest import run
from tests.realtime.wsclient import create_box

LIMIT = 100


class HeldTransport:
    """A socket whose sends wait while ``held`` (a client that does not read)."""

    def __init__(self, held: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.released = asyncio.Event()
        if not held:
            self.released.set()
        self.closed: int | None = None

    async def receive(self) -> str | bytes | None:
        return await self.incoming.get()

    async def send(self, text: str) -> None:
        await self.released.wait()
        self.sent.append(json.loads(text))

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = code
        self.incoming.put_nowait(None)


def test_a_client_that_stops_reading_is_resynced_and_holds_up_no_one(tmp_path: Path) -> None:
    services = bootstrap(replace(Settings(data_dir=tmp_path / "data"), ws_outbox_limit=LIMIT))
    try:
        app = services.app
        for name in ("ann1", "ann2"):
            app.register_user(name, "password123")
        project, _ = app.create_project("bp", [{"name": "cat"}], None, "ann1")
        app.set_member(str(project.id), "ann2", "annotator", "ann1")
        (image, _), = app.add_images(str(project.id), [{
            "file_name": "a.png", "width": 640, "height": 480,
            "sha256": uuid.uuid4().hex * 2, "content_type": "image/png"}], "ann1")[0]
        room = f"image:{image.id}"

        def write(batches: int) -> int:
            position = 0
            for _ in range(batches):
                commands = [parse_command(create_box(x=i)) for i in range(250)]
                position = services.pipeline.execute(image.id, commands,
                                                      Actor("ann1")).position
            return position

        async def scenario() -> None:
            live = services.live
            assert live is not None
            await live.start()
            fast_t, slow_t = HeldTransport(), HeldTransport(held=True)
            fast = ClientSession(live, fast_t, "ann1", False)
            slow = ClientSession(live, slow_t, "ann2", False)
            tasks = [asyncio.create_task(fast.run()), asyncio.create_task(slow.run())]
            for t in (fast_t, slow_t):
                t.incoming.put_nowait(json.dumps({"op": "join", "room": room}))
            while not fast_t.sent or live.hub.members(room) != ["ann1", "ann2"]:
                await asyncio.sleep(0.01)
            last = await asyncio.to_thread(write, 8)  # 2,000 events, 20 x the limit
            while not any(m.get("position") == last for m in fast_t.sent):
                await asyncio.sleep(0.01)
            events = [m["position"] for m in fast_t.sent if m["op"] == "event"]
            assert len(events) == 2000 and events == sorted(events)
            assert not any(m["op"] == "resync" for m in fast_t.sent)
            assert len(slow.outbox) <= LIMIT + 2  # bounded, whatever it missed
            slow_t.released.set()
            while not any(m["op"] == "resync" for m in slow_t.sent):
                await asyncio.sleep(0.01)
            ops = [m["op"] for m in slow_t.sent]
            assert ops[0] == "joined" and ops.count("resync") == 1
            seen = [m["position"] for m in slow_t.sent if m["op"] == "event"]
            assert seen == events[:len(seen)]  # a prefix: no gap before the resync
            # It re-joins from its last position. It missed more than the server replays
            # to a connection with this small a queue, so it gets the full state.
            mine = seen[-1] if seen else slow_t.sent[0]["position"]
            mark = len(slow_t.sent)
            slow_t.incoming.put_nowait(json.dumps({"op": "join", "room": room,
                                                   "after_position": mine}))
            while len(slow_t.sent) == mark:
                await asyncio.sleep(0.01)
            again = slow_t.sent[mark]
            assert again["op"] == "joined" and again["resumed"] is False, again
            assert again["position"] == last and len(again["annotations"]) == 2000
            for t in (fast_t, slow_t):
                t.incoming.put_nowait(None)
            await asyncio.gather(*tasks)
            await live.stop()

        run(scenario(), timeout=60)
    finally:
        shutdown(services)
