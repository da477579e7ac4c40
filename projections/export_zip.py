"""A zip archive written entry by entry into a stream of chunks, with reproducible bytes.

Folder formats (YOLO, VOC, CVAT with images) are zips. The archive is never built in memory or
on disk: :class:`ZipStream` wraps the standard library's ``zipfile`` writing to an unseekable
sink, so each entry goes out as soon as it is written (sizes and CRC follow the data in a data
descriptor, as the zip format allows for streams) and only the central directory (``zipfile``'s
record of each entry, under 1 KB each: ~10 MB for 20,000 entries) stays in memory until the
end.

Reproducible: the same entries in the same order give the same bytes. Every entry has the
timestamp 1980-01-01 00:00 (the earliest a zip can hold), permissions 0644, the Unix "made by"
system and no extra fields; text is deflated at a fixed level, image files are stored as they
are (they are compressed already). The bytes then depend only on the entries and on zlib's
version, which is part of the software.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from projections.export_chunks import CHUNK_SIZE

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""Every entry's timestamp: fixed, so the same export gives the same bytes."""

FILE_MODE = 0o100644  # a regular file, rw-r--r--
DEFLATE_LEVEL = 6
READ_SIZE = 1024 * 1024


class _Sink:
    """The file ``zipfile`` writes to: keeps what was written until it is taken.

    It has no ``seek``/``tell``, so ``zipfile`` treats it as a stream (data descriptors) and
    counts offsets itself.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self._buf += data
        return len(data)

    def flush(self) -> None:
        pass

    def pending(self) -> int:
        return len(self._buf)

    def take(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        return data


def _info(name: str, compress: bool, size: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.create_system = 3  # Unix, whatever the platform that writes it
    info.external_attr = FILE_MODE << 16
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.file_size = size  # lets zipfile decide on zip64 before the data is written
    return info


class ZipStream:
    """Write entries with :meth:`text`, :meth:`chunks`, :meth:`file`; each yields the chunks
    ready to send (~64 KB or more, so many small entries do not make many tiny writes).

    Call :meth:`close` last: it yields the rest (the central directory).
    """

    def __init__(self) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w",  # type: ignore[call-overload]
                                    compression=zipfile.ZIP_DEFLATED,
                                    compresslevel=DEFLATE_LEVEL)

    def text(self, name: str, data: bytes) -> Iterator[bytes]:
        """Add entry ``name`` holding ``data`` (deflated)."""
        with self._zip.open(_info(name, True, len(data)), "w") as entry:
            entry.write(data)
        yield from self._drain()

    def chunks(self, name: str, parts: Iterator[bytes], size_hint: int = 0) -> Iterator[bytes]:
        """Add entry ``name`` from ``parts`` (deflated), sending what is ready as it goes.

        ``size_hint`` above 2 GiB makes the entry zip64 (its size is not known in advance).
        """
        with self._zip.open(_info(name, True, size_hint), "w",
                            force_zip64=size_hint > (1 << 31)) as entry:
            for part in parts:
                entry.write(part)
                yield from self._drain()
        yield from self._drain()

    def file(self, name: str, path: Path) -> Iterator[bytes]:
        """Add entry ``name`` with the bytes of the file at ``path`` (stored, read 1 MiB at a
        time)."""
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            with self._zip.open(_info(name, False, size), "w") as entry:
                while block := source.read(READ_SIZE):
                    entry.write(block)
                    yield from self._drain()
        yield from self._drain()

    def close(self) -> Iterator[bytes]:
        """Finish the archive: the central directory and the end record."""
        self._zip.close()
        rest = self._sink.take()
        for start in range(0, len(rest), CHUNK_SIZE):
            yield rest[start:start + CHUNK_SIZE]

    def _drain(self) -> Iterator[bytes]:
        if self._sink.pending() >= CHUNK_SIZE:
            yield self._sink.take()
