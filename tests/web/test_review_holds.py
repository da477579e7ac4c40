"""Review holds over HTTP, through a real uvicorn: 409 ``locked`` for annotators on submitted
and approved images (nothing recorded), ``reopen`` for reviewers and managers, and the
review round on ``GET /images/{id}`` (``review``, ``reopened``)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.web.conftest import Site, check_schema
from tests.web.served import Served, served_fixture  # noqa: F401 - the fixture
from tests.web.test_work_queue import next_image, project_with_images, taken

BOX = {"x": 2, "y": 2, "w": 10, "h": 8}


class Http:
    """The served API, through real HTTP."""

    def __init__(self, served: Served) -> None:
        self.site = served.site
        self.client = httpx.Client(base_url=served.url, timeout=30)

    def command(self, image_id: str, body: dict[str, Any], user: str) -> httpx.Response:
        return self.client.post(f"/images/{image_id}/commands", json=body,
                                headers=self.site.headers(user))

    def ok(self, image_id: str, body: dict[str, Any], user: str) -> dict[str, Any]:
        response = self.command(image_id, body, user)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def image(self, image_id: str, user: str, position: int) -> dict[str, Any]:
        response = self.client.get(f"/images/{image_id}", params={"min_position": position},
                                   headers=self.site.headers(user))
        assert response.status_code == 200, response.text
        body = dict(response.json())
        check_schema(body, "Image")
        return body

    def locked(self, image_id: str, body: dict[str, Any], user: str = "annotator") -> None:
        head = self.site.head()
        response = self.command(image_id, body, user)
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "locked", error
        assert "a reviewer or manager must reopen it" in error["message"]
        assert error["details"]["reopen_by"] == ["reviewer", "manager"]
        assert self.site.head() == head  # nothing recorded


def test_review_holds_over_http(served: Served) -> None:
    http = Http(served)
    site = http.site
    pid = site.new_project()
    iid = site.new_image(pid)
    made = http.ok(iid, {"type": "create", "annotation": {"type": "box", "label": "cat",
                                                           "geometry": BOX}}, "annotator")
    box = made["events"][0]["data"]["annotation_id"]
    fresh = http.image(iid, "annotator", made["position"])
    assert fresh["review"] is None and fresh["reopened"] is None

    submitted = http.ok(iid, {"type": "submit"}, "annotator")
    for body in ({"type": "edit", "annotation_id": box, "changes": {"label": "dog"}},
                 {"type": "delete", "annotation_id": box},
                 {"type": "create", "annotation": {"type": "tag", "label": "dog",
                                                   "geometry": {}}},
                 {"type": "submit"}):
        http.locked(iid, body)
    # Reopening is for reviewers and managers: an annotator is told which role it needs.
    response = http.command(iid, {"type": "reopen"}, "annotator")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert http.image(iid, "annotator", submitted["position"])["status"] == "submitted"

    # The reviewer rejects with a comment: it is part of the image, for the annotator.
    rejected = http.ok(iid, {"type": "review", "verdict": "reject",
                             "comment": "The dog's tail is cut off."}, "reviewer")
    seen = http.image(iid, "annotator", rejected["position"])
    assert seen["status"] == "rejected"
    review = seen["review"]
    assert {k: review[k] for k in ("verdict", "comment", "by")} == {
        "verdict": "reject", "comment": "The dog's tail is cut off.", "by": "reviewer"}
    assert review["at"] == rejected["events"][0]["at"]
    # It stays while the annotator fixes the image ...
    fixed = http.ok(iid, {"type": "edit", "annotation_id": box,
                          "changes": {"geometry": {"x": 2, "y": 2, "w": 20, "h": 8}}},
                    "annotator")
    assert http.image(iid, "annotator", fixed["position"])["review"] == review
    # ... and goes once it is submitted again (a new round).
    again = http.ok(iid, {"type": "submit"}, "annotator")
    assert http.image(iid, "reviewer", again["position"])["review"] is None

    approved = http.ok(iid, {"type": "review", "verdict": "approve"}, "reviewer")
    assert http.image(iid, "annotator", approved["position"])["review"]["verdict"] == "approve"
    http.locked(iid, {"type": "edit", "annotation_id": box, "changes": {"label": "dog"}})

    reopened = http.ok(iid, {"type": "reopen", "comment": "Label the lead too."}, "manager")
    [event] = reopened["events"]
    assert event["type"] == "ImageReopened" and event["actor"] == "manager"
    after = http.image(iid, "annotator", reopened["position"])
    assert after["status"] == "in_progress"
    assert after["review"]["verdict"] == "approve"  # the verdict of the round, kept
    assert after["reopened"] == {"comment": "Label the lead too.", "by": "manager",
                                 "at": event["at"]}
    http.ok(iid, {"type": "create", "annotation": {"type": "box", "label": "dog",
                                                    "geometry": BOX}}, "annotator")

    # Reopening an image that is not held is refused (422), and records nothing.
    head = site.head()
    response = http.command(iid, {"type": "reopen"}, "reviewer")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"] == {"field": "type", "status": "in_progress"}
    assert site.head() == head
    http.client.close()


def test_reopen_bad_input_is_refused_by_field(served: Served) -> None:
    http = Http(served)
    site = http.site
    pid = site.new_project()
    iid = site.new_image(pid)
    http.ok(iid, {"type": "submit"}, "annotator")
    head = site.head()
    for body, field in (({"type": "reopen", "comment": 3}, "comment"),
                        ({"type": "reopen", "comment": "x" * 4001}, "comment"),
                        ({"type": "reopen", "verdict": "approve"}, "verdict")):
        response = http.command(iid, body, "reviewer")
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["field"] == field
    assert site.head() == head
    http.client.close()


def test_a_reopened_image_goes_back_to_who_submitted_it(site: Site) -> None:
    project_id, images = project_with_images(site, 2)
    assert taken(site, project_id) == images[0]
    site.create(images[0])
    site.ok(site.command(images[0], {"type": "submit"}))
    assert taken(site, project_id, "reviewer") == images[0]
    site.ok(site.command(images[0], {"type": "review", "verdict": "approve"}, "reviewer"))
    site.ok(site.command(images[0], {"type": "reopen", "comment": "one more"}, "manager"))
    site.settle()
    # The reviewer's lease ended with the verdict; the submitter gets it back before the new
    # image, and nobody else is handed it meanwhile.
    assert next_image(site, project_id, "reviewer") is None
    assert taken(site, project_id) == images[0]
    site.create(images[0])
    site.ok(site.command(images[0], {"type": "submit"}))
    assert taken(site, project_id) == images[1]
