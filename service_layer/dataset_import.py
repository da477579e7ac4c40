"""Importing a labeled dataset: its labels become human labels (``AnnotationCreated`` with
source ``import``), its images (in a zip) are added to the project.

All or nothing, in two steps. ``plan_import`` reads the upload with the format's reader
(``service_layer.dataset_formats``), matches every image to the project's images or the zip's
by file name, inspects the zip's images, and validates every label against the project's
label schema and its image, exactly as the aggregate will; the first problem is refused with
a ``details.reason`` and the file and line, and nothing is written. Only then
``record_import`` stores the zip's images (content-addressed, like uploads), records them, and
hands one request per image (all its labels, atomically) to the command pipeline, which
group-commits them. Command ids come from the upload (``import:<sha256 of the upload>:<image
id>:<k>``), so a retried request, or the same file imported twice, records nothing twice.
Blocking: the web endpoint runs it in a thread, the CLI calls it directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol
from uuid import UUID

from domain import geometry as g
from domain.application import Labeling
from domain.attributes import applies_to, check_value
from domain.command_pipeline import Actor, CommandPipeline, CommandResult
from domain.commands import ImportAnnotation
from domain.errors import Conflict, DomainError, TooLarge, ValidationFailed
from domain.image import MAX_ANNOTATIONS, image_id_for
from domain.project import LabelSchema, parse_classes
from event_store.positions import log_head
from service_layer.dataset_formats import reader_for
from service_layer.dataset_formats.dataset import (
    MAX_WARNINGS,
    Dataset,
    DatasetFiles,
    DatasetImage,
    DatasetLabel,
    base_name,
    dataset_error,
    stem,
)
from service_layer.image_inspection import inspect_image
from service_layer.image_registration import IMAGE_SUFFIXES
from service_layer.image_store import ImageStore

PAGE = 500
CHUNK = 500  # images handed to the pipeline at once (bounds the results held in memory)
STAGE = 1000  # zip images recorded at once, while the writer records the last ones' labels
LISTED = 10  # names listed in an "unknown class" or "image not found" refusal


class ImageListing(Protocol):
    """What the import needs of the read models (``projections.read_models.ReadModels``)."""

    def list_images(self, project_id: str, status: str | None, limit: int,
                    cursor: str | None) -> tuple[list[dict[str, Any]], str | None]: ...


@dataclass(slots=True)
class ImportPlan:
    """A validated import: what ``record_import`` writes."""

    project_id: str
    digest: str
    new_classes: list[str] = field(default_factory=list)
    # The zip's images to store and record: ``add_images`` rows plus the archive entry.
    zip_images: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[UUID, list[ImportAnnotation]]] = field(default_factory=list)
    images: int = 0
    annotations: int = 0
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class _Target:
    image_id: UUID
    width: int
    height: int
    sha256: str


def upload_digest(data_chunks: Any) -> str:
    """The SHA-256 of an upload's bytes (an iterable of chunks)."""
    digest = hashlib.sha256()
    for chunk in data_chunks:
        digest.update(chunk)
    return digest.hexdigest()


