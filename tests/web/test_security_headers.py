"""Every HTTP response carries the security headers (web.security_headers)."""

from __future__ import annotations

import httpx

from tests.web.conftest import Site, png_bytes


def _hardened(response: httpx.Response) -> None:
    assert response.headers.get("x-content-type-options") == "nosniff", (
        response.request.url, dict(response.headers))
    assert response.headers.get("x-frame-options") == "DENY"
    assert response.headers.get("referrer-policy") == "same-origin"
    # Only one of each, even where the endpoint already set it.
    for name in ("x-content-type-options", "referrer-policy", "content-security-policy"):
        assert len(response.headers.get_list(name)) <= 1, (name, response.request.url)


def test_every_kind_of_response_carries_nosniff(shared_site: Site) -> None:
    site = shared_site
    pid = site.new_project()
    image = site.upload(pid, ("one.png", png_bytes(32, 24, (1, 2, 3))))[0]

    me = site.get("/me")  # JSON
    site.ok(me)
    _hardened(me)
    assert "default-src 'none'" in me.headers["content-security-policy"]

    content = site.get(f"/images/{image['id']}/content")  # image bytes
    assert content.status_code == 200 and content.headers["content-type"] == "image/png"
    _hardened(content)
    cached = site.get(f"/images/{image['id']}/content",
                      headers={"If-None-Match": content.headers["etag"]})
    assert cached.status_code == 304
    _hardened(cached)

    export = site.get(f"/projects/{pid}/export")  # streamed
    assert export.status_code == 200
    _hardened(export)

    for error in (site.get("/me", None),  # 401
                  site.get("/projects/00000000-0000-0000-0000-000000000000"),  # 404
                  site.get("/no/such/route"),  # 404 from the router, under /api
                  site.call("DELETE", "/me"),  # 405
                  site.post("/auth/login", None, content=b"{", headers={
                      "content-type": "application/json"})):  # 422
        assert error.status_code >= 400
        assert error.json()["error"]["code"]
        _hardened(error)

    page = site.client.get("/")  # the UI page keeps its own, stricter CSP
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    _hardened(page)
    assert "script-src 'self'" in page.headers["content-security-policy"]

    static = site.client.get("/static/icon.svg")
    assert static.status_code == 200
    _hardened(static)
    assert "content-security-policy" not in static.headers  # not an API response

    for missing in ("/static/no-such-file.js", "/no-such-page"):
        response = site.client.get(missing)
        assert response.status_code == 404
        _hardened(response)

    for probe in ("/healthz", "/readyz", "/api/v1/openapi.json"):
        response = site.client.get(probe)
        assert response.status_code == 200
        _hardened(response)

