"""Content-addressed storage of image bytes: ``root/ab/cd/<sha256>``.

A file's name is the SHA-256 of its bytes, so storing the same bytes twice is a no-op and a
stored file never changes (which is what lets the content endpoint answer ``immutable``).
Writes go to a temporary file in the target folder, are fsynced and then renamed into place, so
a crash leaves either no file or the complete one, never a torn one. Folders are created 0700
and files 0600, whatever the umask.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from service_layer.private_files import PRIVATE_FILE, make_private_dir

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024


class ImageStore:
    """Image files addressed by the lowercase hex SHA-256 of their bytes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        """Where the file for ``sha`` lives. Anything but 64 lowercase hex digits is refused,
        so a caller-supplied value can never point outside ``root``."""
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):  # "$" passes a "\n"
            raise ValueError("not a sha256 hex digest")
        return self.root / sha[:2] / sha[2:4] / sha

    def exists(self, sha: str) -> bool:
        try:
            return self.path(sha).is_file()
        except ValueError:
            return False

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256 (hex). Idempotent."""
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            self._write(sha, [data])
        return sha

    def put_file(self, source: BinaryIO, sha: str | None = None) -> str:
        """Store the rest of ``source`` (streamed, not read into memory at once).

        ``sha`` may be passed when the caller already hashed the bytes; it is checked anyway.
        """
        if sha is not None and self.exists(sha):
            return sha
        digest = hashlib.sha256()
        # The name is known only after hashing, so stage in root/tmp (same filesystem, so the
        # final os.replace is still an atomic rename).
        target_dir = self.root / "tmp"
        make_private_dir(target_dir, private_parents=True)
        fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), PRIVATE_FILE)
                for chunk in iter(lambda: source.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if sha is not None and sha != actual:
                raise ValueError("the bytes do not match the given sha256")
            final = self.path(actual)
            make_private_dir(final.parent, private_parents=True)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            return actual
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def put_many(self, items: Iterable[tuple[str, Callable[[], bytes]]], batch: int = 20_000
                 ) -> None:
        """Store many files: ``(sha256, read)`` pairs, ``read`` giving the bytes (a
        ``ValueError`` if they do not match). Two filesystem syncs per ``batch`` files instead
        of two fsyncs per file: a dataset import of 10,000 small images spent ~115 s in
        fsync here, and each sync costs what the whole machine has to flush, so batches are
        large (only paths are held). The guarantee is ``put``'s: a file is renamed into place
        only once its bytes are durable, and the renames are synced before this returns; the
        files wait in ``root/tmp`` (``.incoming-*``), which ``sweep_incoming`` clears after a
        crash."""
        pending: list[tuple[str, Path]] = []
        staging = self.root / "tmp"  # same filesystem: os.replace stays an atomic rename
        make_private_dir(staging, private_parents=True)

        def settle() -> None:
            if pending:
                os.sync()  # the bytes of every pending file, before any rename
                for tmp, final in pending:
                    os.replace(tmp, final)
                pending.clear()
                os.sync()  # the renames

        try:
            for sha, read in items:
                if self.exists(sha):
                    continue
                data = read()
                if hashlib.sha256(data).hexdigest() != sha:
                    raise ValueError("the bytes do not match the given sha256")
                final = self.path(sha)
                make_private_dir(final.parent, private_parents=True)
                fd, tmp = tempfile.mkstemp(dir=staging, prefix=".incoming-")
                pending.append((tmp, final))
                with os.fdopen(fd, "wb") as out:
                    os.fchmod(out.fileno(), PRIVATE_FILE)
                    out.write(data)
                if len(pending) >= batch:
                    settle()
            settle()
        finally:
            for tmp, _ in pending:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def sweep_incoming(self, older_than: float = 24 * 3600.0) -> int:
        """Remove files a killed process left half-written in ``root/tmp`` (``.incoming-*``:
        uploads being hashed, model weights being staged) that are older than
        ``older_than`` seconds, so a live upload on another node is never touched. Returns
        how many were removed. A process calls it when it starts."""
        folder = self.root / "tmp"
        if not folder.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for path in folder.glob(".incoming-*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # another node swept it first
        return removed

    def _write(self, sha: str, parts: list[bytes]) -> None:
        final = self.path(sha)
        make_private_dir(final.parent, private_parents=True)
        # The temporary file sits beside the target so os.replace is an atomic rename.
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), PRIVATE_FILE)
                for part in parts:
                    out.write(part)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry needs its own fsync)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the data itself is synced
    finally:
        os.close(fd)
