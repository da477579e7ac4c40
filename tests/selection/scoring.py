"""Score-job results for selection tests: real score jobs queued on a real project, their
shards recorded through ``Labeling.record_scored_shard`` (the domain path a score worker
takes), with probabilities, uncertainties and embeddings made up deterministically."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from domain.application import Labeling
from domain.image_scores import ImageScore, encode_embedding
from domain.job import Job


def register_model(app: Labeling, project_id: str, actor: str = "admin",
                   classes: Sequence[str] = ("cat", "dog", "bird"), task: str = "classify",
                   name: str = "scorer", version: str = "1") -> str:
    """A model record (nothing runs it: its scores are made up here)."""
    model, _ = app.register_model(
        project_id, actor, name=name, version=version, task=task, format="onnx",
        architecture=None, layout="classifier" if task == "classify" else "yolov8",
        classes=list(classes), input_size=[64, 64],
        sha256=hashlib.sha256(f"{project_id}/{name}/{version}".encode()).hexdigest(),
        size_bytes=1, file_name=f"{name}.onnx", details={})
    return str(model.id)


def uncertainty(probabilities: np.ndarray) -> dict[str, float | None]:
    """The classifier uncertainties of one probability vector (higher = less sure)."""
    p = np.sort(np.asarray(probabilities, dtype=np.float64))[::-1]
    second = p[1] if p.size > 1 else 0.0
    entropy = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    return {"least_confidence": float(1.0 - p[0]), "margin": float(1.0 - (p[0] - second)),
            "entropy": entropy, "stability": None}


def made_up_scores(image_ids: Sequence[str], classes: int = 3, dims: int | None = 16,
                   seed: int = 0) -> list[ImageScore]:
    """One score per image: Dirichlet probabilities, a random embedding of ``dims`` (None:
    no embedding)."""
    rng = np.random.default_rng(seed)
    scores = []
    for image_id in image_ids:
        p = rng.dirichlet(np.full(classes, 0.7))
        embedding = None if dims is None else encode_embedding(rng.normal(size=dims))
        scores.append(ImageScore(image_id=str(image_id), probabilities=[float(x) for x in p],
                                 uncertainty=uncertainty(p), embedding=embedding,
                                 dims=dims or 0, boxes=0))
    return scores


def score_images(app: Labeling, project_id: str, model_id: str, image_ids: Sequence[Any],
                 scores: Sequence[ImageScore] | None = None, shard_size: int = 64,
                 seed: int = 0, dims: int | None = 16, actor: str = "admin") -> str:
    """Queue a score job over ``image_ids`` and record every shard of it (made-up scores
    unless ``scores`` are given, in the images' order); returns the job id."""
    ids = [str(i) for i in image_ids]
    job, _ = app.queue_job(project_id, actor, type="score", model_id=model_id, params={},
                           image_ids=ids, shard_size=shard_size)
    all_scores = list(scores) if scores is not None else made_up_scores(ids, dims=dims,
                                                                        seed=seed)
    by_image = {s.image_id: s for s in all_scores}
    job_id = str(job.id)
    for shard in range(job.shard_count):
        members = job.shard(shard)

        def change(j: Job, shard: int = shard, members: list[str] = members) -> None:
            j.start("test")
            j.shard_done(shard, done=len(members), failed=0, recorded=len(members), errors=[])

        app.record_scored_shard(job_id, shard, [by_image[i] for i in members], "max", change)
    app.change_job(job_id, lambda j: j.finish({}))
    return job_id
