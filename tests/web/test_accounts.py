"""Accounts over the HTTP API: members by name in any case, and what admins do to an account
(disable, enable, revoke tokens, reset a password) and users to their own password.

Every effect is checked the way a client sees it: which tokens still work, who may log in,
what the project and user lists say. The last tests run two services on one data dir (two
nodes): a revocation made on one is enforced by the other within the caches' lifetime.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.websockets import WebSocketDisconnect

import service_layer.auth_tokens as auth_tokens
import web.authentication as authentication
from domain.tokens import token_hash
from domain.user import User, user_id
from labelwright.settings import Settings
from tests.required_services import unavailable
from tests.web.conftest import (
    PASSWORD,
    Site,
    _pg_available,
    assert_error,
    check_schema,
    sqlite_settings,
)
from tests.web.conftest import PG_ADMIN_URL as PG


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def own_site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """A fresh site, embedded or on a PostgreSQL database of its own (these tests change the
    standard users, which other tests on the shared database count on)."""
    if request.param == "sqlite":
        site = Site(sqlite_settings(tmp_path / "data"))
        yield site
        site.close()
        return
    if not _pg_available():
        unavailable("PostgreSQL is not reachable at " + PG)
    import psycopg

    name = f"lw_accounts_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        site = Site(Settings(data_dir=tmp_path / "data", database_url=f"{PG}/{name}"))
        yield site
        site.close()
    finally:
        with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _login(site: Site, username: str, password: str = PASSWORD) -> httpx.Response:
    response = site.post("/auth/login", None, json={"username": username,
                                                    "password": password})
    site.client.cookies.clear()  # the session cookie would ride along on later calls
    return response


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _works(site: Site, token: str) -> bool:
    response = site.get("/me", None, headers=_bearer(token))
    if response.status_code == 401:
        return False
    assert response.status_code == 200, response.text
    return True


def _users(site: Site) -> dict[str, dict[str, Any]]:
    body = site.ok(site.get("/users", params={"min_position": site.head()}))
    check_schema(body, "UserList")
    return {u["username"]: u for u in body["users"]}


def _members(site: Site, pid: str) -> dict[str, str]:
    project = site.ok(site.get(f"/projects/{pid}"))
    return {m["username"]: m["role"] for m in project["members"]}


# -- members by name, in any case ---------------------------------------------------------------


def test_members_are_recorded_under_the_registered_name_whatever_the_case(site: Site) -> None:
    site.ok(site.post("/users", json={"username": "Pvic.Lee", "password": PASSWORD}), 201)
    token = site.ok(_login(site, "pvic.lee"))["token"]  # logs in in any case
    pid = site.new_project(members=False)
    assert_error(site.get(f"/projects/{pid}", None, headers=_bearer(token)), 403, "forbidden")

    project = site.ok(site.call("PUT", f"/projects/{pid}/members/PVIC.LEE",
                                json={"role": "annotator"}))
    assert {"username": "Pvic.Lee", "role": "annotator"} in project["members"]
    assert site.ok(site.get(f"/projects/{pid}", None, headers=_bearer(token)))["id"] == pid
    mine = site.ok(site.get("/me", None, headers=_bearer(token),
                            params={"min_position": project["position"]}))
    assert [p["role"] for p in mine["projects"] if p["project_id"] == pid] == ["annotator"]
    image_id = site.new_image(pid)
    site.ok(site.post(f"/images/{image_id}/commands", None, headers=_bearer(token), json={
        "type": "create", "annotation": {"type": "tag", "label": "cat", "geometry": {}}}))

    # Another spelling changes the same member.
    site.ok(site.call("PUT", f"/projects/{pid}/members/pvic.lee", json={"role": "reviewer"}))
    assert _members(site, pid)["Pvic.Lee"] == "reviewer"
    assert "pvic.lee" not in _members(site, pid)

    removed = site.ok(site.call("DELETE", f"/projects/{pid}/members/PVIC.lee"))
    assert "Pvic.Lee" not in {m["username"] for m in removed["members"]}
    assert_error(site.get(f"/projects/{pid}", None, headers=_bearer(token)), 403, "forbidden")
    # Removing someone who is not a member changes nothing and says so.
    head = site.head()
    error = assert_error(site.call("DELETE", f"/projects/{pid}/members/pvic.lee"), 404,
                         "not_found")
    assert error["details"]["username"] == "Pvic.Lee"
    assert_error(site.call("PUT", f"/projects/{pid}/members/pvic.lee", json={"role": None}),
                 404, "not_found")
    assert site.head() == head
    # An unknown user is 404 whichever way.
    assert_error(site.call("PUT", f"/projects/{pid}/members/NOBODY",
                           json={"role": "annotator"}), 404, "not_found")
    assert_error(site.call("DELETE", f"/projects/{pid}/members/nobody"), 404, "not_found")
    assert site.head() == head


def test_a_member_recorded_under_another_spelling_is_cleaned_up(site: Site) -> None:
    """Before names were normalised, PUT members/ANNOTATOR recorded "ANNOTATOR", which granted
    nothing. Setting or removing the member now leaves one entry, under the real name."""
    pid = site.new_project(members=False)
    project = site.services.app.project(pid)
    project.set_member("ANNOTATOR", "manager", "admin")  # as the old code recorded it
    site.services.app.save(project)
    assert_error(site.get(f"/projects/{pid}", "annotator"), 403, "forbidden")

    site.ok(site.call("PUT", f"/projects/{pid}/members/Annotator", json={"role": "annotator"}))
    assert _members(site, pid) == {"admin": "manager", "annotator": "annotator"}
    site.ok(site.get(f"/projects/{pid}", "annotator"))

    project = site.services.app.project(pid)
    project.set_member("ANNOTATOR", "reviewer", "admin")
    site.services.app.save(project)
    site.ok(site.call("DELETE", f"/projects/{pid}/members/annotator"))
    assert _members(site, pid) == {"admin": "manager"}


def test_a_token_issued_under_another_spelling_acts_as_the_registered_user(site: Site) -> None:
    pid = site.new_project()
    token = site.services.tokens.issue("ANNOTATOR", "api")  # e.g. `token create ANNOTATOR`
    me = site.ok(site.get("/me", None, headers=_bearer(token)))
    assert me["username"] == "annotator"
    site.ok(site.get(f"/projects/{pid}", None, headers=_bearer(token)))


# -- disable / enable ---------------------------------------------------------------------------


def test_a_disabled_user_cannot_log_in_and_no_token_of_theirs_works(own_site: Site) -> None:
    site = own_site
    pid = site.new_project()
    login = site.ok(_login(site, "annotator"))["token"]
    api = site.services.tokens.issue("annotator", "api", name="ci")
    assert _works(site, login) and _works(site, api)

    body = site.ok(site.post("/users/ANNOTATOR/disable"))
    check_schema(body, "User")
    assert body["username"] == "annotator" and body["disabled"] is True
    assert body["position"] >= 1
    for token in (login, api, site.tokens["annotator"]):
        error = assert_error(site.get("/me", None, headers=_bearer(token)), 401,
                             "unauthorized")
        assert error["message"]
    # The right password says the account is disabled; a wrong one says no more than ever.
    refused = assert_error(_login(site, "annotator"), 403, "forbidden")
    assert refused["details"] == {"reason": "disabled"}
    wrong = assert_error(_login(site, "annotator", "wrong-password"), 401, "unauthorized")
    assert wrong["message"] == assert_error(_login(site, "nobody", "wrong-password"), 401,
                                            "unauthorized")["message"]
    # The token table says so too, and the user list shows it.
    rows = site.services.tokens.db.query(
        "SELECT revoked FROM auth_tokens WHERE token_hash IN (?, ?)",
        (token_hash(login), token_hash(api)))
    assert [r[0] for r in rows] == [1, 1]
    users = _users(site)
    assert users["annotator"]["disabled"] is True and users["reviewer"]["disabled"] is False
    # Memberships stay.
    assert _members(site, pid)["annotator"] == "annotator"

    again = site.ok(site.post("/users/annotator/disable"))  # already disabled: no event
    assert again["disabled"] is True and "position" not in again

    enabled = site.ok(site.post("/users/annotator/enable"))
    assert enabled["disabled"] is False and enabled["position"] > body["position"]
    # Old tokens stay dead; a new login works, with the project roles as they were.
    assert not _works(site, login) and not _works(site, api)
    fresh = site.ok(_login(site, "annotator"))["token"]
    site.ok(site.get(f"/projects/{pid}", None, headers=_bearer(fresh)))
    assert _users(site)["annotator"]["disabled"] is False


def test_account_actions_need_an_admin_and_an_existing_user(site: Site) -> None:
    for path in ("/users/reviewer/disable", "/users/reviewer/enable",
                 "/users/reviewer/revoke_tokens"):
        for caller in ("manager", "annotator", "outsider"):
            assert_error(site.post(path, caller), 403, "forbidden")
        assert_error(site.post(path.replace("reviewer", "nobody")), 404, "not_found")
        assert_error(site.post(path, None), 401, "unauthorized")
    assert_error(site.call("PUT", "/users/reviewer/password", "manager",
                           json={"password": "long-enough-1"}), 403, "forbidden")
    assert_error(site.call("PUT", "/users/nobody/password", json={"password": "long-enough-1"}),
                 404, "not_found")
    assert _works(site, site.tokens["reviewer"])


def test_an_admin_cannot_disable_themselves_but_can_disable_another_admin(site: Site) -> None:
    error = assert_error(site.post("/users/ADMIN/disable"), 409, "conflict")
    assert error["details"]["username"] == "admin"
    assert _works(site, site.tokens["admin"])
    site.ok(site.post("/users", json={"username": "root2", "password": PASSWORD,
                                      "is_admin": True}), 201)
    other = site.ok(_login(site, "root2"))["token"]
    assert site.ok(site.post("/users/root2/disable"))["disabled"] is True
    assert not _works(site, other)
    # root2 is an admin no more... of anything: the last enabled admin is still there.
    assert _users(site)["admin"] == {"username": "admin", "is_admin": True, "disabled": False}


# -- revoking tokens ----------------------------------------------------------------------------


def test_revoke_tokens_ends_login_sessions_and_api_tokens(own_site: Site) -> None:
    site = own_site
    login = site.ok(_login(site, "reviewer"))["token"]
    api = site.services.tokens.issue("reviewer", "api")
    other = site.ok(_login(site, "annotator"))["token"]
    body = site.ok(site.post("/users/Reviewer/revoke_tokens"))
    check_schema(body, "User")
    assert body["revoked_tokens"] == 3  # the fixture's, the login and the API token
    assert body["disabled"] is False
    assert not _works(site, login) and not _works(site, api)
    assert not _works(site, site.tokens["reviewer"])
    assert _works(site, other)  # nobody else's
    fresh = site.ok(_login(site, "reviewer"))["token"]  # the account itself is fine
    assert _works(site, fresh)
    events = list(site.services.app.events.get(user_id("reviewer")))
    revoked = [e for e in events if isinstance(e, User.SessionsRevoked)]
    assert [(e.actor, e.kinds) for e in revoked] == [("admin", ["login", "api"])]


def test_the_user_aggregate_refuses_tokens_the_table_missed(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """A revocation recorded as an event bites even if the token table was never updated
    (say the process died in between): authentication checks the User aggregate too."""
    monkeypatch.setattr(authentication, "USER_CACHE_TTL", 0.0)
    api = site.services.tokens.issue("manager", "api")
    assert _works(site, api)
    site.services.app.revoke_user_tokens("manager", None, ["api"])  # no table update
    assert site.services.tokens.resolve(api) == "manager"  # the table still says live
    assert not _works(site, api)
    assert _works(site, site.tokens["manager"])  # only API tokens were revoked
    site.services.app.disable_user("manager", None)
    assert not _works(site, site.tokens["manager"])
    site.services.app.enable_user("manager", None)
    assert not _works(site, site.tokens["manager"])  # from before the enabling: still dead
    assert _works(site, site.services.tokens.issue("manager"))


# -- passwords ----------------------------------------------------------------------------------


def test_an_admin_resets_a_password_and_the_users_login_sessions_end(site: Site) -> None:
    login = site.ok(_login(site, "annotator"))["token"]
    api = site.services.tokens.issue("annotator", "api")
    assert_error(site.call("PUT", "/users/annotator/password", json={"password": "short"}),
                 422, "validation")
    assert_error(site.call("PUT", "/users/annotator/password", json={"password": "long-enough",
                                                                     "extra": 1}),
                 422, "validation")
    assert _works(site, login)  # nothing happened
    body = site.ok(site.call("PUT", "/users/ANNOTATOR/password",
                             json={"password": "a-new-password"}))
    check_schema(body, "User")
    assert body["username"] == "annotator"
    assert not _works(site, login) and not _works(site, site.tokens["annotator"])
    assert _works(site, api)  # API tokens are not sessions: revoke_tokens ends those
    assert_error(_login(site, "annotator"), 401, "unauthorized")
    assert _works(site, site.ok(_login(site, "annotator", "a-new-password"))["token"])


def test_users_change_their_own_password(site: Site) -> None:
    first = site.ok(_login(site, "reviewer"))["token"]
    second = site.ok(_login(site, "reviewer"))["token"]
    api = site.services.tokens.issue("reviewer", "api")
    change = "/me/password"
    error = assert_error(site.call("PUT", change, None, headers=_bearer(first), json={
        "current_password": "not-my-password", "password": "a-new-password"}), 422,
        "validation")
    assert error["details"]["field"] == "current_password"
    assert_error(site.call("PUT", change, None, headers=_bearer(first), json={
        "current_password": PASSWORD, "password": "short"}), 422, "validation")
    assert_error(site.call("PUT", change, None, headers=_bearer(first), json={
        "password": "a-new-password"}), 422, "validation")
    assert_error(site.call("PUT", change, None, json={
        "current_password": PASSWORD, "password": "a-new-password"}), 401, "unauthorized")
    assert _works(site, first)

    response = site.call("PUT", change, None, headers=_bearer(first), json={
        "current_password": PASSWORD, "password": "a-new-password"})
    body = site.ok(response)
    check_schema(body, "LoginResult")
    assert body["username"] == "reviewer"
    assert "set-cookie" not in response.headers  # a bearer call: no cookie to renew
    assert _works(site, body["token"])
    assert not _works(site, first) and not _works(site, second)  # every login session
    assert _works(site, api)
    assert_error(_login(site, "reviewer"), 401, "unauthorized")
    site.ok(_login(site, "reviewer", "a-new-password"))


def test_own_password_from_the_browser_renews_the_cookie(site: Site) -> None:
    token = site.ok(_login(site, "annotator"))["token"]
    site.client.cookies.clear()
    site.client.cookies.set("lw_session", token)
    try:
        assert_error(site.call("PUT", "/me/password", None, json={
            "current_password": PASSWORD, "password": "a-new-password"},
            headers={"Origin": "https://evil.example"}), 403, "forbidden")
        response = site.call("PUT", "/me/password", None, json={
            "current_password": PASSWORD, "password": "a-new-password"})
        new = site.ok(response)["token"]
        assert response.headers["set-cookie"].startswith(f"lw_session={new}")
    finally:
        site.client.cookies.clear()
    assert not _works(site, token) and _works(site, new)


def test_guessing_the_current_password_is_rate_limited(site: Site) -> None:
    limit = site.settings.login_attempts_per_minute
    wrong = {"current_password": "guess-guess", "password": "a-new-password"}
    for _ in range(limit):
        assert_error(site.call("PUT", "/me/password", "manager", json=wrong), 422,
                     "validation")
    limited = site.call("PUT", "/me/password", "manager", json={
        "current_password": PASSWORD, "password": "a-new-password"})
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert_error(_login(site, "manager"), 429, "rate_limited")  # the same budget as logins


# -- live connections ---------------------------------------------------------------------------


def _ws_closed_after_disable(site: Site, act: Callable[[], None]) -> tuple[dict[str, Any], int]:
    token = site.ok(_login(site, "annotator"))["token"]
    with site.client.websocket_connect(f"/api/v1/ws?token={token}") as ws:
        ws.send_json({"op": "ping"})
        assert ws.receive_json() == {"op": "pong"}
        act()
        told = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    return told, closed.value.code


def test_disabling_a_user_closes_their_websocket_connections(site: Site) -> None:
    told, code = _ws_closed_after_disable(
        site, lambda: site.ok(site.post("/users/annotator/disable")))
    assert told["op"] == "error" and told["error"]["code"] == "unauthorized"
    assert code == 4401


def test_revoking_tokens_closes_their_websocket_connections(site: Site) -> None:
    told, code = _ws_closed_after_disable(
        site, lambda: site.ok(site.post("/users/annotator/revoke_tokens")))
    assert told["error"]["code"] == "unauthorized" and code == 4401


# -- two nodes on one data dir ------------------------------------------------------------------


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[Site, Site]]:
    a = Site(sqlite_settings(tmp_path / "data"))
    b = Site(sqlite_settings(tmp_path / "data"), create_users=False)
    b.tokens = dict(a.tokens)
    yield a, b
    b.close()
    a.close()


def _refused_within(site: Site, token: str, seconds: float) -> float:
    start = time.monotonic()
    while _works(site, token):
        assert time.monotonic() - start < seconds, f"still accepted after {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - start


def test_a_revocation_on_one_node_is_enforced_on_the_other_within_the_cache_ttl(
        two_nodes: tuple[Site, Site]) -> None:
    a, b = two_nodes
    bound = max(auth_tokens.CACHE_TTL, authentication.USER_CACHE_TTL) + 2.0
    login = a.ok(_login(a, "annotator"))["token"]
    api = a.services.tokens.issue("reviewer", "api")
    assert _works(b, login) and _works(b, api)  # b has them cached now
    a.ok(a.post("/users/annotator/revoke_tokens"))
    a.ok(a.post("/users/reviewer/disable"))
    assert not _works(a, login) and not _works(a, api)  # at once where it was done
    _refused_within(b, login, bound)
    _refused_within(b, api, bound)
    assert_error(_login(b, "reviewer"), 403, "forbidden")
    users = b.ok(b.get("/users", params={"min_position": a.head()}))["users"]
    assert {"username": "reviewer", "is_admin": False, "disabled": True} in users


def test_the_other_node_closes_the_websocket_of_a_user_disabled_elsewhere(
        two_nodes: tuple[Site, Site]) -> None:
    a, b = two_nodes
    bound = max(auth_tokens.CACHE_TTL, authentication.USER_CACHE_TTL) + 3.0
    token = b.ok(_login(b, "annotator"))["token"]
    with b.client.websocket_connect(f"/api/v1/ws?token={token}") as ws:
        ws.send_json({"op": "ping"})
        assert ws.receive_json() == {"op": "pong"}
        start = time.monotonic()
        a.ok(a.post("/users/annotator/disable"))  # on the other node
        told = ws.receive_json()  # b finds out by itself
        elapsed = time.monotonic() - start
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert told["error"]["code"] == "unauthorized" and closed.value.code == 4401
    assert elapsed < bound
