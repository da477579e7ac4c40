"""What a score job found on a shard of images: per image, the model's class probabilities,
its uncertainty and an embedding (the inputs of active-learning selection).

One ``ScoredShard`` stream per (job, shard), created by one ``ShardScored`` event and never
changed: recorded in the same transaction as the job's ``ShardDone`` for that shard
(``Labeling.record_scored_shard``), so a shard run twice (a worker died in between, two
workers raced) is recorded once, and the job's stream stays small however many images it
scores. The ``image_scores`` read model is built from these events, so scores are rebuilt from
the log like every other read model.

Each entry of ``scores`` is JSON (``ImageScore.to_json``):

* ``image_id``;
* ``probabilities``: the model's class probabilities in its class order (a classifier's
  softmax; for a detector, per class the highest confidence of its boxes, 0 where none);
* ``uncertainty``: ``least_confidence``, ``margin``, ``entropy`` (higher = less sure; for a
  detector aggregated over its boxes, ``aggregate`` says how) and ``stability`` (detectors:
  1 - mean IoU of the boxes under test-time augmentation; None for classifiers);
* ``embedding``: base64 of the little-endian float16 bytes of a ``dims``-wide vector (the
  penultimate features, or pooled backbone features), or None when the model exposes none;
* ``boxes``: how many detections the image had (0 for a classifier).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from eventsourcing.domain import Aggregate

SCORED_SHARD_NAMESPACE = uuid.UUID("6f1c2b0e-5a7d-4c1e-9b8a-3d2f4e5a6b7c")
UNCERTAINTY_KEYS = ("least_confidence", "margin", "entropy", "stability")


def scored_shard_id(job_id: str, shard: int) -> uuid.UUID:
    return uuid.uuid5(SCORED_SHARD_NAMESPACE, f"{job_id}:{shard}")


def encode_embedding(vector: npt.NDArray[Any]) -> str:
    """A vector as base64 of its little-endian float16 bytes (what events carry)."""
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def decode_embedding(text: str) -> npt.NDArray[np.float32]:
    return np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)


@dataclass(frozen=True)
class ImageScore:
    """One image's score (see the module docstring for the fields)."""

    image_id: str
    probabilities: list[float]
    uncertainty: dict[str, float | None]
    embedding: str | None
    dims: int
    boxes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "probabilities": list(self.probabilities),
                "uncertainty": dict(self.uncertainty), "embedding": self.embedding,
                "dims": self.dims, "boxes": self.boxes}


class ScoredShard(Aggregate):
    """The scores of one shard of a score job."""

    class ShardScored(Aggregate.Created):
        project_id: str
        job_id: str
        model_id: str
        shard: int
        aggregate: str  # how box uncertainties became an image's: max | mean | sum
        scores: list[dict[str, Any]]
        actor: str
        command_id: str | None

    def __init__(self, project_id: str, job_id: str, model_id: str, shard: int,
                 aggregate: str, scores: list[dict[str, Any]], actor: str,
                 command_id: str | None) -> None:
        self.project_id = project_id
        self.job_id = job_id
        self.model_id = model_id
        self.shard = shard
        self.aggregate_by = aggregate
        self.scores = list(scores)
        self.created_by = actor

    @classmethod
    def record(cls, *, project_id: str, job_id: str, model_id: str, shard: int,
               aggregate: str, scores: list[ImageScore], actor: str) -> ScoredShard:
        return cls._create(cls.ShardScored, id=scored_shard_id(job_id, shard),
                           project_id=project_id, job_id=job_id, model_id=model_id,
                           shard=shard, aggregate=aggregate,
                           scores=[s.to_json() for s in scores], actor=actor, command_id=None)
