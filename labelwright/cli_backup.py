"""``labelwright backup DEST`` and ``labelwright restore SRC`` (``labelwright.backup``;
docs/operations.md "Backup and restore", docs/cli.md).

Both print one JSON object (the manifest's summary, or what was restored) on stdout and their
progress on stderr. A refusal (a target that is not empty, a backup without a finished
manifest, a checksum that does not match) prints ``error: ...`` and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from labelwright.settings import Settings

AddCommand = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def _say(quiet: bool) -> Callable[[str], None]:
    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)
    return say


def cmd_backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from labelwright.backup import take_backup
    from labelwright.cli import _version

    settings = Settings.from_env(data_dir=args.data_dir, database_url=args.database_url)
    manifest = take_backup(settings, Path(args.dest), files_only=args.files_only,
                           link=args.link, labelwright_version=_version(),
                           progress=_say(args.quiet))
    print(json.dumps({"backup": args.dest, "store": manifest.store,
                      "position": manifest.position, "files": len(manifest.files),
                      "bytes": sum(f.size for f in manifest.files),
                      "created_at": manifest.created_at}))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from labelwright.backup import restore_backup

    settings = Settings.from_env(data_dir=args.data_dir, database_url=args.database_url)
    result = restore_backup(settings, Path(args.src), link=args.link,
                            progress=_say(args.quiet))
    print(json.dumps(result))
    return 0


def add_backup_commands(add: AddCommand) -> None:
    """Register ``backup`` and ``restore`` with ``add(name, func, help)`` (``labelwright.cli``'s
    helper, which adds --data-dir and --database-url)."""
    p = add("backup", cmd_backup, "back up the store into a new or empty folder, while the "
            "service runs (with PostgreSQL: only the data dir's files; pg_dump the database "
            "first)")
    p.add_argument("dest", help="a new or empty folder")
    p.add_argument("--files-only", action="store_true",
                   help="only the data dir's files (images, models, key): the database is "
                        "backed up some other way (implied with PostgreSQL)")
    p.add_argument("--link", action="store_true",
                   help="hard-link the (immutable) image and model files instead of copying "
                        "them, where the file system allows")
    p.add_argument("--quiet", action="store_true")
    p = add("restore", cmd_restore, "restore a backup into a new or empty data dir (the read "
            "models are rebuilt from the restored log)")
    p.add_argument("src", help="a backup folder written by labelwright backup")
    p.add_argument("--link", action="store_true",
                   help="hard-link the image and model files instead of copying them")
    p.add_argument("--quiet", action="store_true")
