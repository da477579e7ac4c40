"""The team's work queue over HTTP: leases, their order, assignments, priority, bad input
(SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.work_queue import lease_id
from labelwright.settings import Settings
from tests.selection.scoring import made_up_scores, register_model, score_images
from tests.web.conftest import PASSWORD, Site, assert_error, sqlite_settings


def next_image(site: Site, project_id: str, user: str = "annotator",
               body: dict[str, Any] | None = None) -> dict[str, Any] | None:
    response = site.post(f"/projects/{project_id}/queue/next", user, json=body or {})
    if response.status_code == 204:
        return None
    result: dict[str, Any] = site.ok(response)
    return result


def taken(site: Site, project_id: str, user: str = "annotator",
          body: dict[str, Any] | None = None) -> str:
    """The id of the image ``next`` hands ``user`` (it must hand one)."""
    got = next_image(site, project_id, user, body)
    assert got is not None
    return str(got["image"]["id"])


def add_member(site: Site, project_id: str, name: str, role: str = "annotator") -> None:
    if site.services.app.find_user(name) is None:
        site.services.app.register_user(name, PASSWORD)
    if name not in site.tokens:
        site.tokens[name] = site.services.tokens.issue(name)
    site.ok(site.call("PUT", f"/projects/{project_id}/members/{name}", json={"role": role}))


def project_with_images(site: Site, n: int) -> tuple[str, list[str]]:
    project_id = site.new_project()
    return project_id, [site.new_image(project_id) for _ in range(n)]


def test_each_person_gets_a_different_image_in_project_order(any_site: Site) -> None:
    project_id, images = project_with_images(any_site, 3)
    add_member(any_site, project_id, "bea")
    first = next_image(any_site, project_id)
    assert first is not None and first["image"]["id"] == images[0]
    assert first["lease"]["expires_at"]
    second = next_image(any_site, project_id, "bea")
    assert second is not None and second["image"]["id"] == images[1]
    # Asking again answers the same lease (renewed).
    again = next_image(any_site, project_id)
    assert again is not None and again["image"]["id"] == images[0]
    assert again["lease"]["expires_at"] >= first["lease"]["expires_at"]
    # The lease is in the log, on a stream of its own: the image's version did not move.
    assert any_site.ok(any_site.get(f"/images/{images[0]}"))["version"] == 1
    events = list(any_site.services.app.events.get(lease_id(images[0])))
    assert [type(e).__name__ for e in events] == ["LeaseOpened", "ImageLeased", "ImageLeased"]


def test_submitting_ends_the_lease_and_the_next_one_follows(any_site: Site) -> None:
    project_id, images = project_with_images(any_site, 2)
    first = next_image(any_site, project_id)
    assert first is not None and first["image"]["id"] == images[0]
    any_site.create(images[0])
    any_site.ok(any_site.command(images[0], {"type": "submit"}))
    second = next_image(any_site, project_id)
    assert second is not None and second["image"]["id"] == images[1]
    # A reviewer's queue hands out the submitted image; the annotator's lease ended.
    review = next_image(any_site, project_id, "reviewer")
    assert review is not None and review["image"]["id"] == images[0]
    assert review["queue"] == "review"
    assert taken(any_site, project_id, "reviewer", {"queue": "review"}) == images[0]


def test_nothing_left_is_204(any_site: Site) -> None:
    project_id, _ = project_with_images(any_site, 1)
    assert next_image(any_site, project_id, "manager") is not None
    assert next_image(any_site, project_id) is None
    assert next_image(any_site, project_id, "reviewer") is None  # nothing submitted


def test_an_image_added_a_moment_ago_is_handed_out_while_the_read_models_lag(
        site: Site) -> None:
    """A 204 is a promise that nothing is left: it covers the writes acknowledged before
    the call, even when the read models have not caught up with them yet."""
    project_id = site.new_project()
    site.settle()
    site.services.runner.stop()  # the read models now lag behind every new write
    restart = threading.Timer(0.5, site.services.runner.start)
    try:
        image_id = site.new_image(project_id)
        restart.start()
        started = time.perf_counter()
        assert taken(site, project_id) == image_id
        assert time.perf_counter() - started >= 0.3  # it waited for the read models
    finally:
        if restart.is_alive():
            restart.join()
        site.services.runner.start()  # idempotent: started already, unless the test failed
    review = next_image(site, project_id, "reviewer")  # caught up: 204 at once
    assert review is None

def test_no_204_when_the_read_models_catch_up_between_the_query_and_the_check(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI saw a 204 in 8 ms for an image uploaded just before: the candidates were read
    while the read models lagged, they caught up at that moment, and the "did they lag?"
    check, made after the query, said no. The check must use the position the query saw."""
    project_id = site.new_project()
    site.settle()
    work = site.services.work_queue
    assert work is not None
    runner = site.services.runner
    runner.stop()  # the upload below stays out of the read models until the query is done
    real = work._first_free
    calls = []

    def then_catch_up(*args: Any) -> Any:
        found = real(*args)
        calls.append(found)
        if len(calls) == 1:
            runner.catch_up()  # the batch lands right after the query, before the check
        return found

    monkeypatch.setattr(work, "_first_free", then_catch_up)
    try:
        image_id = site.new_image(project_id)
        assert taken(site, project_id) == image_id
    finally:
        runner.start()
    assert calls[0] is None and len(calls) == 2  # asked again once the models caught up



