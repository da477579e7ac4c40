"""``service_layer.selection``: ranking the scored pool, "more like this", the cache, and every
bad input (422 ``validation`` with ``details.field``, nothing recorded)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from domain.errors import NotFound, ValidationFailed
from domain.image_scores import ImageScore, decode_embedding, encode_embedding
from event_store.positions import log_head
from inference_workers.selection import nearest, rank
from service_layer.selection import MAX_K, ScorePools, select_images, similar_images
from tests.selection.conftest import ScoringLab
from tests.selection.scoring import made_up_scores, register_model, score_images


def select(lab: ScoringLab, pid: str, model_id: str, pools: ScorePools | None = None,
           **kw: Any) -> dict[str, Any]:
    return select_images(lab.app, lab.read, pid, model_id, pools=pools or ScorePools(), **kw)


def refused(field: str, call: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(ValidationFailed) as info:
        call(*args, **kw)
    assert info.value.details.get("field") == field, info.value.details
    return info.value.message


def test_uncertainty_strategies_rank_the_new_images_by_the_stored_numbers(
        any_lab: ScoringLab) -> None:
    lab = any_lab
    pid, model_id, ids = lab.scored_project(images=30)
    labeled = ids[:5]
    for image_id in labeled:
        lab.label(image_id)
    lab.catch_up()
    scores = {s.image_id: s for s in made_up_scores(ids, seed=0)}
    for strategy in ("least_confidence", "margin", "entropy"):
        answer = select(lab, pid, model_id, strategy=strategy, k=10)
        assert answer["strategy"] == strategy and answer["status"] == "new"
        assert answer["pool"] == 25
        assert answer["model"] == {"id": model_id, "name": "scorer", "version": "1",
                                   "task": "classify"}
        expected = sorted((i for i in ids if i not in labeled),
                          key=lambda i: (-(scores[i].uncertainty[strategy] or 0), ids.index(i)))
        got = [image["image_id"] for image in answer["images"]]
        assert [scores[i].uncertainty[strategy] for i in got] == [
            scores[i].uncertainty[strategy] for i in expected[:10]]
        assert [image["rank"] for image in answer["images"]] == list(range(1, 11))
        assert [image["score"] for image in answer["images"]] == [
            scores[i].uncertainty[strategy] for i in got]
    everything = select(lab, pid, model_id, k=30, status="all")  # margin by default
    assert everything["strategy"] == "margin" and everything["pool"] == 30
    assert {i["image_id"] for i in everything["images"]} == set(ids)


@pytest.mark.parametrize("strategy", ["coreset", "badge", "random"])
def test_embedding_and_random_strategies_answer_what_the_selection_module_does(
        lab: ScoringLab, strategy: str) -> None:
    pid, model_id, ids = lab.scored_project(images=40)
    for image_id in ids[:8]:
        lab.label(image_id)
    lab.catch_up()
    answer = select(lab, pid, model_id, strategy=strategy, k=12, seed=3)
    # The oracle: the module itself on the arrays the events carried, rows in id order.
    order = sorted(ids)
    scores = {s.image_id: s for s in made_up_scores(ids, seed=0)}
    probabilities = np.array([scores[i].probabilities for i in order], dtype=np.float32)
    embeddings = np.array([decode_embedding(scores[i].embedding or "") for i in order])
    labeled = np.array([i in ids[:8] for i in order])
    expected = rank(strategy, probabilities, 12, embeddings=embeddings, labeled=labeled, seed=3)
    assert [i["image_id"] for i in answer["images"]] == [order[r] for r in expected.indices]
    assert np.allclose([i["score"] for i in answer["images"]], expected.scores, atol=1e-5)
    assert not {i["image_id"] for i in answer["images"]} & set(ids[:8])


def test_decoded_scores_are_cached_until_the_model_scores_again(lab: ScoringLab) -> None:
    pid, model_id, ids = lab.scored_project(images=20)
    pools = ScorePools()
    first = select(lab, pid, model_id, pools, k=5)
    assert select(lab, pid, model_id, pools, k=5) == first and pools.loads == 1
    lab.label(first["images"][0]["image_id"])  # labels are read every time
    lab.catch_up()
    after = select(lab, pid, model_id, pools, k=5)
    assert pools.loads == 1 and after["images"][0] == {**first["images"][1], "rank": 1}
    score_images(lab.app, pid, model_id, ids[:4], seed=9)  # new scores: read again
    lab.catch_up()
    select(lab, pid, model_id, pools, k=5)
    assert pools.loads == 2
    small = ScorePools(max_bytes=1)  # bounded: only the newest pool stays
    other = register_model(lab.app, pid, name="other")
    score_images(lab.app, pid, other, ids, seed=1)
    lab.catch_up()
    select(lab, pid, model_id, small, k=1)
    select(lab, pid, other, small, k=1)
    select(lab, pid, model_id, small, k=1)
    assert small.loads == 3


def test_similar_images_are_the_cosine_nearest_without_the_image_itself(
        any_lab: ScoringLab) -> None:
    lab = any_lab
    pid, model_id, ids = lab.scored_project(images=25)
    lab.label(ids[3])
    lab.catch_up()
    order = sorted(ids)
    scores = {s.image_id: s for s in made_up_scores(ids, seed=0)}
    embeddings = np.array([decode_embedding(scores[i].embedding or "") for i in order])
    query = order.index(ids[0])
    answer = similar_images(lab.app, lab.read, pid, model_id, ids[0], k=5, pools=ScorePools())
    expected = nearest(embeddings, embeddings[query], 5, exclude=np.array([query]))
    assert [i["image_id"] for i in answer["images"]] == [order[r] for r in expected.indices]
    assert ids[0] not in [i["image_id"] for i in answer["images"]]
    sims = [i["similarity"] for i in answer["images"]]
    assert sims == sorted(sims, reverse=True) and all(-1 <= s <= 1 for s in sims)
    everything = similar_images(lab.app, lab.read, pid, model_id, ids[0], k=100,
                                pools=ScorePools())
    assert len(everything["images"]) == 24  # fewer than k: all there are
    new_only = similar_images(lab.app, lab.read, pid, model_id, ids[0], k=100, status="new",
                              pools=ScorePools())
    assert len(new_only["images"]) == 23 and ids[3] not in {
        i["image_id"] for i in new_only["images"]}


def test_bad_input_is_refused_and_records_nothing(lab: ScoringLab) -> None:
    pid, model_id, ids = lab.scored_project(images=10)
    head = log_head(lab.app)
    pools = ScorePools()

    def sel(**kw: Any) -> dict[str, Any]:
        return select_images(lab.app, lab.read, pid, kw.pop("model_id", model_id), pools=pools,
                             **kw)

    assert "margin" in refused("strategy", sel, strategy="smartest")
    refused("strategy", sel, strategy=3)
    for k in (0, -1, MAX_K + 1, "5", True, 2.0):
        refused("k", sel, k=k)
    message = refused("k", sel, k=11)
    assert "only 10" in message
    for image_id in ids[:4]:
        lab.label(image_id)
    lab.catch_up()
    head = log_head(lab.app)
    assert "only 6 not yet labeled" in refused("k", sel, k=7)
    assert sel(k=10, status="all")["pool"] == 10
    refused("status", sel, status="labeled")
    refused("seed", sel, strategy="random", k=1, seed=-1)
    refused("model_id", sel, model_id="")
    refused("model_id", sel, model_id="not-a-uuid")
    refused("model_id", sel, model_id="00000000-0000-0000-0000-000000000000")
    other_project = lab.create_project(["cat"], ["box"])
    foreign = register_model(lab.app, other_project, name="foreign")
    refused("model_id", sel, model_id=foreign)
    unscored = register_model(lab.app, pid, name="unscored")
    head = log_head(lab.app)
    assert "run a score job first" in refused("model_id", sel, model_id=unscored)
    with pytest.raises(NotFound):
        select_images(lab.app, lab.read, "00000000-0000-0000-0000-000000000000", model_id,
                      pools=pools)
    refused("image_id", similar_images, lab.app, lab.read, pid, model_id,
            "00000000-0000-0000-0000-000000000000", pools=pools)
    refused("image_id", similar_images, lab.app, lab.read, pid, model_id, None, pools=pools)
    refused("k", similar_images, lab.app, lab.read, pid, model_id, ids[0], k=0, pools=pools)
    refused("status", similar_images, lab.app, lab.read, pid, model_id, ids[0], status="x",
            pools=pools)
    assert log_head(lab.app) == head


def test_embeddings_missing_or_of_different_widths_refuse_coreset_and_badge(
        lab: ScoringLab) -> None:
    pid = lab.create_project(["cat", "dog", "bird"], ["box"])
    ids = [str(i) for i in lab.add_images(pid, 12)]
    bare = register_model(lab.app, pid, name="bare")
    score_images(lab.app, pid, bare, ids, dims=None)
    mixed = register_model(lab.app, pid, name="mixed")
    score_images(lab.app, pid, mixed, ids[:6], dims=16)
    score_images(lab.app, pid, mixed, ids[6:], dims=32, seed=1)
    lab.catch_up()
    head = log_head(lab.app)
    pools = ScorePools()
    for strategy in ("coreset", "badge"):
        assert "have none" in refused("strategy", select_images, lab.app, lab.read, pid, bare,
                                      strategy, 3, pools=pools)
        assert "16, 32" in refused("strategy", select_images, lab.app, lab.read, pid, mixed,
                                   strategy, 3, pools=pools)
    # The uncertainty strategies and random still answer.
    for strategy in ("margin", "random"):
        assert len(select_images(lab.app, lab.read, pid, mixed, strategy, 3,
                                 pools=pools)["images"]) == 3
    refused("model_id", similar_images, lab.app, lab.read, pid, bare, ids[0], pools=pools)
    assert log_head(lab.app) == head


def test_detector_scores_rank_by_their_aggregated_uncertainty(lab: ScoringLab) -> None:
    """A detector's probabilities are per-class top confidences, not a distribution: the
    uncertainty strategies use the stored (box-aggregated) numbers, coreset the embeddings,
    and badge, which needs a distribution, is refused with a clear message."""
    pid = lab.create_project(["cat", "dog"], ["box"])
    ids = [str(i) for i in lab.add_images(pid, 6)]
    detector = register_model(lab.app, pid, name="det", task="detect",
                              classes=["cat", "dog"])
    rng = np.random.default_rng(5)
    scores = [ImageScore(image_id=i, probabilities=[0.9, 0.8],
                         uncertainty={"least_confidence": 0.1 * n, "margin": 0.05 * n,
                                      "entropy": 0.2 * n, "stability": 0.5},
                         embedding=encode_embedding(rng.normal(size=8)), dims=8, boxes=2)
              for n, i in enumerate(ids)]
    score_images(lab.app, pid, detector, ids, scores=scores)
    lab.catch_up()
    pools = ScorePools()
    answer = select_images(lab.app, lab.read, pid, detector, "margin", 3, pools=pools)
    assert [i["image_id"] for i in answer["images"]] == ids[::-1][:3]
    assert len(select_images(lab.app, lab.read, pid, detector, "coreset", 3,
                             pools=pools)["images"]) == 3
    assert "coreset" in refused("strategy", select_images, lab.app, lab.read, pid, detector,
                                "badge", 3, pools=pools)
