"""``GET /projects/{id}/selection`` and ``GET /projects/{id}/similar`` over a real uvicorn
server: the answers, who may ask, every bad input (422 with ``details.field``, never a 5xx,
nothing recorded), and generated query strings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_store.positions import log_head
from tests.selection.scoring import register_model, score_images
from tests.web.conftest import Site, check_schema, sqlite_settings
from tests.web.served import Served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    site = Site(sqlite_settings(tmp_path_factory.mktemp("selection") / "data"))
    s = Served(site)
    yield s
    s.close()
    site.close()


@pytest.fixture(scope="module")
def scored(served: Served) -> dict[str, Any]:
    """A project of 12 uploaded images, a model that scored all of them, a person's box on
    the first two; a model that never scored; a model of another project."""
    site = served.site
    pid = site.new_project(["cat", "dog", "bird"])
    ids = [site.new_image(pid) for _ in range(12)]
    model_id = register_model(site.services.app, pid)
    score_images(site.services.app, pid, model_id, ids, shard_size=5)
    unscored = register_model(site.services.app, pid, name="unscored")
    other = site.new_project(["cat"])
    foreign = register_model(site.services.app, other, name="foreign")
    for image_id in ids[:2]:
        site.create(image_id)
    site.settle()
    return {"pid": pid, "ids": ids, "model": model_id, "unscored": unscored,
            "foreign": foreign, "other": other}


def get(served: Served, path: str, user: str | None = "annotator", **params: Any
        ) -> httpx.Response:
    headers = {} if user is None else {
        "Authorization": f"Bearer {served.site.tokens[user]}"}
    return httpx.get(served.url + path, params=params, headers=headers, timeout=30)


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    check_schema(body, "Error")
    assert body["error"]["code"] == code, body
    return dict(body["error"])


def test_members_get_the_ranked_images(served: Served, scored: dict[str, Any]) -> None:
    pid, ids = scored["pid"], scored["ids"]
    for user in ("annotator", "reviewer", "manager", "admin"):
        response = get(served, f"/projects/{pid}/selection", user, model_id=scored["model"],
                       k=5)
        assert response.status_code == 200, response.text
        body = response.json()
        check_schema(body, "Selection")
        assert body["strategy"] == "margin" and body["pool"] == 10
        assert body["model"]["id"] == scored["model"]
        assert [i["rank"] for i in body["images"]] == [1, 2, 3, 4, 5]
        scores = [i["score"] for i in body["images"]]
        assert scores == sorted(scores, reverse=True)
        assert not {i["image_id"] for i in body["images"]} & set(ids[:2])
    for strategy in ("least_confidence", "entropy", "coreset", "badge", "random"):
        body = get(served, f"/projects/{pid}/selection", model_id=scored["model"],
                   strategy=strategy, k=10, seed=4).json()
        assert body["strategy"] == strategy
        assert {i["image_id"] for i in body["images"]} == set(ids[2:])
    body = get(served, f"/projects/{pid}/selection", model_id=scored["model"], k=12,
               status="all").json()
    assert {i["image_id"] for i in body["images"]} == set(ids)


def test_similar_images_over_http(served: Served, scored: dict[str, Any]) -> None:
    pid, ids = scored["pid"], scored["ids"]
    response = get(served, f"/projects/{pid}/similar", "reviewer", model_id=scored["model"],
                   image_id=ids[5])
    assert response.status_code == 200, response.text
    body = response.json()
    check_schema(body, "SimilarImages")
    assert len(body["images"]) == 11 and ids[5] not in {i["image_id"] for i in body["images"]}
    sims = [i["similarity"] for i in body["images"]]
    assert sims == sorted(sims, reverse=True)
    new_only = get(served, f"/projects/{pid}/similar", model_id=scored["model"],
                   image_id=ids[5], k=3, status="new").json()
    assert len(new_only["images"]) == 3
    assert not {i["image_id"] for i in new_only["images"]} & set(ids[:2])


def test_who_may_not_ask(served: Served, scored: dict[str, Any]) -> None:
    pid = scored["pid"]
    for path in ("selection", "similar"):
        error(get(served, f"/projects/{pid}/{path}", None, model_id=scored["model"]), 401,
              "unauthorized")
        error(get(served, f"/projects/{pid}/{path}", "outsider", model_id=scored["model"],
                  image_id=scored["ids"][0]), 403, "forbidden")
        error(get(served, f"/projects/00000000-0000-0000-0000-000000000000/{path}",
                  model_id=scored["model"]), 404, "not_found")


def test_bad_input_is_422_with_its_field_and_records_nothing(
        served: Served, scored: dict[str, Any]) -> None:
    pid, ids, model_id = scored["pid"], scored["ids"], scored["model"]
    head = log_head(served.site.services.app)
    selection = f"/projects/{pid}/selection"
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "model_id"),
        ({"model_id": ""}, "model_id"),
        ({"model_id": "nope"}, "model_id"),
        ({"model_id": scored["foreign"]}, "model_id"),
        ({"model_id": model_id, "strategy": "best"}, "strategy"),
        ({"model_id": model_id, "k": "0"}, "k"),
        ({"model_id": model_id, "k": "1001"}, "k"),
        ({"model_id": model_id, "k": "ten"}, "k"),
        ({"model_id": model_id, "k": "1e3"}, "k"),
        ({"model_id": model_id, "k": "99999999999999999999999999999"}, "k"),
        ({"model_id": model_id, "status": "labeled"}, "status"),
        ({"model_id": model_id, "seed": "-1"}, "seed"),
        ({"model_id": model_id, "min_position": "999999999"}, "min_position"),
    ]
    for params, field in cases:
        body = error(get(served, selection, **params), 422, "validation")
        assert body["details"]["field"] == field, (params, body)
    too_many = error(get(served, selection, model_id=model_id, k=11), 422, "validation")
    assert too_many["details"] == {"field": "k", "pool": 10}
    assert "only 10 not yet labeled images" in too_many["message"]
    never = error(get(served, selection, model_id=scored["unscored"]), 422, "validation")
    assert never["details"]["field"] == "model_id"
    assert "run a score job first" in never["message"]
    similar = f"/projects/{pid}/similar"
    for params, field in [({"model_id": model_id}, "image_id"),
                          ({"model_id": model_id, "image_id": "x"}, "image_id"),
                          ({"model_id": scored["unscored"], "image_id": ids[0]}, "model_id"),
                          ({"model_id": model_id, "image_id": ids[0], "k": "0"}, "k"),
                          ({"model_id": model_id, "image_id": ids[0], "status": "?"},
                           "status")]:
        body = error(get(served, similar, **params), 422, "validation")
        assert body["details"]["field"] == field, (params, body)
    assert log_head(served.site.services.app) == head


QUERY_KEYS = st.sampled_from(["model_id", "strategy", "k", "status", "seed", "image_id",
                              "min_position", "other"])
QUERY_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["margin", "coreset", "badge", "random", "new", "all", "0", "1", "-1",
                     "1000", "1001", "NaN", "1e309", "\x00", "%", "' OR 1=1 --"]),
    st.integers(min_value=-2**70, max_value=2**70).map(str))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=6),
       path=st.sampled_from(["selection", "similar"]), valid_model=st.booleans())
def test_generated_query_strings_never_fail_the_server(
        served: Served, scored: dict[str, Any], query: list[tuple[str, str]], path: str,
        valid_model: bool) -> None:
    params: list[tuple[str, str | int | float | bool | None]] = list(query)
    if valid_model:
        params.insert(0, ("model_id", scored["model"]))
    response = httpx.get(f"{served.url}/projects/{scored['pid']}/{path}", params=params,
                         headers={"Authorization": f"Bearer {served.site.tokens['annotator']}"},
                         timeout=30)
    assert response.status_code in (200, 422, 503), (params, response.status_code,
                                                     response.text[:300])
    if response.status_code != 200:
        assert response.json()["error"]["code"] in ("validation", "not_ready")


def test_nothing_heavy_in_the_answer(served: Served, scored: dict[str, Any]) -> None:
    response = get(served, f"/projects/{scored['pid']}/selection", model_id=scored["model"],
                   k=10)
    assert len(response.content) < 2000  # ids, scores and ranks only