def test_assignments_come_first_and_stay_with_their_person(any_site: Site) -> None:
    project_id, images = project_with_images(any_site, 4)
    add_member(any_site, project_id, "bea")
    done = any_site.ok(any_site.call("PUT", f"/projects/{project_id}/assignments", "manager",
                                     json={"username": "BEA", "image_ids": [images[3],
                                                                            images[2]]}))
    assert done["username"] == "bea" and done["image_ids"] == [images[3], images[2]]
    # An annotator not assigned them gets the project's order, skipping others' assignments.
    first = next_image(any_site, project_id)
    assert first is not None and first["image"]["id"] == images[0]
    bea = next_image(any_site, project_id, "bea")
    assert bea is not None and bea["image"]["id"] == images[3]
    any_site.create(images[3], user="bea")
    any_site.ok(any_site.command(images[3], {"type": "submit"}, "bea"))
    bea = next_image(any_site, project_id, "bea")
    assert bea is not None and bea["image"]["id"] == images[2]


def test_priority_images_go_first_in_everyones_queue(any_site: Site) -> None:
    project_id, images = project_with_images(any_site, 4)
    path = f"/projects/{project_id}/queue/priority"
    body = any_site.ok(any_site.post(path, "manager", json={"image_ids": [images[2]]}))
    assert body["priority"] == [images[2]]
    body = any_site.ok(any_site.post(path, "manager", json={"image_ids": [images[1],
                                                                          images[2]]}))
    assert body["priority"] == [images[2], images[1]]
    assert taken(any_site, project_id) == images[2]
    assert taken(any_site, project_id, "manager") == images[1]
    assert any_site.ok(any_site.call("DELETE", path, "manager"))["priority"] == []
    add_member(any_site, project_id, "bea")
    assert taken(any_site, project_id, "bea") == images[0]


def test_skipping_gives_the_next_image_and_not_the_skipped_one_again(any_site: Site) -> None:
    project_id, images = project_with_images(any_site, 3)
    first = next_image(any_site, project_id)
    assert first is not None and first["image"]["id"] == images[0]
    second = next_image(any_site, project_id, body={"skip": images[0]})
    assert second is not None and second["image"]["id"] == images[1]
    third = next_image(any_site, project_id, body={"skip": images[1]})
    assert third is not None and third["image"]["id"] == images[2]
    # Somebody else may take the skipped image at once.
    add_member(any_site, project_id, "bea")
    assert taken(any_site, project_id, "bea") == images[0]


def test_roles(any_site: Site) -> None:
    project_id, images = project_with_images(any_site, 2)
    assert_error(any_site.post(f"/projects/{project_id}/queue/next", "outsider", json={}),
                 403, "forbidden")
    assert_error(any_site.post(f"/projects/{project_id}/queue/next", "annotator",
                               json={"queue": "review"}), 403, "forbidden")
    for user in ("annotator", "reviewer"):
        assert_error(any_site.call("PUT", f"/projects/{project_id}/assignments", user,
                                   json={"username": "annotator", "image_ids": []}),
                     403, "forbidden")
        assert_error(any_site.post(f"/projects/{project_id}/queue/priority", user,
                                   json={"image_ids": images}), 403, "forbidden")
        assert_error(any_site.call("DELETE", f"/projects/{project_id}/queue/priority", user),
                     403, "forbidden")
    assert_error(any_site.post(f"/projects/{uuid.uuid4()}/queue/next", "annotator", json={}),
                 404, "not_found")
    # Admins (no role) work from the label queue.
    assert next_image(any_site, project_id, "admin") is not None


