"""Messages between nodes over one Redis pub/sub channel; reconnects by itself.

Redis is an accelerator here, never a source of truth: what goes over the bus is "the log's
head moved" (so other nodes read the log now instead of at their next poll), presence, and
room membership. If Redis is down, publishing is a no-op, the bus keeps trying to reconnect
with backoff, and the node keeps serving its own clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

MAX_BACKOFF = 2.0
SEND_QUEUE = 10_000
# The cluster publishes a heartbeat every few seconds and the bus hears its own messages too:
# hearing nothing for this long means the subscription is dead even if the socket is not.
SILENCE_TIMEOUT = 6.0


class RedisBus:
    """Publish/subscribe of small JSON messages on ``channel``."""

    def __init__(self, url: str, channel: str, on_message: Callable[[dict[str, Any]], None],
                 on_state: Callable[[bool], None] | None = None) -> None:
        self.url = url
        self.channel = channel
        self.on_message = on_message
        self.on_state = on_state
        self.connected = False
        self._outgoing: deque[bytes] = deque(maxlen=SEND_QUEUE)
        self._has_outgoing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_heard = 0.0

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="redis-bus")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def publish(self, message: dict[str, Any]) -> None:
        """Queue ``message`` for every node (this one too); dropped while disconnected."""
        if not self.connected:
            return
        self._outgoing.append(orjson.dumps(message))
        self._has_outgoing.set()

    async def _run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=2.0,
                                             socket_timeout=5.0)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            sender: asyncio.Task[None] | None = None
            try:
                await pubsub.subscribe(self.channel)
                self._last_heard = time.monotonic()
                self._set_state(True)
                backoff = 0.1
                sender = asyncio.create_task(self._send_loop(client))
                await self._listen(pubsub, sender)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, ConnectionError, TimeoutError) as e:
                if self.connected:
                    log.warning("redis bus: connection lost (%s); reconnecting", e)
                else:
                    log.debug("redis bus: cannot connect (%s)", e)
            except Exception:
                log.exception("redis bus: unexpected failure; reconnecting")
            finally:
                self._set_state(False)
                if sender is not None:
                    sender.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await sender
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            if self._stopping:
                return
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(MAX_BACKOFF, backoff * 2)

    async def _listen(self, pubsub: Any, sender: asyncio.Task[None]) -> None:
        while not self._stopping:
            if sender.done():
                sender.result()  # re-raise the sender's connection error
                return
            message = await pubsub.get_message(timeout=1.0)
            now = time.monotonic()
            if message is None:
                if now - self._last_heard > SILENCE_TIMEOUT:
                    raise ConnectionError("no message from redis for "
                                          f"{SILENCE_TIMEOUT:.0f} s")
                continue
            self._last_heard = now
            if message.get("type") != "message":
                continue
            try:
                body = orjson.loads(message["data"])
            except orjson.JSONDecodeError:
                log.warning("redis bus: ignoring a message that is not JSON")
                continue
            if isinstance(body, dict):
                try:
                    self.on_message(body)
                except Exception:
                    log.exception("redis bus: handling a message failed")

    async def _send_loop(self, client: Any) -> None:
        while True:
            while not self._outgoing:
                self._has_outgoing.clear()
                await self._has_outgoing.wait()
            # Whatever piled up while the last round trip was in flight goes in one pipeline.
            batch = [self._outgoing.popleft() for _ in range(min(len(self._outgoing), 500))]
            if len(batch) == 1:
                await client.publish(self.channel, batch[0])
                continue
            async with client.pipeline(transaction=False) as pipe:
                for data in batch:
                    pipe.publish(self.channel, data)
                await pipe.execute()

    def _set_state(self, connected: bool) -> None:
        if connected == self.connected:
            return
        self.connected = connected
        if not connected:
            self._outgoing.clear()
        if self.on_state is not None:
            try:
                self.on_state(connected)
            except Exception:
                log.exception("redis bus: state listener failed")
