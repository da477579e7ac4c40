"""The counts ``RoomHub`` keeps for the metrics (``labelwright.metrics``): room members as
connections join, re-join and leave; messages dropped and resyncs when a client is too slow,
also while it is still joining."""

from __future__ import annotations

from realtime.hub import RoomHub
from tests.realtime.test_hub import OTHER, ROOM, Conn, answer, msg


def test_members_follow_joins_rejoins_and_leaves() -> None:
    hub = RoomHub()
    a, b = Conn("a"), Conn("b")
    hub.activate(hub.subscribe(a.member, ROOM), 0, answer())
    hub.activate(hub.subscribe(b.member, ROOM), 0, answer())
    hub.activate(hub.subscribe(a.member, OTHER), 0, answer())
    assert (hub.subscriptions, hub.room_count()) == (3, 2)
    hub.activate(hub.subscribe(a.member, ROOM), 0, answer())  # a re-join is no new member
    assert hub.subscriptions == 3
    hub.unsubscribe(b.member, ROOM)
    hub.unsubscribe(b.member, ROOM)  # twice: nothing more
    assert (hub.subscriptions, hub.room_count()) == (2, 2)
    hub.disconnect(a.member)
    assert (hub.subscriptions, hub.room_count()) == (0, 0)


def test_a_slow_client_counts_its_dropped_messages_and_its_resyncs() -> None:
    hub = RoomHub()
    slow, fine = Conn("slow", limit=5), Conn("fine", limit=100)
    for c in (slow, fine):
        hub.activate(hub.subscribe(c.member, ROOM), 0, answer())
    hub.activate(hub.subscribe(slow.member, OTHER), 0, answer())
    hub.deliver([msg(p) for p in range(1, 8)], 7)  # the 6th overflows slow's queue
    assert hub.dropped_messages == 5
    assert hub.resyncs == 2  # one per room it is in
    assert fine.positions() == list(range(1, 8))


def test_a_buffer_overflowing_while_joining_counts_too() -> None:
    hub = RoomHub(pending_limit=3)
    c = Conn()
    sub = hub.subscribe(c.member, ROOM)
    hub.deliver([msg(p) for p in range(1, 5)], 4)  # three buffered, then the fourth overflows
    assert hub.dropped_messages == 3
    hub.activate(sub, 0, answer())
    assert hub.resyncs == 1
