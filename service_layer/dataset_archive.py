"""The files of a labeled dataset upload: a zip, a single JSON/XML file, or (CLI) a folder.

A zip is untrusted: before any entry is read, its central directory is checked against
``ArchiveLimits`` (entry count, total uncompressed size, each entry's compression ratio) and
every name against escaping (``..``, absolute paths, drive letters, backslashes, NUL) and
against links (an entry whose Unix mode says symlink). Reading an entry is bounded by the
size the directory declared, so a lying header cannot inflate past the limits either. Folders
(CLI) follow the same rules: a symlink is refused, not followed.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from service_layer.dataset_formats.dataset import dataset_error, too_large

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """What a dataset zip may unpack to. Images of a 10,000-image dataset plus their label
    files are ~20,000 entries; a JPEG or PNG hardly compresses, label text ~5-10x, so a ratio
    of 200 is only reached by crafted (bomb) entries."""

    max_entries: int = 200_000
    max_total: int = 8 * 1024 * 1024 * 1024  # bytes, uncompressed
    max_ratio: float = 200.0
    ratio_floor: int = 1024 * 1024  # entries smaller than this are not ratio-checked


def _safe_name(raw: str) -> str:
    """``raw`` as a relative POSIX path inside the archive, or the refusal naming it."""
    if "\x00" in raw or "\\" in raw or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise dataset_error("unsafe_path", f"the archive entry {raw!r} is an absolute or "
                            "malformed path", None, entry=raw)
    parts = PurePosixPath(raw).parts
    if any(p == ".." for p in parts):
        raise dataset_error("unsafe_path", f"the archive entry {raw!r} points outside the "
                            "archive", None, entry=raw)
    return "/".join(p for p in parts if p not in ("", "."))


def _ignored(name: str) -> bool:
    """macOS resource forks and Finder files, which zips made on a Mac carry."""
    return name.startswith("__MACOSX/") or PurePosixPath(name).name in (".DS_Store",
                                                                           "Thumbs.db")


class ArchiveFiles:
    """The regular files of a dataset zip, checked as a whole before any is read."""

    def __init__(self, source: IO[bytes] | Path, limits: ArchiveLimits = ArchiveLimits()) -> None:
        try:
            self._zip = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise dataset_error("malformed", f"the upload is not a readable zip: {e}") from None
        self.limits = limits
        self._entries: dict[str, zipfile.ZipInfo] = {}
        infos = self._zip.infolist()
        if len(infos) > limits.max_entries:
            raise too_large("archive_entries", f"the zip holds {len(infos):,} entries; at most "
                            f"{limits.max_entries:,} are allowed", limit=limits.max_entries)
        total = 0
        for info in infos:
            name = _safe_name(info.filename)
            if info.is_dir() or not name or _ignored(name):
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise dataset_error("unsafe_path", f"the archive entry {name!r} is a symbolic "
                                    "link; links are not followed", None, entry=name)
            if info.flag_bits & 0x1:
                raise dataset_error("malformed", f"the archive entry {name!r} is encrypted",
                                    None, entry=name)
            total += info.file_size
            if total > limits.max_total:
                raise too_large("archive_size", f"the zip unpacks to more than "
                                f"{limits.max_total:,} bytes", limit=limits.max_total)
            if (info.file_size > limits.ratio_floor
                    and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
                raise too_large("archive_ratio", f"the archive entry {name!r} unpacks "
                                f"{info.file_size / max(info.compress_size, 1):,.0f} times its "
                                f"packed size (at most {limits.max_ratio:,.0f})",
                                entry=name, limit=limits.max_ratio)
            if name in self._entries:
                raise dataset_error("duplicate_file_name", f"the zip holds {name!r} twice",
                                    None, entry=name)
            self._entries[name] = info
        self.names = sorted(self._entries)

    def size(self, name: str) -> int:
        return self._entries[name].file_size

    def read(self, name: str) -> bytes:
        """The entry's bytes, never more than its directory entry declared."""
        info = self._entries[name]
        try:
            with self._zip.open(info) as f:
                data = f.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
            raise dataset_error("malformed", f"the archive entry {name!r} cannot be read: {e}",
                                None, entry=name) from None
        if len(data) > info.file_size:
            raise too_large("archive_size", f"the archive entry {name!r} unpacks to more than "
                            "its header says", entry=name)
        return data

    def close(self) -> None:
        self._zip.close()


class SingleFile:
    """One uploaded JSON or XML file (COCO, CVAT, Label Studio, one VOC annotation)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.names = [PurePosixPath(name.replace("\\", "/")).name or "upload"]
        self._data = data

    def size(self, name: str) -> int:
        return len(self._data)

    def read(self, name: str) -> bytes:
        return self._data

    def close(self) -> None:
        self._data = b""


class FolderFiles:
    """A dataset folder on the CLI's disk, under the same rules as a zip."""

    def __init__(self, root: Path, limits: ArchiveLimits = ArchiveLimits()) -> None:
        self.root = root
        self._sizes: dict[str, int] = {}
        total = 0
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                raise dataset_error("unsafe_path", f"{rel!r} is a symbolic link; links are not "
                                    "followed", None, entry=rel)
            if not path.is_file() or _ignored(rel):
                continue
            size = path.stat().st_size
            total += size
            if total > limits.max_total:
                raise too_large("archive_size", f"the folder holds more than "
                                f"{limits.max_total:,} bytes", limit=limits.max_total)
            self._sizes[rel] = size
            if len(self._sizes) > limits.max_entries:
                raise too_large("archive_entries", f"the folder holds more than "
                                f"{limits.max_entries:,} files", limit=limits.max_entries)
        self.names = sorted(self._sizes)

    def size(self, name: str) -> int:
        return self._sizes[name]

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()  # a name of our own listing

    def close(self) -> None:
        """Nothing to release."""


def open_upload(file_name: str, source: IO[bytes], limits: ArchiveLimits = ArchiveLimits()
                ) -> ArchiveFiles | SingleFile:
    """The files of an upload: a zip by its magic bytes, else one JSON/XML file."""
    source.seek(0)
    head = source.read(4)
    source.seek(0)
    if head in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):
        return ArchiveFiles(source, limits)
    return SingleFile(file_name, source.read())
