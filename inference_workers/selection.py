"""Which unlabeled images to label next: the active-learning selection strategies (issue #11).

Pure numpy: it takes what a score job stored per image (class probabilities, an embedding) and
answers row indices; which images the rows are, and which are labeled, is the caller's business
(the selection endpoint, the CLI, a data scientist's notebook). Public API::

    select(strategy, probabilities, k, *, embeddings=None, labeled=None, seed=0) -> indices
    rank(...)                      -> Ranking(indices, scores)   # the same, with each pick's score
    uncertainty_scores(strategy, probabilities) -> one score per row (higher: label it sooner)
    image_uncertainty(box_scores, how="max")    -> a detector image's scores from its boxes
    nearest(embeddings, query, k, *, exclude=None) -> Ranking   # "more like this" (cosine)

Strategies (``STRATEGIES``; ``DEFAULT_STRATEGY`` is margin, the best of the cheap ones on the
digits benchmark, ``benchmarks/selection_label_efficiency.py``):

* ``least_confidence``: ``1 - max p``.
* ``margin``: the smallest gap between the two most likely classes first (score ``1 - gap``).
* ``entropy``: ``-sum p ln p`` (nats).
* ``coreset``: k-center greedy (Sener & Savarese 2018) on the embeddings: each pick is the row
  farthest (Euclidean) from every labeled row and every earlier pick. The distances to the
  nearest centre are kept per row and lowered by one matrix-vector product per pick, so it costs
  O(n·k·d) time and O(n·d) memory, never an n x n matrix; the labeled rows enter in blocks. With
  no labeled row the first pick is a seeded random row (as in the paper; the row farthest from
  the mean would spend the first label on an outlier). Score: the pick's distance to its nearest
  centre when picked (for a random first pick: the farthest any row is from it).
* ``badge``: BADGE (Ash et al. 2020): gradient embeddings ``g_i = (p_i - onehot(argmax p_i)) ⊗
  x_i``, the loss gradient of a last linear layer under the model's own guess, then k-means++
  seeding over the unlabeled rows: the first pick is the largest gradient (as the authors' code
  does), each later one drawn with probability proportional to its squared distance to the
  nearest pick, from ``seed``. The ``n x (classes·d)`` gradients are never built:
  ``<a⊗x, b⊗y> = (a·b)(x·y)``, so a pick's distances cost one product with the ``(n, classes)``
  residuals and one with the ``(n, d)`` embeddings. Labeled rows are not centres (as in BADGE).
  Score: the pick's distance to the nearest earlier pick (the first: its gradient's norm).
* ``random``: a seeded random order (score: the uniform key it was ordered by).

The embedding is whatever the model gives as its penultimate features (or pooled backbone
features); coreset and badge need it, the others ignore it.

Rules every function keeps: results are int64 row indices, best first, never a labeled row;
equal scores go to the lower index; the same input and seed give the same answer. float32 input
is computed in float32 (float64 stays float64). Bad input raises ``ValidationFailed`` with
``details["field"]`` naming the argument. Probabilities must be finite and non-negative; for the
strategies that read them as a distribution (all but coreset and random) each row must sum to 1:
rows off by up to ``ROW_SUM_TOLERANCE`` (float16 storage, rounding) are renormalised, further
off (logits, per-class sigmoid scores, truncated top-k lists) is refused, not guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from domain.errors import ValidationFailed

STRATEGIES = ("least_confidence", "margin", "entropy", "coreset", "badge", "random")
DEFAULT_STRATEGY = "margin"
UNCERTAINTY_STRATEGIES = ("least_confidence", "margin", "entropy")
EMBEDDING_STRATEGIES = ("coreset", "badge")
IMAGE_AGGREGATIONS = ("max", "mean", "sum")
# A row summing to 1 +- this is rounding and is renormalised; further off is refused.
ROW_SUM_TOLERANCE = 1e-2
# Elements of one distance block (rows x labeled centres) when coreset starts from the labeled
# rows: 8M float32 is 32 MB, whatever the number of labeled rows.
_BLOCK_ELEMENTS = 8_000_000


@dataclass(frozen=True)
class Ranking:
    """Rows best first (int64) and the score each was ranked by (float64, same length)."""

    indices: np.ndarray
    scores: np.ndarray


def select(strategy: str, probabilities: np.ndarray, k: int, *,
           embeddings: np.ndarray | None = None, labeled: np.ndarray | None = None,
           seed: int = 0) -> np.ndarray:
    """The ``k`` unlabeled rows to label next, best first (int64 indices into the rows)."""
    return rank(strategy, probabilities, k, embeddings=embeddings, labeled=labeled,
                seed=seed).indices


def rank(strategy: str, probabilities: np.ndarray, k: int, *,
         embeddings: np.ndarray | None = None, labeled: np.ndarray | None = None,
         seed: int = 0) -> Ranking:
    """``select`` with the score of each pick (see the module docstring for what it means)."""
    strategy = _strategy(strategy, STRATEGIES)
    probs = _probabilities(probabilities, as_distribution=strategy not in ("coreset", "random"))
    n = probs.shape[0]
    done = _labeled(labeled, n)
    k = _k(k, n - int(done.sum()), n)
    emb = _embeddings(embeddings, n, strategy)
    seed = _seed(seed)
    pool = np.flatnonzero(~done)
    if strategy in UNCERTAINTY_STRATEGIES:
        return _best(*_uncertainty_and_key(strategy, probs), pool, k)
    if strategy == "random":
        keys = np.random.default_rng(seed).random(pool.size)
        order = np.argsort(-keys, kind="stable")[:k]
        return Ranking(pool[order].astype(np.int64), keys[order])
    assert emb is not None
    if strategy == "coreset":
        return _k_center_greedy(emb, done, k, seed)
    return _badge(probs, emb, pool, k, seed)


def uncertainty_scores(strategy: str, probabilities: np.ndarray) -> np.ndarray:
    """One float64 score per row, higher = more worth labeling, for the uncertainty strategies.

    What a score job can store per image so that a later ranking is a sort. coreset, badge and
    random have no per-row score (theirs depend on the rows picked before), so they are refused.
    """
    strategy = _strategy(strategy, UNCERTAINTY_STRATEGIES)
    return _uncertainty(strategy, _probabilities(probabilities, as_distribution=True))


def image_uncertainty(box_scores: np.ndarray, how: str = "max") -> dict[str, float]:
    """A detector image's ``least_confidence``, ``margin`` and ``entropy`` from its box scores.

    Each box's confidence ``p`` is read as the two-class distribution (object, not object) =
    ``(p, 1 - p)``: least confidence ``min(p, 1-p)``, margin ``1 - |2p - 1|``, entropy in nats.
    All three peak at ``p = 0.5`` and rank boxes alike; they differ in scale when aggregated.
    ``how`` aggregates the boxes into the image's score:

    * ``max`` (the default): the image is as worth labeling as its most doubtful box. It does not
      favour crowded images, and one doubtful object is enough to teach the model something.
    * ``mean``: images whose boxes are doubtful throughout; many confident boxes dilute it.
    * ``sum``: favours crowded images with many doubtful boxes, when labeling effort is paid per
      image rather than per box.

    An image with no box scores 0: the model says, with confidence, that nothing is there (a box
    of confidence 0 is the certain distribution (0, 1)). That can hide an image where the model
    misses everything; score jobs should keep low-scoring boxes (a low threshold such as 0.01)
    so that a faint detection counts, and coreset or the blind spots find the rest.
    """
    how = _choice(how, IMAGE_AGGREGATIONS, "how", "aggregation")
    p = _array(box_scores, "box_scores", "box scores")
    if p.ndim != 1:
        raise _invalid("box_scores", f"box scores must be a flat list, one per box; "
                       f"got an array of shape {p.shape}")
    p = p.astype(np.float64)
    _finite(p, "box_scores", "box scores")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise _invalid("box_scores", "box scores must be between 0 and 1")
    if p.size == 0:
        return {"least_confidence": 0.0, "margin": 0.0, "entropy": 0.0}
    q = 1.0 - p
    per_box = {
        "least_confidence": np.minimum(p, q),
        "margin": 1.0 - np.abs(p - q),
        "entropy": -(_xlogx(p) + _xlogx(q)),
    }
    return {name: _aggregate(values, how) for name, values in per_box.items()}


def nearest(embeddings: np.ndarray, query: np.ndarray, k: int, *,
            exclude: np.ndarray | None = None) -> Ranking:
    """The rows most like ``query`` by cosine similarity ("more like this"), most similar first.

    ``query`` is one embedding ``(d,)`` or several ``(m, d)``; with several a row's score is its
    best similarity to any of them (the neighbours of a group of failures). ``exclude`` leaves
    rows out: a boolean mask ``(n,)`` or row indices (the query images themselves, say). Answers
    at most ``k`` rows (fewer when fewer are left). A zero vector is similar to nothing (0).
    """
    emb = _embeddings(embeddings, None, "nearest")
    assert emb is not None
    n, d = emb.shape
    q = _array(query, "query", "query")
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[0] < 1 or q.shape[1] != d:
        raise _invalid("query", f"query must be one embedding of {d} values or a list of them "
                       f"(the embeddings' width); got shape {np.shape(query)}")
    q = q.astype(emb.dtype)
    _finite(q, "query", "query")
    k = _positive_int(k, "k")
    keep = np.ones(n, dtype=bool)
    if exclude is not None:
        keep[_rows(exclude, n)] = False
    pool = np.flatnonzero(keep)
    tiny = np.finfo(emb.dtype).tiny
    q_unit = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), tiny)
    rows = emb[pool] if pool.size < n else emb
    norms = np.maximum(np.linalg.norm(rows, axis=1), tiny)
    similarity = (rows @ q_unit.T).max(axis=1) / norms
    order = np.argsort(-similarity, kind="stable")[: min(k, pool.size)]
    return Ranking(pool[order].astype(np.int64), similarity[order].astype(np.float64))


# -- strategies ------------------------------------------------------------------------------


def _uncertainty(strategy: str, p: np.ndarray) -> np.ndarray:
    return _uncertainty_and_key(strategy, p)[0]


def _uncertainty_and_key(strategy: str, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scores (float64), and what to sort by: ``-max p`` and ``-gap`` are exact where
    ``1 - max p`` and ``1 - gap`` can round two different rows to one number."""
    if strategy == "least_confidence":
        top = p.max(axis=1).astype(np.float64)
        return 1.0 - top, -top
    if strategy == "margin":
        if p.shape[1] < 2:
            gap = p[:, 0].astype(np.float64)
        else:
            top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:].astype(np.float64)
            gap = np.abs(top2[:, 1] - top2[:, 0])
        return 1.0 - gap, -gap
    score = -_xlogx(p).sum(axis=1, dtype=np.float64)
    return score, score


