"""The selection strategies on hand-made cases, and against independent references.

References: scipy's entropy and pairwise distances, and explicitly materialised BADGE gradient
embeddings (the module never builds them). modAL and scikit-activeml are not installed here, so
they are not used as oracles.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import entropy as scipy_entropy

from inference_workers.selection import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    rank,
    select,
    uncertainty_scores,
)

# Five rows, three classes: row 0 is sure, row 1 a coin toss between two classes, row 2 spread
# over all three, row 3 fairly sure, row 4 a near tie with a third class present.
P = np.array([
    [0.98, 0.01, 0.01],
    [0.50, 0.50, 0.00],
    [0.34, 0.33, 0.33],
    [0.80, 0.15, 0.05],
    [0.45, 0.40, 0.15],
])


def test_the_public_names():
    assert STRATEGIES == ("least_confidence", "margin", "entropy", "coreset", "badge", "random")
    assert DEFAULT_STRATEGY == "margin"


def test_least_confidence_ranks_by_the_top_probability():
    assert select("least_confidence", P, 5).tolist() == [2, 4, 1, 3, 0]
    np.testing.assert_allclose(uncertainty_scores("least_confidence", P), 1 - P.max(axis=1))


def test_margin_puts_the_smallest_gap_between_the_top_two_first():
    # Gaps: 0.97, 0.0, 0.01, 0.65, 0.05.
    assert select("margin", P, 5).tolist() == [1, 2, 4, 3, 0]
    np.testing.assert_allclose(uncertainty_scores("margin", P),
                               1 - np.array([0.97, 0.0, 0.01, 0.65, 0.05]))


def test_entropy_agrees_with_scipy():
    expected = scipy_entropy(P, axis=1)
    np.testing.assert_allclose(uncertainty_scores("entropy", P), expected, rtol=1e-12)
    assert select("entropy", P, 5).tolist() == np.argsort(-expected, kind="stable").tolist()


def test_the_ranking_carries_each_picks_score():
    ranking = rank("margin", P, 3)
    assert ranking.indices.dtype == np.int64
    np.testing.assert_allclose(ranking.scores, [1.0, 0.99, 0.95])


def test_labeled_rows_are_never_picked():
    labeled = np.array([False, True, True, False, False])
    for strategy in STRATEGIES:
        picked = select(strategy, P, 3, embeddings=np.eye(5), labeled=labeled)
        assert sorted(picked.tolist()) == [0, 3, 4], strategy


def test_equal_scores_go_to_the_lower_row():
    same = np.tile([0.6, 0.4], (6, 1))
    for strategy in ("least_confidence", "margin", "entropy"):
        assert select(strategy, same, 6).tolist() == [0, 1, 2, 3, 4, 5]
    labeled = np.array([True, False, True, False, False, False])
    assert select("margin", same, 2, labeled=labeled).tolist() == [1, 3]


def test_rows_off_by_rounding_are_renormalised():
    rounded = P * 0.995  # float16 storage and rounding leave sums like this
    for strategy in ("least_confidence", "margin", "entropy"):
        assert select(strategy, rounded, 5).tolist() == select(strategy, P, 5).tolist()
    np.testing.assert_allclose(uncertainty_scores("entropy", rounded),
                               uncertainty_scores("entropy", P), rtol=1e-9)


def test_float32_and_float64_pick_alike():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(10), 500)
    emb = rng.standard_normal((500, 16))
    for strategy in STRATEGIES:
        a = select(strategy, p, 20, embeddings=emb, seed=5)
        b = select(strategy, p.astype(np.float32), 20, embeddings=emb.astype(np.float32), seed=5)
        assert a.tolist() == b.tolist(), strategy


def test_a_single_class_has_nothing_to_doubt():
    one = np.ones((3, 1))
    for strategy in ("least_confidence", "margin", "entropy"):
        np.testing.assert_allclose(uncertainty_scores(strategy, one), 0.0)


# -- coreset ---------------------------------------------------------------------------------


def greedy_reference(x: np.ndarray, labeled: np.ndarray, first: int | None, k: int
                     ) -> list[float]:
    """Brute force: the full distance matrix; at each step the farthest row from all centres.

    Returns the covering distance each step reaches, which the picks must reproduce (the picks
    themselves may differ where two rows tie)."""
    dist = cdist(x, x)
    centres: list[int] = [int(i) for i in np.flatnonzero(labeled)]
    if first is not None:
        centres.append(first)
    reached = []
    for _ in range(k - (first is not None)):
        nearest = dist[:, centres].min(axis=1)
        nearest[labeled] = -1
        reached.append(nearest.max())
        centres.append(int(np.argmax(nearest)))
    return reached


def test_coreset_on_a_line_covers_it_from_the_labeled_end():
    x = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [4.0]])
    labeled = np.array([True, False, False, False, False, False])
    ranking = rank("coreset", np.ones((6, 1)), 3, embeddings=x, labeled=labeled)
    # 10 is farthest from 0; then 4 (4 from 0, 6 from 10); then 2 (2 from 0 and from 4).
    assert ranking.indices.tolist() == [4, 5, 2]
    np.testing.assert_allclose(ranking.scores, [10.0, 4.0, 2.0])


def test_coreset_picks_maximise_the_distance_to_the_centres_like_brute_force():
    rng = np.random.default_rng(11)
    for trial in range(20):
        n, d = int(rng.integers(5, 60)), int(rng.integers(1, 9))
        x = rng.standard_normal((n, d)) * rng.uniform(0.1, 50)
        labeled = rng.random(n) < 0.3
        unlabeled = int((~labeled).sum())
        if unlabeled == 0:
            continue
        k = int(rng.integers(1, unlabeled + 1))
        ranking = rank("coreset", np.ones((n, 2)) / 2, k, embeddings=x, labeled=labeled,
                       seed=trial)
        first = None if labeled.any() else int(ranking.indices[0])
        expected = greedy_reference(x, labeled, first, k)
        got = ranking.scores if first is None else ranking.scores[1:]
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
        # and each pick really is that far from every earlier centre
        centres: list[int] = [int(i) for i in np.flatnonzero(labeled)]
        for pick, score in zip(ranking.indices, ranking.scores, strict=True):
            if centres:
                assert np.isclose(cdist(x[[pick]], x[centres]).min(), score)
            centres.append(int(pick))


def test_coreset_without_labels_starts_from_a_seeded_random_row():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 4))
    firsts = {int(select("coreset", np.ones((200, 1)), 1, embeddings=x, seed=s)[0])
              for s in range(20)}
    assert len(firsts) > 10
    assert (select("coreset", np.ones((200, 1)), 5, embeddings=x, seed=3).tolist()
            == select("coreset", np.ones((200, 1)), 5, embeddings=x, seed=3).tolist())


def test_coreset_with_many_labeled_rows_goes_through_them_in_blocks(monkeypatch):
    import inference_workers.selection as selection

    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 5)).astype(np.float32)
    labeled = rng.random(300) < 0.7
    whole = rank("coreset", np.ones((300, 1)), 10, embeddings=x, labeled=labeled)
    monkeypatch.setattr(selection, "_BLOCK_ELEMENTS", 500)  # a few centres per block
    blocks = rank("coreset", np.ones((300, 1)), 10, embeddings=x, labeled=labeled)
    assert whole.indices.tolist() == blocks.indices.tolist()
    np.testing.assert_allclose(whole.scores, blocks.scores, rtol=1e-5)


def test_coreset_never_repeats_a_row_among_duplicates():
    x = np.zeros((6, 3))
    picked = select("coreset", np.ones((6, 1)), 6, embeddings=x)
    assert sorted(picked.tolist()) == [0, 1, 2, 3, 4, 5]


# -- badge -----------------------------------------------------------------------------------


def gradient_embeddings(p: np.ndarray, x: np.ndarray) -> np.ndarray:
    """What BADGE samples from, materialised: (p - onehot(argmax p)) outer x, flattened."""
    residual = p.copy()
    residual[np.arange(len(p)), p.argmax(axis=1)] -= 1
    return np.einsum("ic,id->icd", residual, x).reshape(len(p), -1)


def test_badge_starts_from_the_largest_gradient_and_scores_distances_to_earlier_picks():
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(4), 80)
    x = rng.standard_normal((80, 6))
    labeled = rng.random(80) < 0.2
    g = gradient_embeddings(p, x)
    pool = np.flatnonzero(~labeled)
    ranking = rank("badge", p, 15, embeddings=x, labeled=labeled, seed=9)
    norms = np.linalg.norm(g, axis=1)
    assert ranking.indices[0] == pool[np.argmax(norms[pool])]
    assert np.isclose(ranking.scores[0], norms[ranking.indices[0]])
    for t in range(1, 15):
        earlier = ranking.indices[:t]
        expected = cdist(g[[ranking.indices[t]]], g[earlier]).min()
        assert np.isclose(ranking.scores[t], expected, rtol=1e-7, atol=1e-9)


def test_badge_draws_in_proportion_to_the_squared_distance():
    # Row 0 has the largest gradient and is the first pick. Rows 1 and 2 then stand at squared
    # gradient distances 1 : 4 from it (x = 1 and 2 with the same residual, row 0 at x = 0 with
    # a larger one along another axis) -> row 2 second about 4 times as often as row 1.
    p = np.array([[0.1, 0.9], [0.9, 0.1], [0.9, 0.1]])
    x = np.array([[5.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    g = gradient_embeddings(p, x)
    d2 = ((g[1:] - g[0]) ** 2).sum(axis=1)
    seconds = [int(select("badge", p, 2, embeddings=x, seed=s)[1]) for s in range(2000)]
    assert all(int(select("badge", p, 1, embeddings=x, seed=s)[0]) == 0 for s in range(5))
    share = seconds.count(2) / len(seconds)
    assert abs(share - d2[1] / d2.sum()) < 0.04


def test_badge_with_nothing_to_tell_apart_still_gives_distinct_rows():
    p = np.tile([1.0, 0.0], (5, 1))  # sure everywhere: every gradient is zero
    assert sorted(select("badge", p, 5, embeddings=np.ones((5, 2))).tolist()) == [0, 1, 2, 3, 4]


# -- random ----------------------------------------------------------------------------------


def test_random_is_seeded_and_covers_the_pool_evenly():
    p = np.full((10, 2), 0.5)
    assert select("random", p, 10, seed=1).tolist() == select("random", p, 10, seed=1).tolist()
    assert select("random", p, 10, seed=1).tolist() != select("random", p, 10, seed=2).tolist()
    firsts = np.bincount([select("random", p, 1, seed=s)[0] for s in range(3000)], minlength=10)
    assert firsts.min() > 220 and firsts.max() < 380  # ~300 each


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_large_float32_pool(strategy):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10) * 0.3, 5000).astype(np.float32)
    emb = rng.standard_normal((5000, 64)).astype(np.float32)
    labeled = rng.random(5000) < 0.1
    picked = select(strategy, p, 100, embeddings=emb, labeled=labeled, seed=1)
    assert picked.dtype == np.int64 and len(set(picked.tolist())) == 100
    assert not labeled[picked].any()


def test_coreset_breaks_equal_distances_by_the_lower_row():
    x = np.array([[0.0], [1.0], [-1.0], [1.0], [-1.0]])
    labeled = np.array([True, False, False, False, False])
    ranking = rank("coreset", np.ones((5, 1)), 2, embeddings=x, labeled=labeled)
    assert ranking.indices.tolist() == [1, 2]  # 1 and -1 are both 1 from 0; then -1 is 2 from 1
