"""Fixtures for the HTTP API tests: the real app, built by the real composition root.

``Site`` wraps one bootstrapped data dir (embedded SQLite, or PostgreSQL when asked) with a
Starlette ``TestClient``, the five kinds of user the role rules know, and helpers that speak
the public API. Responses can be checked against the OpenAPI document's schemas.
"""

from __future__ import annotations

import io
import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from argon2 import PasswordHasher
from PIL import Image
from starlette.exceptions import StarletteDeprecationWarning

import domain.user
from event_store.positions import log_head
from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings
from tests.required_services import unavailable
from web.app import create_app
from web.openapi import openapi_document
from web.services import Services

# argon2 at its production cost takes ~0.5 s per hash on the CI box; tests register dozens of
# users, so they hash cheaply (verification reads the cost from the hash, so logins still work).
domain.user._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

with warnings.catch_warnings():
    # starlette 1.x nudges towards httpx2 for its TestClient; the httpx we have works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "password123"
USERS = {"admin": None, "manager": "manager", "annotator": "annotator",
         "reviewer": "reviewer", "outsider": None}
PG_ADMIN_URL = os.environ.get("LABELWRIGHT_TEST_PG", "postgresql://postgres@127.0.0.1:5432")

_DOC = openapi_document()


def check_schema(body: Any, name: str) -> None:
    """Validate ``body`` against ``#/components/schemas/<name>`` of the OpenAPI document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": _DOC["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)


def png_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (10, 20, 30),
              fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, fmt)
    return buf.getvalue()


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    check_schema(body, "Error")
    assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


class Site:
    """One running Labelwright (services + ASGI app + test client)."""

    def __init__(self, settings: Settings, *, create_users: bool = True) -> None:
        self.settings = settings
        self.services: Services = bootstrap(settings)
        self.app = create_app(self.services)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.client.__enter__()
        self.tokens: dict[str, str] = {}
        if create_users:
            for name in USERS:
                if self.services.app.find_user(name) is None:
                    self.services.app.register_user(name, PASSWORD, is_admin=name == "admin")
                self.tokens[name] = self.services.tokens.issue(name)

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        shutdown(self.services)

    # -- plumbing -----------------------------------------------------------------------------

    def headers(self, user: str | None) -> dict[str, str]:
        return {} if user is None else {"Authorization": f"Bearer {self.tokens[user]}"}

    def call(self, method: str, path: str, user: str | None = "admin", **kwargs: Any
             ) -> httpx.Response:
        headers = {**self.headers(user), **kwargs.pop("headers", {})}
        at_root = path.startswith(("/api/v1", "/healthz", "/readyz"))
        url = path if at_root else "/api/v1" + path
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, path: str, user: str | None = "admin", **kw: Any) -> httpx.Response:
        return self.call("GET", path, user, **kw)

    def post(self, path: str, user: str | None = "admin", **kw: Any) -> httpx.Response:
        return self.call("POST", path, user, **kw)

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, (response.status_code, response.text[:800])
        return response.json()

    def head(self) -> int:
        return log_head(self.services.app)

    def settle(self) -> None:
        assert self.services.read.wait_for(self.head(), 10.0)

    # -- the API, spoken ----------------------------------------------------------------------

    def new_project(self, classes: list[str] | None = None, members: bool = True,
                    types: list[str] | None = None) -> str:
        body: dict[str, Any] = {"name": f"project {uuid.uuid4().hex[:6]}",
                                "classes": [{"name": c} for c in classes or ["cat", "dog"]]}
        if types is not None:
            body["annotation_types"] = types
        project = self.ok(self.post("/projects", json=body), 201)
        if members:
            for user, role in USERS.items():
                if role is not None and user != "admin":
                    self.ok(self.call("PUT", f"/projects/{project['id']}/members/{user}",
                                      json={"role": role}))
        return str(project["id"])

    def upload(self, project_id: str, *images: tuple[str, bytes], user: str = "admin"
               ) -> list[dict[str, Any]]:
        files = [("file", (name, data, "application/octet-stream")) for name, data in images]
        body = self.ok(self.post(f"/projects/{project_id}/images", user, files=files), 201)
        return list(body["images"])

    def new_image(self, project_id: str, width: int = 64, height: int = 48) -> str:
        color = tuple(uuid.uuid4().bytes[:3])
        data = png_bytes(width, height, color)  # type: ignore[arg-type]
        return str(self.upload(project_id, (f"{uuid.uuid4().hex[:8]}.png", data))[0]["id"])

    def command(self, image_id: str, body: Any, user: str = "annotator") -> httpx.Response:
        return self.post(f"/images/{image_id}/commands", user, json=body)

    def create(self, image_id: str, kind: str = "box", label: str = "cat",
               geometry: dict[str, Any] | None = None, user: str = "annotator",
               **extra: Any) -> dict[str, Any]:
        geometry = geometry if geometry is not None else {"x": 1, "y": 2, "w": 10, "h": 8}
        result = self.ok(self.command(image_id, {"type": "create", "annotation": {
            "type": kind, "label": label, "geometry": geometry}, **extra}, user))
        return dict(result)


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL + "/postgres", connect_timeout=2):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (skips when PG is unreachable;
    fails under CI=true)."""
    if not _pg_available():
        unavailable("PostgreSQL is not reachable at " + PG_ADMIN_URL)
    import psycopg

    name = f"lw_web_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_ADMIN_URL}/{name}"
    with psycopg.connect(PG_ADMIN_URL + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_settings(path: Path, **overrides: Any) -> Settings:
    return replace(Settings(data_dir=path), **overrides)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A fresh embedded (SQLite) site per test."""
    s = Site(sqlite_settings(tmp_path / "data"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One embedded site for a whole module (tests make their own projects in it)."""
    s = Site(sqlite_settings(tmp_path_factory.mktemp("shared") / "data"))
    yield s
    s.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """The embedded site, and the same on PostgreSQL (when it is reachable)."""
    if request.param == "sqlite":
        s = Site(sqlite_settings(tmp_path / "data"))
    else:
        url = request.getfixturevalue("pg_database_url")
        s = Site(Settings(data_dir=tmp_path / "data", database_url=url))
    yield s
    s.close()
