"""``labelwright import-dataset PROJECT_ID PATH --format F``: a labeled dataset → human labels.

``PATH`` is a zip, a single JSON/XML file, or a folder (read in place, under the same rules
as a zip: no links, the same size limits). The reading, the all-or-nothing validation and
the recording are ``service_layer.dataset_import``'s, so the CLI and
``POST /projects/{id}/datasets`` accept exactly the same datasets and derive the same command
ids (a folder's from its files' names and bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from domain.errors import DomainError
from labelwright.settings import Settings
from service_layer.dataset_archive import FolderFiles, SingleFile, open_upload
from service_layer.dataset_formats import READERS, ZIP_ONLY
from service_layer.dataset_formats.dataset import DatasetFiles

AddCommand = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]
_CHUNK = 1024 * 1024


def add_import_dataset_command(add: AddCommand) -> None:
    """Register ``import-dataset`` with ``add(name, func, help)`` (``labelwright.cli``'s)."""
    p = add("import-dataset", cmd_import_dataset, "import a labeled dataset (COCO, YOLO, "
            "Pascal VOC, CVAT, Label Studio) as human labels; a zip's images are added")
    p.add_argument("project_id")
    p.add_argument("path", help="a zip, a JSON/XML file, or a folder")
    p.add_argument("--format", required=True, choices=list(READERS))
    p.add_argument("--create-classes", action="store_true",
                   help="add the dataset's classes the project lacks (default: refuse)")
    p.add_argument("--actor", default="cli", help="username recorded on the events")
    p.add_argument("--quiet", action="store_true")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_digest(files: FolderFiles) -> str:
    """A folder's identity: its files' names and bytes, in name order."""
    digest = hashlib.sha256()
    for name in files.names:
        digest.update(name.encode() + b"\0" + hashlib.sha256(files.read(name)).digest())
    return digest.hexdigest()


def _open(path: Path) -> tuple[DatasetFiles, str, Callable[[], None]]:
    if path.is_dir():
        folder = FolderFiles(path)
        return folder, folder_digest(folder), folder.close
    if not path.is_file():
        raise DomainError(f"{path} is neither a file nor a folder")
    handle = path.open("rb")
    files = open_upload(path.name, handle)

    def close() -> None:
        files.close()
        handle.close()

    return files, file_digest(path), close


def cmd_import_dataset(args: argparse.Namespace) -> int:
    from labelwright.bootstrap import bootstrap, shutdown
    from service_layer.dataset_import import plan_import, record_import

    files, digest, close = _open(Path(args.path))
    try:
        if args.format in ZIP_ONLY and isinstance(files, SingleFile):
            raise DomainError(f"a {args.format} dataset is a zip or a folder")
        settings = Settings.from_env(data_dir=args.data_dir, database_url=args.database_url)
        services = bootstrap(settings, background=True, live=False)
        try:
            services.runner.catch_up()  # file names resolve through the image list
            plan = plan_import(services.app, services.read, args.project_id, files,
                               args.format, digest, max_pixels=settings.max_image_pixels,
                               create_classes=args.create_classes)
            with tqdm(total=len(plan.requests), unit="img", disable=args.quiet,
                      file=sys.stderr) as bar:
                report = record_import(services.app, services.pipeline, services.images,
                                       files, plan, args.actor, progress=bar.update)
        finally:
            shutdown(services)
    finally:
        close()
    print(json.dumps(report))
    return 0
