"""What a train job trains on: the project's labels as of a position of the log.

The labels are the ground truth evaluation uses (``model_evaluation.labels_at``): annotations
accepted, edited or manual, on images a person had worked on as of the position (status
``in_progress``, ``submitted`` or ``approved``; a ``rejected`` image's labels a reviewer called
wrong, and ``new`` ones nobody looked at). Which version each image had at the position comes
from the read model an export "as of P" asks; the job fixes those ``(image, version)`` pairs
when it is queued, and the worker replays exactly them, so the same position always gives the
same training set, with or without read models on the worker.

Per architecture (``TRAINABLE``):

* ``centernet`` (a detector) learns boxes: an image counts with its box labels; a submitted or
  approved image with no labels at all counts too (a person said there is nothing to find).
  One class is enough (a one-class detector finds that one thing).
* ``classifier`` learns one tag per image: an image counts when its tags name exactly one
  class (several classes: left out, ``skipped``). It needs at least two classes.

The held-out split is by a hash of the image id (``is_held_out``): an image stays on its side
whatever else is added later, and the same ids always give the same split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from domain.application import Labeling
from event_store.stream_events import image_streams
from service_layer.model_evaluation import labels_at


@dataclass(frozen=True)
class Trainable:
    """What an architecture learns from: the annotation type, the task of the model it
    becomes, how many classes it needs, and which base models it may start from."""

    annotation_type: str
    task: str
    min_classes: int
    bases: tuple[str, ...]


TRAINABLE: dict[str, Trainable] = {
    "centernet": Trainable("box", "detect", 1, ("centernet",)),
    # A classifier shares CenterNet's backbone, so it can start from a detector's.
    "classifier": Trainable("tag", "classify", 2, ("classifier", "centernet")),
}


class VersionsAsOf(Protocol):
    """The read model an export "as of P" uses (``projections.read_models.ReadModels``)."""

    def version_at_position(self, project_id: str, position: int
                            ) -> Iterable[tuple[str, int]]: ...


@dataclass(frozen=True)
class Example:
    """One image to train on: ``boxes`` ``[x, y, w, h]`` (image pixels) with their ``labels``
    for a detector; one label and no boxes for a classifier."""

    image_id: str
    version: int
    width: int
    height: int
    labels: list[str]
    boxes: list[list[float]] = field(default_factory=list)


@dataclass
class TrainingSet:
    """The examples (ordered by image id), the project classes they use (in the project's
    order) and how many images a person worked on but could not be used."""

    examples: list[Example]
    classes: list[str]
    skipped: int = 0

    def split(self, fraction: float) -> tuple[list[Example], list[Example]]:
        """(training, held out): ``is_held_out`` by image id; with two or more examples at
        least one on each side (the lowest hash held out, the highest trained on)."""
        ranked = sorted(self.examples, key=lambda e: _hash(e.image_id))
        held = {e.image_id for e in ranked if is_held_out(e.image_id, fraction)}
        if len(ranked) >= 2:
            if not held:
                held.add(ranked[0].image_id)
            if len(held) == len(ranked):
                held.discard(ranked[-1].image_id)
        return ([e for e in self.examples if e.image_id not in held],
                [e for e in self.examples if e.image_id in held])


def _hash(image_id: str) -> float:
    digest = hashlib.sha256(f"labelwright:held-out:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_held_out(image_id: str, fraction: float) -> bool:
    """Whether the image is held out at ``fraction``: a hash of its id below it."""
    return _hash(image_id) < fraction


def candidates_as_of(read: VersionsAsOf, project_id: str, position: int
                     ) -> list[tuple[str, int]]:
    """``(image_id, version)`` of the project's images as of ``position`` (images added
    later do not exist yet), ordered by image id."""
    return sorted((str(image_id), int(version))
                  for image_id, version in read.version_at_position(project_id, position))


def gather(app: Labeling, candidates: Sequence[tuple[str, int]], architecture: str,
           project_classes: Sequence[str]) -> TrainingSet:
    """The training set of ``architecture`` among ``candidates`` (replayed to their
    versions); ``project_classes`` orders the classes (every class, retired ones too)."""
    kind = TRAINABLE[architecture]
    examples: list[Example] = []
    skipped = 0
    pairs = [(UUID(image_id), version) for image_id, version in sorted(candidates)]
    for image_id, version, events in image_streams(app, pairs):
        labelled = labels_at(events, version)
        if labelled is None:
            continue
        image, truth = labelled
        mine = [a for a in truth if a["type"] == kind.annotation_type]
        example = _example(str(image_id), version, image.width, image.height, image.status,
                           truth, mine, kind)
        if example is None:
            skipped += 1 if mine else 0
            continue
        examples.append(example)
    used = {label for e in examples for label in e.labels}
    order = {name: i for i, name in enumerate(project_classes)}
    classes = sorted(used, key=lambda name: (order.get(name, len(order)), name))
    return TrainingSet(examples, classes, skipped)


def _example(image_id: str, version: int, width: int, height: int, status: str,
             truth: list[dict[str, Any]], mine: list[dict[str, Any]], kind: Trainable
             ) -> Example | None:
    if kind.annotation_type == "tag":
        tags = sorted({a["label"] for a in mine})
        if len(tags) != 1:
            return None
        return Example(image_id, version, width, height, tags)
    if not mine:
        # Confirmed empty: a person submitted (or a reviewer approved) it without any label.
        if truth or status not in ("submitted", "approved"):
            return None
        return Example(image_id, version, width, height, [])
    boxes = [[float(a["geometry"][k]) for k in ("x", "y", "w", "h")] for a in mine]
    return Example(image_id, version, width, height, [a["label"] for a in mine], boxes)