BAD_NEXT: list[Any] = [
    {"order": "random"}, {"order": "selection"}, {"strategy": "margin"},
    {"model_id": str(uuid.uuid4())}, {"order": "default", "strategy": "margin"},
    {"colour": "red"}, {"queue": "everything"}, {"skip": "not-an-id"}, {"skip": 3},
    {"order": "selection", "model_id": str(uuid.uuid4()), "strategy": "nope"}, [], "next",
    {"order": None, "extra": 1},
]


def test_bad_next_bodies_are_422_and_record_nothing(shared_site: Site) -> None:
    project_id, _ = project_with_images(shared_site, 1)
    shared_site.settle()
    before = shared_site.head()
    for body in BAD_NEXT:
        error = assert_error(shared_site.post(f"/projects/{project_id}/queue/next",
                                              "annotator", json=body), 422, "validation")
        assert error["message"]
    assert shared_site.head() == before


def test_selection_order_follows_the_strategy_then_the_project_order(any_site: Site) -> None:
    project_id, images = project_with_images(any_site, 6)
    model_id = register_model(any_site.services.app, project_id)
    scores = made_up_scores(images[:4], seed=3)  # the last two images are not scored
    score_images(any_site.services.app, project_id, model_id, images[:4], scores=scores)
    any_site.settle()
    by_margin = [s.image_id for s in
                 sorted(scores, key=lambda s: -(s.uncertainty["margin"] or 0.0))]
    handed = []
    for user in ("annotator", "manager", "reviewer", "admin", "bea", "cem"):
        if user in ("bea", "cem"):
            add_member(any_site, project_id, user)
        got = next_image(any_site, project_id, user, {"order": "selection",
                                                     "model_id": model_id, "queue": "label"})
        assert got is not None
        handed.append(got["image"]["id"])
    assert handed == [*by_margin, images[4], images[5]]


def test_selection_needs_a_scored_model_of_this_project(any_site: Site) -> None:
    project_id, _ = project_with_images(any_site, 1)
    other = any_site.new_project()
    unscored = register_model(any_site.services.app, project_id, name="unscored")
    elsewhere = register_model(any_site.services.app, other, name="elsewhere")
    any_site.settle()
    before = any_site.head()
    for model_id, status in ((unscored, 422), (elsewhere, 422), (str(uuid.uuid4()), 404)):
        response = any_site.post(f"/projects/{project_id}/queue/next", "annotator",
                                 json={"order": "selection", "model_id": model_id})
        assert_error(response, status, "validation" if status == 422 else "not_found")
    assert any_site.head() == before


def test_bad_assignments_and_priority_are_422_and_record_nothing(any_site: Site) -> None:
    project_id, images = project_with_images(any_site, 2)
    _, others = project_with_images(any_site, 1)
    any_site.settle()
    before = any_site.head()
    assign = f"/projects/{project_id}/assignments"
    bodies: list[dict[str, Any]] = [
                 {"username": "annotator", "image_ids": [others[0]]},
                 {"username": "annotator", "image_ids": [str(uuid.uuid4())]},
                 {"username": "annotator", "image_ids": [images[0], images[0]]},
                 {"username": "annotator", "image_ids": "all"},
                 {"username": "annotator"}, {"image_ids": images},
                 {"username": "outsider", "image_ids": images},
                 {"username": "annotator", "image_ids": images, "order": 1}]
    for body in bodies:
        assert_error(any_site.call("PUT", assign, "manager", json=body), 422, "validation")
    assert_error(any_site.call("PUT", assign, "manager",
                               json={"username": "nobody", "image_ids": images}),
                 404, "not_found")
    priority = f"/projects/{project_id}/queue/priority"
    bodies = [{"image_ids": [others[0]]}, {"image_ids": []}, {"image_ids": ["x"]},
              {"image_ids": images, "replace": True}, {}]
    for body in bodies:
        assert_error(any_site.post(priority, "manager", json=body), 422, "validation")
    assert any_site.head() == before


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.dictionaries(st.sampled_from(["order", "model_id", "strategy", "queue", "skip", "k",
                                     "image_ids"]),
                    st.one_of(st.none(), st.integers(), st.text(max_size=8),
                              st.lists(st.text(max_size=4), max_size=2),
                              st.sampled_from(["default", "selection", "margin", "review"])),
                    max_size=4),
    st.lists(st.integers(), max_size=2), st.text(max_size=5)))
