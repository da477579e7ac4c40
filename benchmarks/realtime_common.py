"""Shared by the realtime benchmarks (no benchmark of its own): deployments of real
``labelwright serve`` nodes (tests/realtime/nodes.py) and a lean room member.

The load generator is one asyncio process with plain ``websockets`` connections; a member
only parses what it must (``orjson``), so on the 2-core box most CPU stays with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.realtime.nodes import (  # noqa: E402
    SHARED_REDIS_URL,
    Deployment,
    Node,
    http_json,
    postgres_database,
)

__all__ = ["Deployment", "Member", "Node", "create_command", "deployment", "emit",
           "http_json", "percentile", "rss_kb", "summary_ms"]


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2) if ms else 0,
            "mean_ms": round(statistics.fmean(ms), 2) if ms else 0}


@contextlib.contextmanager
def deployment(nodes: int = 1, images: int = 8, postgres: bool | None = None
               ) -> Iterator[tuple[Deployment, list[Node]]]:
    """``nodes`` nodes on one store: embedded SQLite for one (unless ``postgres``),
    PostgreSQL + the shared Redis (random channel prefix) for more."""
    use_pg = postgres if postgres is not None else nodes > 1
    root = Path(tempfile.mkdtemp(prefix="lw-rt-bench-"))
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if use_pg else None
        d = Deployment(root / "data", database_url=url,
                       redis_url=SHARED_REDIS_URL if nodes > 1 else None)
        d.seed(images=images)
        started = [d.start_node() for _ in range(nodes)]
        try:
            yield d, started
        finally:
            d.stop_all()


class Member:
    """A room member that notes when each event (by its ``command_id``) arrived."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.arrivals: dict[str, float] = {}
        self.positions: list[int] = []
        self.received = 0
        self.joined: dict[str, Any] | None = None
        self.acks = 0
        self.acks_at: dict[str, float] = {}  # ref → arrival of its ack
        self.errors: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, node: Node, token: str) -> Member:
        ws = await websockets.connect(f"{node.ws_url}?token={token}", max_size=None,
                                      open_timeout=30, ping_interval=None)
        return cls(ws)

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                now = time.perf_counter()
                self.received += 1
                message = orjson.loads(raw)
                op = message.get("op")
                if op == "event":
                    cid = message["event"]["command_id"]
                    if cid is not None:
                        self.arrivals[cid] = now
                    self.positions.append(message["position"])
                elif op == "joined":
                    self.joined = message
                elif op == "ack":
                    self.acks += 1
                    self.acks_at[message["ref"]] = now
                elif op == "error":
                    self.errors.append(message)

    async def join(self, room: str, after_position: int | None = None) -> None:
        body: dict[str, Any] = {"op": "join", "room": room}
        if after_position is not None:
            body["after_position"] = after_position
        self.joined = None
        await self.ws.send(orjson.dumps(body).decode())
        while self.joined is None:
            if self.errors:
                raise RuntimeError(self.errors[-1])
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


def create_command(command_id: str, image_id: str, x: float) -> str:
    return orjson.dumps({
        "op": "command", "ref": command_id, "image_id": image_id, "type": "create",
        "command_id": command_id,
        "annotation": {"type": "box", "label": "cat",
                       "geometry": {"x": x, "y": 20, "w": 30, "h": 40}}}).decode()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")
