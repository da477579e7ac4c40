"""Bad input is refused with ValidationFailed, a message a person understands and the field."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from inference_workers.selection import (
    image_uncertainty,
    nearest,
    select,
    uncertainty_scores,
)

P = np.full((4, 2), 0.5)
EMB = np.arange(8.0).reshape(4, 2)


def refused(field: str, *words: str):
    """Context: the call must raise ValidationFailed naming ``field`` and saying ``words``."""

    class Check:
        def __enter__(self):
            self.raises = pytest.raises(ValidationFailed)
            self.info = self.raises.__enter__()
            return self

        def __exit__(self, *exc):
            handled = self.raises.__exit__(*exc)
            error = self.info.value
            assert error.details == {"field": field}, (error.details, error.message)
            for word in words:
                assert word in error.message, (word, error.message)
            return handled

    return Check()


def test_an_unknown_strategy_lists_the_allowed_ones():
    with refused("strategy", "unknown strategy 'uncertainty'", "least_confidence, margin"):
        select("uncertainty", P, 1)
    for bad in (None, ["margin"], np.array(["margin", "entropy"])):
        with refused("strategy", "unknown strategy"):
            select(bad, P, 1)


@pytest.mark.parametrize("k", [0, -3])
def test_k_below_one(k):
    with refused("k", "at least 1"):
        select("margin", P, k)


@pytest.mark.parametrize("k", [1.5, "3", True, None])
def test_k_not_a_whole_number(k):
    with refused("k", "whole number"):
        select("margin", P, k)


def test_k_larger_than_the_unlabeled_pool_says_how_many_are_unlabeled():
    with refused("k", "k=3", "2 of 4 rows are unlabeled"):
        select("margin", P, 3, labeled=np.array([True, False, True, False]))
    with refused("k", "0 of 0 rows"):
        select("random", np.zeros((0, 2)), 1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_probabilities_that_are_not_finite(bad):
    p = P.copy()
    p[2, 1] = bad
    for strategy in ("margin", "coreset", "random"):
        with refused("probabilities", "finite", "row 2, column 1"):
            select(strategy, p, 1, embeddings=EMB)
    with refused("probabilities", "finite"):
        uncertainty_scores("entropy", p)


def test_negative_probabilities_look_like_logits():
    p = np.array([[2.0, -1.0], [0.5, 0.5]])
    with refused("probabilities", "negative", "row 0, column 1", "softmax"):
        select("margin", p, 1)


@pytest.mark.parametrize("rows", [[[0.9, 0.9], [0.5, 0.5]], [[0.5, 0.2], [0.5, 0.5]]])
def test_rows_that_do_not_sum_to_one(rows):
    with refused("probabilities", "row 0 sums to", "softmax"):
        select("entropy", np.array(rows), 1)
    with refused("probabilities", "sums to"):
        select("badge", np.array(rows), 1, embeddings=np.ones((2, 3)))


def test_rows_need_not_sum_to_one_where_nothing_reads_them_as_a_distribution():
    p = np.array([[0.9, 0.9], [0.2, 0.1]])
    assert len(select("coreset", p, 1, embeddings=np.eye(2))) == 1
    assert len(select("random", p, 2)) == 2


@pytest.mark.parametrize("shape", [(4,), (2, 2, 2), ()])
def test_probabilities_not_2d(shape):
    with refused("probabilities", "2-D"):
        select("margin", np.full(shape, 0.5), 1)


def test_probabilities_that_are_not_numbers():
    with refused("probabilities", "numbers"):
        select("margin", np.array([["a", "b"]]), 1)
    with refused("probabilities", "numbers"):
        select("margin", [[0.5, 0.5], [1.0]], 1)
    with refused("probabilities", "at least one class"):
        select("margin", np.zeros((3, 0)), 1)


@pytest.mark.parametrize("strategy", ["coreset", "badge"])
def test_embeddings_missing(strategy):
    with refused("embeddings", f"{strategy} needs embeddings"):
        select(strategy, P, 1)


@pytest.mark.parametrize("strategy", ["coreset", "badge", "margin"])
def test_embeddings_with_the_wrong_number_of_rows(strategy):
    with refused("embeddings", "3 rows", "probabilities have 4"):
        select(strategy, P, 1, embeddings=np.ones((3, 2)))


@pytest.mark.parametrize("shape", [(4,), (4, 0), (4, 2, 1)])
def test_embeddings_not_2d(shape):
    with refused("embeddings", "2-D"):
        select("coreset", P, 1, embeddings=np.ones(shape))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_embeddings_not_finite(bad):
    emb = EMB.copy()
    emb[3, 0] = bad
    for strategy in ("coreset", "badge"):
        with refused("embeddings", "finite", "row 3, column 0"):
            select(strategy, P, 1, embeddings=emb)


def test_labeled_of_the_wrong_length_or_type():
    with refused("labeled", "one value per row (4)"):
        select("margin", P, 1, labeled=np.array([True, False]))
    with refused("labeled", "boolean mask", "int64"):
        select("margin", P, 1, labeled=np.array([0, 1, 0, 0]))
    with refused("labeled", "one value per row"):
        select("margin", P, 1, labeled=np.zeros((4, 1), dtype=bool))


@pytest.mark.parametrize("seed", [-1, 1.5, "x", None])
def test_a_bad_seed(seed):
    with refused("seed"):
        select("random", P, 1, seed=seed)


def test_uncertainty_scores_refuses_the_set_strategies():
    for strategy in ("coreset", "badge", "random"):
        with refused("strategy", "no per-row score"):
            uncertainty_scores(strategy, P)
    with refused("strategy", "unknown strategy"):
        uncertainty_scores("nope", P)


def test_image_uncertainty_refuses_bad_scores_and_aggregations():
    with refused("how", "unknown aggregation 'median'", "max, mean, sum"):
        image_uncertainty(np.array([0.5]), how="median")
    with refused("box_scores", "between 0 and 1"):
        image_uncertainty(np.array([0.5, 1.2]))
    with refused("box_scores", "finite"):
        image_uncertainty(np.array([np.nan]))
    with refused("box_scores", "flat list"):
        image_uncertainty(np.ones((2, 2)) / 2)


def test_nearest_refuses_bad_queries_and_exclusions():
    with refused("embeddings", "needs embeddings"):
        nearest(None, np.ones(2), 1)
    with refused("query", "2 values"):
        nearest(EMB, np.ones(3), 1)
    with refused("query", "finite"):
        nearest(EMB, np.array([np.nan, 1.0]), 1)
    with refused("k", "at least 1"):
        nearest(EMB, np.ones(2), 0)
    with refused("exclude", "outside 0..3"):
        nearest(EMB, np.ones(2), 1, exclude=[4])
    with refused("exclude", "one value per row (4)"):
        nearest(EMB, np.ones(2), 1, exclude=np.array([True]))
    with refused("exclude", "boolean mask or a list of row indices"):
        nearest(EMB, np.ones(2), 1, exclude=[0.5])


@settings(deadline=None, max_examples=200)
@given(st.lists(st.lists(st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5)), min_size=2, max_size=2),
    min_size=1, max_size=6), st.sampled_from(["least_confidence", "margin", "entropy", "badge"]))
def test_any_numbers_either_select_or_are_refused_with_a_field(rows, strategy):
    p = np.array(rows, dtype=np.float64)
    try:
        picked = select(strategy, p, 1, embeddings=np.ones((len(rows), 2)))
    except ValidationFailed as error:
        assert error.details["field"] == "probabilities"
        assert error.message
    else:
        assert np.isfinite(p).all() and (p >= 0).all()
        assert np.allclose(p.sum(axis=1), 1, atol=0.01)
        assert 0 <= picked[0] < len(rows)
