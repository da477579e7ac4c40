"""A seeded, realistic event log: projects, users, images and people working on them.

Drives the real write side (``Labeling`` + ``CommandPipeline``) round by round: each round
picks one valid command per image from what the driver knows of that image, submits them all
at once (the pipeline group-commits them), and learns the new state from the results. Used by
the projection tests and by ``benchmarks/projection_rebuild.py``.
"""

from __future__ import annotations

import random
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.application import Labeling
from domain.command_pipeline import Actor, CommandPipeline, CommandResult
from domain.commands import Command, parse_command, parse_prelabel
from domain.errors import DomainError
from event_store.positions import EventPositions
from event_store.postgres_recorder import RECORDER_TOPIC

ANNOTATORS = ("ann", "bob", "cyd")
REVIEWER = "rui"
MANAGER = "mgr"
CLASSES = ["cat", "dog", "bird", "car"]
W, H = 640, 480


def event_store_env(path: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30"}


def postgres_env(dbname: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD": "", "POSTGRES_POOL_SIZE": "5", "POSTGRES_MAX_OVERFLOW": "5",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            # The recorder the service uses (labelwright.bootstrap.event_store_env).
            "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC}


@dataclass
class ImageState:
    image_id: UUID
    project_id: str
    status: str = "new"
    annotations: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: dict[str, dict[str, Any]] = field(default_factory=dict)  # pre-labels, restorable


class Workload:
    """Registers users and projects, adds images, and runs rounds of random work."""

    def __init__(self, app: Labeling, pipeline: CommandPipeline | None = None,
                 seed: int = 7) -> None:
        self.app = app
        self.pipeline = pipeline or CommandPipeline(app, EventPositions(app))
        self.rng = random.Random(seed)
        self.images: list[ImageState] = []
        self.projects: list[str] = []
        self.errors = 0

    def setup(self, projects: int = 2) -> None:
        for name in (*ANNOTATORS, REVIEWER, MANAGER):
            if self.app.find_user(name) is None:
                self.app.register_user(name, "password123", is_admin=name == MANAGER)
        for i in range(projects):
            project, _ = self.app.create_project(f"Project {i}", [*CLASSES, "old"], None,
                                                 MANAGER)
            pid = str(project.id)
            self.projects.append(pid)
            self.app.update_project(pid, MANAGER, {"retire_classes": ["old"],
                                                   "add_classes": [{"name": "truck"}]})
            for user in ANNOTATORS:
                self.app.set_member(pid, user, "annotator", MANAGER)
            self.app.set_member(pid, REVIEWER, "reviewer", MANAGER)
        self.app.update_user(REVIEWER, is_admin=True)
        self.app.update_user(REVIEWER, is_admin=False)

    def add_images(self, count: int) -> None:
        """Add ``count`` images in all, spread over the projects, in uploads of up to 500."""
        per_project = [count // len(self.projects) + (i < count % len(self.projects))
                       for i in range(len(self.projects))]
        for pid, n in zip(self.projects, per_project, strict=True):
            for start in range(0, n, 500):
                files = [{"file_name": f"img_{start + i}.jpg", "width": W, "height": H,
                          "sha256": f"{self.rng.getrandbits(256):064x}",
                          "content_type": "image/jpeg"} for i in range(min(500, n - start))]
                added, _ = self.app.add_images(pid, files, MANAGER)
                self.images += [ImageState(img.id, pid) for img, created in added if created]

    # -- work ---------------------------------------------------------------------------------

    def rounds(self, n: int) -> None:
        """``n`` rounds over every image: each image's events spread over the whole log."""
        for _ in range(n):
            self.round()

    def sessions(self, per_image: int, concurrent: int = 100) -> None:
        """People working ``concurrent`` images at a time, ``per_image`` commands each: each
        image's events are close together in the log, as in real labeling sessions."""
        for start in range(0, len(self.images), concurrent):
            group = self.images[start:start + concurrent]
            for _ in range(per_image):
                self.round(group)

    def round(self, images: list[ImageState] | None = None) -> None:
        pending: list[tuple[ImageState, Future[CommandResult]]] = []
        for image in images or self.images:
            commands, actor = self._pick(image)
            pending.append((image, self.pipeline.submit(image.image_id, commands, actor)))
        for image, future in pending:
            try:
                self._learn(image, future.result(60))
            except DomainError:
                self.errors += 1

    def _box(self) -> dict[str, float]:
        x, y = self.rng.uniform(0, W - 60), self.rng.uniform(0, H - 60)
        return {"x": round(x, 2), "y": round(y, 2), "w": round(self.rng.uniform(5, 50), 2),
                "h": round(self.rng.uniform(5, 50), 2)}

    def _shape(self) -> tuple[str, dict[str, Any]]:
        kind = self.rng.choice(("box", "box", "box", "polygon", "point", "tag"))
        if kind == "box":
            return kind, self._box()
        if kind == "point":
            return kind, {"x": round(self.rng.uniform(0, W), 1),
                          "y": round(self.rng.uniform(0, H), 1)}
        if kind == "tag":
            return kind, {}
        x, y = self.rng.uniform(10, W - 60), self.rng.uniform(10, H - 60)
        return kind, {"points": [[x, y], [x + 40, y], [x + 30, y + 35], [x - 5, y + 20]]}

    def _pick(self, image: ImageState) -> tuple[list[Command], Actor]:
        rng = self.rng
        who = Actor(rng.choice(ANNOTATORS))
        if image.status == "submitted" and rng.random() < 0.6:
            verdict = rng.choice(("approve", "reject"))
            return [parse_command({"type": "review", "verdict": verdict,
                                   "comment": "ok" if verdict == "approve" else "redo"})], \
                Actor(REVIEWER)
        if image.status in ("submitted", "approved"):
            # Review holds: annotators wait for a reopen; a reviewer reopens or fixes it.
            if rng.random() < 0.3:
                return [parse_command({"type": "reopen", "comment": "one more look"})], \
                    Actor(REVIEWER)
            who = Actor(REVIEWER)
        proposed = [a for a, s in image.annotations.items() if s["status"] == "proposed"]
        prelabels = [a for a, s in image.annotations.items() if s["source"] == "prelabel"]
        manual = [a for a, s in image.annotations.items() if s["source"] != "prelabel"]
        boxes = [a for a in prelabels if image.annotations[a]["type"] == "box"]
        accepted = [a for a in prelabels if image.annotations[a]["status"] == "accepted"]
        roll = rng.random()
        if roll < 0.15 or not image.annotations:
            score = rng.choice((None, round(rng.random(), 3), 1.0, 0.7))
            model = rng.choice((("yolo", "8"), ("yolo", "9"), ("detr", "1")))
            cmds: list[Command] = [parse_prelabel({"type": "box", "label": rng.choice(CLASSES),
                                                   "geometry": self._box(), "score": score},
                                                  *model)
                                   for _ in range(rng.randint(1, 3))]
            return cmds, Actor(MANAGER, trusted=True)
        if roll < 0.30 and proposed:
            raw: dict[str, Any] = {"type": "accept", "annotation_id": rng.choice(proposed)}
        elif roll < 0.42 and boxes:
            target = rng.choice(boxes)
            changes: dict[str, Any] = {"geometry": self._box()}
            if rng.random() < 0.3:
                changes["label"] = rng.choice(CLASSES)
            raw = {"type": "edit", "annotation_id": target, "changes": changes,
                   "base_revision": image.annotations[target]["revision"]}
        elif roll < 0.50 and prelabels:
            raw = {"type": "delete", "annotation_id": rng.choice(prelabels)}
        elif roll < 0.60:
            kind, geometry = self._shape()
            raw = {"type": "create", "annotation": {"type": kind, "label": rng.choice(CLASSES),
                                                    "geometry": geometry}}
            if rng.random() < 0.2:  # two at once, atomically
                kind2, geometry2 = self._shape()
                return [parse_command(raw), parse_command(
                    {"type": "create", "annotation": {"type": kind2, "label": "truck",
                                                      "geometry": geometry2}})], who
        elif roll < 0.70 and manual:
            target = rng.choice(manual)
            raw = {"type": "edit", "annotation_id": target,
                   "changes": {"label": rng.choice(CLASSES)}}
        elif roll < 0.75 and manual:
            raw = {"type": "delete", "annotation_id": rng.choice(manual)}
        elif roll < 0.82:
            x, y = rng.uniform(20, W - 80), rng.uniform(20, H - 80)
            raw = {"type": "assist", "mode": "extreme_points", "label": rng.choice(CLASSES),
                   "points": [[x, y + 20], [x + 20, y], [x + 50, y + 25], [x + 25, y + 40]]}
        elif image.status in ("new", "in_progress", "rejected") and roll < 0.92:
            raw = {"type": "submit"}
        elif roll < 0.96 and (image.rejected or accepted):
            # Undo of a verdict: a rejected or accepted pre-label is proposed again.
            raw = {"type": "restore", "annotation_id": rng.choice(sorted(image.rejected)
                                                                  or accepted)}
        else:
            kind, geometry = self._shape()
            raw = {"type": "create", "annotation": {"type": kind, "label": rng.choice(CLASSES),
                                                    "geometry": geometry}}
        if rng.random() < 0.1:
            raw["command_id"] = f"c{rng.getrandbits(48):x}"
        return [parse_command(raw)], who

    def _learn(self, image: ImageState, result: CommandResult) -> None:
        for e in result.events:
            self._learn_event(image, e)

    def _learn_event(self, image: ImageState, e: dict[str, Any]) -> None:
        data, kind = e["data"], e["type"]
        anns = image.annotations
        if kind in ("AnnotationCreated", "PrelabelProposed"):
            anns[data["annotation_id"]] = {
                "source": data.get("source", "prelabel"), "type": data["annotation_type"],
                "status": "proposed" if kind == "PrelabelProposed" else "manual",
                "revision": 1}
        elif kind in ("AnnotationEdited", "PrelabelAccepted", "PrelabelEdited"):
            ann = anns[data["annotation_id"]]
            ann["revision"] += 1
            if kind != "AnnotationEdited":
                ann["status"] = "accepted" if kind == "PrelabelAccepted" else "edited"
        elif kind in ("AnnotationDeleted", "PrelabelRejected"):
            gone = anns.pop(data["annotation_id"])
            if kind == "PrelabelRejected":
                image.rejected[data["annotation_id"]] = gone
        elif kind == "PrelabelRestored":
            image.rejected.pop(data["annotation_id"], None)
            anns[data["annotation_id"]] = {"source": "prelabel", "type": data["annotation_type"],
                                           "status": "proposed", "revision": data["revision"]}
        elif kind == "ImageSubmitted":
            image.status = "submitted"
        elif kind == "ReviewRecorded":
            image.status = "approved" if data["verdict"] == "approve" else "rejected"
        elif kind == "ImageReopened":
            image.status = "in_progress"
        if kind not in ("PrelabelProposed", "AssistClicked", "ImageSubmitted", "ReviewRecorded",
                        "ImageReopened", "ImageAdded") and image.status != "submitted":
            image.status = "in_progress"


def build_log(app: Labeling, images: int, rounds: int, seed: int = 7,
              pipeline: CommandPipeline | None = None) -> Workload:
    """A log of roughly ``images * rounds * 1.3`` image events plus a setup."""
    work = Workload(app, pipeline, seed)
    work.setup()
    work.add_images(images)
    work.rounds(rounds)
    return work
