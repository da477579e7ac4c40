"""RoomHub on its own: the join hand-over, per-room order, back-pressure, membership."""

from __future__ import annotations

import json
from typing import Any

from realtime.cluster import Cluster
from realtime.hub import Member, RoomHub
from realtime.outbox import Outbox
from realtime.room_feed import RoomMessage

ROOM = "image:00000000-0000-0000-0000-000000000001"
OTHER = "image:00000000-0000-0000-0000-000000000002"


async def _never(text: str) -> None:  # the outboxes are inspected, not written
    raise AssertionError("not written in these tests")


class Conn:
    _ids = iter(range(1, 1_000_000))

    def __init__(self, user: str = "u", limit: int = 100) -> None:
        self.outbox = Outbox(_never, limit=limit, hard_limit=limit * 2)
        self.too_slow_called = False
        self.member = Member(next(self._ids), user, self.outbox, self._too_slow)

    def _too_slow(self) -> None:
        self.too_slow_called = True

    def received(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text, _ in self.outbox._queue]

    def positions(self, room: str = ROOM) -> list[int]:
        return [m["position"] for m in self.received()
                if m["op"] == "event" and m["room"] == room]


def msg(position: int, room: str = ROOM) -> RoomMessage:
    return RoomMessage(room, position, json.dumps({"op": "event", "room": room,
                                                   "position": position}))


def answer(text: str = '{"op": "joined"}') -> Any:
    return lambda members: [text]


def test_the_join_hand_over_has_no_gap_and_no_duplicate() -> None:
    hub = RoomHub()
    c = Conn()
    sub = hub.subscribe(c.member, ROOM)
    # While the joining code reads the store (covering up to 12), the tail delivers 11..14.
    hub.deliver([msg(11), msg(12)], 12)
    hub.deliver([msg(13), msg(14)], 14)
    assert c.received() == []
    hub.activate(sub, 12, answer())
    assert c.received()[0] == {"op": "joined"}
    assert c.positions() == [13, 14]
    hub.deliver([msg(14), msg(13), msg(15)], 15)  # a duplicate and a stale one are dropped
    assert c.positions() == [13, 14, 15]


def test_each_room_is_ordered_independently() -> None:
    hub = RoomHub()
    c = Conn()
    for room in (ROOM, OTHER):
        hub.activate(hub.subscribe(c.member, room), 0, answer())
    hub.deliver([msg(3), msg(4, OTHER), msg(5)], 5)
    assert c.positions(ROOM) == [3, 5]
    assert c.positions(OTHER) == [4]


def test_a_slow_client_gets_resync_and_others_are_unaffected() -> None:
    hub = RoomHub()
    slow, fast = Conn("slow", limit=5), Conn("fast", limit=1000)
    for c in (slow, fast):
        hub.activate(hub.subscribe(c.member, ROOM), 0, answer())
    hub.deliver([msg(p) for p in range(1, 21)], 20)
    assert fast.positions() == list(range(1, 21))
    ops = [m["op"] for m in slow.received()]
    assert ops.count("resync") == 1 and "event" not in ops[ops.index("resync"):]
    assert len(slow.outbox) <= 5
    hub.deliver([msg(21)], 21)  # stale until it re-joins
    assert 21 not in slow.positions()
    hub.activate(hub.subscribe(slow.member, ROOM), 20, answer())  # the re-join
    hub.deliver([msg(22)], 22)
    assert slow.positions()[-1] == 22
    assert not slow.too_slow_called


def test_a_client_that_never_reads_its_replies_is_closed() -> None:
    hub = RoomHub()
    c = Conn(limit=2)
    hub.activate(hub.subscribe(c.member, ROOM), 0, answer())
    while c.outbox.put('{"op": "ack"}', droppable=False):
        pass  # its own replies pile up to the hard limit
    hub.deliver([msg(p) for p in range(1, 5)], 4)  # overflow: not even resync fits
    assert c.too_slow_called


