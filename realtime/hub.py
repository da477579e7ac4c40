"""``RoomHub``: this node's rooms, their members, and the fan-out of room messages.

Everything here runs on the event loop and never awaits: the log tail hands over batches
(``deliver``), joins and leaves come from the connections, presence and membership of other
nodes from the cluster bus. Per room, each connection gets messages in strictly increasing
position, with no duplicates: a subscription remembers the last position it passed on and
drops anything not above it.

Joining is a hand-over from "read from the store" to "live from the tail". A new subscription
starts *pending*: live messages for its room are buffered while the joining code reads the
store (current state, or the events missed since ``after_position``). ``activate`` then queues
the answer and, behind it, the buffered messages above the position the answer covered. Every
event is either delivered before the subscription existed (then it was committed before the
store read, so the read includes it) or after (then it is buffered): nothing falls between,
and de-duplication by position removes what falls in both.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from realtime.outbox import Outbox
from realtime.protocol import encode
from realtime.room_feed import RoomMessage

log = logging.getLogger(__name__)


class ClusterLink(Protocol):
    """Tells the other nodes about this node's members and presence (``realtime.cluster``)."""

    def local_joined(self, conn_id: int, room: str, user: str) -> None: ...

    def local_left(self, conn_id: int, room: str, user: str) -> None: ...

    def local_presence(self, room: str, user: str, cursor: Any, selection: Any) -> None: ...


@dataclass(eq=False)
class Member:
    """One connection, as the hub sees it."""

    conn_id: int
    username: str
    outbox: Outbox
    # Called when even the connection's replies no longer fit: the connection must go.
    too_slow: Callable[[], None]
    subscriptions: dict[str, Subscription] = field(default_factory=dict)


@dataclass(eq=False)
class Subscription:
    """A member in a room: where its stream stands, and its buffer while joining."""

    member: Member
    room: str
    last_position: int = 0
    pending: list[RoomMessage] | None = field(default_factory=list)
    # Its backlog was dropped (``resync`` sent): nothing more until the client re-joins.
    stale: bool = False
    counted: bool = False  # included in the room's member list

    @property
    def active(self) -> bool:
        return self.pending is None and not self.stale


