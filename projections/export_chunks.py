"""Byte buffers that turn many small JSON fragments into a stream of ~64 KB chunks.

Exports are written item by item (one ``orjson.dumps`` per image or annotation); yielding each
fragment on its own would cost a write system call and an ASGI message per few hundred bytes,
while buffering the whole document would defeat streaming. ``ChunkBuffer`` sits in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

CHUNK_SIZE = 64 * 1024
"""Target size of the chunks an export yields (the last one may be smaller)."""


class ChunkBuffer:
    """Accumulates bytes; :meth:`take` hands out a full chunk once ``size`` bytes are pending."""

    __slots__ = ("_buf", "size")

    def __init__(self, size: int = CHUNK_SIZE) -> None:
        self.size = size
        self._buf = bytearray()

    def write(self, data: bytes) -> None:
        """Append ``data`` to the pending bytes."""
        self._buf += data

    @property
    def full(self) -> bool:
        """Whether at least ``size`` bytes are pending."""
        return len(self._buf) >= self.size

    def take(self) -> bytes:
        """All pending bytes, as one chunk; the buffer is empty afterwards."""
        chunk = bytes(self._buf)
        self._buf.clear()
        return chunk

    def drain_into(self, file: IO[bytes]) -> None:
        """Write the pending bytes to ``file`` (a spool) and empty the buffer."""
        file.write(self._buf)
        self._buf.clear()


def read_chunks(file: IO[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The content of ``file`` from its current offset, ``size`` bytes at a time."""
    while True:
        chunk = file.read(size)
        if not chunk:
            return
        yield chunk