def test_any_next_body_is_a_lease_a_204_or_a_clear_refusal(shared_site: Site,
                                                           body: Any) -> None:
    project_id = getattr(shared_site, "_queue_project", None)
    if project_id is None:
        project_id = shared_site.new_project()
        shared_site._queue_project = project_id  # type: ignore[attr-defined]
    head = shared_site.head()
    response = shared_site.post(f"/projects/{project_id}/queue/next", "annotator", json=body)
    review = isinstance(body, dict) and body.get("queue") == "review"
    assert response.status_code in ((403,) if review else (200, 204, 404, 422)), response.text
    if response.status_code in (403, 404, 422):
        assert response.json()["error"]["message"]
        assert shared_site.head() == head


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.one_of(st.uuids().map(str), st.text(max_size=6), st.integers()),
                    max_size=4))
def test_any_foreign_or_malformed_priority_list_records_nothing(shared_site: Site,
                                                                ids: list[Any]) -> None:
    project_id = getattr(shared_site, "_priority_project", None)
    if project_id is None:
        project_id = shared_site.new_project()
        shared_site._priority_project = project_id  # type: ignore[attr-defined]
    head = shared_site.head()
    assert_error(shared_site.post(f"/projects/{project_id}/queue/priority", "manager",
                                  json={"image_ids": ids}), 422, "validation")
    assert shared_site.head() == head


@pytest.fixture
def short_lease_site(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    s = Site(sqlite_settings(tmp_path / "data", lease_seconds=1))
    yield s
    s.close()


def test_an_expired_lease_hands_the_image_to_someone_else(short_lease_site: Site) -> None:
    site = short_lease_site
    project_id, images = project_with_images(site, 1)
    add_member(site, project_id, "bea")
    assert taken(site, project_id) == images[0]
    assert next_image(site, project_id, "bea") is None
    time.sleep(1.2)
    got = next_image(site, project_id, "bea")
    assert got is not None and got["image"]["id"] == images[0]
    assert next_image(site, project_id) is None  # bea holds it now


def test_the_holders_own_work_renews_the_lease(short_lease_site: Site) -> None:
    site = short_lease_site
    project_id, images = project_with_images(site, 1)
    add_member(site, project_id, "bea")
    assert taken(site, project_id) == images[0]
    for _ in range(4):  # 2 s of work under a 1 s lease
        time.sleep(0.5)
        site.create(images[0])
    site.settle()
    assert next_image(site, project_id, "bea") is None
    time.sleep(1.2)  # no work for longer than the lease: someone else may take it
    # (an in-progress image goes to others only through assignments or priority)
    site.ok(site.call("PUT", f"/projects/{project_id}/assignments", "manager",
                      json={"username": "bea", "image_ids": images}))
    got = next_image(site, project_id, "bea")
    assert got is not None and got["image"]["id"] == images[0]


def test_the_lease_length_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings.from_env(data_dir=str(tmp_path)).lease_seconds == 15 * 60
    monkeypatch.setenv("LABELWRIGHT_LEASE_SECONDS", "90")
    assert Settings.from_env(data_dir=str(tmp_path)).lease_seconds == 90


def test_a_rejected_image_goes_back_to_who_submitted_it(any_site: Site) -> None:
    project_id, images = project_with_images(any_site, 2)
    assert taken(any_site, project_id) == images[0]
    any_site.create(images[0])
    any_site.ok(any_site.command(images[0], {"type": "submit"}))
    assert taken(any_site, project_id, "reviewer") == images[0]
    any_site.ok(any_site.command(images[0], {"type": "review", "verdict": "reject",
                                             "comment": "the cat is a dog"}, "reviewer"))
    # Straight away (the read model may not show the verdict yet): the reviewer is not
    # handed it again, and its annotator gets it back before the new image.
    assert next_image(any_site, project_id, "reviewer") is None
    assert taken(any_site, project_id) == images[0]
