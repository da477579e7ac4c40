"""Properties every strategy keeps, on generated pools (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from inference_workers.selection import STRATEGIES, rank, select


@st.composite
def pools(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 40))
    classes = draw(st.integers(1, 6))
    width = draw(st.integers(1, 5))
    raw = draw(arrays(np.float64, (n, classes),
                      elements=st.floats(0, 1, allow_subnormal=False)))
    raw = raw + 1e-6  # no all-zero row
    probabilities = raw / raw.sum(axis=1, keepdims=True)
    embeddings = draw(arrays(np.float64, (n, width),
                             elements=st.floats(-100, 100, allow_subnormal=False)))
    labeled = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if labeled.all():
        labeled[draw(st.integers(0, n - 1))] = False
    k = draw(st.integers(1, int((~labeled).sum())))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return {"probabilities": probabilities.astype(dtype), "embeddings": embeddings.astype(dtype),
            "labeled": labeled, "k": k, "seed": draw(st.integers(0, 2**32))}


@settings(deadline=None, max_examples=150)
@given(pools(), st.sampled_from(STRATEGIES))
def test_k_distinct_unlabeled_rows_the_same_for_a_seed(pool, strategy):
    picked = select(strategy, pool["probabilities"], pool["k"], embeddings=pool["embeddings"],
                    labeled=pool["labeled"], seed=pool["seed"])
    assert picked.dtype == np.int64
    assert len(picked) == pool["k"]
    assert len(set(picked.tolist())) == pool["k"]
    assert not pool["labeled"][picked].any()
    again = select(strategy, pool["probabilities"], pool["k"], embeddings=pool["embeddings"],
                   labeled=pool["labeled"], seed=pool["seed"])
    assert again.tolist() == picked.tolist()


@settings(deadline=None, max_examples=150)
@given(pools())
def test_margins_first_pick_has_the_smallest_margin(pool):
    # float64 rows that sum to 1 within rounding, so nothing renormalises them (which would
    # move the gaps of near-equal rows by an ulp either way).
    p = pool["probabilities"].astype(np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    top2 = np.sort(p, axis=1)[:, -2:] if p.shape[1] > 1 else np.c_[np.zeros(len(p)), p]
    gap = top2[:, 1] - top2[:, 0]
    gap[pool["labeled"]] = np.inf
    first = select("margin", p, 1, labeled=pool["labeled"])[0]
    assert first == int(np.argmin(gap))  # the smallest, and the lowest row among equals


@settings(deadline=None, max_examples=100)
@given(pools())
def test_uncertainty_rankings_never_increase(pool):
    for strategy in ("least_confidence", "margin", "entropy", "coreset"):
        ranking = rank(strategy, pool["probabilities"], pool["k"],
                       embeddings=pool["embeddings"].astype(np.float64),
                       labeled=pool["labeled"])
        assert (np.diff(ranking.scores) <= 1e-9 * max(1.0, ranking.scores.max())).all()


@settings(deadline=None, max_examples=100)
@given(pools())
def test_coreset_picks_the_farthest_row_each_time(pool):
    x = pool["embeddings"].astype(np.float64)
    labeled = pool["labeled"]
    picked = select("coreset", pool["probabilities"], pool["k"], embeddings=x, labeled=labeled,
                    seed=pool["seed"])
    centres = list(np.flatnonzero(labeled))
    if not centres:
        centres = [int(picked[0])]
        picked = picked[1:]
    scale = max(1.0, float(np.abs(x).max()))
    for pick in picked:
        nearest = np.sqrt(((x[:, None, :] - x[None, centres, :]) ** 2).sum(-1)).min(axis=1)
        nearest[labeled] = -1
        nearest[centres] = -1
        assert nearest[pick] >= nearest.max() - 1e-6 * scale
        centres.append(int(pick))
