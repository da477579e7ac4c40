"""One WebSocket connection speaking the room protocol (docs/realtime.md).

The receive loop checks each frame synchronously (size, JSON, op, fields), so a bad message
is answered at once and costs nothing else; work that waits on a store or on the command
pipeline runs in its own task, so a slow join never holds up the next message. Everything the
connection is sent goes through its ``Outbox``.

A connection outlives the token it was opened with, so ``check_credentials`` (given by the
endpoint) is asked again and again by ``LiveCollaboration``: once the token is revoked or its
user disabled, the connection is told (``error`` ``unauthorized``) and closed with 4401, and
nothing it sends after that is acted on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from domain.application import parse_uuid
from domain.command_pipeline import Actor, CommandResult
from domain.commands import parse_command
from domain.errors import DomainError
from event_store.positions import log_head
from realtime.hub import Member, Subscription
from realtime.outbox import Outbox
from realtime.presence import FloodGuard, PresenceThrottle
from realtime.protocol import (
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    MAX_MESSAGE_BYTES,
    MAX_ROOMS_PER_CONNECTION,
    ProtocolError,
    Room,
    decode,
    encode,
    error,
    invalid,
    parse_cursor,
    parse_position,
    parse_ref,
    parse_room,
    parse_selection,
)
from realtime.room_state import MAX_REPLAY

if TYPE_CHECKING:
    from realtime.live import LiveCollaboration

log = logging.getLogger(__name__)

MAX_COMMANDS_IN_FLIGHT = 256
MAX_JOINS_IN_FLIGHT = 8  # each reads the store in a worker thread
_COMMAND_ENVELOPE = frozenset({"op", "ref", "image_id"})
OPS = ("join", "leave", "command", "presence", "ping")


class Transport(Protocol):
    """The socket, as the session needs it (``web.endpoints.websocket`` adapts Starlette's)."""

    async def receive(self) -> str | bytes | None:
        """The next frame, or None once the client is gone."""

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str = "") -> None: ...


