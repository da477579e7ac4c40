"""Registering image files from disk into a project (``labelwright import-images``)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from domain.errors import DomainError
from service_layer.image_registration import IMAGE_SUFFIXES, StagedFile, register

BATCH = 200


def iter_image_files(paths: list[Path]) -> Iterator[Path]:
    """Files given directly, and image files found (recursively, sorted) in folders."""
    for path in paths:
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                    yield p
        elif path.is_file():
            yield path
        else:
            raise DomainError(f"{path} is neither a file nor a folder")


def register_images(services: Any, project_id: str, items: list[tuple[str, bytes]],
                    actor: str) -> list[dict[str, Any]]:
    """Store image bytes content-addressed and record ImageAdded for new ones."""
    staged = [StagedFile(file_name=name, spool=io.BytesIO(data), size=len(data))
              for name, data in items]
    rows, _ = register(services.app, services.images, project_id, staged, actor,
                       services.settings.max_image_pixels)
    return rows


def import_image_paths(services: Any, project_id: str, paths: list[Path], actor: str,
                       progress: bool = True) -> dict[str, Any]:
    """Register files and folders in batches; files that are not images are reported and
    skipped, the rest imported (the same checks as an HTTP upload)."""
    services.app.project(project_id)  # NotFound early
    files = list(iter_image_files(paths))
    report: dict[str, Any] = {"images": 0, "new": 0, "errors": []}
    with tqdm(total=len(files), unit="img", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(files), BATCH):
            chunk = files[start:start + BATCH]
            staged = [StagedFile(file_name=p.name, path=p) for p in chunk]
            while staged:
                try:
                    rows, _ = register(services.app, services.images, project_id, staged,
                                       actor, services.settings.max_image_pixels)
                except DomainError as e:
                    # ``register`` checks every file before storing any: drop the one it
                    # names and try the rest again.
                    bad = e.details.get("index")
                    if not isinstance(bad, int):
                        raise
                    report["errors"].append({"file": str(staged[bad].path),
                                             "error": e.message})
                    del staged[bad]
                    continue
                report["images"] += len(rows)
                report["new"] += sum(1 for r in rows if r["created"])
                break
            bar.update(len(chunk))
    return report
