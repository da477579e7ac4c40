"""Choosing what to label next: ranking a project's scored images by a selection strategy,
and "more like this" (the nearest images by embedding).

The use case behind ``GET /projects/{id}/selection``, ``GET /projects/{id}/similar`` and
``labelwright select``. A score job records, per image, the model's probabilities, its
uncertainty and an embedding (``domain.image_scores``); the ``image_scores`` read model keeps
the newest of each image per model. Here:

* **The pool** is the model's scored images in the project; with ``status="new"`` (the
  default) only those nobody has worked on yet (image status ``new``) are ranked, and the
  others count as labeled (core-set spreads away from them); ``status="all"`` ranks every
  scored image.
* **Uncertainty strategies** (``least_confidence``, ``margin``, ``entropy``) rank by the
  numbers the score job stored (for a detector, aggregated over its boxes: a recomputation
  from the per-class probabilities would lose that), highest first; where a score lacks
  one, by ``inference_workers.selection.uncertainty_scores`` of the probabilities.
  ``coreset``, ``badge`` and ``random`` run ``inference_workers.selection.rank`` (``select``
  with each pick's score) on the embeddings and probabilities, with ``labeled`` marking the
  images that are not in the pool; ``score`` is the pick's (coreset: its distance to the
  nearest labeled or earlier pick; badge: its gradient distance to the nearest earlier pick;
  random: the key it was ordered by).
* **Similar images** are the cosine-nearest embeddings (``inference_workers.selection.nearest``).

Decoded arrays are cached per (database, project, model) and reused while the model's newest
score position and count are unchanged (:class:`ScorePools`, bounded by bytes); only the
labeled image ids are read on every call. ``benchmarks/selection_service.py`` measures it.

numpy only: the selection module is numpy too, imported when first used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from domain.application import Labeling
from domain.errors import NotFound, ValidationFailed
from domain.model import Model

STRATEGIES = ("least_confidence", "margin", "entropy", "coreset", "badge", "random")
UNCERTAINTY_STRATEGIES = ("least_confidence", "margin", "entropy")
EMBEDDING_STRATEGIES = ("coreset", "badge")
DEFAULT_STRATEGY = "margin"
STATUSES = ("new", "all")
MAX_K = 1000
"""The most images one selection or similar answer may rank."""
CACHE_BYTES = 512 * 1024 * 1024
"""Decoded score arrays kept in memory at most (least recently used go first)."""
_UNCERTAINTY_COLUMN = {"least_confidence": 0, "margin": 1, "entropy": 2}

Floats = npt.NDArray[np.float32]


class ScoreSource(Protocol):
    """What the use case reads (``projections.read_models.ReadModels`` fits)."""

    @property
    def db(self) -> Any: ...
    def score_summary(self, project_id: str, model_id: str) -> tuple[int, int, list[int]]: ...
    def image_scores(self, project_id: str, model_id: str) -> list[Any]: ...
    def labeled_image_ids(self, project_id: str) -> list[str]: ...


@dataclass
class ScorePool:
    """A model's scores in a project, decoded: row ``i`` is image ``image_ids[i]``."""

    image_ids: list[str]
    uncertainty: npt.NDArray[np.float64]  # (n, 4): least_confidence, margin, entropy, stability
    probabilities: Floats | None  # (n, classes); None when the rows' widths differ
    embeddings: Floats | None  # (n, dims); None when missing or of different widths
    widths: list[int]  # the distinct embedding widths (0: a score without embedding)
    position: int
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {image_id: i for i, image_id in enumerate(self.image_ids)}

    @property
    def nbytes(self) -> int:
        arrays = [self.uncertainty, self.probabilities, self.embeddings]
        return sum(a.nbytes for a in arrays if a is not None) + 100 * len(self.image_ids)

    @classmethod
    def decode(cls, rows: Sequence[Any], position: int) -> ScorePool:
        n = len(rows)
        ids = [str(r[0]) for r in rows]
        uncertainty = np.array([[np.nan if v is None else v for v in r[1:5]] for r in rows],
                               dtype=np.float64).reshape(n, 4)
        prob_bytes = [bytes(r[5]) for r in rows]
        probabilities: Floats | None = None
        if len({len(b) for b in prob_bytes}) == 1:
            probabilities = np.frombuffer(b"".join(prob_bytes), dtype="<f4").astype(
                np.float32).reshape(n, -1)
        widths = sorted({int(r[7]) if r[6] is not None else 0 for r in rows})
        embeddings: Floats | None = None
        if len(widths) == 1 and widths[0] > 0:
            embeddings = np.frombuffer(b"".join(bytes(r[6]) for r in rows), dtype="<f2"
                                       ).astype(np.float32).reshape(n, widths[0])
        return cls(ids, uncertainty, probabilities, embeddings, widths, position)


