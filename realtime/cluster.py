"""This node's part in a multi-node deployment, spoken over the Redis bus.

Every node tells the others:

- ``head``: "I committed up to position P" — their log tails read the log now instead of at
  the next poll (events themselves always come from the log, never from the bus);
- ``join`` / ``leave``: a connection entered or left a room, with the node's *roster version*
  (a counter of its membership changes);
- ``presence``: a cursor/selection, already throttled by the sender;
- ``hb``: a heartbeat with the roster version, every ``HEARTBEAT`` seconds;
- ``roster``: its whole membership, in answer to ``hello``.

A node that hears a roster version it cannot account for (it missed a message, Redis was
down, the other node is new) says ``hello`` and everyone answers with their roster, which
replaces what it knew. A node silent for ``NODE_TIMEOUT`` seconds is presumed dead (killed, or
cut off): its members leave the rooms here. So membership converges after any outage, and a
killed node's users are shown as gone within ``NODE_TIMEOUT`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from realtime.hub import RoomHub

log = logging.getLogger(__name__)

HEARTBEAT = 2.0
NODE_TIMEOUT = 8.0
HELLO_INTERVAL = 0.5


@dataclass
class _Node:
    """What this node knows of another one."""

    members: dict[tuple[int, str], str] = field(default_factory=dict)  # (conn, room) → user
    version: int = -1  # -1: no roster received yet
    last_seen: float = field(default_factory=time.monotonic)


class Cluster:
    """Membership and presence across nodes (implements ``realtime.hub.ClusterLink``)."""

    def __init__(self, node_id: str, hub: RoomHub, publish: Callable[[dict[str, Any]], None],
                 wake_tail: Callable[[int], None]) -> None:
        self.node_id = node_id
        self.hub = hub
        self.publish = publish
        self.wake_tail = wake_tail
        self._local: dict[tuple[int, str], str] = {}
        self._version = 0
        self._nodes: dict[str, _Node] = {}
        self._last_hello = 0.0
        self._task: asyncio.Task[None] | None = None

    # -- what this node says --------------------------------------------------------------------

    def local_joined(self, conn_id: int, room: str, user: str) -> None:
        self._local[(conn_id, room)] = user
        self._version += 1
        self.publish({"t": "join", "n": self.node_id, "v": self._version, "c": conn_id,
                      "r": room, "u": user})

    def local_left(self, conn_id: int, room: str, user: str) -> None:
        if self._local.pop((conn_id, room), None) is None:
            return
        self._version += 1
        self.publish({"t": "leave", "n": self.node_id, "v": self._version, "c": conn_id,
                      "r": room, "u": user})

    def local_presence(self, room: str, user: str, cursor: Any, selection: Any) -> None:
        self.publish({"t": "presence", "n": self.node_id, "r": room, "u": user,
                      "cursor": cursor, "selection": selection})

    def head_advanced(self, position: int) -> None:
        self.publish({"t": "head", "n": self.node_id, "p": position})

    def bus_state(self, connected: bool) -> None:
        """The bus (re)connected: introduce ourselves and ask for everyone's roster."""
        if connected:
            self._publish_roster()
            self._ask_rosters(force=True)

    # -- what the others say --------------------------------------------------------------------

    def handle(self, message: dict[str, Any]) -> None:
        node_id = message.get("n")
        kind = message.get("t")
        if not isinstance(node_id, str) or node_id == self.node_id:
            return
        if kind == "head":
            position = message.get("p")
            if isinstance(position, int):
                self.wake_tail(position)
        elif kind == "hello":
            self._publish_roster()
        node = self._nodes.get(node_id)
        if node is None:
            node = self._nodes[node_id] = _Node()
            self._ask_rosters()
        node.last_seen = time.monotonic()
        version = message.get("v")
        if kind == "join":
            key = (message["c"], message["r"])
            if key not in node.members:
                node.members[key] = message["u"]
                self.hub.remote_joined(message["r"], message["u"])
            self._follow_version(node, version)
        elif kind == "leave":
            user = node.members.pop((message["c"], message["r"]), None)
            if user is not None:
                self.hub.remote_left(message["r"], user)
            self._follow_version(node, version)
        elif kind == "presence":
            self.hub.presence(message["r"], message["u"], message.get("cursor"),
                              message.get("selection"))
        elif kind == "hb":
            if version != node.version:
                self._ask_rosters()
        elif kind == "roster":
            self._replace_roster(node, message)

    def _follow_version(self, node: _Node, version: Any) -> None:
        if not isinstance(version, int):
            return
        if node.version >= 0 and version != node.version + 1:
            self._ask_rosters()  # we missed something: get the whole truth
        node.version = version

    def _replace_roster(self, node: _Node, message: dict[str, Any]) -> None:
        new = {(c, r): u for c, r, u in message.get("m", [])}
        old = node.members
        for key, user in old.items():
            if new.get(key) != user:
                self.hub.remote_left(key[1], user)
        for key, user in new.items():
            if old.get(key) != user:
                self.hub.remote_joined(key[1], user)
        node.members = new
        version = message.get("v")
        node.version = version if isinstance(version, int) else -1

    def _publish_roster(self) -> None:
        self.publish({"t": "roster", "n": self.node_id, "v": self._version,
                      "m": [[c, r, u] for (c, r), u in self._local.items()]})

    def _ask_rosters(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_hello >= HELLO_INTERVAL:
            self._last_hello = now
            self.publish({"t": "hello", "n": self.node_id})

    # -- heartbeats and failure detection -------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._beat(), name="cluster-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _beat(self) -> None:
        while True:
            self.publish({"t": "hb", "n": self.node_id, "v": self._version})
            self.expire(time.monotonic())
            await asyncio.sleep(HEARTBEAT)

    def expire(self, now: float) -> None:
        """Forget nodes not heard from for ``NODE_TIMEOUT`` seconds (and their members)."""
        for node_id, node in list(self._nodes.items()):
            if now - node.last_seen > NODE_TIMEOUT:
                log.info("cluster: node %s silent for %.0f s; its %d members leave", node_id,
                         now - node.last_seen, len(node.members))
                del self._nodes[node_id]
                for (_, room), user in node.members.items():
                    self.hub.remote_left(room, user)
