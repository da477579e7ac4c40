"""The model registry over HTTP: ``POST /projects/{id}/models`` (multipart, streamed to disk),
``GET /projects/{id}/models``, ``GET /models/{id}``, ``PATCH /models/{id}``; uploads go
through a real uvicorn server, the rest through the app's test client. A refused upload records
nothing and leaves no file in the weights store."""

from __future__ import annotations

import pickle
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inference import model_factory as factory
from tests.web.conftest import Site, assert_error, check_schema, sqlite_settings
from tests.web.served import Served, served_fixture  # noqa: F401 - the fixture

NAMES = ["Cat", "dog", "bird"]
LIMIT = 200_000  # the small weights limit of the oversize tests


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return factory.yolov8_onnx(tmp_path_factory.mktemp("w") / "yolov8n.onnx", NAMES)


@pytest.fixture
def small_limit(tmp_path: Path) -> Iterator[Served]:
    site = Site(sqlite_settings(tmp_path / "data", max_model_bytes=LIMIT))
    served = Served(site)
    yield served
    served.close()
    site.close()


def weights(path: Path, name: str | None = None) -> list[tuple[str, Any]]:
    return [("weights", (name or path.name, path.read_bytes(), "application/octet-stream"))]


def leftovers(site: Site) -> list[Path]:
    tmp = site.services.models.root / "tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


def stored(site: Site) -> set[str]:
    return {p.name for p in site.services.models.root.glob("??/??/*")}


def api(served: Served, user: str = "manager") -> httpx.Client:
    return httpx.Client(base_url=served.url, timeout=30,
                        headers={"Authorization": f"Bearer {served.site.tokens[user]}"})


def test_register_read_remap_and_retire_over_a_real_server(served: Served,
                                                           onnx_file: Path) -> None:
    site = served.site
    pid = site.new_project(classes=["cat", "Dog", "car"])
    with api(served) as manager:
        response = manager.post(f"/projects/{pid}/models", files=[
            *weights(onnx_file), ("classes", ("data.yaml", b"names: [cat, dog, car]\n",
                                              "text/yaml"))],
            data={"name": "detector", "version": "8.1", "input_size": "64"})
        assert response.status_code == 201, response.text
        body = response.json()
    check_schema(body, "ModelResult")
    model = body["model"]
    assert body["position"] == site.head()
    assert {k: model[k] for k in ("name", "version", "task", "format", "layout", "classes",
                                  "class_map", "unmapped", "input_size", "size_bytes",
                                  "file_name", "created_by", "retired")} == {
        "name": "detector", "version": "8.1", "task": "detect", "format": "onnx",
        "layout": "yolov8", "classes": ["cat", "dog", "car"],
        "class_map": {"cat": "cat", "dog": "Dog", "car": "car"}, "unmapped": [],
        "input_size": [64, 64], "size_bytes": onnx_file.stat().st_size,
        "file_name": "yolov8n.onnx", "created_by": "manager", "retired": False}
    assert site.services.models.path(model["sha256"]).read_bytes() == onnx_file.read_bytes()
    assert leftovers(site) == []

    with api(served, "annotator") as annotator:  # members read models
        listed = annotator.get(f"/projects/{pid}/models").json()
        check_schema(listed, "ModelList")
        assert listed["models"] == [model]
        assert annotator.get(f"/models/{model['id']}").json() == {"model": model}

    with api(served) as manager:
        remapped = manager.patch(f"/models/{model['id']}",
                                 json={"class_map": {"CAR": None, "dog": "cat"}})
        assert remapped.status_code == 200, remapped.text
        check_schema(remapped.json(), "ModelResult")
        assert remapped.json()["model"]["class_map"] == {"cat": "cat", "dog": "cat",
                                                         "car": None}
        assert remapped.json()["model"]["unmapped"] == ["car"]
        retired = manager.patch(f"/models/{model['id']}", json={"retired": True}).json()
        assert retired["model"]["retired"] is True and retired["position"] == site.head()
        shown = manager.get(f"/models/{model['id']}").json()["model"]
    assert shown["retired"] is True and shown["unmapped"] == ["car"]
    events = [type(e).__name__ for e in site.services.app.events.get(_uuid(model["id"]))]
    assert events == ["ModelRegistered", "ClassMapChanged", "ModelRetired"]


def _uuid(raw: str) -> Any:
    from uuid import UUID

    return UUID(raw)


def test_defaults_and_the_same_version_twice(site: Site, onnx_file: Path) -> None:
    pid = site.new_project()
    first = site.ok(site.post(f"/projects/{pid}/models", "manager", files=weights(onnx_file)),
                    201)["model"]
    second = site.ok(site.post(f"/projects/{pid}/models", "manager",
                               files=weights(onnx_file)), 201)["model"]
    assert (first["name"], first["version"]) == ("yolov8n", "1")
    assert (second["name"], second["version"]) == ("yolov8n", "2")
    assert first["class_map"] == {"Cat": "cat", "dog": "dog", "bird": None}
    assert first["unmapped"] == ["bird"]
    head = site.head()
    clash = assert_error(site.post(f"/projects/{pid}/models", "manager",
                                   files=weights(onnx_file),
                                   data={"name": "yolov8n", "version": "2"}), 409, "conflict")
    assert clash["details"]["field"] == "version"
    assert site.head() == head and leftovers(site) == []
    assert [m["version"] for m in site.ok(site.get(f"/projects/{pid}/models"))["models"]] == [
        "1", "2"]


