"""An export on the client's disk: streamed to a file with its SHA-256, a zip unpacked safely.

``labelwright.client`` downloads exports with this. The archive comes from a server the user
chose, but a zip names its own paths, so unpacking trusts none of them: every member must be
a plain relative path that stays inside the destination folder (no absolute paths, no ``..``,
no drive letters, no symbolic links), and the bytes written are counted as they are written
(a member's declared size can lie), up to a limit.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

MAX_UNPACKED_BYTES = 64 * 1024**3  # what unpacking one export may write in all
MAX_MEMBERS = 10_000_000
_CHUNK = 1024 * 1024


class UnsafeArchive(ValueError):
    """A zip whose member names or sizes would write outside the folder, or too much."""


def save_stream(chunks: Iterable[bytes], target: Path) -> str:
    """Write ``chunks`` to ``target`` (through a temporary file beside it, renamed into place
    once complete, so an interrupted download never leaves a half file under the real name).
    Returns the lowercase hex SHA-256 of the bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, None for a folder entry; ``UnsafeArchive`` if it is not a
    plain relative path or is a link."""
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchive(f"the archive holds a symbolic link ({name!r})")
    if "\\" in name or "\x00" in name or name.startswith("/") or (len(name) > 1
                                                                  and name[1] == ":"):
        raise UnsafeArchive(f"the archive names an absolute or odd path ({name!r})")
    parts = (name[:-1] if info.is_dir() else name).split("/")
    path = PurePosixPath(name)
    if any(part in ("..", "") for part in parts) or path.is_absolute():
        raise UnsafeArchive(f"the archive names a path outside its folder ({name!r})")
    if info.is_dir():
        return None
    return path


def unpack_zip(archive: Path, folder: Path, max_bytes: int = MAX_UNPACKED_BYTES) -> list[Path]:
    """Unpack ``archive`` into ``folder`` (created if needed; files of the same name are
    replaced). Every name is checked before anything is written. Returns the files written,
    in archive order."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > MAX_MEMBERS:
            raise UnsafeArchive(f"the archive has more than {MAX_MEMBERS:,} members")
        plan = [(info, path) for info in members
                if (path := _member_path(info)) is not None]
        written: list[Path] = []
        total = 0
        for info, rel in plan:
            target = root.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            # A folder already there could be a link pointing elsewhere: judge where the bytes
            # would really land.
            if not target.parent.resolve().is_relative_to(root) or target.is_symlink():
                raise UnsafeArchive(f"{info.filename!r} would be written outside {folder}")
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    total += len(chunk)
                    if total > max_bytes:
                        raise UnsafeArchive(f"the archive unpacks to more than {max_bytes:,} "
                                            "bytes")
                    out.write(chunk)
            written.append(folder.joinpath(*rel.parts))  # as the caller named the folder
    return written

