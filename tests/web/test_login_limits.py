"""The login limits: per (username, address), per username across addresses, and which address
counts (the socket peer unless a trusted proxy forwarded one)."""

from __future__ import annotations

import http.client
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from tests.realtime.nodes import Deployment, Node
from tests.web.conftest import PASSWORD, Site, assert_error, sqlite_settings
from web.login_throttle import LoginThrottle, address_key

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


# -- in process: the per-account limit across addresses --------------------------------------


def _login_from(site: Site, address: str, username: str, password: str) -> httpx.Response:
    client = TestClient(site.app, raise_server_exceptions=False, client=(address, 40000))
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


@pytest.fixture
def small_site(tmp_path: Path) -> Iterator[Site]:
    site = Site(sqlite_settings(tmp_path / "data", login_attempts_per_account=20))
    yield site
    site.close()


def test_failures_across_addresses_limit_the_account(small_site: Site) -> None:
    site = small_site
    site.ok(_login_from(site, "198.51.100.7", "manager", PASSWORD))  # the user's usual place
    for i in range(20):  # a spray: one guess from each of 20 addresses
        assert_error(_login_from(site, f"203.0.113.{i}", "manager", f"guess-{i}"), 401,
                     "unauthorized")
    limited = _login_from(site, "203.0.113.200", "manager", "guess-x")
    error = assert_error(limited, 429, "rate_limited")
    assert error["details"]["limit"] == "account" and "account" in error["message"]
    assert 850 <= int(limited.headers["retry-after"]) <= 900  # the 15-minute window
    # From a new address even the right password waits: the limit does not say whether the
    # password was right...
    assert_error(_login_from(site, "192.0.2.1", "manager", PASSWORD), 429, "rate_limited")
    # ...but the user still gets in from where they logged in before,
    site.ok(_login_from(site, "198.51.100.7", "manager", PASSWORD))
    # other accounts are not affected,
    site.ok(_login_from(site, "203.0.113.200", "reviewer", PASSWORD))
    # and the same holds for a username that does not exist (nothing to learn from it).
    for i in range(20):
        assert_error(_login_from(site, f"203.0.113.{i}", "nobody", "x"), 401, "unauthorized")
    assert_error(_login_from(site, "192.0.2.1", "nobody", "x"), 429, "rate_limited")


def test_a_known_address_is_still_held_to_its_own_limit(small_site: Site) -> None:
    site = small_site
    site.ok(_login_from(site, "198.51.100.7", "annotator", PASSWORD))
    for i in range(20):
        _login_from(site, f"203.0.113.{i}", "annotator", "guess")
    for _ in range(site.settings.login_attempts_per_minute):
        assert_error(_login_from(site, "198.51.100.7", "annotator", "typo"), 401,
                     "unauthorized")
    error = assert_error(_login_from(site, "198.51.100.7", "annotator", PASSWORD), 429,
                         "rate_limited")
    assert error["details"]["limit"] == "address"


# -- the throttle itself ------------------------------------------------------------------------


def test_the_account_window_lapses_on_its_own() -> None:
    throttle = LoginThrottle(limit=10, window=60.0, account_limit=3, account_window=0.3)
    for i in range(3):
        assert throttle.begin("alice", f"10.0.0.{i}") is None  # each counts until it succeeds
    refused = throttle.begin("alice", "10.0.0.99")
    assert refused is not None and refused[1] == "account" and refused[0] <= 0.3
    time.sleep(0.35)
    assert throttle.begin("ALICE", "10.0.0.99") is None  # usernames compare casefolded


def test_attempts_in_flight_count_against_the_limit() -> None:
    throttle = LoginThrottle(limit=3, window=60.0, account_limit=0)
    # Three concurrent attempts are allowed; a fourth, before any has finished, is not.
    assert [throttle.begin("bob", "10.0.0.1") for _ in range(3)] == [None, None, None]
    refused = throttle.begin("bob", "10.0.0.1")
    assert refused is not None and refused[1] == "address"
    throttle.succeeded("bob", "10.0.0.1")
    assert throttle.begin("bob", "10.0.0.1") is None


