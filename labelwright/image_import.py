"""Registering image files from disk into a project (``labelwright import-images``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from domain.errors import DomainError
from web.image_inspection import inspect_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
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
    files = []
    for file_name, data in items:
        info = inspect_image(data, services.settings.max_image_pixels)
        sha = services.images.put(data)
        files.append({"file_name": file_name, "sha256": sha, **info})
    added, _ = services.app.add_images(project_id, files, actor)
    return [{"id": str(img.id), "file_name": img.file_name, "width": img.width,
             "height": img.height, "sha256": img.sha256, "created": created}
            for img, created in added]


def import_image_paths(services: Any, project_id: str, paths: list[Path], actor: str,
                       progress: bool = True) -> dict[str, Any]:
    services.app.project(project_id)  # NotFound early
    files = list(iter_image_files(paths))
    report: dict[str, Any] = {"images": 0, "new": 0, "errors": []}
    with tqdm(total=len(files), unit="img", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(files), BATCH):
            batch: list[tuple[str, bytes]] = []
            for path in files[start:start + BATCH]:
                data = path.read_bytes()
                try:
                    inspect_image(data, services.settings.max_image_pixels)
                except DomainError as e:
                    report["errors"].append({"file": str(path), "error": e.message})
                    continue
                batch.append((path.name, data))
            if batch:
                added = register_images(services, project_id, batch, actor)
                report["images"] += len(added)
                report["new"] += sum(1 for a in added if a["created"])
            bar.update(len(files[start:start + BATCH]))
    return report
