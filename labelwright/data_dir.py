"""File modes of the data dir: only the service's own user may read it.

The data dir holds the event log, read models and tokens (``events.sqlite``,
``views.sqlite``, ``auth.sqlite`` and their ``-wal``/``-shm`` companions: password hashes,
token hashes, every label), the session signing key (``secret_key``) and the uploaded
images. Everything in it is created private,
whatever the umask: directories 0700, files 0600. SQLite gives a database's ``-wal`` and
``-shm`` files the mode of the database file, so creating that file 0600 before SQLite opens
it covers them too.

A data dir from before (created under a umask of 022, say) is tightened when the service
starts (``tighten``): group and other permission bits are removed from the data dir and
everything in it. Walking a large image tree costs a ``stat`` per file, so the full walk runs
only while the data dir itself is still open to others; once it is 0700 nothing inside can be
reached by another user anyway, and later starts check only its top level. A file owned by
someone else (which we may not chmod) is left as it is, with a warning.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from service_layer.private_files import create_private_file, make_private_dir

log = logging.getLogger(__name__)

_OPEN_TO_OTHERS = 0o077

__all__ = ["create_private_file", "make_private_dir", "tighten"]


class _Tightening:
    def __init__(self) -> None:
        self.changed = 0
        self.refused: list[str] = []

    def entry(self, path: str, mode: int) -> None:
        """Remove group/other bits from ``path`` (mode as ``lstat`` gave it)."""
        if not mode & _OPEN_TO_OTHERS or stat.S_ISLNK(mode):
            return
        try:
            os.chmod(path, stat.S_IMODE(mode) & ~_OPEN_TO_OTHERS)
            self.changed += 1
        except FileNotFoundError:
            pass
        except OSError:  # not ours (EPERM), a read-only file system...
            self.refused.append(path)

    def tree(self, top: str) -> None:
        try:
            entries = list(os.scandir(top))
        except OSError:
            return
        for entry in entries:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            self.entry(entry.path, mode)
            if stat.S_ISDIR(mode):
                self.tree(entry.path)


def tighten(data_dir: Path) -> None:
    """Make an existing data dir private (module docstring); never fails for modes."""
    try:
        mode = os.lstat(data_dir).st_mode
    except OSError:
        return
    work = _Tightening()
    if mode & _OPEN_TO_OTHERS:
        work.tree(str(data_dir))  # everything, before the dir itself closes (see above)
    else:
        try:
            top_level = list(os.scandir(data_dir))  # databases, key, images/
        except OSError:
            top_level = []
        for entry in top_level:
            try:
                work.entry(entry.path, entry.stat(follow_symlinks=False).st_mode)
            except OSError:
                continue
    work.entry(str(data_dir), mode)
    if work.changed:
        log.info("data dir %s: removed group/other permissions from %d entries", data_dir,
                 work.changed)
    if work.refused:
        log.warning("data dir %s: %d entries could not be made private (owned by another "
                    "user?), e.g. %s; they stay readable as they are", data_dir,
                    len(work.refused), work.refused[0])