class RoomHub:
    """Rooms, membership and fan-out on one node (see the module docstring)."""

    def __init__(self, cluster: ClusterLink | None = None, pending_limit: int = 5000) -> None:
        self.cluster = cluster
        self.pending_limit = pending_limit
        self.position = 0  # the last position the log tail handed over
        self._rooms: dict[str, dict[int, Subscription]] = {}
        self._project_rooms = 0  # how many project rooms have subscribers
        # Who is in each room, over all nodes: username → number of connections.
        self._people: dict[str, Counter[str]] = {}
        # Counts for the metrics (read from any thread: plain ints, changed on the loop only).
        self.subscriptions = 0  # this node's members of rooms, over all rooms
        self.resyncs = 0  # subscriptions whose backlog was dropped (``resync`` sent)
        self.dropped_messages = 0  # room messages dropped from slow clients' queues

    # -- rooms ----------------------------------------------------------------------------------

    def subscribe(self, member: Member, room: str) -> Subscription:
        """Start joining ``room``: live messages are buffered until ``activate``."""
        old = member.subscriptions.get(room)
        sub = Subscription(member, room, counted=old.counted if old is not None else False)
        member.subscriptions[room] = sub
        subs = self._rooms.get(room)
        if subs is None:
            subs = self._rooms[room] = {}
            if room.startswith("project:"):
                self._project_rooms += 1
        if subs.get(member.conn_id) is None:
            self.subscriptions += 1
        subs[member.conn_id] = sub
        return sub

    def activate(self, sub: Subscription, covered: int,
                 answer: Callable[[list[str]], list[str]]) -> None:
        """Finish joining: queue ``answer(members)`` (the reply, covering the room up to
        position ``covered``, given the member list as it is now, the joining user in it),
        then the buffered live messages above ``covered``."""
        member = sub.member
        if member.subscriptions.get(sub.room) is not sub:
            return  # left (or re-joined) while loading
        if not sub.counted:
            sub.counted = True
            self._add_person(sub.room, member.username, exclude=member.conn_id)
            if self.cluster is not None:
                self.cluster.local_joined(member.conn_id, sub.room, member.username)
        if not member.outbox.put_all(answer(self.members(sub.room))):
            member.too_slow()
            return
        pending, sub.pending = sub.pending or [], None
        sub.last_position = max(sub.last_position, covered)
        if sub.stale:  # its buffer overflowed while joining
            self._tell_resync(sub)
            return
        for m in pending:
            self._offer(sub, m)

    def unsubscribe(self, member: Member, room: str) -> bool:
        sub = member.subscriptions.pop(room, None)
        if sub is None:
            return False
        subs = self._rooms.get(room)
        if subs is not None and subs.get(member.conn_id) is sub:
            del subs[member.conn_id]
            self.subscriptions -= 1
            if not subs:
                del self._rooms[room]
                if room.startswith("project:"):
                    self._project_rooms -= 1
        if sub.counted:
            self._remove_person(room, member.username)
            if self.cluster is not None:
                self.cluster.local_left(member.conn_id, room, member.username)
        return True

    def disconnect(self, member: Member) -> None:
        for room in list(member.subscriptions):
            self.unsubscribe(member, room)

    # Read by the log tail's thread to skip work for rooms nobody is in. That is safe for the
    # join hand-over: a room is watched from ``subscribe`` on, before the joining code reads
    # the store, so an event skipped because its room was unwatched was committed before
    # that read and is part of it.

    def watched(self, room: str) -> bool:
        return room in self._rooms

    def room_count(self) -> int:
        """Rooms with a member on this node."""
        return len(self._rooms)

    def any_project_watched(self) -> bool:
        return self._project_rooms > 0

    def members(self, room: str) -> list[str]:
        """Everyone in ``room`` on any node, by username."""
        return sorted(self._people.get(room, ()))

    # -- fan-out --------------------------------------------------------------------------------

    def deliver(self, messages: list[RoomMessage], position: int) -> None:
        """A batch from the log tail, in position order."""
        rooms = self._rooms
        for m in messages:
            subs = rooms.get(m.room)
            if subs:
                for sub in list(subs.values()):
                    self._offer(sub, m)
        self.position = max(self.position, position)

    def _offer(self, sub: Subscription, m: RoomMessage) -> None:
        if sub.stale or m.position <= sub.last_position:
            return
        if sub.pending is not None:
            if len(sub.pending) >= self.pending_limit:
                sub.stale = True  # activate() sends resync once the answer is out
                self.dropped_messages += len(sub.pending)
                sub.pending = []
            else:
                sub.pending.append(m)
            return
        sub.last_position = m.position
        if not sub.member.outbox.put(m.text):
            self._overflow(sub.member)

    def _overflow(self, member: Member) -> None:
        """The member fell too far behind: drop its backlog, tell it to re-join its rooms."""
        dropped = member.outbox.drop_backlog()
        self.dropped_messages += dropped
        log.info("connection %d (%s) is too slow: dropped %d messages, resync", member.conn_id,
                 member.username, dropped)
        for sub in list(member.subscriptions.values()):
            # A joining subscription keeps its own buffer, so its stream has no gap.
            if sub.pending is None and not sub.stale:
                sub.stale = True
                self._tell_resync(sub)

    def _tell_resync(self, sub: Subscription) -> None:
        sub.stale = True
        self.resyncs += 1
        if not sub.member.outbox.put(encode({"op": "resync", "room": sub.room}),
                                     droppable=False):
            sub.member.too_slow()

    # -- presence and membership ----------------------------------------------------------------

    def presence(self, room: str, user: str, cursor: Any, selection: Any,
                 origin: Member | None = None) -> None:
        """Show a member's cursor/selection to the room (never stored, never resent)."""
        self._broadcast(room, encode({"op": "presence", "room": room, "user": user,
                                      "cursor": cursor, "selection": selection}), origin)
        if origin is not None and self.cluster is not None:
            self.cluster.local_presence(room, user, cursor, selection)

    def remote_joined(self, room: str, user: str) -> None:
        self._add_person(room, user)

    def remote_left(self, room: str, user: str) -> None:
        self._remove_person(room, user)

    def _add_person(self, room: str, user: str, exclude: int | None = None) -> None:
        people = self._people.setdefault(room, Counter())
        people[user] += 1
        if people[user] == 1:
            self._broadcast(room, encode({"op": "member_joined", "room": room, "user": user}),
                            None, exclude)

    def _remove_person(self, room: str, user: str) -> None:
        people = self._people.get(room)
        if people is None or people[user] <= 0:
            return
        people[user] -= 1
        if people[user] == 0:
            del people[user]
            if not people:
                del self._people[room]
            self._broadcast(room, encode({"op": "member_left", "room": room, "user": user}))

    def _broadcast(self, room: str, text: str, origin: Member | None = None,
                   exclude: int | None = None) -> None:
        """Ephemeral room traffic: to active members only; a full queue just misses it."""
        for sub in self._rooms.get(room, {}).values():
            if sub.active and sub.member is not origin and sub.member.conn_id != exclude:
                sub.member.outbox.put(text)