class ClientSession:
    """The server side of one authenticated connection."""

    def __init__(self, live: LiveCollaboration, transport: Transport, username: str,
                 is_admin: bool,
                 check_credentials: Callable[[], str | None] | None = None) -> None:
        self.live = live
        # Blocking (may read a store): None while the credentials hold, else why not.
        self.check_credentials = check_credentials
        self.transport = transport
        self.actor = Actor(username, is_admin)
        self.outbox = Outbox(transport.send, live.outbox_limit)
        self.member = Member(live.next_conn_id(), username, self.outbox, self._too_slow)
        self._tasks: set[asyncio.Task[None]] = set()
        self._throttles: dict[str, PresenceThrottle] = {}
        self._flood = FloodGuard()
        self._commands_in_flight = 0
        self._joins_in_flight = 0
        self._closing = False
        self._revoked: str | None = None
        self._writer: asyncio.Task[None] | None = None
        self._ops: dict[str, Callable[[dict[str, Any], Any], None]] = {
            "join": self._join, "leave": self._leave, "command": self._command,
            "presence": self._presence, "ping": self._ping,
        }

    @property
    def username(self) -> str:
        return self.actor.username

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the client leaves or the server closes it."""
        self.live.sessions.add(self)
        writer = asyncio.create_task(self._write(), name=f"ws-writer-{self.member.conn_id}")
        self._writer = writer
        try:
            while not self._closing:
                frame = await self.transport.receive()
                if frame is None:
                    break
                self.handle(frame)
        finally:
            self._closing = True
            self.live.sessions.discard(self)
            self.live.hub.disconnect(self.member)
            for throttle in self._throttles.values():
                throttle.cancel()
            for task in list(self._tasks):
                task.cancel()
            self.outbox.close()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def close(self, code: int, reason: str = "") -> None:
        """Close the connection from the server side (shutdown, too slow)."""
        if self._closing:
            return
        self._closing = True
        with contextlib.suppress(Exception):
            await self.transport.close(code, reason)

    def revoke(self, reason: str) -> None:
        """The credentials no longer hold: say so, stop acting on messages, and close (4401)
        once the error is written."""
        if self._closing or self._revoked is not None:
            return
        self._revoked = reason
        log.info("connection %d (%s): %s; closing it", self.member.conn_id, self.username,
                 reason)
        self.live.hub.disconnect(self.member)  # no more room traffic for this connection
        self.outbox.drop_backlog()
        self.outbox.put(error("unauthorized", reason), droppable=False)
        self.outbox.close()
        self._spawn(self._close_revoked(reason))

    async def _close_revoked(self, reason: str) -> None:
        writer = self._writer
        if writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(writer), 2.0)
        await self.close(CLOSE_UNAUTHORIZED, reason[:120])

    async def _write(self) -> None:
        try:
            await self.outbox.run()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the socket went away mid-send; the receive loop sees it too
            log.debug("connection %d: send failed: %s", self.member.conn_id, e)

    def _too_slow(self) -> None:
        if not self._closing:
            log.warning("connection %d (%s) does not read its replies; closing it",
                        self.member.conn_id, self.username)
            self._spawn(self.close(CLOSE_TOO_SLOW, "too slow"))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def reply(self, text: str) -> None:
        if not self.outbox.put(text, droppable=False):
            self._too_slow()

    # -- one frame ------------------------------------------------------------------------------

    def handle(self, frame: str | bytes) -> None:
        """Check and run one client frame; every refusal is answered with an ``error``."""
        ref = None
        if self._revoked is not None:
            return  # closing: nothing this connection sends is acted on any more
        try:
            if isinstance(frame, bytes):
                raise invalid("messages are JSON text frames, not binary", "message")
            if len(frame) > MAX_MESSAGE_BYTES or (
                    len(frame) * 4 > MAX_MESSAGE_BYTES
                    and len(frame.encode()) > MAX_MESSAGE_BYTES):
                raise ProtocolError("too_large", f"a message may have at most "
                                    f"{MAX_MESSAGE_BYTES} bytes",
                                    {"limit": MAX_MESSAGE_BYTES})
            message = decode(frame)
            ref = parse_ref(message.get("ref"))
            op = message.get("op")
            handler = self._ops.get(op) if isinstance(op, str) else None
            if handler is None:
                raise ProtocolError("validation", f"unknown op {op!r}",
                                    {"field": "op", "allowed": list(OPS)}, ref)
            handler(message, ref)
        except ProtocolError as e:
            self.reply(error(e.code, e.message, e.ref if e.ref is not None else ref,
                             e.details))
        except DomainError as e:
            self.reply(error(e.code, e.message, ref, e.details))

    @staticmethod
    def _only(message: dict[str, Any], allowed: set[str], ref: Any) -> None:
        extra = set(message) - allowed - {"op", "ref"}
        if extra:
            name = sorted(extra)[0]
            raise invalid(f"unexpected field {name!r} in a {message['op']} message", name, ref)

    @staticmethod
    def _room(message: dict[str, Any], ref: Any) -> Room:
        if "room" not in message:
            raise invalid("room is required", "room", ref)
        return parse_room(message["room"], ref)

    def _ping(self, message: dict[str, Any], ref: Any) -> None:
        self._only(message, set(), ref)
        self.reply(encode({"op": "pong"} if ref is None else {"op": "pong", "ref": ref}))

    # -- rooms ----------------------------------------------------------------------------------

    def _join(self, message: dict[str, Any], ref: Any) -> None:
        self._only(message, {"room", "after_position"}, ref)
        room = self._room(message, ref)
        after = parse_position(message.get("after_position"), "after_position", ref)
        subs = self.member.subscriptions
        if room.name not in subs and len(subs) >= MAX_ROOMS_PER_CONNECTION:
            raise invalid(f"a connection may be in at most {MAX_ROOMS_PER_CONNECTION} rooms",
                          "room", ref)
        if self._joins_in_flight >= MAX_JOINS_IN_FLIGHT:
            raise ProtocolError("rate_limited", f"at most {MAX_JOINS_IN_FLIGHT} joins may be "
                                "answered at a time", {"limit": MAX_JOINS_IN_FLIGHT}, ref)
        self._joins_in_flight += 1
        self._spawn(self._joining(room, after, ref))

    async def _joining(self, room: Room, after: int | None, ref: Any) -> None:
        try:
            await self._join_room(room, after, ref)
        finally:
            self._joins_in_flight -= 1

    async def _join_room(self, room: Room, after: int | None, ref: Any) -> None:
        hub, state = self.live.hub, self.live.state
        sub: Subscription | None = None
        try:
            await asyncio.to_thread(state.authorize, room, self.username, self.actor.is_admin)
            sub = hub.subscribe(self.member, room.name)
            if room.kind == "image":
                await self._join_image(sub, room, after, ref)
            else:
                await self._join_project(sub, room, ref)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if sub is not None and self.member.subscriptions.get(room.name) is sub:
                hub.unsubscribe(self.member, room.name)
            if isinstance(e, (DomainError, ProtocolError)):
                self.reply(error(e.code, e.message, ref, e.details))
            else:
                log.exception("joining %s failed", room.name)
                self.reply(error("internal", "joining the room failed; the incident was "
                                 "logged", ref))

    async def _join_image(self, sub: Subscription, room: Room, after: int | None,
                          ref: Any) -> None:
        base = {"op": "joined", "room": room.name} if ref is None else {
            "op": "joined", "room": room.name, "ref": ref}
        state = self.live.state
        if after is not None:
            # A replay is queued whole, so it must fit the connection's queue with room to
            # spare; beyond that the full state is sent instead (and is cheaper anyway).
            most = min(MAX_REPLAY, self.outbox.hard_limit // 2)
            missed = await asyncio.to_thread(state.missed_events, room.id, after, most)
            if missed is not None:
                def resumed(members: list[str]) -> list[str]:
                    head = encode({**base, "resumed": True, "after_position": after,
                                   "version": missed.version, "position": missed.position,
                                   "missed": len(missed.messages), "members": members})
                    return [head, *(m.text for m in missed.messages)]

                self.live.hub.activate(sub, missed.position, resumed)
                return
            # Too much was missed: the full state is cheaper than the events.
        current = await asyncio.to_thread(state.image_state, room.id)

        def joined(members: list[str]) -> list[str]:
            return [encode({**base, "resumed": False, "version": current.version,
                            "position": current.position, "status": current.status,
                            "annotations": current.annotations, "members": members})]

        self.live.hub.activate(sub, current.position, joined)

    async def _join_project(self, sub: Subscription, room: Room, ref: Any) -> None:
        # Everything committed before this subscription existed must be in the counts (later
        # events reach the subscription): wait for the read model to pass the head as read
        # now, after subscribing.
        state = self.live.state
        at_least = await asyncio.to_thread(log_head, self.live.app)
        found = await asyncio.to_thread(state.project_state, str(room.id), at_least)
        if found is None:
            raise ProtocolError("not_ready", "the project counts are not up to date yet; "
                                "retry shortly", {"position": at_least}, ref)

        def joined(members: list[str]) -> list[str]:
            body = {"op": "joined", "room": room.name, "resumed": False,
                    "position": found.position, "counts": found.counts, "members": members}
            if ref is not None:
                body["ref"] = ref
            return [encode(body)]

        self.live.hub.activate(sub, found.position, joined)

    def _leave(self, message: dict[str, Any], ref: Any) -> None:
        self._only(message, {"room"}, ref)
        room = self._room(message, ref)
        throttle = self._throttles.pop(room.name, None)
        if throttle is not None:
            throttle.cancel()
        self.live.hub.unsubscribe(self.member, room.name)
        body = {"op": "left", "room": room.name}
        if ref is not None:
            body["ref"] = ref
        self.reply(encode(body))

    # -- commands -------------------------------------------------------------------------------

    def _command(self, message: dict[str, Any], ref: Any) -> None:
        if ref is None:
            raise invalid("a command needs a ref (echoed in its ack or error)", "ref")
        raw_id = message.get("image_id")
        if not isinstance(raw_id, str):
            raise invalid("image_id is required", "image_id", ref)
        image_id = parse_uuid(raw_id, "image")
        command = parse_command(message, skip_extra=_COMMAND_ENVELOPE)
        if self._commands_in_flight >= MAX_COMMANDS_IN_FLIGHT:
            raise ProtocolError("rate_limited", f"at most {MAX_COMMANDS_IN_FLIGHT} commands "
                                "may await their ack", {"limit": MAX_COMMANDS_IN_FLIGHT}, ref)
        future = self.live.pipeline.submit(image_id, [command], self.actor)
        self._commands_in_flight += 1
        self._spawn(self._acknowledge(future, ref))

    async def _acknowledge(self, future: Future[CommandResult], ref: Any) -> None:
        try:
            result = await asyncio.wrap_future(future)
        except DomainError as e:
            self.reply(error(e.code, e.message, ref, e.details))
        except Exception:
            log.exception("a websocket command failed")
            self.reply(error("internal", "the command failed; the incident was logged", ref))
        else:
            # Acknowledged only now: the events are committed.
            self.reply(encode({"op": "ack", "ref": ref, "image_id": result.image_id,
                               "version": result.version, "position": result.position}))
        finally:
            self._commands_in_flight -= 1

    # -- presence -------------------------------------------------------------------------------

    def _presence(self, message: dict[str, Any], ref: Any) -> None:
        self._only(message, {"room", "cursor", "selection"}, ref)
        if not self._flood.allow():
            if self._flood.warned_in_window:
                return  # said once this second; drop the rest quietly
            self._flood.warned_in_window = True
            raise ProtocolError("rate_limited", "too many presence messages; send at most "
                                "10 a second", {"limit_per_second": self._flood.per_second},
                                ref)
        room = self._room(message, ref)
        sub = self.member.subscriptions.get(room.name)
        if sub is None or not sub.counted:
            raise invalid("join the room before sending presence to it", "room", ref)
        cursor = parse_cursor(message.get("cursor"))
        selection = parse_selection(message.get("selection"))
        throttle = self._throttles.get(room.name)
        if throttle is None:
            name = room.name
            hub = self.live.hub

            def send(cursor: Any, selection: Any) -> None:
                if name in self.member.subscriptions:
                    hub.presence(name, self.username, cursor, selection, origin=self.member)

            throttle = self._throttles[name] = PresenceThrottle(
                send, asyncio.get_running_loop())
        throttle.offer(cursor, selection)