class ScorePools:
    """Decoded pools, least recently used dropped first beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._pools: OrderedDict[tuple[str, str, str], tuple[tuple[int, int], ScorePool]] = (
            OrderedDict())
        self._lock = threading.Lock()
        self.loads = 0  # how many times rows were read and decoded (tests, benchmark)

    def pool(self, read: ScoreSource, project_id: str, model_id: str, count: int,
             newest: int) -> ScorePool:
        key = (f"{read.db.dialect}:{read.db.target}", project_id, model_id)
        with self._lock:
            found = self._pools.get(key)
            if found is not None and found[0] == (count, newest):
                self._pools.move_to_end(key)
                return found[1]
        pool = ScorePool.decode(read.image_scores(project_id, model_id), newest)
        with self._lock:
            self.loads += 1
            self._pools[key] = ((len(pool.image_ids), pool.position), pool)
            self._pools.move_to_end(key)
            total = sum(p.nbytes for _, p in self._pools.values())
            while total > self.max_bytes and len(self._pools) > 1:
                _, (_, dropped) = self._pools.popitem(last=False)
                total -= dropped.nbytes
        return pool

    def clear(self) -> None:
        with self._lock:
            self._pools.clear()


POOLS = ScorePools()
"""The process's cache (the server, the CLI)."""


# -- checks -----------------------------------------------------------------------------------

