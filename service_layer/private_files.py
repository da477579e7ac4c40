"""Creating folders and files only the service's own user may read (0700 / 0600), whatever
the umask. The data dir (``labelwright.data_dir``) and the image store both use these."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private_dir(path: Path, *, private_parents: bool = False) -> None:
    """Create ``path`` as 0700, and its missing parents (0700 too with ``private_parents``,
    else with default modes: outside the data dir they are not ours to restrict). An
    existing folder is left as it is (``labelwright.data_dir.tighten`` deals with those)."""
    try:
        os.mkdir(path, PRIVATE_DIR)
    except FileExistsError:
        return
    except FileNotFoundError:
        if private_parents:
            make_private_dir(path.parent, private_parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, PRIVATE_DIR)
        except FileExistsError:
            return
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode is filtered by the umask


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 unless it exists (an empty file is a valid new SQLite
    database)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
