"""``web.endpoints.ui``: the page and its assets, their types, caching and confinement."""

from __future__ import annotations

import re

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from web.endpoints import ui


@pytest.fixture
def client() -> TestClient:
    return TestClient(Starlette(routes=ui.routes))


def test_the_page_names_a_release_and_preloads_every_module(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    release = re.search(r'src="/static/~([0-9a-f]{16})/js/main\.js"', r.text)
    assert release, r.text
    preloaded = set(re.findall(r'rel="modulepreload" href="/static/~[0-9a-f]+/(js/[^"]+)"', r.text))
    js = ui.STATIC_DIR / "js"
    on_disk = {p.relative_to(ui.STATIC_DIR).as_posix() for p in js.rglob("*.js")}
    assert preloaded == on_disk

    asset = client.get(f"/static/~{release.group(1)}/js/main.js")
    assert asset.status_code == 200
    assert asset.headers["content-type"] == "text/javascript; charset=utf-8"
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = client.get("/static/~0000000000000000/js/main.js")  # a page of an older release
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"


def test_assets_revalidate_by_etag(client: TestClient) -> None:
    r = client.get("/static/css/app.css")
    assert r.status_code == 200 and r.headers["content-type"] == "text/css; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    again = client.get("/static/css/app.css", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert client.head("/static/js/api.js").headers["content-length"] == str(
        len(client.get("/static/js/api.js").content))


@pytest.mark.parametrize("path", ["/static/../app.py", "/static/%2e%2e/app.py",
                                  "/static/js/../../endpoints/ui.py", "/static/.hidden",
                                  "/static/js", "/static/nope.js", "/static/~abc/../app.py",
                                  "/static/js/main.js%00.css"])
def test_nothing_outside_the_static_files_is_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404
