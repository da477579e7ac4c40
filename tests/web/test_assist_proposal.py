"""Assist over HTTP: the server computes the proposal, a client cannot send one."""

from __future__ import annotations

from tests.web.conftest import Site, assert_error

CLICKS = [[10, 20], [20, 10], [30, 20], [20, 30]]


def test_a_client_cannot_send_a_proposal(site: Site) -> None:
    image_id = site.new_image(site.new_project())
    assist = {"type": "assist", "mode": "extreme_points", "label": "cat", "points": CLICKS}
    before = site.head()
    for body in ({**assist, "proposal": {"x": 0, "y": 0, "w": 64, "h": 48}},
                 {"commands": [{**assist, "proposal": {"x": 0, "y": 0, "w": 64, "h": 48}}]}):
        error = assert_error(site.command(image_id, body), 422, "validation")
        assert error["details"]["field"].endswith("proposal"), error
    assert site.head() == before
    result = site.ok(site.command(image_id, assist))
    assert [e["type"] for e in result["events"]] == ["AssistClicked", "AnnotationCreated"]
    assert result["events"][1]["data"]["geometry"] == {"x": 10.0, "y": 10.0, "w": 20.0,
                                                       "h": 20.0}
    assert result["events"][1]["data"]["source"] == "assist"