def _best(scores: np.ndarray, key: np.ndarray, pool: np.ndarray, k: int) -> Ranking:
    """The ``k`` highest keys among ``pool``; a stable sort gives equal keys to lower rows."""
    order = np.argsort(-key[pool], kind="stable")[:k]
    picked = pool[order]
    return Ranking(picked.astype(np.int64), scores[picked])


def _k_center_greedy(x: np.ndarray, labeled: np.ndarray, k: int, seed: int) -> Ranking:
    # Centring changes no distance and makes the norms, hence the float32 cancellation in
    # |a|² - 2a·b + |b|², smaller.
    x = x - x.mean(axis=0, dtype=np.float64).astype(x.dtype)
    pool = np.flatnonzero(~labeled)
    points = np.ascontiguousarray(x[pool])
    squares = np.einsum("ij,ij->i", points, points)
    nearest_sq = np.full(pool.size, np.inf, dtype=points.dtype)
    centres = x[labeled]
    block = max(1, _BLOCK_ELEMENTS // max(1, pool.size))
    for start in range(0, centres.shape[0], block):
        c = centres[start:start + block]
        # min_j |p|² - 2 p·c_j + |c_j|², in place on the block: |p|² is added after the min.
        block_d2 = points @ c.T
        block_d2 *= -2.0
        block_d2 += np.einsum("ij,ij->i", c, c)[None, :]
        d2 = block_d2.min(axis=1) + squares
        np.minimum(nearest_sq, np.maximum(d2, 0.0), out=nearest_sq)
    picks = np.empty(k, dtype=np.int64)
    dist_sq = np.empty(k, dtype=np.float64)
    random_first = centres.shape[0] == 0
    for t in range(k):
        if t == 0 and random_first:
            j = int(np.random.default_rng(seed).integers(pool.size))
        else:
            j = int(np.argmax(nearest_sq))  # the first maximum: ties go to the lower row
        picks[t] = j
        dist_sq[t] = nearest_sq[j]
        d2 = squares - 2.0 * _dot_rows(points, points[j]) + squares[j]
        np.minimum(nearest_sq, np.maximum(d2, 0.0, out=d2), out=nearest_sq)
        nearest_sq[j] = -1.0  # picked: never again, even beside an exact duplicate
        if t == 0 and random_first:
            dist_sq[0] = max(float(nearest_sq.max()), 0.0)
    return Ranking(pool[picks].astype(np.int64), np.sqrt(np.maximum(dist_sq, 0.0)))


def _badge(probs: np.ndarray, emb: np.ndarray, pool: np.ndarray, k: int, seed: int) -> Ranking:
    dtype = np.result_type(probs.dtype, emb.dtype)
    residual = probs[pool].astype(dtype, copy=True)  # p - onehot(argmax p)
    residual[np.arange(pool.size), residual.argmax(axis=1)] -= 1.0
    x = np.ascontiguousarray(emb[pool], dtype=dtype)
    r_sq = np.einsum("ij,ij->i", residual, residual)
    x_sq = np.einsum("ij,ij->i", x, x)
    g_sq = r_sq * x_sq  # |r ⊗ x|² = |r|²·|x|²
    rng = np.random.default_rng(seed)
    picks = np.empty(k, dtype=np.int64)
    dist_sq = np.empty(k, dtype=np.float64)
    nearest_sq = np.full(pool.size, np.inf, dtype=dtype)
    chosen = np.zeros(pool.size, dtype=bool)
    for t in range(k):
        if t == 0:
            j = int(np.argmax(g_sq))
            dist_sq[0] = g_sq[j]
        else:
            j = _draw(nearest_sq, chosen, rng)
            dist_sq[t] = nearest_sq[j]
        picks[t] = j
        chosen[j] = True
        d2 = g_sq - 2.0 * _dot_rows(residual, residual[j]) * _dot_rows(x, x[j]) + g_sq[j]
        np.minimum(nearest_sq, np.maximum(d2, 0.0), out=nearest_sq)
        nearest_sq[chosen] = 0.0
    return Ranking(pool[picks].astype(np.int64), np.sqrt(np.maximum(dist_sq, 0.0)))


def _dot_rows(rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``rows @ vector`` on one thread: einsum's own loop, not BLAS.

    The greedy loops make one small product per pick. OpenBLAS spreads each over its threads
    and wakes them every time; on a busy 2-core machine (load 12, other processes) that made
    coreset and BADGE 30-90x slower than alone (4-6 s for k = 100 over 10,000 rows), where one
    thread took a few ms per pick whatever the load."""
    return np.einsum("ij,j->i", rows, vector)


def _draw(weights: np.ndarray, chosen: np.ndarray, rng: np.random.Generator) -> int:
    """A row drawn with probability proportional to ``weights`` (k-means++'s D² sampling)."""
    cumulative = np.cumsum(weights, dtype=np.float64)
    total = float(cumulative[-1])
    if total > 0.0 and np.isfinite(total):
        j = int(np.searchsorted(cumulative, rng.random() * total, side="right"))
        j = min(j, weights.size - 1)
        if not chosen[j] and weights[j] > 0:
            return j
        return int(np.argmax(weights))  # a rounding edge landed on a zero weight
    # Every row left coincides with a pick: no distance to sample by; take the lowest row.
    return int(np.flatnonzero(~chosen)[0])


def _aggregate(values: np.ndarray, how: str) -> float:
    if how == "max":
        return float(values.max())
    return float(values.mean() if how == "mean" else values.sum())


def _xlogx(p: np.ndarray) -> np.ndarray:
    """``p * ln p`` with ``0 ln 0 = 0``."""
    return p * np.log(np.where(p > 0, p, 1))


# -- input checks ----------------------------------------------------------------------------


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, {"field": field})


def _choice(value: Any, allowed: tuple[str, ...], field: str, what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _invalid(field, f"unknown {what} {value!r}; use one of {', '.join(allowed)}")
    return value


def _strategy(value: Any, allowed: tuple[str, ...]) -> str:
    if isinstance(value, str) and value in STRATEGIES and value not in allowed:
        raise _invalid("strategy", f"{value} has no per-row score (it depends on the rows "
                       f"picked before); use one of {', '.join(allowed)}, or select/rank")
    return _choice(value, allowed, "strategy", "strategy")


def _array(value: Any, field: str, what: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise _invalid(field, f"{what} must be an array of numbers ({error})") from None
    if array.dtype.kind not in "iuf":
        raise _invalid(field, f"{what} must be numbers, got dtype {array.dtype}")
    return array


def _floats(array: np.ndarray) -> np.ndarray:
    """float32 and float64 stay; integers become float64, float16 float32."""
    if array.dtype == np.float64 or array.dtype == np.float32:
        return array
    return array.astype(np.float32 if array.dtype.kind == "f" else np.float64)


def _finite(array: np.ndarray, field: str, what: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise _invalid(field, f"{what} must be finite numbers; {_at(where)} is "
                       f"{array[tuple(where)]}")


def _at(where: np.ndarray) -> str:
    return f"row {where[0]}" + (f", column {where[1]}" if where.size > 1 else "")


def _probabilities(value: Any, *, as_distribution: bool) -> np.ndarray:
    p = _array(value, "probabilities", "probabilities")
    if p.ndim != 2:
        raise _invalid("probabilities", f"probabilities must be 2-D (rows, classes); got shape "
                       f"{p.shape}")
    p = _floats(p)
    _finite(p, "probabilities", "probabilities")
    if p.size and p.min() < 0:
        where = np.argwhere(p < 0)[0]
        raise _invalid("probabilities", f"probabilities must not be negative; {_at(where)} is "
                       f"{p[tuple(where)]} (logits? apply a softmax first)")
    if not as_distribution or p.shape[0] == 0:
        return p
    if p.shape[1] == 0:
        raise _invalid("probabilities", "probabilities need at least one class column")
    sums = p.sum(axis=1, dtype=np.float64)
    off = np.abs(sums - 1.0)
    worst = int(np.argmax(off))
    if off[worst] > ROW_SUM_TOLERANCE:
        raise _invalid("probabilities", f"each row must be a distribution summing to 1; row "
                       f"{worst} sums to {sums[worst]:.4g} (per-class sigmoid scores or a "
                       f"top-k list are not; apply a softmax over all classes)")
    if off[worst] > 4 * np.finfo(p.dtype).eps * p.shape[1]:
        p = (p / sums[:, None]).astype(p.dtype)
    return p


def _labeled(value: Any, n: int) -> np.ndarray:
    if value is None:
        return np.zeros(n, dtype=bool)
    mask = np.asarray(value)
    if mask.dtype != np.bool_:
        raise _invalid("labeled", f"labeled must be a boolean mask, one per row, got dtype "
                       f"{mask.dtype} (for indices: mask = np.zeros(n, bool); mask[idx] = True)")
    if mask.shape != (n,):
        raise _invalid("labeled", f"labeled must have one value per row ({n}), got shape "
                       f"{mask.shape}")
    return mask


def _positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise _invalid(field, f"{field} must be a whole number, got {value!r}")
    if value < 1:
        raise _invalid(field, f"{field} must be at least 1, got {value}")
    return int(value)


def _k(value: Any, unlabeled: int, n: int) -> int:
    k = _positive_int(value, "k")
    if k > unlabeled:
        raise _invalid("k", f"k={k} is more than the unlabeled rows: {unlabeled} of {n} rows "
                       f"are unlabeled")
    return k


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise _invalid("seed", f"seed must be a whole number >= 0, got {value!r}")
    return int(value)


def _embeddings(value: Any, n: int | None, strategy: str) -> np.ndarray | None:
    if value is None:
        if strategy in EMBEDDING_STRATEGIES or strategy == "nearest":
            raise _invalid("embeddings", f"{strategy} needs embeddings (one row per image); "
                           f"run a score job with a model that gives them")
        return None
    emb = _array(value, "embeddings", "embeddings")
    if emb.ndim != 2 or emb.shape[1] < 1:
        raise _invalid("embeddings", f"embeddings must be 2-D (rows, width >= 1); got shape "
                       f"{emb.shape}")
    if n is not None and emb.shape[0] != n:
        raise _invalid("embeddings", f"embeddings have {emb.shape[0]} rows but the "
                       f"probabilities have {n}; they must describe the same rows")
    emb = _floats(emb)
    _finite(emb, "embeddings", "embeddings")
    return emb


def _rows(value: Any, n: int) -> np.ndarray:
    """``exclude`` as a boolean mask or row indices -> the excluded row indices."""
    rows = np.asarray(value)
    if rows.dtype == np.bool_:
        if rows.shape != (n,):
            raise _invalid("exclude", f"exclude as a mask needs one value per row ({n}), got "
                           f"shape {rows.shape}")
        return np.flatnonzero(rows)
    if rows.dtype.kind not in "iu" or rows.ndim > 1:
        raise _invalid("exclude", "exclude must be a boolean mask or a list of row indices")
    rows = rows.reshape(-1).astype(np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise _invalid("exclude", f"exclude names rows outside 0..{n - 1}")
    return rows
