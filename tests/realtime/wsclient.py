"""A recording WebSocket client of the room protocol, and the client-side fold of events.

``ImageView`` is what a client author writes from docs/realtime.md: start from ``joined``,
apply each ``event`` in order. The tests compare it with ``GET /images/{id}/annotations``, so
it also checks that the events carry everything a client needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

Message = dict[str, Any]


class LiveClient:
    """One connection that records every message it receives."""

    def __init__(self, ws: ClientConnection, name: str = "") -> None:
        self.ws = ws
        self.name = name
        self.messages: list[Message] = []
        self.arrived: list[float] = []  # time.perf_counter() of each message
        self.closed_code: int | None = None
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, token: str | None = None, name: str = "",
                      **kwargs: Any) -> LiveClient:
        full = url if token is None else f"{url}?token={token}"
        ws = await websockets.connect(full, max_size=None, open_timeout=10, **kwargs)
        return cls(ws, name)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.messages.append(json.loads(raw))
                self.arrived.append(time.perf_counter())
                async with self._changed:
                    self._changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed_code = self.ws.close_code if self.ws.close_code is not None else 1006
            async with self._changed:
                self._changed.notify_all()

    async def send(self, message: Message | str | bytes) -> None:
        await self.ws.send(message if isinstance(message, (str, bytes))
                           else json.dumps(message))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a laptop losing Wi-Fi)."""
        self.ws.transport.abort()

    async def wait_for(self, match: Callable[[Message], bool], since: int = 0,
                       timeout: float = 10.0) -> Message:
        """The first message at index >= ``since`` that ``match``es, waiting for it."""
        deadline = time.monotonic() + timeout
        index = since
        async with self._changed:
            while True:
                while index < len(self.messages):
                    if match(self.messages[index]):
                        return self.messages[index]
                    index += 1
                if self.closed_code is not None:
                    raise AssertionError(f"{self.name}: closed ({self.closed_code}) while "
                                         f"waiting; got {self.messages[since:][-5:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.name}: timed out; last messages "
                                         f"{self.messages[since:][-5:]}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)

    async def op(self, op: str, since: int = 0, timeout: float = 10.0, **fields: Any) -> Message:
        return await self.wait_for(
            lambda m: m.get("op") == op and all(m.get(k) == v for k, v in fields.items()),
            since, timeout)

    async def closed(self, timeout: float = 10.0) -> int:
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        assert self.closed_code is not None
        return self.closed_code

    async def join(self, room: str, after_position: int | None = None,
                   timeout: float = 10.0) -> Message:
        mark = len(self.messages)
        body: Message = {"op": "join", "room": room}
        if after_position is not None:
            body["after_position"] = after_position
        await self.send(body)
        return await self.wait_for(
            lambda m: (m.get("op") == "joined" and m.get("room") == room)
            or m.get("op") == "error", mark, timeout)

    async def command(self, image_id: str, command: Message, timeout: float = 10.0
                      ) -> Message:
        """Send one command; its ``ack`` or ``error``."""
        ref = uuid.uuid4().hex[:10]
        mark = len(self.messages)
        await self.send({"op": "command", "ref": ref, "image_id": image_id, **command})
        return await self.wait_for(lambda m: m.get("ref") == ref
                                   and m.get("op") in ("ack", "error"), mark, timeout)

    def index_of(self, message: Message) -> int:
        return next(i for i, m in enumerate(self.messages) if m is message)

    def view(self, joined: Message) -> ImageView:
        """The fold of ``joined`` and every event of its room received after it."""
        return ImageView(joined).apply_all(self.messages[self.index_of(joined) + 1:])

    def events(self, room: str, since: int = 0) -> list[Message]:
        return [m for m in self.messages[since:]
                if m.get("op") == "event" and m.get("room") == room]


def create_box(label: str = "cat", x: float = 10, **extra: Any) -> Message:
    return {"type": "create", "annotation": {"type": "box", "label": label,
                                             "geometry": {"x": x, "y": 20, "w": 30, "h": 40}},
            **extra}


def edit_box(annotation_id: str, x: float, base_revision: int | None = None) -> Message:
    body: Message = {"type": "edit", "annotation_id": annotation_id,
                     "changes": {"geometry": {"x": x, "y": 20, "w": 30, "h": 40}}}
    if base_revision is not None:
        body["base_revision"] = base_revision
    return body


_WORK = {"AnnotationCreated", "AnnotationEdited", "AnnotationDeleted", "PrelabelAccepted",
         "PrelabelEdited", "PrelabelRejected", "AnnotationAttributesSet"}


class ImageView:
    """A client's picture of one image: ``joined`` plus every ``event`` since, in order."""

    def __init__(self, joined: Message) -> None:
        assert joined["op"] == "joined" and not joined["resumed"], joined
        self.room = joined["room"]
        self.version: int = joined["version"]
        self.position: int = joined["position"]
        self.status: str = joined["status"]
        self.annotations: dict[str, Message] = {a["id"]: dict(a)
                                                 for a in joined["annotations"]}

    def apply(self, message: Message) -> None:
        assert message["op"] == "event" and message["room"] == self.room, message
        # The protocol's promise: in order, no gaps, no duplicates.
        assert message["position"] > self.position, (message["position"], self.position)
        assert message["version"] == self.version + 1, (message["version"], self.version)
        self.version, self.position = message["version"], message["position"]
        event = message["event"]
        kind, data, actor, at = event["type"], event["data"], event["actor"], event["at"]
        anns = self.annotations
        if kind in ("AnnotationCreated", "PrelabelProposed"):
            prelabel = kind == "PrelabelProposed"
            ann = {"id": data["annotation_id"], "type": data["annotation_type"],
                   "label": data["label"], "geometry": data["geometry"],
                   "source": "prelabel" if prelabel else data["source"],
                   "status": "proposed" if prelabel else "manual", "revision": 1,
                   "created_by": actor, "updated_by": actor, "updated_at": at,
                   "attributes": {}}
            if prelabel:
                ann["model"], ann["score"] = data["model"], data["score"]
            anns[data["annotation_id"]] = ann
        elif kind == "AnnotationAttributesSet":
            ann = anns[data["annotation_id"]]
            ann.update(attributes=dict(data["attributes"]), revision=data["revision"],
                       updated_by=actor, updated_at=at)
        elif kind in ("AnnotationDeleted", "PrelabelRejected"):
            del anns[data["annotation_id"]]
        elif kind in ("AnnotationEdited", "PrelabelEdited", "PrelabelAccepted"):
            ann = anns[data["annotation_id"]]
            ann["revision"] += 1
            ann["updated_by"], ann["updated_at"] = actor, at
            if kind == "PrelabelAccepted":
                ann["status"] = "accepted"
            if kind == "PrelabelEdited":
                ann["status"] = "edited"
            for key in ("label", "geometry"):
                if data.get(key) is not None:
                    ann[key] = data[key]
        elif kind == "ImageSubmitted":
            self.status = "submitted"
        elif kind == "ReviewRecorded":
            self.status = "approved" if data["verdict"] == "approve" else "rejected"
        elif kind == "ImageReopened":
            self.status = "in_progress"
        if kind in _WORK and self.status != "submitted":
            self.status = "in_progress"

    def apply_all(self, messages: list[Message]) -> ImageView:
        """Apply every event of this room in ``messages`` (those after the ``joined``)."""
        for m in messages:
            if m.get("op") == "event" and m.get("room") == self.room:
                self.apply(m)
        return self

    def as_read_model(self) -> Message:
        return {"version": self.version, "position": self.position,
                "annotations": list(self.annotations.values())}


def read_model_part(body: Message) -> Message:
    return {"version": body["version"], "position": body["position"],
            "annotations": body["annotations"]}
