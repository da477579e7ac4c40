"""``GET /projects/{id}/blind_spots`` and ``GET /projects/{id}/label_suspects`` over a real
uvicorn server: the answers (schema-checked), who may ask, every bad input (4xx with
``details.field``, nothing recorded, never a 5xx), generated query strings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_store.positions import log_head
from tests.web.conftest import Site, check_schema, sqlite_settings
from tests.web.served import Served

CAT = {"x": 4.0, "y": 4.0, "w": 30.0, "h": 20.0}
ELSEWHERE = {"x": 40.0, "y": 30.0, "w": 20.0, "h": 15.0}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    site = Site(sqlite_settings(tmp_path_factory.mktemp("blind-spots") / "data"))
    s = Served(site)
    yield s
    s.close()
    site.close()


def register_model(site: Site, project_id: str, name: str) -> str:
    model, _ = site.services.app.register_model(  # the record alone: nothing runs it here
        project_id, "admin", name=name, version="1", task="detect", format="onnx",
        architecture=None, layout="yolov8", classes=["cat", "dog"], input_size=[64, 64],
        sha256="0" * 64, size_bytes=1, file_name=f"{name}.onnx", details={})
    return str(model.id)


@pytest.fixture(scope="module")
def world(served: Served) -> dict[str, Any]:
    """Three images with the model's imported pre-labels (a cat at 0.9, and on the second a
    dog at 0.7 elsewhere): a person accepted the first cat, turned the second into a dog and
    removed its dog, and drew a second cat on the third; a model that never predicted; a
    model of another project."""
    site = served.site
    pid = site.new_project(["cat", "dog"])
    model_id = register_model(site, pid, "det")
    images = [site.new_image(pid, 64, 48) for _ in range(3)]
    body = {"predictions": [{"image_id": i, "annotations": [
        {"type": "box", "label": "cat", "geometry": CAT, "score": 0.9},
        *([{"type": "box", "label": "dog", "geometry": ELSEWHERE, "score": 0.7}]
          if n == 1 else [])]} for n, i in enumerate(images)]}
    site.ok(site.post(f"/projects/{pid}/predictions?model=det&model_version=1", "manager",
                      json=body))
    site.settle()

    def labels(image_id: str) -> dict[str, str]:
        found = site.ok(site.get(f"/images/{image_id}/annotations"))["annotations"]
        return {a["label"]: a["id"] for a in found}

    site.ok(site.command(images[0], {"type": "accept", "annotation_id": labels(images[0])[
        "cat"]}))
    second = labels(images[1])
    site.ok(site.command(images[1], {"type": "edit", "annotation_id": second["cat"],
                                     "changes": {"label": "dog"}}))
    site.ok(site.command(images[1], {"type": "delete", "annotation_id": second["dog"]}))
    site.ok(site.command(images[2], {"type": "accept", "annotation_id": labels(images[2])[
        "cat"]}))
    site.create(images[2], "box", "cat", ELSEWHERE)
    other = site.new_project(["cat"])
    site.settle()
    return {"pid": pid, "images": images, "model": model_id,
            "idle": register_model(site, pid, "idle"),
            "foreign": register_model(site, other, "foreign")}


def get(served: Served, path: str, user: str | None = "reviewer", **params: Any
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


def test_the_worst_images_worst_first(served: Served, world: dict[str, Any]) -> None:
    pid, images = world["pid"], world["images"]
    r = get(served, f"/projects/{pid}/blind_spots", model_id=world["model"])
    assert r.status_code == 200, r.text
    body = r.json()
    check_schema(body, "BlindSpots")
    assert body["model"]["name"] == "det" and body["job"] is None
    assert (body["images_judged"], body["disagreeing"]) == (3, 2)
    rows = [(x["image_id"], x["missed"], x["false_positives"], x["confused"], x["score"])
            for x in body["images"]]
    assert rows == [(images[1], 0, 1, 1, pytest.approx(1.6)),  # a dog taken for a cat + a dog
                    (images[2], 1, 0, 0, 1.0)]  # the second cat: missed
    # The thumbnail is the image's bytes, readable by the same caller.
    thumb = httpx.get(f"http://127.0.0.1:{served.port}{body['images'][0]['thumbnail']}",
                      headers={"Authorization": f"Bearer {served.site.tokens['reviewer']}"})
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")
    one = get(served, f"/projects/{pid}/blind_spots", "manager", model_id=world["model"],
              limit="1").json()
    assert [x["image_id"] for x in one["images"]] == [images[1]]
    strict = get(served, f"/projects/{pid}/blind_spots", model_id=world["model"],
                 threshold="0.95").json()
    assert {x["image_id"]: x["missed"] for x in strict["images"]} == {
        images[0]: 1, images[1]: 1, images[2]: 2}
    early = get(served, f"/projects/{pid}/blind_spots", model_id=world["model"],
                position="1").json()
    assert early["images"] == [] and early["position"] == 1


def test_label_suspects_answer_in_the_documented_shape(served: Served,
                                                       world: dict[str, Any]) -> None:
    r = get(served, f"/projects/{world['pid']}/label_suspects", model_id=world["model"])
    assert r.status_code == 200, r.text
    body = r.json()
    check_schema(body, "LabelSuspects")
    # The dog label under the model's 0.9 cat: t_cat = (0.9 + 0.9 + 0) / 3 = 0.6.
    assert [(s["image_id"], s["label"], s["predicted"], s["confidence"], s["reason"])
            for s in body["suspects"]] == [
        (world["images"][1], "dog", "cat", 0.9, "other_class")]
    assert body["total"] == 1


@pytest.mark.parametrize("route", ["blind_spots", "label_suspects"])
def test_who_may_ask(served: Served, world: dict[str, Any], route: str) -> None:
    path = f"/projects/{world['pid']}/{route}"
    for user in ("reviewer", "manager", "admin"):
        assert get(served, path, user, model_id=world["model"]).status_code == 200
    for user in ("annotator", "outsider"):
        error(get(served, path, user, model_id=world["model"]), 403, "forbidden")
    error(get(served, path, None, model_id=world["model"]), 401, "unauthorized")


@pytest.mark.parametrize("route", ["blind_spots", "label_suspects"])
def test_bad_input_is_refused_clearly(served: Served, world: dict[str, Any],
                                      route: str) -> None:
    before = log_head(served.site.services.app)
    path = f"/projects/{world['pid']}/{route}"
    model = world["model"]
    assert error(get(served, path), 422, "validation")["details"] == {"field": "model_id"}
    never = error(get(served, path, model_id=world["idle"]), 422, "validation")
    assert never["details"] == {"field": "model_id"}
    assert "has not predicted anything in this project yet" in never["message"]
    for limit in ("0", "1001", "-1", "x", "2.5", "1e3"):
        assert error(get(served, path, model_id=model, limit=limit), 422,
                     "validation")["details"]["field"] == "limit"
    for threshold in ("1.5", "-0.1", "nan", "x"):
        assert error(get(served, path, model_id=model, threshold=threshold), 422,
                     "validation")["details"] == {"field": "threshold"}
    head = log_head(served.site.services.app)
    assert error(get(served, path, model_id=model, position=str(head + 10)), 422,
                 "validation")["details"] == {"field": "position", "head": head}
    assert error(get(served, path, model_id=world["foreign"]), 404,
                 "not_found")["details"] == {"field": "model_id"}
    error(get(served, path, model_id="no-such-model"), 404, "not_found")
    error(get(served, f"/projects/no-such-project/{route}", model_id=model), 404, "not_found")
    assert log_head(served.site.services.app) == before  # nothing recorded


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["model_id", "limit", "position", "threshold"]),
                       st.text(max_size=12), max_size=4))
def test_generated_queries_never_fail_the_server(served: Served, world: dict[str, Any],
                                                 params: dict[str, str]) -> None:
    for route in ("blind_spots", "label_suspects"):
        r = get(served, f"/projects/{world['pid']}/{route}", **params)
        assert r.status_code in (200, 404, 422), (params, r.status_code, r.text[:300])
