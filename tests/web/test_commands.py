"""Idempotency (``command_id``) and optimistic concurrency (409 ``conflict``) over HTTP."""

from __future__ import annotations

from pathlib import Path

from tests.web.conftest import Site, assert_error, check_schema, sqlite_settings


def test_a_repeated_command_id_returns_the_first_result_and_records_nothing(
        site: Site) -> None:
    pid = site.new_project()
    iid = site.new_image(pid)
    body = {"type": "create", "command_id": "c-1", "annotation": {
        "type": "box", "label": "cat", "geometry": {"x": 1, "y": 1, "w": 4, "h": 4}}}
    first = site.ok(site.command(iid, body))
    head = site.head()
    # The same id again, even with another body: the original answer, nothing new.
    second = site.ok(site.command(iid, {**body, "annotation": {**body["annotation"],
                                                                "label": "dog"}}))
    assert second == first
    assert site.head() == head
    site.settle()
    labels = site.ok(site.get(f"/images/{iid}/annotations", "annotator"))
    assert [a["label"] for a in labels["annotations"]] == ["cat"]
    history = site.ok(site.get(f"/images/{iid}/history", "annotator"))
    assert [e["type"] for e in history["events"]] == ["ImageAdded", "AnnotationCreated"]


def test_a_repeated_batch_returns_the_first_result(site: Site) -> None:
    pid = site.new_project()
    iid = site.new_image(pid)
    batch = {"commands": [
        {"type": "create", "command_id": "b-1", "annotation": {
            "type": "point", "label": "cat", "geometry": {"x": 3, "y": 3}}},
        {"type": "submit", "command_id": "b-2"}]}
    first = site.ok(site.command(iid, batch))
    head = site.head()
    assert site.ok(site.command(iid, batch)) == first
    assert site.head() == head


def test_idempotency_survives_a_restart(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path / "data")
    site = Site(settings)
    try:
        pid = site.new_project()
        iid = site.new_image(pid)
        body = {"type": "create", "command_id": "restart-1", "annotation": {
            "type": "tag", "label": "dog", "geometry": {}}}
        first = site.ok(site.command(iid, body))
        head = site.head()
    finally:
        site.close()
    again = Site(settings)  # a new process on the same data dir: bootstrap again
    try:
        assert again.ok(again.command(iid, body)) == first
        assert again.head() == head
        again.settle()
        labels = again.ok(again.get(f"/images/{iid}/annotations", "annotator"))
        assert len(labels["annotations"]) == 1
    finally:
        again.close()


def test_a_stale_base_revision_is_409_with_the_current_annotation(site: Site) -> None:
    pid = site.new_project()
    iid = site.new_image(pid)
    created = site.create(iid)
    aid = created["events"][0]["data"]["annotation_id"]
    # Two annotators start from revision 1; the first edit wins...
    site.ok(site.command(iid, {"type": "edit", "annotation_id": aid, "base_revision": 1,
                               "changes": {"label": "dog"}}))
    head = site.head()
    # ...the second is refused with what is there now, and nothing is recorded.
    response = site.command(iid, {"type": "edit", "annotation_id": aid, "base_revision": 1,
                                  "changes": {"geometry": {"x": 2, "y": 2, "w": 3, "h": 3}}},
                            user="reviewer")
    error = assert_error(response, 409, "conflict")
    check_schema(response.json(), "Conflict")
    assert error["details"]["current"]["label"] == "dog"
    assert error["details"]["current"]["revision"] == 2
    assert error["details"]["version"] == 3
    assert site.head() == head
    # A delete of a deleted annotation: conflict with current null.
    site.ok(site.command(iid, {"type": "delete", "annotation_id": aid}))
    gone = assert_error(site.command(iid, {"type": "delete", "annotation_id": aid}), 409,
                        "conflict")
    assert gone["details"]["current"] is None


def test_a_stale_base_version_is_409(site: Site) -> None:
    pid = site.new_project()
    iid = site.new_image(pid)
    site.create(iid)
    head = site.head()
    stale = {"commands": [{"type": "submit"}], "base_version": 1}
    error = assert_error(site.command(iid, stale), 409, "conflict")
    assert error["details"]["version"] == 2 and error["details"]["current"] is None
    assert_error(site.command(iid, {"type": "submit", "base_version": 1}), 409, "conflict")
    assert site.head() == head
    assert site.ok(site.command(iid, {"type": "submit", "base_version": 2}))["version"] == 3


def test_without_base_revision_the_last_writer_wins_and_both_are_recorded(site: Site) -> None:
    pid = site.new_project()
    iid = site.new_image(pid)
    aid = site.create(iid)["events"][0]["data"]["annotation_id"]
    site.ok(site.command(iid, {"type": "edit", "annotation_id": aid,
                               "changes": {"label": "dog"}}))
    last = site.ok(site.command(iid, {"type": "edit", "annotation_id": aid,
                                      "changes": {"label": "cat"}}, user="reviewer"))
    labels = site.ok(site.get(f"/images/{iid}/annotations", "annotator",
                              params={"min_position": last["position"]}))
    assert labels["annotations"][0]["label"] == "cat"
    assert labels["annotations"][0]["revision"] == 3


def test_a_command_id_is_never_replayed_to_someone_who_may_not_send_the_command(
        site: Site) -> None:
    """Authorisation comes before the idempotency lookup: a member of another project, or an
    annotator re-sending a reviewer's ``review``, gets 403, never the first result."""
    pid_a = site.new_project()
    iid = site.new_image(pid_a)
    first = site.ok(site.command(iid, {"type": "create", "command_id": "a-1", "annotation": {
        "type": "box", "label": "cat", "geometry": {"x": 1, "y": 1, "w": 4, "h": 4}}}))
    site.ok(site.command(iid, {"type": "submit", "command_id": "a-2"}))
    site.ok(site.command(iid, {"type": "review", "verdict": "approve",
                               "command_id": "a-3"}, "reviewer"))
    # Someone with a role in another project only.
    site.ok(site.post("/users", json={"username": "bea", "password": "password123"}), 201)
    site.tokens["bea"] = site.services.tokens.issue("bea")
    pid_b = site.new_project(members=False)
    site.ok(site.call("PUT", f"/projects/{pid_b}/members/bea", json={"role": "manager"}))
    head = site.head()
    for user in ("bea", "outsider"):
        error = assert_error(site.command(iid, {"type": "create", "command_id": "a-1",
                                                "annotation": {"type": "tag", "label": "dog",
                                                               "geometry": {}}}, user),
                             403, "forbidden")
        assert first["events"][0]["data"]["annotation_id"] not in str(error)
    assert_error(site.command(iid, {"type": "review", "verdict": "reject",
                                    "command_id": "a-3"}, "annotator"), 403, "forbidden")
    assert site.head() == head


def test_a_command_id_is_scoped_to_the_user_who_sent_it(site: Site) -> None:
    """Another member re-using someone's command id gets 409 and nothing is recorded; the
    first sender still gets the first result."""
    pid = site.new_project()
    iid = site.new_image(pid)
    body = {"type": "create", "command_id": "mine", "annotation": {
        "type": "box", "label": "cat", "geometry": {"x": 1, "y": 1, "w": 4, "h": 4}}}
    first = site.ok(site.command(iid, body, "annotator"))
    head = site.head()
    error = assert_error(site.command(iid, body, "reviewer"), 409, "conflict")
    assert error["details"]["field"] == "command_id"
    assert "events" not in str(error["details"])
    assert_error(site.command(iid, body, "manager"), 409, "conflict")
    assert site.ok(site.command(iid, body, "annotator")) == first
    assert site.head() == head
