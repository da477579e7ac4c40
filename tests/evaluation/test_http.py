"""``GET /projects/{id}/evaluation`` over the real app: answers, role checks, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import (  # noqa: F401 (any_site, pg_database_url: fixtures)
    Site,
    any_site,
    assert_error,
    check_schema,
    pg_database_url,
    sqlite_settings,
)

BOX = {"x": 4.0, "y": 4.0, "w": 30.0, "h": 20.0}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(sqlite_settings(tmp_path / "data"))
    yield s
    s.close()


def register_model(site: Site, project_id: str) -> str:
    model, _ = site.services.app.register_model(  # the record alone: nothing runs it here
        project_id, "admin", name="det", version="2", task="detect", format="onnx",
        architecture=None, layout="yolov8", classes=["cat", "dog"], input_size=[64, 64],
        sha256="0" * 64, size_bytes=1, file_name="det.onnx", details={})
    return str(model.id)


def prelabelled_project(site: Site) -> tuple[str, str, list[str]]:
    """A project with 3 images, the model's imported pre-labels on each; a person accepted
    the cat on the first image and deleted the dog on the second; nobody opened the third."""
    pid = site.new_project(["cat", "dog"])
    model_id = register_model(site, pid)
    images = [site.new_image(pid, 64, 48) for _ in range(3)]
    body = {"predictions": [{"image_id": i, "annotations": [
        {"type": "box", "label": "cat" if n != 1 else "dog", "geometry": BOX, "score": 0.9}]}
        for n, i in enumerate(images)]}
    site.ok(site.post(f"/projects/{pid}/predictions?model=det&model_version=2", "manager",
                      json=body))
    site.settle()

    def only_annotation(image_id: str) -> str:
        return str(site.ok(site.get(f"/images/{image_id}/annotations"))["annotations"][0]["id"])

    site.ok(site.command(images[0], {"type": "accept", "annotation_id": only_annotation(
        images[0])}))
    site.ok(site.command(images[1], {"type": "delete", "annotation_id": only_annotation(
        images[1])}))
    return pid, model_id, images


def evaluation(site: Site, project_id: str, user: str = "manager", **params: Any) -> Any:
    return site.get(f"/projects/{project_id}/evaluation", user, params=params)


def test_the_manager_gets_the_evaluation(any_site: Site) -> None:  # noqa: F811
    """On SQLite and PostgreSQL."""
    site = any_site
    pid, model_id, _ = prelabelled_project(site)
    head = site.head()
    body = site.ok(evaluation(site, pid, model_id=model_id))
    check_schema(body, "Evaluation")
    assert body["model"] == {"id": model_id, "name": "det", "version": "2", "task": "detect"}
    assert body["position"] == head
    assert body["images"] == 2 and body["images_excluded"] == 1
    assert body["map50"] == 1.0
    per_class = {c["label"]: c for c in body["per_class"]}
    assert (per_class["cat"]["tp"], per_class["dog"]["fp"]) == (1, 1)
    assert {(c["label"], c["predicted"]): c["count"] for c in body["confusion"]} == {
        ("cat", "cat"): 1, (None, "dog"): 1}
    # As of the position before anyone acted, nothing had been looked at.
    before = site.ok(evaluation(site, pid, model_id=model_id, position=head - 2))
    assert before["images"] == 0 and before["map50"] is None
    assert site.ok(evaluation(site, pid, "admin", model_id=model_id))["images"] == 2
    strict = site.ok(evaluation(site, pid, model_id=model_id, threshold="0.95"))
    assert strict["threshold"] == 0.95 and strict["per_class"][0]["tp"] == 0


def test_only_managers_may_evaluate(site: Site) -> None:
    pid, model_id, _ = prelabelled_project(site)
    for user in ("annotator", "reviewer", "outsider"):
        assert_error(evaluation(site, pid, user, model_id=model_id), 403, "forbidden")
    assert_error(evaluation(site, pid, None, model_id=model_id), 401, "unauthorized")


def test_bad_requests(site: Site) -> None:
    pid, model_id, _ = prelabelled_project(site)
    head = site.head()
    error = assert_error(evaluation(site, pid, model_id=model_id, position=head + 5), 422,
                         "validation")
    assert error["details"] == {"field": "position", "head": head}
    assert assert_error(evaluation(site, pid), 422, "validation")["details"] == {
        "field": "model_id"}
    for bad in ("-1", "1.5", "nan", "x", "1e999"):
        assert assert_error(evaluation(site, pid, model_id=model_id, threshold=bad), 422,
                            "validation")["details"] == {"field": "threshold"}
    assert_error(evaluation(site, pid, model_id=model_id, position="abc"), 422, "validation")
    assert_error(evaluation(site, pid, model_id="no-such-model"), 404, "not_found")
    other = site.new_project(["cat"])
    error = assert_error(evaluation(site, other, model_id=model_id), 404, "not_found")
    assert error["details"] == {"field": "model_id"}