def _choice(value: object, allowed: Sequence[str], name: str, default: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value not in allowed:
        raise ValidationFailed(f"{name} must be one of {', '.join(allowed)}",
                               {"field": name, "allowed": list(allowed)})
    return value


def _k(value: object, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_K:
        raise ValidationFailed(f"k must be an integer between 1 and {MAX_K}",
                               {"field": "k", "minimum": 1, "maximum": MAX_K})
    return value


def _seed(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ValidationFailed("seed must be an integer between 0 and 4294967295",
                               {"field": "seed"})
    return value


def model_in(app: Labeling, project_id: str, model_id: object) -> Model:
    """The project's model ``model_id``; ValidationFailed (field ``model_id``) otherwise."""
    if not isinstance(model_id, str) or not model_id:
        raise ValidationFailed("model_id is required: the id of a model registered in this "
                               "project", {"field": "model_id"})
    try:
        model = app.model(model_id)
    except (NotFound, ValidationFailed):
        model = None
    if model is None or model.project_id != project_id:
        raise ValidationFailed("model_id does not name a model registered in this project",
                               {"field": "model_id"})
    return model


def model_json(model: Model) -> dict[str, Any]:
    return {"id": str(model.id), "name": model.name, "version": model.model_version,
            "task": model.task}


def scored_pool(app: Labeling, read: ScoreSource, project_id: str, model_id: object,
                pools: ScorePools) -> tuple[Model, ScorePool]:
    """The model (checked) and its decoded scores; 422 when it was never scored here."""
    project_id = str(app.project(project_id).id)
    model = model_in(app, project_id, model_id)
    count, newest, _ = read.score_summary(project_id, str(model.id))
    if count == 0:
        raise ValidationFailed(
            f"model {model.name} {model.model_version} has not scored any image of this "
            "project yet: run a score job first (POST /projects/{project_id}/jobs with "
            "type \"score\")", {"field": "model_id"})
    return model, pools.pool(read, project_id, str(model.id), count, newest)


def _labeled_mask(read: ScoreSource, project_id: str, pool: ScorePool) -> npt.NDArray[np.bool_]:
    labeled = np.zeros(len(pool.image_ids), dtype=bool)
    index = pool.index
    for image_id in read.labeled_image_ids(project_id):
        row = index.get(image_id)
        if row is not None:
            labeled[row] = True
    return labeled


def _need_embeddings(pool: ScorePool, strategy: str) -> Floats:
    if pool.embeddings is not None:
        return pool.embeddings
    if pool.widths == [0]:
        raise ValidationFailed(
            f"{strategy} needs embeddings and this model's scores have none (the model "
            "exposes no features); use least_confidence, margin or entropy",
            {"field": "strategy"})
    shown = ", ".join("none" if w == 0 else str(w) for w in pool.widths)
    raise ValidationFailed(
        f"{strategy} needs one embedding width for every image, and this model's scores have "
        f"several ({shown}): score all the images again with one score job",
        {"field": "strategy", "widths": pool.widths})


def _need_probabilities(pool: ScorePool, strategy: str) -> Floats:
    if pool.probabilities is None:
        raise ValidationFailed(
            f"{strategy} needs the same number of class probabilities for every image, and "
            "this model's scores differ: score all the images again with one score job",
            {"field": "strategy"})
    return pool.probabilities


def _top(scores: npt.NDArray[np.float64], candidates: npt.NDArray[np.intp], k: int
         ) -> npt.NDArray[np.intp]:
    """The ``k`` candidates of highest score, best first (ties: the lower row first)."""
    values = scores[candidates]
    if k < len(candidates):
        keep = np.argpartition(-values, k - 1)[:k]
        candidates, values = candidates[keep], values[keep]
    order = np.lexsort((candidates, -values))
    return candidates[order]


# -- use cases ----------------------------------------------------------------------------------

def select_images(app: Labeling, read: ScoreSource, project_id: str, model_id: object,
                  strategy: object = None, k: object = None, status: object = None,
                  seed: object = 0, *, pools: ScorePools = POOLS) -> dict[str, Any]:
    """``{"model", "strategy", "status", "pool", "images": [{"image_id","score","rank"}]}``:
    the ``k`` (default 50) images of the pool the strategy picks, best first.

    Raises NotFound (project) and ValidationFailed: an unknown strategy or status, ``k``
    outside 1..``MAX_K`` or beyond the pool, a model not of this project or never scored
    in it, embeddings missing or of different widths for coreset/badge."""
    strategy = _choice(strategy, STRATEGIES, "strategy", DEFAULT_STRATEGY)
    status = _choice(status, STATUSES, "status", "new")
    k = _k(k, 50)
    seed = _seed(seed)
    model, pool = scored_pool(app, read, project_id, model_id, pools)
    project_id = model.project_id
    labeled = (_labeled_mask(read, project_id, pool) if status == "new"
               else np.zeros(len(pool.image_ids), dtype=bool))
    candidates = np.flatnonzero(~labeled)
    if k > len(candidates):
        whose = "not yet labeled " if status == "new" else ""
        raise ValidationFailed(
            f"k is {k} but only {len(candidates)} {whose}images have scores of this model "
            f"({len(pool.image_ids)} scored in all): ask for at most {len(candidates)}",
            {"field": "k", "pool": len(candidates)})
    if strategy in UNCERTAINTY_STRATEGIES:
        scores = pool.uncertainty[:, _UNCERTAINTY_COLUMN[strategy]]
        if np.isnan(scores[candidates]).any():
            from inference_workers.selection import uncertainty_scores

            computed = np.asarray(uncertainty_scores(
                strategy, _need_probabilities(pool, strategy)), dtype=np.float64)
            scores = np.where(np.isnan(scores), computed, scores)
        chosen = _top(np.nan_to_num(scores, nan=-np.inf), candidates, k)
    else:
        from inference_workers.selection import rank

        embeddings = (_need_embeddings(pool, strategy) if strategy in EMBEDDING_STRATEGIES
                      else None)
        probabilities = _need_probabilities(pool, strategy)
        try:
            ranking = rank(strategy, probabilities, k, embeddings=embeddings, labeled=labeled,
                           seed=seed)
        except ValidationFailed as e:
            if e.details.get("field") != "probabilities":
                raise
            raise ValidationFailed(
                f"{strategy} cannot use this model's scores: {e.message}. Use coreset or an "
                "uncertainty strategy (margin, least_confidence, entropy)",
                {"field": "strategy"}) from None
        chosen = np.asarray(ranking.indices, dtype=np.intp)
        scores = np.full(len(pool.image_ids), np.nan)
        scores[chosen] = ranking.scores
    images = [{"image_id": pool.image_ids[row], "score": _finite(scores[row]), "rank": place}
              for place, row in enumerate(chosen.tolist(), start=1)]
    return {"model": model_json(model), "strategy": strategy, "status": status,
            "pool": len(candidates), "images": images}


def similar_images(app: Labeling, read: ScoreSource, project_id: str, model_id: object,
                   image_id: object, k: object = None, status: object = None, *,
                   pools: ScorePools = POOLS) -> dict[str, Any]:
    """``{"model", "image_id", "images": [{"image_id","similarity","rank"}]}``: up to ``k``
    (default 12) images whose embeddings are nearest (cosine) to that of ``image_id``, the
    image itself left out; ``status`` ``all`` (default) or ``new`` (only images nobody has
    worked on). ValidationFailed: the image has no score (or no embedding) of this model."""
    status = _choice(status, STATUSES, "status", "all")
    k = _k(k, 12)
    if not isinstance(image_id, str) or not image_id:
        raise ValidationFailed("image_id is required: the image whose neighbours you want",
                               {"field": "image_id"})
    model, pool = scored_pool(app, read, project_id, model_id, pools)
    row = pool.index.get(image_id)
    if row is None:
        raise ValidationFailed(f"image {image_id} has no score of model {model.name} "
                               f"{model.model_version}: run a score job over it first",
                               {"field": "image_id"})
    if pool.embeddings is None:
        raise ValidationFailed(
            f"model {model.name} {model.model_version} has no embedding of one width for "
            "every image it scored, and similar images are found by embedding: score the "
            "images with a model that exposes features", {"field": "model_id"})
    exclude = (_labeled_mask(read, model.project_id, pool) if status == "new"
               else np.zeros(len(pool.image_ids), dtype=bool))
    exclude[row] = True
    from inference_workers.selection import nearest

    found = nearest(pool.embeddings, pool.embeddings[row], k, exclude=exclude)
    images = [{"image_id": pool.image_ids[r], "similarity": _finite(s), "rank": rank}
              for rank, (r, s) in enumerate(zip(found.indices.tolist(), found.scores.tolist(),
                                                strict=True), start=1)]
    return {"model": model_json(model), "image_id": image_id, "images": images}


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None