def test_a_success_takes_its_attempt_back_from_the_account() -> None:
    throttle = LoginThrottle(limit=10, window=60.0, account_limit=2, account_window=60.0)
    for _ in range(5):
        assert throttle.begin("carol", "10.0.0.1") is None
        throttle.succeeded("carol", "10.0.0.1")
    assert throttle.begin("carol", "10.0.0.2") is None


def test_ipv6_addresses_count_by_their_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("192.0.2.1") == "192.0.2.1"
    assert address_key("testclient") == "testclient"
    throttle = LoginThrottle(limit=2, window=60.0, account_limit=0)
    throttle.begin("dave", "2001:db8:1:2::1")
    throttle.begin("dave", "2001:db8:1:2::2")
    assert throttle.begin("dave", "2001:db8:1:2::3") is not None


# -- a real uvicorn: which address counts ----------------------------------------------------


def _login(node: Node, username: str, password: str, forwarded: str | None = None
           ) -> tuple[int, dict[str, Any], dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    try:
        conn.request("POST", "/api/v1/auth/login", headers=headers,
                     body=json.dumps({"username": username, "password": password}))
        response = conn.getresponse()
        body = json.loads(response.read())
        return response.status, body, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path_factory.mktemp("login") / "data")
    deployment.seed(images=1)
    yield deployment
    deployment.stop_all()


def test_forwarded_for_is_ignored_without_a_trusted_proxy(deployment: Deployment) -> None:
    node = deployment.start_node()
    try:
        for i in range(10):  # the limit is 10 a minute; each guess claims another address
            status, _, _ = _login(node, "manager", "bad", forwarded=f"203.0.113.{i}")
            assert status == 401
        status, body, headers = _login(node, "manager", PASSWORD, forwarded="198.51.100.1")
        assert status == 429 and body["error"]["code"] == "rate_limited", body
        assert body["error"]["details"]["limit"] == "address"
        assert int(headers["retry-after"]) >= 1
        assert headers["x-content-type-options"] == "nosniff"
    finally:
        node.stop()


def test_a_trusted_proxy_names_the_client(deployment: Deployment) -> None:
    node = deployment.start_node(env={"LABELWRIGHT_TRUSTED_PROXIES": "127.0.0.1",
                                      "LABELWRIGHT_LOGIN_ATTEMPTS_PER_ACCOUNT": "15"})
    try:
        assert _login(node, "reviewer", PASSWORD, forwarded="198.51.100.50")[0] == 200
        for _ in range(10):
            assert _login(node, "reviewer", "bad", forwarded="203.0.113.1")[0] == 401
        status, body, _ = _login(node, "reviewer", "bad", forwarded="203.0.113.1")
        assert status == 429 and body["error"]["details"]["limit"] == "address"
        # Another client behind the same proxy is counted on its own...
        assert _login(node, "reviewer", "bad", forwarded="203.0.113.2")[0] == 401
        # ...and a client cannot pick its address by sending its own header through the
        # proxy: the proxy's entry (the last one it did not itself add) is the one believed.
        spoofed = "198.51.100.50, 203.0.113.1"
        assert _login(node, "reviewer", "bad", forwarded=spoofed)[0] == 429
        # The per-account limit (15 here) across addresses:
        for i in range(3, 7):
            assert _login(node, "reviewer", "bad", forwarded=f"203.0.113.{i}")[0] == 401
        status, body, _ = _login(node, "reviewer", "bad", forwarded="203.0.113.99")
        assert status == 429 and body["error"]["details"]["limit"] == "account", body
        # The address the user logged in from before still works.
        assert _login(node, "reviewer", PASSWORD, forwarded="198.51.100.50")[0] == 200
    finally:
        node.stop()