BAD_UPLOADS: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("garbage", {"files": [("weights", ("m.onnx", b"\x00not a model" * 50, "x/y"))]},
     422, "validation", "weights"),
    ("pickle", {"files": [("weights", ("m.pt", pickle.dumps({"w": [1.0]}), "x/y"))]},
     422, "validation", "weights"),
    ("no weights part", {"files": [("classes", ("c.txt", b"a\n", "text/plain"))],
                         "data": {"name": "x"}}, 422, "validation", "weights"),
    ("unknown part", {"files": [("file", ("m.onnx", b"x", "x/y"))]}, 422, "validation",
     "file"),
    ("twice", {"files": [("weights", ("a.onnx", b"x", "x/y")),
                         ("weights", ("b.onnx", b"y", "x/y"))]}, 422, "validation", "weights"),
    ("bad task", {"model": True, "data": {"task": "dance"}}, 422, "validation", "task"),
    ("bad input size", {"model": True, "data": {"input_size": "huge"}}, 422, "validation",
     "input_size"),
    ("input size not the graph's", {"model": True, "data": {"input_size": "128"}}, 422,
     "validation", "input_size"),
    ("too few classes", {"model": True, "classes": b"a\nb\n"}, 422, "validation", "classes"),
    ("classes too large", {"model": True, "classes": b"x\n" * 600_000}, 413, "too_large",
     "classes"),
    ("field too large", {"model": True, "data": {"name": "n" * 5000}}, 413, "too_large",
     "name"),
    ("not utf-8", {"model": True, "data": {"name": b"\xff\xfe"}}, 422, "validation", "name"),
    ("json", {"json": {"weights": "x"}}, 415, "unsupported_media_type", ""),
]


@pytest.mark.parametrize(("case", "request_kw", "status", "code", "field"), BAD_UPLOADS,
                         ids=[b[0] for b in BAD_UPLOADS])
def test_refused_uploads_record_nothing(site: Site, onnx_file: Path, case: str,
                                        request_kw: dict[str, Any], status: int, code: str,
                                        field: str) -> None:
    pid = site.new_project()
    kw = dict(request_kw)
    files = list(kw.pop("files", []))
    if kw.pop("model", False):
        files = weights(onnx_file)
    if "classes" in kw:
        files.append(("classes", ("classes.txt", kw.pop("classes"), "text/plain")))
    if files:
        kw["files"] = files
    head, before = site.head(), stored(site)
    error = assert_error(site.post(f"/projects/{pid}/models", "manager", **kw), status, code)
    if field:
        assert error["details"]["field"] == field, error
    assert site.head() == head and stored(site) == before and leftovers(site) == []


def test_oversized_weights_are_413_and_leave_nothing(small_limit: Served,
                                                     tmp_path: Path) -> None:
    site = small_limit.site
    pid = site.new_project()
    big = tmp_path / "big.onnx"
    big.write_bytes(b"\0" * (LIMIT + 1))
    head = site.head()
    with api(small_limit) as manager:
        # Over the weights limit, within the request's: refused while streaming.
        over = manager.post(f"/projects/{pid}/models", files=weights(big))
        error = assert_error(over, 413, "too_large")
        assert error["details"] == {"field": "weights", "file_name": "big.onnx",
                                    "limit": LIMIT}

        # No Content-Length (chunked): counted as it arrives, refused past the request limit.
        def chunks() -> Iterator[bytes]:
            yield (b"--B\r\nContent-Disposition: form-data; name=\"weights\"; "
                   b"filename=\"w.onnx\"\r\n\r\n")
            for _ in range(40):
                yield b"\0" * 65536

        chunked = manager.post(f"/projects/{pid}/models", content=chunks(),
                               headers={"content-type": "multipart/form-data; boundary=B"})
        assert_error(chunked, 413, "too_large")
    # A declared Content-Length over the limit: refused before a byte of the body is read.
    with socket.create_connection(("127.0.0.1", small_limit.port), timeout=10) as raw:
        raw.sendall(f"POST /api/v1/projects/{pid}/models HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {site.tokens['manager']}\r\n"
                    "Content-Type: multipart/form-data; boundary=B\r\n"
                    f"Content-Length: {10 * 1024 * 1024}\r\n\r\n".encode())
        assert raw.recv(65536).startswith(b"HTTP/1.1 413 ")
    assert site.head() == head and leftovers(site) == [] and stored(site) == set()


def test_roles(site: Site, onnx_file: Path) -> None:
    pid = site.new_project()
    other = site.new_project(members=False)
    assert_error(site.post(f"/projects/{pid}/models", "annotator", files=weights(onnx_file)),
                 403, "forbidden")
    assert_error(site.post(f"/projects/{other}/models", "manager", files=weights(onnx_file)),
                 403, "forbidden")
    model = site.ok(site.post(f"/projects/{pid}/models", "manager", files=weights(onnx_file)),
                    201)["model"]
    site.ok(site.get(f"/models/{model['id']}", "annotator"))
    site.ok(site.get(f"/projects/{pid}/models", "reviewer"))
    assert_error(site.get(f"/models/{model['id']}", "outsider"), 403, "forbidden")
    assert_error(site.get(f"/projects/{pid}/models", "outsider"), 403, "forbidden")
    assert_error(site.call("PATCH", f"/models/{model['id']}", "annotator",
                           json={"retired": True}), 403, "forbidden")
    assert_error(site.get("/models/00000000-0000-0000-0000-000000000000"), 404, "not_found")
    assert_error(site.get("/models/nope"), 404, "not_found")
    bad = assert_error(site.call("PATCH", f"/models/{model['id']}", "manager",
                                 json={"class_map": {"bird": "plane"}}), 422, "validation")
    assert bad["details"]["field"] == "class_map.bird"
    assert_error(site.call("PATCH", f"/models/{model['id']}", "manager", json=[1]), 422,
                 "validation")
    assert not site.get(f"/models/{model['id']}").json()["model"]["retired"]
