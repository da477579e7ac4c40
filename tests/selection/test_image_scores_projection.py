"""Projection ``image_scores``: the newest score of each image per model, rebuilt from the log
to the same rows."""

from __future__ import annotations

import struct

import numpy as np

from domain.image_scores import decode_embedding
from tests.selection.conftest import ScoringLab
from tests.selection.scoring import made_up_scores, register_model, score_images


def test_rows_hold_the_decoded_scores(any_lab: ScoringLab) -> None:
    lab = any_lab
    pid, model_id, ids = lab.scored_project(images=10)
    expected = {s.image_id: s for s in made_up_scores(ids, seed=0)}
    rows = lab.read.image_scores(pid, model_id)
    assert [r[0] for r in rows] == sorted(ids)
    for image_id, lc, margin, entropy, stability, probs, embedding, dims, position in rows:
        score = expected[image_id]
        assert (lc, margin, entropy, stability) == (
            score.uncertainty["least_confidence"], score.uncertainty["margin"],
            score.uncertainty["entropy"], None)
        assert np.allclose(struct.unpack(f"<{len(score.probabilities)}f", bytes(probs)),
                           score.probabilities, atol=1e-7)
        assert score.embedding is not None
        assert np.array_equal(np.frombuffer(bytes(embedding), "<f2").astype(np.float32),
                              decode_embedding(score.embedding))
        assert dims == 16 and position > 0
    count, newest, widths = lab.read.score_summary(pid, model_id)
    assert count == 10 and newest == max(r[8] for r in rows) and widths == [16]
    assert lab.read.score_summary(pid, "no-such-model") == (0, 0, [])


def test_the_newest_score_wins_and_a_rebuild_gives_the_same_rows(any_lab: ScoringLab) -> None:
    lab = any_lab
    pid, model_id, ids = lab.scored_project(images=12)
    first = {r[0]: r for r in lab.read.image_scores(pid, model_id)}
    # A second score job of the same model over half the images, with other numbers and no
    # embedding; and a second model over all of them.
    job = score_images(lab.app, pid, model_id, ids[:6], seed=7, dims=None, shard_size=4)
    other = register_model(lab.app, pid, name="other")
    score_images(lab.app, pid, other, ids, seed=3)
    lab.catch_up()
    now = {r[0]: r for r in lab.read.image_scores(pid, model_id)}
    assert set(now) == set(ids)
    rescored = {s.image_id: s for s in made_up_scores(ids[:6], seed=7, dims=None)}
    for image_id in ids:
        if image_id in rescored:
            assert now[image_id][2] == rescored[image_id].uncertainty["margin"]
            assert now[image_id][6] is None and now[image_id][7] == 0
            assert now[image_id][8] > first[image_id][8]
        else:
            assert now[image_id] == first[image_id]
    assert {r[0] for r in lab.read.db.query(
        "SELECT job_id FROM image_scores WHERE model_id = ?", (model_id,))} == {
        job, lab.read.db.query("SELECT job_id FROM image_scores WHERE model_id = ? AND "
                               "image_id = ?", (model_id, ids[-1]))[0][0]}
    assert lab.read.score_summary(pid, model_id)[2] == [0, 16]
    assert len(lab.read.image_scores(pid, other)) == 12

    live = lab.rows()
    lab.services.runner.rebuild("image_scores")
    assert lab.rows() == live
    # Replayed in batches of one event: the same rows again.
    lab.services.runner.batch_size = 1
    lab.services.runner.rebuild("image_scores")
    assert lab.rows() == live
