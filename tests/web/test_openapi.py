"""The OpenAPI document: valid, served, and in step with the app's routes."""

from __future__ import annotations

from openapi_spec_validator import validate
from starlette.routing import Mount, Route, WebSocketRoute

from tests.web.conftest import Site


def test_the_document_is_valid_openapi_3_1(shared_site: Site) -> None:
    response = shared_site.get("/api/v1/openapi.json", None)
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_route_is_documented_and_every_documented_route_exists(
        shared_site: Site) -> None:
    doc = shared_site.ok(shared_site.get("/api/v1/openapi.json", None))
    documented = {(method.upper(), path) for path, item in doc["paths"].items()
                  for method in item}
    served: set[tuple[str, str]] = set()
    for mount in shared_site.app.routes:
        if not isinstance(mount, Mount):
            continue  # the probes at the root are described in info, not under /api/v1
        for route in mount.routes:
            if isinstance(route, WebSocketRoute):
                continue  # GET /api/v1/ws: its protocol is in docs/realtime.md, tests/realtime
            assert isinstance(route, Route)
            served |= {(m, mount.path + route.path) for m in route.methods or ()
                       if m != "HEAD"}
    assert documented == served


def test_every_schema_reference_resolves(shared_site: Site) -> None:
    doc = shared_site.ok(shared_site.get("/api/v1/openapi.json", None))
    schemas = doc["components"]["schemas"]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            target = node.get("$ref")
            if isinstance(target, str):
                assert target.removeprefix("#/components/schemas/") in schemas, target
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
