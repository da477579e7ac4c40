"""The queries of ReadModels, as the web layer calls them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from domain.errors import ValidationFailed
from tests.projections.conftest import Stack
from tests.projections.recount import all_events
from tests.projections.workload import Workload


@pytest.fixture()
def worked(stack: Stack) -> tuple[Stack, Workload]:
    work = stack.workload(seed=4)
    work.setup()
    work.add_images(14)
    work.rounds(12)
    stack.runner.catch_up()
    return stack, work


def test_list_images_pages_in_added_order(worked: tuple[Stack, Workload]) -> None:
    stack, work = worked
    project = work.projects[0]
    expected = [str(i.image_id) for i in work.images if i.project_id == project]
    seen: list[str] = []
    cursor = None
    while True:
        items, cursor = stack.read.list_images(project, None, 3, cursor)
        seen += [i["id"] for i in items]
        assert all(i["project_id"] == project for i in items)
        if cursor is None:
            break
    assert seen == expected
    for status in ("new", "in_progress", "submitted", "approved", "rejected"):
        items, _ = stack.read.list_images(project, status, 1000, None)
        assert all(i["status"] == status for i in items)
        assert [i["id"] for i in items] == [
            i for i in expected if stack.app.image(i).status == status]
    first, _ = stack.read.list_images(project, None, 1, None)
    assert set(first[0]) == {"id", "project_id", "file_name", "width", "height", "sha256",
                             "content_type", "status", "version", "position",
                             "annotation_count", "added_at", "updated_at"}
    with pytest.raises(ValidationFailed):
        stack.read.list_images(project, None, 5, "garbage!")
    with pytest.raises(ValidationFailed):
        stack.read.list_images(project, "done", 5, None)


def test_history_pages_and_positions(worked: tuple[Stack, Workload]) -> None:
    stack, work = worked
    iid = work.images[0].image_id
    image = stack.app.image(iid)
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page, next_after = stack.read.history(str(iid), after, 4)
        events += page
        if next_after is None:
            break
        after = next_after
    assert [e["version"] for e in events] == list(range(1, image.version + 1))
    stored = list(stack.app.image_events(iid, 1, image.version))
    for seen, event in zip(events, stored, strict=True):
        assert seen["type"] == type(event).__name__
        assert seen["actor"] == event.actor
        assert seen["at"] == event.timestamp.isoformat()
        assert stack.read.position_of(str(iid), seen["version"]) == seen["position"]
        if seen["type"] == "AnnotationCreated":
            assert seen["data"]["geometry"] == event.geometry
    assert events[0]["type"] == "ImageAdded"
    assert stack.read.position_of(str(iid), image.version + 1) is None
    assert stack.read.history("no-such-image", 0, 10) == ([], None)


def test_version_at_position_equals_the_log(worked: tuple[Stack, Workload]) -> None:
    stack, work = worked
    log = all_events(stack.app)
    project = work.projects[1]
    for position in (log[len(log) // 3][0], log[2 * len(log) // 3][0], stack.head()):
        versions: dict[str, int] = {}
        order: list[str] = []
        project_of: dict[str, str] = defaultdict(str)
        for p, e in log:
            if p > position:
                break
            if type(e).__name__ == "ImageAdded":
                project_of[str(e.originator_id)] = e.project_id
                order.append(str(e.originator_id))
            if str(e.originator_id) in project_of:
                versions[str(e.originator_id)] = e.originator_version
        expected = [(i, versions[i]) for i in order if project_of[i] == project]
        got = list(stack.read.version_at_position(project, position))
        assert got == expected
    assert list(stack.read.version_at_position(project, 0)) == []


def test_current_export_rows_stream_every_image(worked: tuple[Stack, Workload]) -> None:
    stack, work = worked
    project = work.projects[0]
    rows = stack.read.current_export_rows(project)
    first_image, _ = next(iter(rows))  # a lazy stream
    got = [(first_image, _), *rows]
    expected_ids = [str(i.image_id) for i in work.images if i.project_id == project]
    assert [image["id"] for image, _ in got] == expected_ids
    for image, labels in got:
        view = stack.read.image_annotations(image["id"])
        assert view is not None and labels == view["annotations"]
        assert image == stack.read.image(image["id"])
    # An abandoned stream releases its connection.
    for _ in range(20):
        it = iter(stack.read.current_export_rows(project))
        next(it)
        it.close()  # type: ignore[attr-defined]
    assert stack.read.project(project) is not None


def test_projects_members_and_users(worked: tuple[Stack, Workload]) -> None:
    stack, work = worked
    read = stack.read
    admin_view = read.projects_visible_to("anyone", is_admin=True)
    assert [p["id"] for p in admin_view] == work.projects
    project = read.project(work.projects[0])
    assert project is not None
    assert project == admin_view[0]
    aggregate = stack.app.project(work.projects[0])
    assert project["name"] == aggregate.name
    assert project["classes"] == aggregate.classes
    assert [c["name"] for c in project["classes"] if c["retired"]] == ["old"]
    assert project["annotation_types"] == aggregate.annotation_types
    assert {m["username"]: m["role"] for m in project["members"]} == aggregate.members
    assert project["created_by"] == "mgr"
    assert sum(project["counts"].values()) == project["image_count"] == 7
    assert [p["id"] for p in read.projects_visible_to("ann", is_admin=False)] == work.projects
    assert read.projects_visible_to("stranger", is_admin=False) == []
    stack.app.set_member(work.projects[1], "ann", None, "mgr")
    stack.app.set_member(work.projects[1], "bob", "reviewer", "mgr")
    stack.runner.catch_up()
    assert [r["project_id"] for r in read.roles_of("ann")] == [work.projects[0]]
    assert {r["role"] for r in read.roles_of("bob")} == {"annotator", "reviewer"}
    assert read.roles_of("mgr")[0] == {"project_id": work.projects[0],
                                       "project_name": "Project 0", "role": "manager"}
    assert read.project("nope") is None
    assert read.users() == [{"username": u, "is_admin": u == "mgr", "disabled": False}
                            for u in sorted(("ann", "bob", "cyd", "rui", "mgr"))]
    stack.app.update_user("rui", is_admin=True)
    stack.app.update_project(work.projects[0], "mgr", {"name": "Renamed"})
    stack.app.disable_user("cyd", "mgr")
    stack.app.disable_user("bob", "mgr")
    stack.app.enable_user("bob", None)
    stack.runner.catch_up()
    assert {"username": "rui", "is_admin": True, "disabled": False} in read.users()
    assert [u["username"] for u in read.users() if u["disabled"]] == ["cyd"]
    assert read.roles_of("cyd")  # a disabled user keeps their roles
    assert read.project(work.projects[0])["name"] == "Renamed"  # type: ignore[index]


def test_no_password_hash_reaches_a_view(worked: tuple[Stack, Workload]) -> None:
    stack, _ = worked
    for table in ("users", "projects", "members", "history", "images"):
        for row in stack.db.query(f"SELECT * FROM {table}"):
            assert not any(isinstance(v, str) and "argon2" in v for v in row)


def test_image_annotations_unknown_image(stack: Stack) -> None:
    assert stack.read.image_annotations("nope") is None
    assert stack.read.image("nope") is None