def import_dataset(app: Labeling, pipeline: CommandPipeline, read: ImageListing,
                   store: ImageStore, project_id: str, files: DatasetFiles, fmt: str,
                   digest: str, username: str, *, max_pixels: int,
                   create_classes: bool = False,
                   progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Validate, then record a dataset upload; ``{"images", "annotations", "position",
    ...}``. The caller checks that ``username`` may import into the project."""
    plan = plan_import(app, read, project_id, files, fmt, digest, max_pixels=max_pixels,
                       create_classes=create_classes)
    return record_import(app, pipeline, store, files, plan, username, progress=progress)


# -- planning (reads only) -------------------------------------------------------------------


def plan_import(app: Labeling, read: ImageListing, project_id: str, files: DatasetFiles,
                fmt: str, digest: str, *, max_pixels: int, create_classes: bool = False
                ) -> ImportPlan:
    """Read and validate everything; the plan to record (nothing written)."""
    reader = reader_for(fmt)
    project = app.project(project_id)
    dataset = reader(files)
    plan = ImportPlan(project_id, digest, warnings=dataset.warnings, skipped=dataset.skipped)
    schema = _schema_with_classes(project.schema(), dataset, plan, create_classes)
    zipped = _zip_images(files, project_id, max_pixels)
    targets = _match(app, read, project_id, dataset, zipped)
    plan.zip_images = list(zipped.values())
    unknown_attributes: set[str] = set()
    for image, target in targets:
        commands = [_command(label, image, target, schema, digest, k, unknown_attributes)
                    for k, label in enumerate(image.labels)]
        image.labels = []  # the commands hold what is needed
        if len(commands) > MAX_ANNOTATIONS:
            raise dataset_error("too_many_annotations", f"{len(commands):,} labels for one "
                                f"image; an image holds at most {MAX_ANNOTATIONS:,}",
                                image.where)
        if commands:
            plan.requests.append((target.image_id, commands))
            plan.annotations += len(commands)
    for name in sorted(unknown_attributes)[:MAX_WARNINGS - len(plan.warnings)]:
        plan.warnings.append(f"attribute {name!r} is not defined in this project (or not for "
                             "that class): its values were left out")
    plan.images = len({t.image_id for _, t in targets} | {
        image_id_for(project_id, z["sha256"]) for z in plan.zip_images})
    return plan


def _schema_with_classes(schema: LabelSchema, dataset: Dataset, plan: ImportPlan,
                         create_classes: bool) -> LabelSchema:
    """The schema to check labels against: unknown classes are refused, or (``create_classes``)
    planned to be added first."""
    first_use: dict[str, str] = {}
    for label in dataset.labels():
        if label.label not in schema.all_classes and label.label not in first_use:
            first_use[label.label] = label.where
    if not first_use:
        return schema
    unknown = list(first_use)
    if not create_classes:
        where = first_use[unknown[0]]
        listed = ", ".join(repr(n) for n in unknown[:LISTED])
        more = f" and {len(unknown) - LISTED} more" if len(unknown) > LISTED else ""
        raise dataset_error(
            "unknown_class", f"the dataset uses classes this project does not have: {listed}"
            f"{more} (add them to the project, or import with create_classes=true)", where,
            classes=unknown[:LISTED], count=len(unknown), allowed=sorted(schema.active_classes))
    try:
        parse_classes(unknown, existing=len(schema.all_classes))
    except ValidationFailed as e:
        raise dataset_error("invalid_class_name", f"cannot create the dataset's classes: "
                            f"{e.message}", first_use[unknown[0]]) from None
    plan.new_classes = unknown
    added = frozenset(unknown)
    return replace(schema, active_classes=schema.active_classes | added,
                   all_classes=schema.all_classes | added)


def _is_image(name: str) -> bool:
    return "." in name and "." + name.rsplit(".", 1)[1].lower() in IMAGE_SUFFIXES


def _zip_images(files: DatasetFiles, project_id: str, max_pixels: int
                ) -> dict[str, dict[str, Any]]:
    """The upload's image files by file name, inspected (size, type) and hashed."""
    found: dict[str, dict[str, Any]] = {}
    for entry in files.names:
        if not _is_image(entry):
            continue
        name = base_name(entry)
        if name in found:
            raise dataset_error("duplicate_file_name", f"the upload holds two images named "
                                f"{name!r} ({found[name]['entry']} and {entry})", entry,
                                file_name=name)
        data = files.read(entry)
        try:
            info = inspect_image(data, max_pixels)
        except DomainError as e:
            reason = "image_too_large" if isinstance(e, TooLarge) else "not_an_image"
            e.details.update({"file": entry, "reason": e.details.get("reason", reason)})
            e.message = f"{entry}: {e.message}"
            e.args = (e.message,)
            raise
        found[name] = {"entry": entry, "file_name": name,
                       "sha256": hashlib.sha256(data).hexdigest(), **info}
    return found


def _project_images(app: Labeling, read: ImageListing, project_id: str
                    ) -> tuple[list[dict[str, Any]], bool]:
    """The project's image rows, and whether the list had caught up with the log (images
    uploaded or imported a moment ago) when read."""
    wait_for = getattr(read, "wait_for", None)
    current = bool(wait_for(log_head(app), 10.0)) if wait_for is not None else False
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        items, cursor = read.list_images(project_id, None, PAGE, cursor)
        rows.extend(items)
        if not cursor:
            return rows, current


def _match(app: Labeling, read: ImageListing, project_id: str, dataset: Dataset,
           zipped: dict[str, dict[str, Any]]) -> list[tuple[DatasetImage, _Target]]:
    """Each dataset image's target: the zip's image of that name, else the project's."""
    rows, current = _project_images(app, read, project_id)
    by_name: dict[str, list[dict[str, Any]]] = {}
    by_stem: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(str(row["file_name"]), []).append(row)
        by_stem.setdefault(stem(str(row["file_name"])), []).append(row)
    zip_stems: dict[str, list[str]] = {}
    for name in zipped:
        zip_stems.setdefault(stem(name), []).append(name)
    known = {str(row["sha256"]) for row in rows}
    for name, info in zipped.items():
        # Images the project has already (a retry, a re-import) are not registered again;
        # "unseen" (no look-up each) only when the list was current.
        info["known"] = info["sha256"] in known
        info["unseen"] = current and not info["known"]
        others = [r for r in by_name.get(name, []) if r["sha256"] != info["sha256"]]
        if others:
            raise dataset_error("duplicate_file_name", f"the project already has a different "
                                f"image named {name!r}", info["entry"], file_name=name)
    seen: dict[str, str] = {}
    out: list[tuple[DatasetImage, _Target]] = []
    missing: list[DatasetImage] = []
    for image in dataset.images:
        key = stem(image.file_name) if image.by_stem else image.file_name
        if key in seen:
            raise dataset_error("duplicate_file_name", f"the dataset names the image {key!r} "
                                f"twice (also at {seen[key]})", image.where, file_name=key)
        seen[key] = image.where
        target = _find(image, project_id, zipped, zip_stems, by_name, by_stem)
        if target is None:
            missing.append(image)
            continue
        if image.width is not None and image.height is not None and (
                image.width, image.height) != (target.width, target.height):
            raise dataset_error("size_mismatch", f"the dataset says {image.file_name!r} is "
                                f"{image.width}x{image.height}, the image is {target.width}x"
                                f"{target.height}", image.where, file_name=image.file_name)
        out.append((image, target))
    if missing:
        names = [m.file_name for m in missing]
        more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
        raise dataset_error("image_not_found", f"{len(names)} image(s) are neither in the "
                            f"project nor in the upload: {', '.join(map(repr, names[:LISTED]))}"
                            f"{more}", missing[0].where, images=names[:LISTED],
                            count=len(names))
    return out


def _find(image: DatasetImage, project_id: str, zipped: dict[str, dict[str, Any]],
          zip_stems: dict[str, list[str]], by_name: dict[str, list[dict[str, Any]]],
          by_stem: dict[str, list[dict[str, Any]]]) -> _Target | None:
    for name in (image.file_name, *image.other_names):
        in_zip = [name] if name in zipped else zip_stems.get(name, []) if image.by_stem else []
        rows = by_stem.get(name, []) if image.by_stem else by_name.get(name, [])
        if len(in_zip) > 1:
            raise dataset_error("duplicate_file_name", f"several images of the upload are "
                                f"named {name!r}", image.where, file_name=name)
        if in_zip:
            info = zipped[in_zip[0]]
            return _Target(image_id_for(project_id, info["sha256"]), int(info["width"]),
                           int(info["height"]), info["sha256"])
        if len({r["sha256"] for r in rows}) > 1:
            raise dataset_error("duplicate_file_name", f"several images of this project are "
                                f"named {name!r}; the import cannot tell which is meant",
                                image.where, file_name=name)
        if rows:
            row = rows[0]
            return _Target(UUID(str(row["id"])), int(row["width"]), int(row["height"]),
                           str(row["sha256"]))
    return None


def _command(label: DatasetLabel, image: DatasetImage, target: _Target, schema: LabelSchema,
             digest: str, k: int, unknown_attributes: set[str]) -> ImportAnnotation:
    geometry = _scaled(label, target) if image.normalized else label.geometry
    try:
        schema.check_type(label.kind)
        schema.check_label(label.label)
        g.parse_geometry(label.kind, geometry, target.width, target.height)
        attributes = _attributes(label, schema, unknown_attributes)
    except ValidationFailed as e:
        field_name = str(e.details.get("field"))
        reason = "invalid_attribute" if field_name.startswith("attributes") else {
            "annotation.type": "type_not_allowed", "label": "retired_class"}.get(
            field_name, "invalid_geometry")
        raise dataset_error(reason, f"{label.kind} of {label.label!r} on "
                            f"{image.file_name!r}: {e.message}", label.where,
                            file_name=image.file_name) from None
    return ImportAnnotation(command_id=f"import:{digest}:{target.image_id}:{k}",
                            base_version=None, annotation_type=label.kind, label=label.label,
                            geometry=geometry, attributes=attributes or None)


def _attributes(label: DatasetLabel, schema: LabelSchema, unknown: set[str]
                ) -> dict[str, Any]:
    """The label's attribute values the project defines for its class, as the definitions'
    types (datasets write "true", "1", "3.5" as text); other names are left out (a warning)."""
    definitions = {d["name"]: d for d in schema.attributes if applies_to(d, label.label)}
    out: dict[str, Any] = {}
    for name, raw in label.attributes.items():
        definition = definitions.get(name)
        if definition is None:
            unknown.add(name)
            continue
        value = _typed(definition["type"], raw)
        out[name] = check_value(definition, value, f"attributes.{name}")
    return out


def _typed(kind: str, raw: object) -> object:
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if kind == "checkbox" and text.lower() in ("true", "false", "1", "0", "yes", "no"):
        return text.lower() in ("true", "1", "yes")
    if kind == "number":
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            return raw
    return raw


def _scaled(label: DatasetLabel, target: _Target) -> dict[str, Any]:
    """Fractions of the image's size → pixels."""
    w, h = target.width, target.height
    geo = label.geometry
    if label.kind == "box":
        return {"x": geo["x"] * w, "y": geo["y"] * h, "w": geo["w"] * w, "h": geo["h"] * h}
    if label.kind == "polygon":
        return {"points": [[p[0] * w, p[1] * h] for p in geo["points"]]}
    if label.kind == "point":
        return {"x": geo["x"] * w, "y": geo["y"] * h}
    return geo


# -- recording ----------------------------------------------------------------------------------


def record_import(app: Labeling, pipeline: CommandPipeline, store: ImageStore,
                  files: DatasetFiles, plan: ImportPlan, username: str, *,
                  progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write a validated plan: new classes, the zip's images' bytes (durable before any
    image is recorded), then the images and their labels in stages: a stage records a slice
    of the images (``ImageAdded``) while the writer thread records the labels of the slice
    before. Labels on images the project had go first, while the bytes are written. Results
    are taken as they come (memory stays bounded by a stage)."""
    summary = _Recording(pipeline, Actor(username, trusted=True), progress)
    if plan.new_classes:
        _, summary.position = app.update_project(plan.project_id, username, {
            "add_classes": [{"name": n} for n in plan.new_classes]})
    new = [info for info in plan.zip_images if not info["known"]]
    new_ids = {image_id_for(plan.project_id, info["sha256"]) for info in new}
    waiting: dict[UUID, list[tuple[UUID, list[ImportAnnotation]]]] = {}
    first: list[tuple[UUID, list[ImportAnnotation]]] = []
    for request in plan.requests:
        (waiting.setdefault(request[0], []) if request[0] in new_ids else first).append(request)
    plan.requests = []
    summary.submit(first)
    try:
        # All the bytes at once: a sync costs what the whole machine has to flush, so two
        # for the upload, not two per stage (20 syncs took 26 s of an import on a busy box).
        store.put_many((info["sha256"], partial(files.read, info["entry"])) for info in new)
    except ValueError:
        raise Conflict("an image of the upload changed while it was imported") from None
    for at in range(0, len(new), STAGE):
        stage = new[at:at + STAGE]
        rows = [{k: v for k, v in info.items() if k not in ("entry", "known", "unseen")}
                for info in stage]
        images, position = app.add_images(plan.project_id, rows, username,
                                          unseen=all(info["unseen"] for info in stage))
        created = [img for img, made in images if made]
        summary.added += len(created)
        pipeline.adopt(created)
        summary.seen(position)
        summary.submit([r for img, _ in images for r in waiting.pop(img.id, [])])
    summary.submit([])  # the last stage's results
    return {"images": plan.images, "annotations": summary.annotations,
            "position": summary.position, "images_added": summary.added,
            "classes_added": plan.new_classes, "warnings": plan.warnings,
            "skipped": plan.skipped}


class _Recording:
    """The labels handed to the pipeline, one stage in flight, and what was recorded."""

    def __init__(self, pipeline: CommandPipeline, actor: Actor,
                 progress: Callable[[int], None] | None) -> None:
        self.pipeline = pipeline
        self.actor = actor
        self.progress = progress
        self.in_flight: list[tuple[int, Future[CommandResult]]] = []
        self.annotations = 0
        self.added = 0
        self.position: int | None = None

    def seen(self, position: int | None) -> None:
        if position is not None:
            self.position = position if self.position is None else max(self.position, position)

    def submit(self, requests: list[tuple[UUID, list[ImportAnnotation]]]) -> None:
        """Hand ``requests`` over in chunks, taking the results of the chunk before each
        while the writer works on the next; the last chunk stays in flight (``[]``: take
        it). Each chunk leaves ``requests`` as it goes, so the writer reuses the memory of
        the commands already recorded."""
        while True:
            fresh: list[tuple[int, Future[CommandResult]]] = []
            if requests:
                chunk = requests[:CHUNK]
                del requests[:CHUNK]
                futures = self.pipeline.submit_many(chunk, self.actor)
                fresh = [(len(cmds), f) for (_, cmds), f in zip(chunk, futures, strict=True)]
            for count, future in self.in_flight:
                self.seen(future.result(300.0).position)
                self.annotations += count
            if self.progress is not None and self.in_flight:
                self.progress(len(self.in_flight))
            self.in_flight = fresh
            if not requests:
                return