def test_a_pending_buffer_that_overflows_ends_in_resync_after_the_answer() -> None:
    hub = RoomHub(pending_limit=3)
    c = Conn()
    sub = hub.subscribe(c.member, ROOM)
    hub.deliver([msg(p) for p in range(1, 10)], 9)
    hub.activate(sub, 0, answer())
    assert [m["op"] for m in c.received()] == ["joined", "resync"]


def test_membership_is_announced_to_the_others_once_per_user() -> None:
    hub = RoomHub()
    a, b, b2 = Conn("ann"), Conn("bob"), Conn("bob")
    hub.activate(hub.subscribe(a.member, ROOM), 0, answer())
    joined_members: list[list[str]] = []
    hub.activate(hub.subscribe(b.member, ROOM), 0,
                 lambda members: joined_members.append(members) or ["{}"])
    assert joined_members == [["ann", "bob"]]
    hub.activate(hub.subscribe(b2.member, ROOM), 0, answer())  # bob's second tab
    assert [m for m in a.received() if m.get("op") == "member_joined"] == [
        {"op": "member_joined", "room": ROOM, "user": "bob"}]
    hub.disconnect(b.member)
    assert not any(m.get("op") == "member_left" for m in a.received())
    hub.disconnect(b2.member)
    assert a.received()[-1] == {"op": "member_left", "room": ROOM, "user": "bob"}
    assert hub.members(ROOM) == ["ann"]


def test_presence_goes_to_the_others_in_the_room_only() -> None:
    hub = RoomHub()
    a, b, elsewhere = Conn("a"), Conn("b"), Conn("c")
    hub.activate(hub.subscribe(a.member, ROOM), 0, answer())
    hub.activate(hub.subscribe(b.member, ROOM), 0, answer())
    hub.activate(hub.subscribe(elsewhere.member, OTHER), 0, answer())
    hub.presence(ROOM, "a", {"x": 1, "y": 2}, None, origin=a.member)
    assert b.received()[-1] == {"op": "presence", "room": ROOM, "user": "a",
                                "cursor": {"x": 1, "y": 2}, "selection": None}
    assert not any(m.get("op") == "presence" for m in a.received() + elsewhere.received())


def test_rooms_nobody_is_in_are_not_watched() -> None:
    hub = RoomHub()
    c = Conn()
    assert not hub.watched(ROOM)
    hub.subscribe(c.member, ROOM)  # watched from subscribe on, before the store is read
    assert hub.watched(ROOM) and not hub.any_project_watched()
    hub.subscribe(c.member, "project:00000000-0000-0000-0000-000000000009")
    assert hub.any_project_watched()
    hub.disconnect(c.member)
    assert not hub.watched(ROOM) and not hub.any_project_watched()


def test_cluster_rosters_converge_and_a_silent_node_leaves() -> None:
    hub = RoomHub()
    sent: list[dict[str, Any]] = []
    cluster = Cluster("me", hub, sent.append, lambda p: None)
    hub.cluster = cluster
    watcher = Conn("local")
    hub.activate(hub.subscribe(watcher.member, ROOM), 0, answer())
    cluster.handle({"t": "join", "n": "other", "v": 1, "c": 7, "r": ROOM, "u": "remote"})
    assert hub.members(ROOM) == ["local", "remote"]
    assert {"t": "hello", "n": "me"} in sent  # a new node: ask for its roster
    # A missed leave (version jumps) is repaired by the roster it triggers.
    cluster.handle({"t": "hb", "n": "other", "v": 5})
    cluster.handle({"t": "roster", "n": "other", "v": 5, "m": [[8, ROOM, "remote2"]]})
    assert hub.members(ROOM) == ["local", "remote2"]
    cluster.expire(10**9)  # nothing heard for long: the node is gone
    assert hub.members(ROOM) == ["local"]
    assert watcher.received()[-1] == {"op": "member_left", "room": ROOM, "user": "remote2"}
