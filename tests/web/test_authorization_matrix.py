"""Every route x every kind of caller: the authorisation matrix, generated from the route table.

``POLICY`` says, for each route of the app, the least a caller needs. The test walks the app's
real route table (a route missing from ``POLICY`` fails it: a new route must state its policy)
and calls every route as each identity, with a fresh token per call:

* anonymous and a made-up token → 401 ``unauthorized`` (unless the route is public);
* a caller below the route's level → 403 ``forbidden`` — checked before the body is looked
  at, so an empty or malformed body is refused for the role, not for its shape;
* a caller at or above it → neither 401 nor 403;
* nobody ever gets a 5xx.

The same for the WebSocket rooms (image and project rooms) at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount, Route, WebSocketRoute

from tests.web.conftest import PASSWORD, Site, sqlite_settings

# Levels, lowest first. "member" is any role in the route's project (annotator and up).
LEVELS = ("public", "authenticated", "annotator", "reviewer", "manager", "admin")

# Identities: what each may reach in the project the path names.
IDENTITY_LEVEL = {
    "anonymous": -1,
    "bad_token": -1,
    "outsider": LEVELS.index("authenticated"),  # a user with no role anywhere
    "other_manager": LEVELS.index("authenticated"),  # manager of another project only
    "annotator": LEVELS.index("annotator"),
    "reviewer": LEVELS.index("reviewer"),
    "manager": LEVELS.index("manager"),
    "admin": LEVELS.index("admin"),
}


@dataclass(frozen=True)
class Call:
    level: str
    body: Any = None  # JSON body, if any
    variant: str = ""  # a second policy for the same route (by body)
    files: Any = None  # multipart parts, if any


# (method, path template) -> the calls to make. Bodies are harmless: invalid where the call
# would change something that matters to the test (so a permitted caller gets 422), aimed
# at a throwaway user where the call acts on a user.
POLICY: dict[tuple[str, str], list[Call]] = {
    ("GET", "/healthz"): [Call("public")],
    ("GET", "/readyz"): [Call("public")],
    ("GET", "/metrics"): [Call("admin")],
    ("GET", "/sw.js"): [Call("public")],
    ("GET", "/"): [Call("public")],
    ("GET", "/favicon.ico"): [Call("public")],
    ("GET", "/static/{path:path}"): [Call("public")],
    ("GET", "/api/v1/openapi.json"): [Call("public")],
    ("POST", "/api/v1/auth/login"): [Call("public", {})],
    ("POST", "/api/v1/auth/logout"): [Call("authenticated")],
    ("GET", "/api/v1/me"): [Call("authenticated")],
    ("PUT", "/api/v1/me/password"): [Call("authenticated", {})],
    ("GET", "/api/v1/projections"): [Call("authenticated")],
    ("GET", "/api/v1/projects"): [Call("authenticated")],
    ("POST", "/api/v1/projects"): [Call("admin", {})],
    ("GET", "/api/v1/users"): [Call("admin")],
    ("POST", "/api/v1/users"): [Call("admin", {})],
    ("POST", "/api/v1/users/{username}/disable"): [Call("admin")],
    ("POST", "/api/v1/users/{username}/enable"): [Call("admin")],
    ("POST", "/api/v1/users/{username}/revoke_tokens"): [Call("admin")],
    ("PUT", "/api/v1/users/{username}/password"): [Call("admin", {})],
    ("GET", "/api/v1/projects/{project_id}"): [Call("annotator")],
    ("PATCH", "/api/v1/projects/{project_id}"): [Call("manager", {"unexpected": 1})],
    ("PUT", "/api/v1/projects/{project_id}/members/{username}"): [
        Call("manager", {"role": "nobody"})],
    ("DELETE", "/api/v1/projects/{project_id}/members/{username}"): [Call("manager")],
    ("GET", "/api/v1/projects/{project_id}/images"): [Call("annotator")],
    ("POST", "/api/v1/projects/{project_id}/images"): [
        Call("manager", files=[("file", ("x.png", b"not an image", "image/png"))],
             variant="upload"),
        Call("admin", {"paths": []}, "server paths")],
    ("POST", "/api/v1/projects/{project_id}/predictions"): [Call("manager", {})],
    ("POST", "/api/v1/projects/{project_id}/datasets"): [
        Call("manager", files=[("file", ("d.json", b"not a dataset", "application/json"))])],
    ("GET", "/api/v1/projects/{project_id}/metrics/annotators"): [Call("manager")],
    ("GET", "/api/v1/projects/{project_id}/metrics/prelabels"): [Call("manager")],
    ("GET", "/api/v1/projects/{project_id}/metrics/prelabels/confusion"): [Call("manager")],
    ("GET", "/api/v1/projects/{project_id}/metrics/assist"): [Call("manager")],
    ("GET", "/api/v1/projects/{project_id}/export"): [Call("manager")],
    ("POST", "/api/v1/projects/{project_id}/models"): [
        Call("manager", files=[("weights", ("m.onnx", b"not a model", "application/x"))])],
    ("GET", "/api/v1/projects/{project_id}/models"): [Call("annotator")],
    ("GET", "/api/v1/models/{model_id}"): [Call("annotator")],
    ("PATCH", "/api/v1/models/{model_id}"): [Call("manager", {"unexpected": 1})],
    ("POST", "/api/v1/projects/{project_id}/jobs"): [Call("manager", {"type": "score"})],
    ("GET", "/api/v1/projects/{project_id}/jobs"): [Call("annotator")],
    ("GET", "/api/v1/jobs/{job_id}"): [Call("annotator")],
    ("POST", "/api/v1/jobs/{job_id}/cancel"): [Call("manager")],
    ("GET", "/api/v1/projects/{project_id}/evaluation"): [Call("manager")],
    ("GET", "/api/v1/projects/{project_id}/blind_spots"): [Call("reviewer")],
    ("GET", "/api/v1/projects/{project_id}/label_suspects"): [Call("reviewer")],
    ("GET", "/api/v1/projects/{project_id}/selection"): [Call("annotator")],
    ("GET", "/api/v1/projects/{project_id}/similar"): [Call("annotator")],
    ("POST", "/api/v1/projects/{project_id}/queue/next"): [
        Call("annotator", {"order": "nowhere"}, "label"),
        Call("reviewer", {"queue": "review", "order": "nowhere"}, "review")],
    ("GET", "/api/v1/projects/{project_id}/queue"): [Call("manager")],
    ("PUT", "/api/v1/projects/{project_id}/assignments"): [Call("manager", {"image_ids": 1})],
    ("POST", "/api/v1/projects/{project_id}/queue/priority"): [Call("manager", {})],
    ("DELETE", "/api/v1/projects/{project_id}/queue/priority"): [Call("manager")],
    ("GET", "/api/v1/images/{image_id}"): [Call("annotator")],
    ("GET", "/api/v1/images/{image_id}/content"): [Call("annotator")],
    ("GET", "/api/v1/images/{image_id}/annotations"): [Call("annotator")],
    ("GET", "/api/v1/images/{image_id}/history"): [Call("annotator")],
    ("POST", "/api/v1/images/{image_id}/commands"): [
        Call("annotator", {"type": "create", "annotation": {"type": "tag", "label": "cat",
                                                            "geometry": {}}}, "create"),
        Call("annotator", {"type": "submit", "base_version": 0}, "stale submit"),
        Call("reviewer", {"type": "review", "verdict": "approve"}, "review"),
        Call("annotator", {}, "empty body"),
    ],
    ("POST", "/api/v1/images/{image_id}/assist/preview"): [
        Call("annotator", {"mode": "extreme_points", "label": "cat",
                           "points": [[10, 20], [20, 10], [30, 20], [20, 30]]}, "preview"),
        Call("annotator", {}, "empty body"),
    ],
}


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for r in routes:
        if isinstance(r, Mount):
            yield from _routes(list(r.routes), prefix + r.path)
        elif isinstance(r, Route):
            for method in sorted(r.methods or ()):
                if method != "HEAD":  # Starlette adds HEAD to every GET
                    yield method, prefix + r.path
        elif isinstance(r, WebSocketRoute):
            continue  # the rooms are checked below
        else:  # pragma: no cover - a new kind of route needs a policy here
            raise AssertionError(f"unknown route type {type(r).__name__}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    site = Site(sqlite_settings(tmp_path_factory.mktemp("matrix") / "data"))
    pid = site.new_project()
    iid = site.new_image(pid)
    other = site.new_project(members=False)
    for name in ("other_manager", "victim"):
        site.ok(site.post("/users", json={"username": name, "password": PASSWORD}), 201)
    site.ok(site.call("PUT", f"/projects/{other}/members/other_manager",
                      json={"role": "manager"}))
    site.ok(site.call("PUT", f"/projects/{pid}/members/victim", json={"role": "annotator"}))
    model, _ = site.services.app.register_model(  # the record alone: no weights needed here
        pid, "admin", name="m", version="1", task="classify", format="onnx",
        architecture=None, layout="classifier", classes=["cat"], input_size=[64, 64],
        sha256="0" * 64, size_bytes=1, file_name="m.onnx", details={})
    job, _ = site.services.app.queue_job(  # a job of no model: a worker records it failed
        pid, "admin", type="prelabel", model_id=None, params={}, image_ids=[iid], shard_size=1)
    site.settle()
    yield {"site": site, "project_id": pid, "image_id": iid, "other_project": other,
           "model_id": str(model.id), "job_id": str(job.id)}
    site.close()


def _headers(site: Site, identity: str) -> dict[str, str]:
    if identity == "anonymous":
        return {}
    if identity == "bad_token":
        return {"Authorization": "Bearer lw_" + uuid.uuid4().hex}
    # A fresh token per call: a permitted logout or revocation only ends that one.
    return {"Authorization": f"Bearer {site.services.tokens.issue(identity)}"}


def _path(template: str, world: dict[str, Any]) -> str:
    return (template.replace("{project_id}", world["project_id"])
            .replace("{image_id}", world["image_id"])
            .replace("{username}", "victim")
            .replace("{model_id}", world["model_id"])
            .replace("{job_id}", world["job_id"])
            .replace("{path:path}", "app.js"))


def test_every_route_states_its_policy(world: dict[str, Any]) -> None:
    routes = set(_routes(list(world["site"].app.routes)))
    missing = sorted(routes - set(POLICY))
    assert not missing, f"routes without an entry in POLICY: {missing}"
    stale = sorted(set(POLICY) - routes)
    assert not stale, f"POLICY names routes the app does not have: {stale}"


CASES = [(method, path, call, identity)
         for (method, path), calls in POLICY.items() for call in calls
         for identity in IDENTITY_LEVEL]


@pytest.mark.parametrize(("method", "path", "call", "identity"), CASES,
                         ids=[f"{m} {p} {c.variant} as {i}".replace("  ", " ")
                              for m, p, c, i in CASES])
def test_authorization_matrix(world: dict[str, Any], method: str, path: str, call: Call,
                              identity: str) -> None:
    site: Site = world["site"]
    kwargs: dict[str, Any] = {"headers": _headers(site, identity)}
    if call.body is not None:
        kwargs["json"] = call.body
    if call.files is not None:
        kwargs["files"] = call.files
    response = site.client.request(method, _path(path, world), **kwargs)
    status = response.status_code
    assert status < 500, (status, response.text[:300])
    needed = LEVELS.index(call.level)
    if call.level == "public":
        assert status not in (401, 403), (status, response.text[:300])
        return
    if IDENTITY_LEVEL[identity] < 0:
        assert status == 401, (status, response.text[:300])
        assert response.json()["error"]["code"] == "unauthorized"
    elif IDENTITY_LEVEL[identity] < needed:
        assert status == 403, (status, response.text[:300])
        assert response.json()["error"]["code"] == "forbidden"
    else:
        assert status not in (401, 403), (status, response.text[:300])


@pytest.mark.parametrize("identity", list(IDENTITY_LEVEL))
@pytest.mark.parametrize("room_kind", ["image", "project"])
def test_websocket_rooms(world: dict[str, Any], identity: str, room_kind: str) -> None:
    """Joining a room needs a role in its project (any role); no token, no connection."""
    site: Site = world["site"]
    room = (f"image:{world['image_id']}" if room_kind == "image"
            else f"project:{world['project_id']}")
    headers = _headers(site, identity)
    token = headers.get("Authorization", "").removeprefix("Bearer ")
    url = "/api/v1/ws" + (f"?token={token}" if token else "")
    if IDENTITY_LEVEL[identity] < 0:
        # Accepted so that the refusal can say why, then closed with 4401.
        with site.client.websocket_connect(url) as ws:
            reply = ws.receive_json()
            assert reply["op"] == "error" and reply["error"]["code"] == "unauthorized", reply
            closing = ws.receive()
            assert closing["type"] == "websocket.close" and closing["code"] == 4401, closing
        return
    with site.client.websocket_connect(url) as ws:
        ws.send_json({"op": "join", "room": room, "ref": "j"})
        reply = ws.receive_json()
        while reply.get("op") not in ("joined", "error"):
            reply = ws.receive_json()
    if IDENTITY_LEVEL[identity] < LEVELS.index("annotator"):
        assert reply["op"] == "error" and reply["error"]["code"] == "forbidden", reply
    else:
        assert reply["op"] == "joined", reply


def test_the_matrix_leaves_the_members_as_they_were(world: dict[str, Any],
                                                    tmp_path: Path) -> None:
    """Permitted calls were harmless: every member still has their role."""
    site: Site = world["site"]
    project = site.ok(site.get(f"/projects/{world['project_id']}"))
    roles = {m["username"]: m["role"] for m in project["members"]}
    for user in ("annotator", "reviewer", "manager"):
        assert roles[user] == user
