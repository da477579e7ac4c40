"""``labelwright backup DEST`` and ``labelwright restore SRC`` (docs/operations.md).

A backup of the embedded store is consistent while the service runs and writes:

1. ``events.sqlite`` is copied with SQLite's online backup API in one step, i.e. inside one
   read transaction: in WAL mode writers go on meanwhile, and the copy is the log exactly as
   it was when that transaction began (the backup's *position* is its last event). Copying
   pages keeps every row's ``rowid``, which is the event's global position.
2. ``auth.sqlite`` (logins and API tokens; nothing else holds them) the same way.
3. The content-addressed image and model files, *after* the log: a file is always stored
   before the event that names it, so every file the copied log references is there. The
   whole store is copied, not only the referenced files: finding those would mean reading
   the whole log, and a file the log does not (yet) name is harmless.
4. ``manifest.json`` last (``labelwright.backup_manifest``).

The read models (``views.sqlite``) are not copied: a restore rebuilds them from the log, so
a backup never holds a read model that disagrees with its log. With PostgreSQL the database
is ``pg_dump``'s job; ``backup`` then copies only the data dir's files (store ``files``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labelwright.backup_manifest import (
    MANIFEST,
    BackupFile,
    BackupRefused,
    Manifest,
    content_addressed,
    copy_hashing,
    file_sha256,
    fsync_dir,
    read_manifest,
)
from labelwright.settings import Settings
from service_layer.private_files import make_private_dir

log = logging.getLogger(__name__)

DATABASES = ("events.sqlite", "auth.sqlite")
FILE_STORES = ("images", "models")
SQLITE_LOCK_TIMEOUT = 30.0  # seconds a copy waits for a writer's lock (as the service does)

Progress = Callable[[str], None]


def _empty_or_missing(folder: Path, what: str, action: str) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupRefused(f"the {what} {folder} is not empty: {action} goes into a new "
                            "or empty folder only", {"path": str(folder)})


def _top_level_files(data_dir: Path) -> list[Path]:
    """The session key and the small marker files beside the databases."""
    found = []
    for entry in sorted(os.scandir(data_dir), key=lambda e: e.name):
        if entry.is_file(follow_symlinks=False) and (
                entry.name == "secret_key" or entry.name.endswith(".json")):
            found.append(Path(entry.path))
    return found


def _copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup of ``source`` into the new file ``target``, in one step (one
    read transaction: a consistent copy however busy the writers are)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=SQLITE_LOCK_TIMEOUT)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # pages=-1: every page in one step
            # A backup file stands alone: no -wal beside it to be forgotten when copied.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    with open(target, "rb+") as f:
        os.fsync(f.fileno())


def _log_position(events: Path) -> int:
    """The global position of the last event in a (copied) event store; 0 when empty."""
    conn = sqlite3.connect(f"file:{events}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT name FROM sqlite_master WHERE name = 'stored_events'"
                           ).fetchone()
        if row is None:
            return 0
        return int(conn.execute("SELECT max(rowid) FROM stored_events").fetchone()[0] or 0)
    finally:
        conn.close()


def _postgres_position(settings: Settings) -> int:
    from domain.application import Labeling
    from event_store.positions import log_head
    from labelwright.bootstrap import event_store_env

    app = Labeling(env=event_store_env(settings))
    try:
        return log_head(app)
    finally:
        app.close()


def _link_or_copy(source: Path, target: Path, link: bool) -> tuple[int, str]:
    if link:
        try:
            os.link(source, target)
            return file_sha256(target)
        except OSError as e:  # another file system (EXDEV), no links allowed: copy
            log.debug("hard link of %s failed (%s), copying", source, e)
    with open(source, "rb") as f:
        return copy_hashing(f, target)


def take_backup(settings: Settings, dest: Path, *, files_only: bool = False,
                link: bool = False, labelwright_version: str = "",
                progress: Progress | None = None) -> Manifest:
    """Back up the store of ``settings`` into the new or empty folder ``dest`` (module
    docstring). ``files_only`` (implied with PostgreSQL) copies only the data dir's files;
    ``link`` hard-links the immutable image and model files where the file system allows.
    Returns the manifest written."""
    say = progress or (lambda _message: None)
    data_dir = settings.data_dir
    if not data_dir.is_dir():
        raise BackupRefused(f"no data dir at {data_dir}")
    if dest.resolve() == data_dir.resolve() or data_dir.resolve() in dest.resolve().parents:
        raise BackupRefused("the backup folder must lie outside the data dir")
    _empty_or_missing(dest, "backup folder", "a backup")
    files_only = files_only or not settings.embedded
    make_private_dir(dest)
    os.chmod(dest, 0o700)  # an existing empty folder too
    started = time.monotonic()
    files: list[BackupFile] = []
    if files_only:
        position = 0 if settings.embedded else _postgres_position(settings)
    else:
        if not (data_dir / "events.sqlite").is_file():
            raise BackupRefused(f"{data_dir} has no events.sqlite (an empty or PostgreSQL "
                                "data dir? then use --files-only)")
        for name in DATABASES:
            if (data_dir / name).is_file():
                _copy_database(data_dir / name, dest / name)
                files.append(BackupFile(name, *file_sha256(dest / name)))
        position = _log_position(dest / "events.sqlite")
        say(f"event log copied up to position {position} "
            f"({time.monotonic() - started:.1f} s)")
    for path in _top_level_files(data_dir):
        with open(path, "rb") as f:
            files.append(BackupFile(path.name, *copy_hashing(f, dest / path.name)))
    for store in FILE_STORES:
        copied = 0
        for sha, path in content_addressed(data_dir / store):
            relative = f"{store}/{sha[:2]}/{sha[2:4]}/{sha}"
            target = dest / relative
            make_private_dir(target.parent, private_parents=True)
            size, actual = _link_or_copy(path, target, link)
            if actual != sha:
                raise BackupRefused(f"{path} does not hold the bytes its name says (damaged "
                                    "on disk); the backup stopped, nothing was restored from "
                                    "it", {"path": str(path)})
            files.append(BackupFile(relative, size, sha))
            copied += 1
        if copied:
            say(f"{store}: {copied} files")
    os.sync()  # every file on disk before the manifest says the backup is complete
    manifest = Manifest(store="files" if files_only else "sqlite", position=position,
                        created_at=datetime.now(UTC).isoformat(),
                        labelwright_version=labelwright_version, files=files)
    manifest.write(dest)
    say(f"backup of {len(files)} files at position {position} written to {dest} "
        f"({time.monotonic() - started:.1f} s)")
    return manifest


def _verified_copy(src: Path, staging: Path, manifest: Manifest, link: bool) -> None:
    for entry in manifest.files:
        source = src / entry.path
        if not source.is_file() or source.is_symlink():
            raise BackupRefused(f"the backup lacks {entry.path}, which its manifest lists "
                                "(damaged or incomplete backup)", {"path": entry.path})
        target = staging / entry.path
        make_private_dir(target.parent, private_parents=True)
        size, sha = _link_or_copy(source, target, link)
        if (size, sha) != (entry.size, entry.sha256):
            raise BackupRefused(f"{entry.path} does not match its checksum in the manifest "
                                "(damaged backup); nothing was restored",
                                {"path": entry.path})


def restore_backup(settings: Settings, src: Path, *, link: bool = False,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Restore the backup in ``src`` into the new or empty data dir of ``settings``.

    Every file is checked against the manifest while it is copied into a staging folder
    beside the data dir, which is renamed into place only when all of them matched, so a
    refused restore leaves no trace. A ``sqlite`` backup then gets its read models rebuilt
    from its log (the restored log must end at the manifest's position); a ``files``
    backup needs the PostgreSQL database restored first (``pg_restore``)."""
    say = progress or (lambda _message: None)
    started = time.monotonic()
    manifest = read_manifest(src)
    if manifest.store == "sqlite" and not settings.embedded:
        raise BackupRefused("this backup holds an embedded (SQLite) store: restore it without "
                            "a database URL (LABELWRIGHT_DATABASE_URL / --database-url)")
    if manifest.store == "files" and settings.embedded:
        raise BackupRefused("this backup holds only the data dir's files (a PostgreSQL "
                            "deployment): restore the database with pg_restore first, then "
                            "run restore with its --database-url")
    target = settings.data_dir
    _empty_or_missing(target, "data dir", "a restore")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restoring-", dir=target.parent))
    try:
        _verified_copy(src, staging, manifest, link)
        say(f"{len(manifest.files)} files verified and copied "
            f"({time.monotonic() - started:.1f} s)")
        os.sync()  # the files on disk before the rename makes them the data dir
        with contextlib.suppress(FileNotFoundError):
            target.rmdir()  # empty (checked above); rename cannot replace it otherwise
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(target.parent)
    result: dict[str, Any] = {"store": manifest.store, "position": manifest.position,
                              "files": len(manifest.files), "data_dir": str(target)}
    if manifest.store == "sqlite":
        result["head"] = _rebuild_read_models(settings, say)
        if result["head"] != manifest.position:
            raise BackupRefused(f"the restored log ends at position {result['head']}, the "
                                f"manifest says {manifest.position} (damaged backup)")
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def _rebuild_read_models(settings: Settings, say: Progress) -> int:
    """Build the read models of the restored log (they were not in the backup)."""
    from event_store.positions import log_head
    from labelwright.bootstrap import bootstrap, shutdown

    services = bootstrap(settings, background=False, live=False)
    try:
        started = time.monotonic()
        services.runner.catch_up()
        head = log_head(services.app)
        say(f"read models rebuilt up to position {head} ({time.monotonic() - started:.1f} s)")
        return head
    finally:
        shutdown(services)


__all__ = ["MANIFEST", "BackupRefused", "restore_backup", "take_backup"]
