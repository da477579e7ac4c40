"""``GET /projects/{id}/queue``: who holds what (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

from tests.web.conftest import Site, assert_error, check_schema
from tests.web.test_work_queue import add_member, project_with_images, taken


def test_the_overview_shows_leases_assignments_and_priority(any_site: Site) -> None:
    project_id, images = project_with_images(any_site, 5)
    path = f"/projects/{project_id}/queue"
    empty = any_site.ok(any_site.get(path, "manager"))
    assert empty == {"leases": [], "assignments": [], "priority": []}
    add_member(any_site, project_id, "bea")
    add_member(any_site, project_id, "cal")
    any_site.ok(any_site.call("PUT", f"/projects/{project_id}/assignments", "manager",
                              json={"username": "cal", "image_ids": [images[4], images[3]]}))
    any_site.ok(any_site.post(f"/projects/{project_id}/queue/priority", "manager",
                              json={"image_ids": [images[2]]}))
    assert taken(any_site, project_id, "annotator") == images[2]
    assert taken(any_site, project_id, "bea") == images[0]
    any_site.settle()  # the read model follows the log
    body = any_site.ok(any_site.get(path, "manager"))
    check_schema(body, "QueueOverview")
    assert {(lease["image_id"], lease["username"]) for lease in body["leases"]} == {
        (images[2], "annotator"), (images[0], "bea")}
    assert all(lease["expires_at"] for lease in body["leases"])
    assert body["assignments"] == [{"username": "cal", "image_ids": [images[4], images[3]]}]
    assert body["priority"] == [images[2]]
    # A submitted image's lease ends: it leaves the overview.
    any_site.create(images[0], user="bea")
    any_site.ok(any_site.command(images[0], {"type": "submit"}, "bea"))
    any_site.settle()
    body = any_site.ok(any_site.get(path, "admin"))
    assert [lease["image_id"] for lease in body["leases"]] == [images[2]]


def test_only_managers_and_admins_see_it(any_site: Site) -> None:
    project_id, _ = project_with_images(any_site, 1)
    for user in ("annotator", "reviewer", "outsider"):
        assert_error(any_site.get(f"/projects/{project_id}/queue", user), 403, "forbidden")
    assert_error(any_site.get(f"/projects/{uuid.uuid4()}/queue", "manager"), 404, "not_found")
