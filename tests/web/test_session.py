"""Logging in, sessions, tokens and the login rate limit."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import service_layer.auth_tokens as auth_tokens
from domain.tokens import token_hash
from service_layer.auth_tokens import TokenStore
from service_layer.image_store import ImageStore
from tests.web.conftest import PASSWORD, Site, assert_error


def _login(site: Site, username: str, password: str = PASSWORD, **kw: object):  # type: ignore[no-untyped-def]
    return site.post("/auth/login", None, json={"username": username, "password": password},
                     **kw)


def test_login_gives_a_token_and_a_session_cookie(shared_site: Site) -> None:
    site = shared_site
    response = _login(site, "annotator")
    token = site.ok(response)["token"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"lw_session={token}")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    me = site.ok(site.get("/me", None, headers={"Authorization": f"Bearer {token}"}))
    assert me["username"] == "annotator"
    # The browser way: only the cookie.
    site.client.cookies.set("lw_session", token)
    try:
        me_response = site.get("/me", None)
        assert site.ok(me_response)["username"] == "annotator"
        assert me_response.headers["set-cookie"].startswith(f"lw_session={token}")  # renewed
        pid = site.new_project()
        # A state-changing call from another origin riding on the cookie is refused...
        foreign = site.call("PATCH", f"/projects/{pid}", None, json={"name": "x"},
                            headers={"Origin": "https://evil.example"})
        assert_error(foreign, 403, "forbidden")
        # ...while the same origin is fine (the annotator lacks the role: 403 for that reason).
        same = site.call("PATCH", f"/projects/{pid}", None, json={"name": "x"},
                         headers={"Origin": "http://testserver"})
        assert same.json()["error"]["details"].get("needed") == "manager"
        out = site.post("/auth/logout", None)
        assert site.ok(out)["revoked"] is True
        assert 'lw_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers[
            "set-cookie"]
    finally:
        site.client.cookies.clear()
    assert_error(site.get("/me", None, headers={"Authorization": f"Bearer {token}"}), 401,
                 "unauthorized")


def test_wrong_credentials_are_401_alike(shared_site: Site) -> None:
    wrong = assert_error(_login(shared_site, "reviewer", "wrong-password"), 401,
                         "unauthorized")
    unknown = assert_error(_login(shared_site, "nobody-at-all", "wrong-password"), 401,
                           "unauthorized")
    assert wrong["message"] == unknown["message"]  # does not tell which usernames exist


def test_failed_logins_are_rate_limited_per_user_and_client(site: Site) -> None:
    limit = site.settings.login_attempts_per_minute
    for _ in range(limit):
        assert_error(_login(site, "manager", "bad-password"), 401, "unauthorized")
    limited = _login(site, "manager", PASSWORD)  # even the right password, for now
    error = assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert error["details"]["retry_after"] >= 1
    assert_error(_login(site, "MANAGER", "bad-password"), 429, "rate_limited")
    site.ok(_login(site, "reviewer"))  # other users are not affected
    site.ok(site.get("/me", "manager"))  # nor are existing sessions


def test_a_success_clears_the_failures(site: Site) -> None:
    limit = site.settings.login_attempts_per_minute
    for _ in range(limit - 1):
        assert_error(_login(site, "reviewer", "bad-password"), 401, "unauthorized")
    site.ok(_login(site, "reviewer"))
    for _ in range(limit - 1):
        assert_error(_login(site, "reviewer", "bad-password"), 401, "unauthorized")
    site.ok(_login(site, "reviewer"))


def test_login_tokens_expire_after_idle_days_api_tokens_do_not(site: Site) -> None:
    store = site.services.tokens
    login = store.issue("annotator", "login")
    api = store.issue("annotator", "api", name="ci")
    old = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    with store.db.transaction() as cur:
        cur.execute("UPDATE auth_tokens SET last_used_at = ? WHERE token_hash IN (?, ?)",
                    (old, token_hash(login), token_hash(api)))
    fresh = TokenStore(store.db, idle_days=7)  # no cache: another node, or after 5 s
    assert fresh.resolve(login) is None
    assert fresh.resolve(api) == "annotator"
    six_days = (datetime.now(UTC) - timedelta(days=6)).isoformat()
    recent = store.issue("annotator", "login")
    with store.db.transaction() as cur:
        cur.execute("UPDATE auth_tokens SET last_used_at = ? WHERE token_hash = ?",
                    (six_days, token_hash(recent)))
    assert fresh.resolve(recent) == "annotator"
    # Using it moved last_used_at forward, so it lives another 7 days.
    row = store.db.query("SELECT last_used_at FROM auth_tokens WHERE token_hash = ?",
                         (token_hash(recent),))
    assert datetime.fromisoformat(row[0][0]) > datetime.now(UTC) - timedelta(minutes=1)


def test_last_used_is_written_at_most_once_a_minute(site: Site) -> None:
    store = TokenStore(site.services.tokens.db)
    token = store.issue("annotator")
    stamp = store.db.query("SELECT last_used_at FROM auth_tokens WHERE token_hash = ?",
                           (token_hash(token),))[0][0]
    for _ in range(20):
        assert store.resolve(token) == "annotator"
    assert store.db.query("SELECT last_used_at FROM auth_tokens WHERE token_hash = ?",
                          (token_hash(token),))[0][0] == stamp


def test_revocation_elsewhere_takes_effect_within_the_cache_ttl(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_tokens, "CACHE_TTL", 0.2)
    here = TokenStore(site.services.tokens.db)
    there = TokenStore(site.services.tokens.db)  # another node
    token = here.issue("annotator")
    assert here.resolve(token) == "annotator"
    assert there.revoke(token) is True
    assert there.revoke(token) is False  # already revoked
    time.sleep(0.3)
    assert here.resolve(token) is None
    assert here.resolve("lw_never-issued") is None
    assert here.resolve("") is None


def test_revocation_here_is_immediate(site: Site) -> None:
    token = site.services.tokens.issue("annotator")
    headers = {"Authorization": f"Bearer {token}"}
    site.ok(site.get("/me", None, headers=headers))
    site.services.tokens.revoke(token)
    assert_error(site.get("/me", None, headers=headers), 401, "unauthorized")


def test_admin_rights_follow_the_user(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    import web.authentication as authentication

    monkeypatch.setattr(authentication, "USER_CACHE_TTL", 0.0)
    assert_error(site.get("/users", "manager"), 403, "forbidden")
    site.services.app.update_user("manager", is_admin=True)
    users = site.ok(site.get("/users", "manager", params={"min_position": site.head()}))
    assert {"username": "manager", "is_admin": True, "disabled": False} in users["users"]
    assert site.ok(site.get("/me", "manager"))["is_admin"] is True


def test_admins_create_users_who_can_then_log_in(site: Site) -> None:
    created = site.ok(site.post("/users", json={"username": "newbie",
                                                "password": "long-enough"}), 201)
    assert created == {"username": "newbie", "is_admin": False, "disabled": False}
    site.ok(_login(site, "newbie", "long-enough"))


# -- the two stores, directly ------------------------------------------------------------------


def test_image_store_is_content_addressed_and_refuses_bad_names(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    sha = store.put(b"hello")
    assert sha == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert store.path(sha) == tmp_path / "images" / "2c" / "f2" / sha
    assert store.path(sha).read_bytes() == b"hello" and store.exists(sha)
    assert store.put(b"hello") == sha  # idempotent
    assert sorted(p.name for p in (tmp_path / "images").rglob("*") if p.is_file()) == [sha]
    for bad in ["../../etc/passwd", sha.upper(), sha[:-1], sha + "0", "", "/" + sha[1:]]:
        with pytest.raises(ValueError):
            store.path(bad)
        assert not store.exists(bad)


def test_image_store_streams_files_in(tmp_path: Path) -> None:
    import io

    store = ImageStore(tmp_path / "images")
    data = b"x" * 3_000_000
    sha = store.put_file(io.BytesIO(data))
    assert store.path(sha).read_bytes() == data
    assert store.put_file(io.BytesIO(data), sha) == sha
    with pytest.raises(ValueError):
        store.put_file(io.BytesIO(b"other"), "0" * 64)
    leftovers = [p for p in (tmp_path / "images").rglob(".incoming-*")]
    assert leftovers == []
