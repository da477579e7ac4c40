"""Who may call what: every route, every kind of caller (docs/api.md "Authentication and roles").

One table lists each route with the least role it needs. Each caller either gets through
(an answer in ``THROUGH``: a 422 for a review of an unsubmitted image still proves the role
check passed, a 404 for removing a member twice too; never a 5xx, which would hide a broken
route behind a passed role check) or is refused with 403 ``forbidden``; no credentials at all
is 401.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Mount, Route, WebSocketRoute

from tests.web.conftest import Site, assert_error, png_bytes

# What a caller who may call a route can get: success, or the route's own refusal of the
# table's arguments (422 validation; 404 once "spare" is no member; 409 conflict).
THROUGH = {200, 201, 204, 404, 409, 422}
# Least role each route needs, lowest first. "user" = any logged-in user.
RANK = {"user": 0, "annotator": 1, "reviewer": 2, "manager": 3, "admin": 4}
CALLERS = {"outsider": 0, "annotator": 1, "reviewer": 2, "manager": 3, "admin": 4}


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # with {pid}, {iid}
    needs: str
    kwargs: Callable[[], dict[str, Any]] = dict

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _box() -> dict[str, Any]:
    return {"json": {"type": "create", "annotation": {
        "type": "box", "label": "cat", "geometry": {"x": 1, "y": 1, "w": 3, "h": 3}}}}


CASES = [
    Case("GET", "/me", "user"),
    Case("GET", "/projects", "user"),
    Case("GET", "/projections", "user"),
    Case("POST", "/users", "admin", lambda: {"json": {"username": "x", "password": "short"}}),
    Case("GET", "/users", "admin"),
    Case("POST", "/users/spare/disable", "admin"),
    Case("POST", "/users/spare/enable", "admin"),
    Case("POST", "/users/spare/revoke_tokens", "admin"),
    Case("PUT", "/users/spare/password", "admin", lambda: {"json": {"password": "short"}}),
    Case("PUT", "/me/password", "user", lambda: {"json": {"password": "short"}}),
    Case("POST", "/projects", "admin", lambda: {"json": {"name": "n", "classes": ["a"]}}),
    Case("GET", "/projects/{pid}", "annotator"),
    Case("PATCH", "/projects/{pid}", "manager", lambda: {"json": {}}),
    Case("PUT", "/projects/{pid}/members/spare", "manager",
         lambda: {"json": {"role": "annotator"}}),
    Case("DELETE", "/projects/{pid}/members/spare", "manager"),
    Case("POST", "/projects/{pid}/images", "manager",
         lambda: {"files": [("file", ("r.png", png_bytes(8, 8), "image/png"))]}),
    Case("POST", "/projects/{pid}/images", "admin", lambda: {"json": {"paths": ["nope.png"]}}),
    Case("GET", "/projects/{pid}/images", "annotator"),
    Case("GET", "/images/{iid}", "annotator"),
    Case("GET", "/images/{iid}/content", "annotator"),
    Case("GET", "/images/{iid}/annotations", "annotator"),
    Case("GET", "/images/{iid}/history", "annotator"),
    Case("POST", "/images/{iid}/commands", "annotator", _box),
    Case("POST", "/images/{iid}/commands", "reviewer",
         lambda: {"json": {"type": "review", "verdict": "approve"}}),
    Case("POST", "/images/{iid}/assist/preview", "annotator", lambda: {"json": {
        "mode": "extreme_points", "label": "cat",
        "points": [[10, 20], [20, 10], [30, 20], [20, 30]]}}),
    Case("POST", "/projects/{pid}/predictions", "manager", lambda: {"json": {
        "model": {"name": "m", "version": "1"}, "predictions": []}}),
    Case("POST", "/projects/{pid}/datasets", "manager", lambda: {  # 422 once through
        "files": [("file", ("d.json", b"{}", "application/json"))], "data": {"format": "coco"}}),
    Case("GET", "/projects/{pid}/metrics/annotators", "manager"),
    Case("GET", "/projects/{pid}/metrics/prelabels", "manager"),
    Case("GET", "/projects/{pid}/metrics/prelabels/confusion", "manager"),
    Case("GET", "/projects/{pid}/metrics/assist", "manager"),
    Case("GET", "/projects/{pid}/export", "manager"),
    Case("GET", "/projects/{pid}/evaluation", "manager"),  # no model_id: 422 once through
    Case("GET", "/projects/{pid}/blind_spots", "reviewer"),
    Case("GET", "/projects/{pid}/label_suspects", "reviewer"),
    Case("GET", "/projects/{pid}/selection", "annotator"),  # no model_id: 422 once through
    Case("GET", "/projects/{pid}/similar", "annotator"),
    Case("POST", "/projects/{pid}/queue/next", "annotator",
         lambda: {"json": {"order": "nowhere"}}),  # 422 once through: nothing handed out
    Case("GET", "/projects/{pid}/queue", "manager"),
    Case("PUT", "/projects/{pid}/assignments", "manager", lambda: {"json": {"image_ids": 1}}),
    Case("POST", "/projects/{pid}/queue/priority", "manager", lambda: {"json": {}}),
    Case("DELETE", "/projects/{pid}/queue/priority", "manager"),
    Case("POST", "/projects/{pid}/models", "manager",
         lambda: {"files": [("weights", ("m.onnx", b"not a model", "application/x"))]}),
    Case("GET", "/projects/{pid}/models", "annotator"),
    Case("GET", "/models/{mid}", "annotator"),
    Case("PATCH", "/models/{mid}", "manager", lambda: {"json": {}}),
    Case("POST", "/projects/{pid}/jobs", "manager", lambda: {"json": {"type": "score"}}),
    Case("GET", "/projects/{pid}/jobs", "annotator"),
    Case("GET", "/jobs/{jid}", "annotator"),
    Case("POST", "/jobs/{jid}/cancel", "manager"),
]
# Routes any client may call, and logout (it would revoke the table's tokens; see below).
PUBLIC = {("POST", "/api/v1/auth/login"), ("GET", "/api/v1/openapi.json"),
          ("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/api/v1/auth/logout"),
          # The web UI's page and assets: public; every call it makes is authorised.
          ("GET", "/"), ("GET", "/favicon.ico"), ("GET", "/static/{path:path}"),
          ("GET", "/sw.js"),
          # Admins only, outside /api/v1: every identity is tried in test_authorization_matrix.
          ("GET", "/metrics")}


@pytest.fixture(scope="module")
def place(shared_site: Site) -> dict[str, str]:
    site = shared_site
    site.services.app.register_user("spare", "password123")
    pid = site.new_project()
    iid = site.new_image(pid)
    model, _ = site.services.app.register_model(  # the record alone: no weights needed here
        pid, "admin", name="m", version="1", task="classify", format="onnx",
        architecture=None, layout="classifier", classes=["cat"], input_size=[64, 64],
        sha256="0" * 64, size_bytes=1, file_name="m.onnx", details={})
    job, _ = site.services.app.queue_job(  # a job of no model: a worker records it failed
        pid, "admin", type="prelabel", model_id=None, params={}, image_ids=[iid], shard_size=1)
    site.settle()
    return {"pid": pid, "iid": iid, "mid": str(model.id), "jid": str(job.id)}


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("caller", list(CALLERS))
def test_role_rules(shared_site: Site, place: dict[str, str], case: Case, caller: str) -> None:
    response = shared_site.call(case.method, case.path.format(**place), caller,
                                **case.kwargs())
    if CALLERS[caller] >= RANK[case.needs]:
        assert response.status_code in THROUGH, (response.status_code, response.text)
    else:
        assert_error(response, 403, "forbidden")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_no_or_bad_token_is_401(shared_site: Site, place: dict[str, str], case: Case) -> None:
    path = case.path.format(**place)
    head = shared_site.head()
    assert_error(shared_site.call(case.method, path, None, **case.kwargs()), 401,
                 "unauthorized")
    bad = {"Authorization": "Bearer lw_not-a-token"}
    assert_error(shared_site.call(case.method, path, None, headers=bad, **case.kwargs()), 401,
                 "unauthorized")
    malformed = {"Authorization": "Basic YWRtaW46cGFzc3dvcmQ="}
    assert_error(shared_site.call(case.method, path, None, headers=malformed,
                                  **case.kwargs()), 401, "unauthorized")
    assert shared_site.head() == head


def test_the_table_covers_every_route(shared_site: Site) -> None:
    routes: set[tuple[str, str]] = set()
    for route in shared_site.app.routes:
        inner = route.routes if isinstance(route, Mount) else [route]
        prefix = route.path if isinstance(route, Mount) else ""
        for r in inner:
            if isinstance(r, WebSocketRoute):
                continue  # GET /api/v1/ws: access on join is tested in tests/realtime
            assert isinstance(r, Route)
            for method in r.methods or ():
                if method != "HEAD":
                    routes.add((method, prefix + r.path))
    covered = {(c.method, "/api/v1" + c.path.replace("{pid}", "{project_id}")
                .replace("{iid}", "{image_id}").replace("spare", "{username}")
                .replace("{mid}", "{model_id}").replace("{jid}", "{job_id}")) for c in CASES}
    assert routes - PUBLIC == covered


def test_logout_needs_a_token_and_revokes_only_its_own(shared_site: Site) -> None:
    site = shared_site
    assert_error(site.post("/auth/logout", None), 401, "unauthorized")
    other = site.services.tokens.issue("annotator")
    site.ok(site.post("/auth/logout", None, headers={"Authorization": f"Bearer {other}"}))
    assert_error(site.get("/me", None, headers={"Authorization": f"Bearer {other}"}), 401,
                 "unauthorized")
    site.ok(site.get("/me", "annotator"))  # the table's own annotator token still works
