"""A detector image's uncertainty from its box scores, and "more like this" by cosine."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_workers.selection import image_uncertainty, nearest


def test_a_box_at_one_half_is_the_most_doubtful():
    assert image_uncertainty(np.array([0.5])) == pytest.approx(
        {"least_confidence": 0.5, "margin": 1.0, "entropy": math.log(2)})
    assert image_uncertainty(np.array([1.0])) == {"least_confidence": 0.0, "margin": 0.0,
                                                  "entropy": 0.0}


def test_boxes_aggregate_by_max_mean_or_sum():
    scores = np.array([0.9, 0.5, 0.2])
    # least confidence per box: 0.1, 0.5, 0.2
    assert image_uncertainty(scores)["least_confidence"] == pytest.approx(0.5)
    assert image_uncertainty(scores, "mean")["least_confidence"] == pytest.approx(0.8 / 3)
    assert image_uncertainty(scores, "sum")["least_confidence"] == pytest.approx(0.8)
    # margin per box 1 - |2p - 1|: 0.2, 1.0, 0.4
    assert image_uncertainty(scores, "sum")["margin"] == pytest.approx(1.6)


def test_an_image_without_boxes_scores_zero():
    for how in ("max", "mean", "sum"):
        assert image_uncertainty(np.array([]), how) == {"least_confidence": 0.0, "margin": 0.0,
                                                        "entropy": 0.0}
    assert image_uncertainty([]) == image_uncertainty(np.zeros(0, dtype=np.float32))


@settings(deadline=None)
@given(st.lists(st.floats(0, 1), max_size=20))
def test_box_scores_give_bounded_symmetric_scores(scores):
    result = image_uncertainty(np.array(scores), "max")
    mirrored = image_uncertainty(1 - np.array(scores), "max")
    assert 0 <= result["least_confidence"] <= 0.5
    assert 0 <= result["margin"] <= 1
    assert 0 <= result["entropy"] <= math.log(2) + 1e-12
    assert result == pytest.approx(mirrored)


def test_nearest_ranks_by_cosine_whatever_the_length():
    emb = np.array([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 0.0]])
    ranking = nearest(emb, np.array([2.0, 0.0]), 5)
    assert ranking.indices.tolist() == [0, 1, 2, 4, 3]  # the zero vector is similar to nothing
    np.testing.assert_allclose(ranking.scores, [1.0, 10 / math.sqrt(101), 0.0, 0.0, -1.0])


def test_nearest_leaves_out_rows_and_answers_at_most_what_is_left():
    emb = np.eye(3)
    assert nearest(emb, emb[0], 5, exclude=[0]).indices.tolist() == [1, 2]
    mask = np.array([False, True, False])
    assert nearest(emb, emb[0], 5, exclude=mask).indices.tolist() == [0, 2]
    assert nearest(emb, emb[0], 2, exclude=np.array([], dtype=np.int64)).indices.tolist() == [0, 1]


def test_nearest_to_several_queries_takes_each_rows_best_match():
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((300, 16)).astype(np.float32)
    queries = emb[[5, 17]]
    ranking = nearest(emb, queries, 10, exclude=[5, 17])
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    best = (unit @ unit[[5, 17]].T).max(axis=1)
    best[[5, 17]] = -np.inf
    assert ranking.indices.tolist() == np.argsort(-best, kind="stable")[:10].tolist()
    np.testing.assert_allclose(ranking.scores, best[ranking.indices], rtol=1e-5)
