"""What schemathesis found at the edges of the contract, pinned down one by one.

Integers a request carries are 64-bit at most (positions and versions are 64-bit columns):
anything larger is 422 ``validation`` as it arrives, never a 500 from a database driver or
from the JSON encoder echoing it back. A 405 lists every method of its path in ``Allow``, and
the OpenAPI document says what the server accepts and answers.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from domain.commands import MAX_INT
from tests.web.conftest import Site, assert_error
from web.openapi import openapi_document
from web.responses import dumps


@pytest.fixture(scope="module")
def place(shared_site: Site) -> dict[str, Any]:
    site = shared_site
    pid = site.new_project(["cat", "dog"])
    iid = site.new_image(pid, 64, 48)
    result = site.create(iid)
    site.settle()
    return {"pid": pid, "iid": iid, "box": result["events"][0]["data"]["annotation_id"],
            "version": result["version"]}


def _still_up(site: Site, place: dict[str, Any]) -> None:
    site.ok(site.get(f"/images/{place['iid']}/annotations", "annotator"))


# -- integers in the query ----------------------------------------------------------------------

TOO_BIG = [str(2**63), str(2**64), str(2**64 - 1), "9" * 30, "9" * 5000]


@pytest.mark.parametrize("value", TOO_BIG, ids=lambda v: f"{len(v)}-digits")
@pytest.mark.parametrize("path", [
    "/me", "/users", "/projects", "/projects/{pid}", "/projects/{pid}/images",
    "/images/{iid}", "/images/{iid}/content", "/images/{iid}/annotations",
    "/images/{iid}/history", "/projects/{pid}/metrics/annotators",
    "/projects/{pid}/metrics/prelabels", "/projects/{pid}/export", "/projections"])
def test_min_position_beyond_64_bits_is_422(shared_site: Site, place: dict[str, Any],
                                            path: str, value: str) -> None:
    # Was a 500: the not_ready error echoed the number and orjson cannot encode it.
    response = shared_site.get(path.format(**place), params={"min_position": value})
    error = assert_error(response, 422, "validation")
    assert error["details"]["field"] == "min_position"
    assert str(MAX_INT) in error["message"], error
    assert value not in response.text  # the number is not echoed back


PARAMETERS = [
    ("/images/{iid}/history", "after"),            # was a 500 on SQLite (driver overflow)
    ("/images/{iid}/annotations", "version"),      # was a 500 on SQLite
    ("/projects/{pid}/export", "position"),
    ("/images/{iid}/history", "limit"),
    ("/projects/{pid}/images", "limit"),
]


def test_integer_parameters_beyond_64_bits_are_422(any_site: Site) -> None:
    site = any_site
    pid = site.new_project(members=False)  # the PostgreSQL database is shared by the session
    iid = site.new_image(pid)
    for path, name in PARAMETERS:
        for value in (str(2**63), str(2**64), "1" + "0" * 40):
            response = site.get(path.format(pid=pid, iid=iid), params={name: value})
            error = assert_error(response, 422, "validation")
            assert error["details"]["field"] == name, (path, value)
    site.ok(site.get(f"/images/{iid}/history"))


def test_the_largest_integers_are_answered_properly(any_site: Site) -> None:
    site = any_site
    pid = site.new_project(members=False)
    iid = site.new_image(pid)
    site.settle()
    history = site.ok(site.get(f"/images/{iid}/history", params={"after": str(MAX_INT)}))
    assert history == {"events": [], "next_after": None}
    error = assert_error(site.get(f"/images/{iid}/annotations",
                                  params={"version": str(MAX_INT)}), 422, "validation")
    assert error["details"]["field"] == "version"
    error = assert_error(site.get(f"/projects/{pid}/export", params={"position": str(MAX_INT)}),
                         422, "validation")
    assert error["details"]["field"] == "position"


@pytest.mark.parametrize("value", ["1_0", "\u0661", "0x10", "1e3", " 5", "5.0", "--1", ""])
def test_integer_parameters_are_plain_decimal_digits(shared_site: Site, place: dict[str, Any],
                                                     value: str) -> None:
    response = shared_site.get(f"/images/{place['iid']}/history", params={"after": value})
    if value == "":
        shared_site.ok(response)  # an empty parameter is an absent one
    else:
        assert_error(response, 422, "validation")


# -- integers in JSON bodies --------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"type": "submit", "base_version": 2**63},
    {"type": "submit", "base_version": 2**64 - 1},
    {"type": "delete", "annotation_id": "x", "base_revision": 2**63},
    {"commands": [{"type": "submit"}], "base_version": 2**64 - 1},
], ids=["base_version", "base_version-u64", "base_revision", "batch-base_version"])
def test_body_integers_beyond_64_bits_are_422(shared_site: Site, place: dict[str, Any],
                                              body: dict[str, Any]) -> None:
    head = shared_site.head()
    error = assert_error(shared_site.command(place["iid"], body), 422, "validation")
    assert str(MAX_INT) in error["message"]
    assert shared_site.head() == head
    _still_up(shared_site, place)


def test_the_largest_base_version_is_a_plain_conflict(shared_site: Site,
                                                      place: dict[str, Any]) -> None:
    response = shared_site.command(place["iid"], {"type": "submit", "base_version": MAX_INT})
    assert_error(response, 409, "conflict")


def test_null_stands_for_an_absent_optional_command_field(site: Site) -> None:
    pid = site.new_project()
    iid = site.new_image(pid)
    box = site.create(iid, command_id=None, base_version=None)
    aid = box["events"][0]["data"]["annotation_id"]
    site.ok(site.command(iid, {"type": "edit", "annotation_id": aid, "base_revision": None,
                               "changes": {"geometry": {"x": 2, "y": 2, "w": 5, "h": 5}},
                               "command_id": None}))
    site.ok(site.command(iid, {"commands": [{"type": "submit"}], "base_version": None}))


# -- bodies the schema refuses are refused, bodies it allows are taken --------------------------

@pytest.mark.parametrize(("path", "body"), [
    ("/users", {"username": "alice\n", "password": "password123"}),   # "$" matched before "\n"
    ("/projects", {"name": "p", "classes": [{"name": "a", "color": {}}]}),  # {} is falsy
    ("/projects", {"name": "p", "classes": [{"name": "a", "color": False}]}),
    ("/projects", {"name": "p", "classes": [{"name": "a", "color": "#aabbcc\n"}]}),
    ("/projects", {"name": " ", "classes": ["a"]}),
    ("/projects", {"name": "p", "classes": ["a", "a"]}),
])
def test_bodies_the_schema_refuses_are_422(shared_site: Site, path: str,
                                          body: dict[str, Any]) -> None:
    head = shared_site.head()
    assert_error(shared_site.post(path, json=body), 422, "validation")
    assert shared_site.head() == head


def test_what_the_schema_allows_for_new_projects_is_taken(shared_site: Site) -> None:
    project = shared_site.ok(shared_site.post("/projects", json={
        "name": "p", "annotation_types": None,
        "classes": ["a", {"name": "b", "color": ""}, {"name": "c", "color": None},
                    {"name": "d", "color": "#A0b1C2"}]}), 201)
    assert len(project["annotation_types"]) == 5
    assert [c["color"] for c in project["classes"]][3] == "#A0b1C2"


# -- the JSON renderer --------------------------------------------------------------------------

def test_the_renderer_takes_what_orjson_refuses() -> None:
    import json

    body = {"n": 2**64, "m": -(2**70), "s": "a\ud800b", "f": float("nan"), "ok": [1, "x"]}
    assert json.loads(dumps(body)) == {"n": 2**64, "m": -(2**70), "s": "a\ud800b",
                                       "f": None, "ok": [1, "x"]}
    assert dumps({"a": 1}) == b'{"a":1}'


# -- 405 and Allow ------------------------------------------------------------------------------

def _allow(response: Any) -> set[str]:
    return {m.strip() for m in response.headers["allow"].split(",")} - {"HEAD"}


def test_405_on_users_allows_get_and_post(shared_site: Site) -> None:
    # Two Routes serve /users; Starlette's Allow named only the first one's method.
    response = shared_site.call("DELETE", "/users")
    assert_error(response, 405, "method_not_allowed")
    assert _allow(response) == {"GET", "POST"}


def test_every_405_lists_exactly_the_documented_methods(shared_site: Site,
                                                        place: dict[str, Any]) -> None:
    doc = openapi_document()
    values = {"project_id": place["pid"], "image_id": place["iid"], "username": "annotator"}
    checked = 0
    for path, item in doc["paths"].items():
        documented = {m.upper() for m in item}
        # Other ids (model_id...) may name nothing: the router answers 405 before any lookup.
        url = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "some-id"), path)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            if method in documented:
                continue
            response = shared_site.call(method, url)
            assert_error(response, 405, "method_not_allowed")
            assert _allow(response) == documented, (method, path)
            checked += 1
    assert checked > 40


# -- the document says what the server answers --------------------------------------------------

def test_reads_with_min_position_document_422_and_503() -> None:
    doc = openapi_document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            names = {p["name"] for p in op.get("parameters", [])}
            if "min_position" in names:
                assert {"422", "503"} <= set(op["responses"]), (method, path)


def test_integer_parameters_are_bounded_in_the_document() -> None:
    doc = openapi_document()
    for path, item in doc["paths"].items():
        for op in item.values():
            for param in op.get("parameters", []):
                schema = param["schema"]
                if schema.get("type") == "integer":
                    assert schema.get("maximum", MAX_INT + 1) <= MAX_INT, (path, param)
