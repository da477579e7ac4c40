"""The manifest of a backup: what a backup folder holds, written last.

``manifest.json`` names the backup's format version, the Labelwright version that took it,
the store it came from (``sqlite``: the whole embedded store; ``files``: only the data dir's
files, the database being PostgreSQL's own dump), the global position the backup holds the log
up to, when it was taken, and every file with its size and SHA-256. It is written after every
file is complete and fsynced, through a temporary file renamed into place, so a folder without
a manifest is an unfinished backup (the process died, the disk filled) and is never restored.

Paths in a manifest are relative, use ``/`` and may only name the layout a backup has
(``events.sqlite``, ``images/ab/cd/<sha256>``...): a manifest edited to point outside the
backup (``../``, an absolute path) is refused before anything is read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from domain.errors import DomainError

MANIFEST = "manifest.json"
FORMAT = "labelwright-backup"
VERSION = 1
STORES = ("sqlite", "files")
_CHUNK = 1024 * 1024
# What a backup may hold: the two SQLite stores, small top-level files (the session key, the
# demo markers), and content-addressed files of the image and model stores.
_ALLOWED = re.compile(
    r"^(?:events\.sqlite|auth\.sqlite|secret_key|[A-Za-z0-9_-]{1,64}\.json"
    r"|(?:images|models)/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64})$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BackupRefused(DomainError):
    """A backup or restore that cannot go ahead (an unfinished or damaged backup, a target
    that is not empty, a backup of the wrong kind of store). Nothing was changed."""

    code = "backup_refused"


@dataclass(frozen=True)
class BackupFile:
    """One file of a backup, relative to its folder."""

    path: str
    size: int
    sha256: str


@dataclass
class Manifest:
    """What ``manifest.json`` says (module docstring)."""

    store: str
    position: int
    created_at: str
    labelwright_version: str
    files: list[BackupFile] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "store": self.store,
                "position": self.position, "created_at": self.created_at,
                "labelwright_version": self.labelwright_version,
                "files": [{"path": f.path, "size": f.size, "sha256": f.sha256}
                          for f in self.files]}

    @classmethod
    def from_json(cls, raw: Any) -> Manifest:
        """The manifest in ``raw`` (parsed JSON), or ``BackupRefused`` saying what is wrong."""
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise BackupRefused("manifest.json is not a Labelwright backup manifest")
        if raw.get("version") != VERSION:
            raise BackupRefused(f"backup format version {raw.get('version')!r} is not known "
                                f"to this Labelwright (it reads version {VERSION})")
        store, position, files = raw.get("store"), raw.get("position"), raw.get("files")
        if store not in STORES or not isinstance(position, int) or position < 0 \
                or not isinstance(files, list):
            raise BackupRefused("manifest.json lacks its store, position or file list")
        listed: list[BackupFile] = []
        for entry in files:
            if not isinstance(entry, dict):
                raise BackupRefused("manifest.json: a file entry is not an object")
            path, size, sha = entry.get("path"), entry.get("size"), entry.get("sha256")
            if not isinstance(path, str) or not _ALLOWED.fullmatch(path):
                raise BackupRefused(f"manifest.json names a path a backup never holds: "
                                    f"{str(path)[:200]!r}")
            if not isinstance(size, int) or size < 0 or not isinstance(sha, str) \
                    or not _SHA256.fullmatch(sha):
                raise BackupRefused(f"manifest.json: bad size or sha256 for {path}")
            listed.append(BackupFile(path, size, sha))
        if len({f.path for f in listed}) != len(listed):
            raise BackupRefused("manifest.json lists a file twice")
        return cls(store=str(store), position=position,
                   created_at=str(raw.get("created_at", "")),
                   labelwright_version=str(raw.get("labelwright_version", "")), files=listed)

    def write(self, folder: Path) -> None:
        """Write ``folder/manifest.json`` atomically (temporary file, fsync, rename)."""
        tmp = folder / (MANIFEST + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(self.to_json(), out, indent=1)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, folder / MANIFEST)
        fsync_dir(folder)


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the backup in ``folder``; ``BackupRefused`` when there is none (an
    unfinished backup) or it does not parse."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BackupRefused(f"{folder} is not a folder")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BackupRefused(f"{folder} has no {MANIFEST}: the backup never finished (or this "
                            "is not a Labelwright backup)") from None
    try:
        raw = json.loads(text)
    except ValueError:
        raise BackupRefused(f"{path} is not valid JSON (damaged backup)") from None
    return Manifest.from_json(raw)


def copy_hashing(source: BinaryIO, target: Path) -> tuple[int, str]:
    """Copy the rest of ``source`` into a new 0600 file ``target``; its size and SHA-256.

    Not fsynced one by one: 10,000 image files cost 10,000 journal commits that way (~8 ms
    each here); the caller syncs the file system once when all are written (``os.sync``)."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def file_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def content_addressed(root: Path) -> Iterator[tuple[str, Path]]:
    """``(sha256, path)`` of every complete file of an image or model store (``root/ab/cd/
    <sha256>``); its ``tmp/`` of half-written uploads and anything else is skipped."""
    if not root.is_dir():
        return
    for first in sorted(os.scandir(root), key=lambda e: e.name):
        if len(first.name) != 2 or not first.is_dir(follow_symlinks=False):
            continue
        for second in sorted(os.scandir(first.path), key=lambda e: e.name):
            if len(second.name) != 2 or not second.is_dir(follow_symlinks=False):
                continue
            for entry in sorted(os.scandir(second.path), key=lambda e: e.name):
                if _SHA256.fullmatch(entry.name) and entry.is_file(follow_symlinks=False) \
                        and entry.name.startswith(first.name + second.name):
                    yield entry.name, Path(entry.path)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
