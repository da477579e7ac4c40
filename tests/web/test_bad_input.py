"""Every kind of bad request gets its stable error code, records nothing, and leaves the
service answering."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labelwright.settings import Settings
from tests.web.conftest import Site, assert_error, png_bytes, sqlite_settings


@pytest.fixture(scope="module")
def place(shared_site: Site) -> dict[str, Any]:
    site = shared_site
    pid = site.new_project(["cat", "dog", "old"])
    site.ok(site.call("PATCH", f"/projects/{pid}", json={"retire_classes": ["old"]}))
    iid = site.new_image(pid, 64, 48)
    box = site.create(iid)["events"][0]["data"]["annotation_id"]
    site.settle()
    return {"pid": pid, "iid": iid, "box": box}


def _expect(site: Site, place: dict[str, Any], response: Any, status: int, code: str
            ) -> dict[str, Any]:
    error = assert_error(response, status, code)
    site.ok(site.get(f"/images/{place['iid']}/annotations", "annotator"))
    assert site.ok(site.get("/healthz", None)) == {"status": "ok"}
    return error


def _box(**geometry: Any) -> dict[str, Any]:
    g = {"x": 1, "y": 1, "w": 5, "h": 5, **geometry}
    return {"type": "create", "annotation": {"type": "box", "label": "cat", "geometry": g}}


BAD_COMMANDS: list[tuple[str, Any, int, str]] = [
    ("unknown type", {"type": "explode"}, 422, "validation"),
    ("no type", {"annotation": {}}, 422, "validation"),
    ("not an object", [1, 2, 3], 422, "validation"),
    ("a string", "create", 422, "validation"),
    ("null", None, 422, "validation"),
    ("unknown field", {**_box(), "color": "red"}, 422, "validation"),
    ("box without h", {"type": "create", "annotation": {"type": "box", "label": "cat",
                                                        "geometry": {"x": 1, "y": 1, "w": 2}}},
     422, "validation"),
    ("box as a string", _box() | {"annotation": {"type": "box", "label": "cat",
                                                 "geometry": "1,2,3,4"}}, 422, "validation"),
    ("negative width", _box(w=-5), 422, "validation"),
    ("coordinate is a string", _box(x="1"), 422, "validation"),
    ("coordinate is a bool", _box(x=True), 422, "validation"),
    ("far outside the image", _box(x=500), 422, "validation"),
    ("huge integer", _box(x=10**30), 422, "validation"),
    ("polygon of two points", {"type": "create", "annotation": {
        "type": "polygon", "label": "cat", "geometry": {"points": [[1, 1], [5, 5]]}}},
     422, "validation"),
    ("mask of the wrong size", {"type": "create", "annotation": {
        "type": "mask", "label": "cat", "geometry": {"rle": {"size": [10, 10],
                                                             "counts": "52"}}}},
     422, "validation"),
    ("mask with garbage counts", {"type": "create", "annotation": {
        "type": "mask", "label": "cat", "geometry": {"rle": {"size": [48, 64],
                                                             "counts": "\u00ff\u00fe"}}}},
     422, "validation"),
    ("tag with geometry", {"type": "create", "annotation": {
        "type": "tag", "label": "cat", "geometry": {"x": 1}}}, 422, "validation"),
    ("unknown annotation type", {"type": "create", "annotation": {
        "type": "cuboid", "label": "cat", "geometry": {}}}, 422, "validation"),
    ("label not in project", _box() | {"annotation": {
        "type": "box", "label": "giraffe", "geometry": {"x": 1, "y": 1, "w": 2, "h": 2}}},
     422, "validation"),
    ("retired label", _box() | {"annotation": {
        "type": "box", "label": "old", "geometry": {"x": 1, "y": 1, "w": 2, "h": 2}}},
     422, "validation"),
    ("unknown annotation", {"type": "delete", "annotation_id": "no-such-annotation"},
     404, "not_found"),
    ("edit of unknown annotation", {"type": "edit", "annotation_id": "nope",
                                    "changes": {"label": "dog"}}, 404, "not_found"),
    ("edit with no changes", {"type": "edit", "annotation_id": "x", "changes": {}},
     422, "validation"),
    ("accept of a manual annotation", None, 422, "validation"),  # filled in below
    ("review of an unsubmitted image", {"type": "review", "verdict": "approve"},
     403, "forbidden"),  # the annotator may not review at all
    ("bad verdict", {"type": "review", "verdict": "maybe"}, 422, "validation"),
    ("bad assist mode", {"type": "assist", "mode": "magic", "points": [[1, 1]],
                         "label": "cat"}, 422, "validation"),
    ("assist with NaN-free but wrong points", {"type": "assist", "mode": "extreme_points",
                                               "points": [[1, 1]], "label": "cat"},
     422, "validation"),
    ("command_id too long", {**_box(), "command_id": "x" * 1000}, 422, "validation"),
    ("negative base_version", {**_box(), "base_version": -1}, 422, "validation"),
    ("empty batch", {"commands": []}, 422, "validation"),
    ("batch with a bad second command", {"commands": [_box(), {"type": "nope"}]},
     422, "validation"),
    ("batch with an unknown envelope field", {"commands": [_box()], "extra": 1},
     422, "validation"),
    ("same command_id twice in a batch", {"commands": [{**_box(), "command_id": "a"},
                                                       {**_box(), "command_id": "a"}]},
     422, "validation"),
]


@pytest.mark.parametrize(("name", "body", "status", "code"), BAD_COMMANDS,
                         ids=[c[0] for c in BAD_COMMANDS])
def test_bad_commands(shared_site: Site, place: dict[str, Any], name: str, body: Any,
                      status: int, code: str) -> None:
    if name == "accept of a manual annotation":
        body = {"type": "accept", "annotation_id": place["box"]}
    head = shared_site.head()
    response = shared_site.command(place["iid"], body)
    _expect(shared_site, place, response, status, code)
    assert shared_site.head() == head


def test_a_batch_that_fails_late_records_nothing(shared_site: Site,
                                                 place: dict[str, Any]) -> None:
    site = shared_site
    before = site.ok(site.get(f"/images/{place['iid']}/annotations", "annotator"))
    head = site.head()
    response = site.command(place["iid"], {"commands": [
        _box(), _box(x=2), {"type": "delete", "annotation_id": "ghost"}]})
    _expect(site, place, response, 404, "not_found")
    assert site.head() == head
    site.settle()
    assert site.ok(site.get(f"/images/{place['iid']}/annotations", "annotator")) == before


RAW_BODIES: list[tuple[str, bytes, int, str]] = [
    ("NaN literal", b'{"type":"create","annotation":{"type":"box","label":"cat",'
                    b'"geometry":{"x":NaN,"y":1,"w":2,"h":2}}}', 422, "validation"),
    ("Infinity literal", b'{"type":"create","annotation":{"type":"box","label":"cat",'
                         b'"geometry":{"x":Infinity,"y":1,"w":2,"h":2}}}', 422, "validation"),
    ("-Infinity literal", b'{"type":"create","annotation":{"type":"box","label":"cat",'
                          b'"geometry":{"x":-Infinity,"y":1,"w":2,"h":2}}}', 422,
     "validation"),
    ("overflowing float", b'{"type":"create","annotation":{"type":"box","label":"cat",'
                          b'"geometry":{"x":1e999,"y":1,"w":2,"h":2}}}', 422, "validation"),
    ("truncated JSON", b'{"type": "create", "annotation": {', 422, "validation"),
    ("trailing garbage", b'{"type": "submit"} {"type": "submit"}', 422, "validation"),
    ("single quotes", b"{'type': 'submit'}", 422, "validation"),
    ("empty body", b"", 422, "validation"),
    ("whitespace body", b"   \n", 422, "validation"),
    ("invalid UTF-8", b'{"type": "\xff\xfe"}', 422, "validation"),
    ("deep nesting", b"[" * 5000 + b"]" * 5000, 422, "validation"),
]


@pytest.mark.parametrize(("name", "raw", "status", "code"), RAW_BODIES,
                         ids=[c[0] for c in RAW_BODIES])
def test_bodies_that_are_not_json(shared_site: Site, place: dict[str, Any], name: str,
                                  raw: bytes, status: int, code: str) -> None:
    head = shared_site.head()
    response = shared_site.post(f"/images/{place['iid']}/commands", "annotator", content=raw,
                                headers={"Content-Type": "application/json"})
    error = _expect(shared_site, place, response, status, code)
    if name != "deep nesting" and raw.strip():
        assert error["message"] == "request body is not valid JSON"
    assert shared_site.head() == head


def test_oversized_command_bodies_are_413(shared_site: Site, place: dict[str, Any]) -> None:
    site = shared_site
    head = site.head()
    limit = site.settings.max_command_body
    big = b'{"type": "submit", "command_id": "' + b"x" * limit + b'"}'
    response = site.post(f"/images/{place['iid']}/commands", "annotator", content=big,
                         headers={"Content-Type": "application/json"})
    _expect(site, place, response, 413, "too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    response = site.post(f"/images/{place['iid']}/commands", "annotator", content=chunks(),
                         headers={"Content-Type": "application/json"})
    _expect(site, place, response, 413, "too_large")
    response = site.post(f"/images/{place['iid']}/commands", "annotator", content=b"{}",
                         headers={"Content-Type": "application/json",
                                  "Content-Length": str(limit * 10)})
    assert response.status_code in (413, 400)  # refused on the declared length alone
    assert site.head() == head


def test_wrong_content_type_is_415(shared_site: Site, place: dict[str, Any]) -> None:
    head = shared_site.head()
    response = shared_site.post(f"/images/{place['iid']}/commands", "annotator",
                                files=[("file", ("a.png", b"x", "image/png"))])
    _expect(shared_site, place, response, 415, "unsupported_media_type")
    response = shared_site.post(f"/images/{place['iid']}/commands", "annotator",
                                content=png_bytes(), headers={"Content-Type": "image/png"})
    _expect(shared_site, place, response, 415, "unsupported_media_type")
    assert shared_site.head() == head


@pytest.mark.parametrize("image_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000",
                                      "..%2F..%2Fetc%2Fpasswd"])
def test_unknown_images_are_404(shared_site: Site, place: dict[str, Any],
                                image_id: str) -> None:
    site = shared_site
    head = site.head()
    for method, suffix, kwargs in [("POST", "/commands", {"json": {"type": "submit"}}),
                                   ("GET", "", {}), ("GET", "/content", {}),
                                   ("GET", "/annotations", {}), ("GET", "/history", {})]:
        response = site.call(method, f"/images/{image_id}{suffix}", "admin", **kwargs)
        _expect(site, place, response, 404, "not_found")
    assert site.head() == head


BAD_QUERIES = [
    ("/projects/{pid}/images?status=finished", 422),
    ("/projects/{pid}/images?limit=0", 422),
    ("/projects/{pid}/images?limit=501", 422),
    ("/projects/{pid}/images?limit=ten", 422),
    ("/projects/{pid}/images?cursor=garbage!!", 422),
    ("/images/{iid}/history?after=-1", 422),
    ("/images/{iid}/history?limit=1001", 422),
    ("/images/{iid}/annotations?version=0", 422),
    ("/images/{iid}/annotations?version=abc", 422),
    ("/images/{iid}/annotations?version=99", 422),
    ("/images/{iid}/annotations?min_position=-5", 422),
    ("/projects/{pid}/metrics/prelabels?group_by=weather", 422),
    ("/projects/{pid}/export?format=pdf", 422),
    ("/projects/{pid}/export?position=-1", 422),
    ("/projects/{pid}/export?include_proposed=perhaps", 422),
    ("/projects/not-a-project", 404),
    ("/projects/00000000-0000-0000-0000-000000000000/images", 404),
]


@pytest.mark.parametrize(("path", "status"), BAD_QUERIES, ids=[q[0] for q in BAD_QUERIES])
def test_bad_queries(shared_site: Site, place: dict[str, Any], path: str, status: int) -> None:
    code = {422: "validation", 404: "not_found"}[status]
    _expect(shared_site, place, shared_site.get(path.format(**place), "admin"), status, code)


def test_min_position_beyond_the_log_is_refused_at_once(shared_site: Site,
                                                       place: dict[str, Any]) -> None:
    # No acknowledged write is there, so waiting could only time out: 422 at once.
    response = shared_site.get(f"/images/{place['iid']}/annotations", "annotator",
                               params={"min_position": shared_site.head() + 1000})
    _expect(shared_site, place, response, 422, "validation")


def test_unknown_routes_and_methods(shared_site: Site, place: dict[str, Any]) -> None:
    _expect(shared_site, place, shared_site.get("/nothing/here"), 404, "not_found")
    _expect(shared_site, place, shared_site.get("/api/v2/projects"), 404, "not_found")
    _expect(shared_site, place, shared_site.call("DELETE", "/projects"), 405,
            "method_not_allowed")
    _expect(shared_site, place, shared_site.call("PUT", f"/images/{place['iid']}/commands"),
            405, "method_not_allowed")


BAD_WRITES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("POST", "/projects", {"json": {"name": "x"}}, 422, "validation"),
    ("POST", "/projects", {"json": {"name": "x", "classes": []}}, 422, "validation"),
    ("POST", "/projects", {"json": {"name": "", "classes": ["a"]}}, 422, "validation"),
    ("POST", "/projects", {"json": {"name": "x", "classes": ["a"], "owner": "me"}}, 422,
     "validation"),
    ("POST", "/projects", {"json": {"name": "x", "classes": ["a"],
                                    "annotation_types": ["cuboid"]}}, 422, "validation"),
    ("POST", "/projects", {"content": b"{nope", "headers": {
        "Content-Type": "application/json"}}, 422, "validation"),
    ("POST", "/projects", {"json": ["a", "list"]}, 422, "validation"),
    ("PATCH", "/projects/{pid}", {"json": {"retire_classes": ["unknown"]}}, 422, "validation"),
    ("PATCH", "/projects/{pid}", {"json": {"add_classes": [{"name": "cat"}]}}, 422,
     "validation"),
    ("PATCH", "/projects/{pid}", {"json": {"colour": "red"}}, 422, "validation"),
    ("PUT", "/projects/{pid}/members/annotator", {"json": {"role": "boss"}}, 422,
     "validation"),
    ("PUT", "/projects/{pid}/members/annotator", {"json": {}}, 422, "validation"),
    ("PUT", "/projects/{pid}/members/nobody-by-this-name", {"json": {"role": "annotator"}},
     404, "not_found"),
    ("POST", "/users", {"json": {"username": "new user!", "password": "password123"}}, 422,
     "validation"),
    ("POST", "/users", {"json": {"username": "annotator", "password": "password123"}}, 422,
     "validation"),
    ("POST", "/users", {"json": {"username": "shorty", "password": "short"}}, 422,
     "validation"),
    ("POST", "/auth/login", {"json": {"username": "admin"}}, 422, "validation"),
    ("POST", "/auth/login", {"json": {"username": "admin", "password": 12345678}}, 422,
     "validation"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), BAD_WRITES,
                         ids=[f"{w[0]} {w[1]} {i}" for i, w in enumerate(BAD_WRITES)])
def test_bad_writes(shared_site: Site, place: dict[str, Any], method: str, path: str,
                    kwargs: dict[str, Any], status: int, code: str) -> None:
    head = shared_site.head()
    _expect(shared_site, place, shared_site.call(method, path.format(**place), "admin",
                                                 **kwargs), status, code)
    assert shared_site.head() == head


# -- predictions -------------------------------------------------------------------------------

BAD_PREDICTIONS: list[tuple[str, Any, dict[str, str]]] = [
    ("unknown image id", [{"image_id": "00000000-0000-0000-0000-000000000000",
                           "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}], {}),
    ("unknown file name", [{"image_id": "nope.png", "category_id": 1, "bbox": [1, 1, 2, 2],
                            "score": 0.5}], {}),
    ("image number out of range", [{"image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 2],
                                    "score": 0.5}], {}),
    ("category out of range", [{"image_id": 1, "category_id": 9, "bbox": [1, 1, 2, 2],
                                "score": 0.5}], {}),
    ("retired category", [{"image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2],
                           "score": 0.5}], {}),
    ("score above 1", [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2],
                        "score": 1.5}], {}),
    ("no score", [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}], {}),
    ("box outside the image", [{"image_id": 1, "category_id": 1, "bbox": [500, 1, 2, 2],
                                "score": 0.5}], {}),
    ("COCO without a model", [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2],
                               "score": 0.5}], {"model": ""}),
    ("labelwright unknown label", {"model": {"name": "m", "version": "1"}, "predictions": [
        {"image_id": 1, "annotations": [{"type": "box", "label": "giraffe",
                                         "geometry": {"x": 1, "y": 1, "w": 2, "h": 2}}]}]},
     {}),
    ("labelwright without model", {"predictions": []}, {"model": ""}),
    ("neither list nor object", "predictions", {}),
]


@pytest.mark.parametrize(("name", "body", "params"), BAD_PREDICTIONS,
                         ids=[p[0] for p in BAD_PREDICTIONS])
def test_bad_predictions_record_nothing(shared_site: Site, place: dict[str, Any], name: str,
                                        body: Any, params: dict[str, str]) -> None:
    site = shared_site
    query = {"model": "m", "model_version": "1", **params}
    query = {k: v for k, v in query.items() if v}
    if "model" not in query:
        query = {}
    # A good prediction first, so "nothing recorded" means the whole request was refused.
    good = {"image_id": place["iid"], "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}
    if isinstance(body, list):
        body = [good, *body]
    head = site.head()
    response = site.post(f"/projects/{place['pid']}/predictions", "manager", json=body,
                         params=query)
    _expect(site, place, response, 422, "validation")
    assert site.head() == head


# -- uploads -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A site with tiny limits, so the 413 paths are cheap to reach."""
    s = Site(sqlite_settings(tmp_path_factory.mktemp("small") / "data",
                             max_upload_bytes=20_000, max_upload_request=100_000,
                             max_image_pixels=200 * 200, max_json_body=2_000,
                             max_command_body=1_000))
    yield s
    s.close()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


UPLOADS: list[tuple[str, list[tuple[str, bytes]], int, str]] = [
    ("not an image", [("a.png", b"this is not an image")], 422, "validation"),
    ("an empty file", [("a.png", b"")], 422, "validation"),
    ("truncated PNG", [("a.png", png_bytes(50, 50)[:60])], 422, "validation"),
    ("one good, one bad", [("g.png", png_bytes(20, 20)), ("b.png", b"GIF89a broken")], 422,
     "validation"),
    ("file over the limit", [("big.bmp", png_bytes(120, 120, fmt="BMP"))], 413, "too_large"),
    ("too many pixels", [("wide.png", png_bytes(300, 300))], 413, "too_large"),
    ("decompression bomb", [("bomb.png", _png_claiming(100_000, 100_000))], 413, "too_large"),
]


@pytest.mark.parametrize(("name", "files", "status", "code"), UPLOADS,
                         ids=[u[0] for u in UPLOADS])
def test_bad_uploads_record_nothing(small_site: Site, name: str,
                                    files: list[tuple[str, bytes]], status: int,
                                    code: str) -> None:
    site = small_site
    pid = site.new_project(members=False)
    head = site.head()
    parts = [("file", (n, data, "image/png")) for n, data in files]
    error = assert_error(site.post(f"/projects/{pid}/images", files=parts), status, code)
    assert error["message"]
    assert site.head() == head
    assert site.ok(site.get(f"/projects/{pid}/images", params={"min_position": head}))[
        "images"] == []
    site.upload(pid, ("fine.png", png_bytes(20, 20)))  # and it still takes good ones


def test_upload_request_limits(small_site: Site) -> None:
    site = small_site
    pid = site.new_project(members=False)
    head = site.head()
    many = [("file", (f"{i}.png", png_bytes(40, 40, (i, i, i), fmt="BMP"), "image/bmp"))
            for i in range(30)]  # ~4.9 KB each, 147 KB in all
    assert_error(site.post(f"/projects/{pid}/images", files=many), 413, "too_large")
    wrong_field = [("image", ("a.png", png_bytes(), "image/png"))]
    assert_error(site.post(f"/projects/{pid}/images", files=wrong_field), 422, "validation")
    assert_error(site.post(f"/projects/{pid}/images", data={"file": "text"},
                           files=[("file", ("a.png", png_bytes(), "image/png"))]), 422,
                 "validation")
    assert_error(site.post(f"/projects/{pid}/images", content=b"--x\r\nbroken",
                           headers={"Content-Type": "multipart/form-data; boundary=x"}), 422,
                 "validation")
    assert_error(site.post(f"/projects/{pid}/images", content=png_bytes(),
                           headers={"Content-Type": "image/png"}), 415,
                 "unsupported_media_type")
    assert site.head() == head


def test_json_limits(small_site: Site) -> None:
    site = small_site
    head = site.head()
    big = {"name": "x" * 5000, "classes": ["a"]}
    assert_error(site.post("/projects", json=big), 413, "too_large")
    pid = site.new_project(members=False)
    head = site.head()
    iid = site.new_image(pid, 20, 20)
    head = site.head()
    assert_error(site.command(iid, {"type": "review", "verdict": "approve",
                                    "comment": "x" * 2000}, user="admin"), 413, "too_large")
    predictions = [{"image_id": iid, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}
                   ] * 100
    assert_error(site.post(f"/projects/{pid}/predictions", json=predictions,
                           params={"model": "m", "model_version": "1"}), 413, "too_large")
    assert site.head() == head


def test_an_unexpected_failure_is_500_internal_without_details(
        shared_site: Site, place: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(image_id: str) -> None:
        raise RuntimeError("secret connection string postgres://u:p@db")

    monkeypatch.setattr(shared_site.services.read, "image", broken)
    response = shared_site.get(f"/images/{place['iid']}", "annotator")
    error = assert_error(response, 500, "internal")
    assert "secret" not in response.text and error["details"] == {}
    assert any("secret connection string" in str(r.exc_info) for r in caplog.records
               if r.exc_info)
    monkeypatch.undo()
    shared_site.ok(shared_site.get(f"/images/{place['iid']}", "annotator"))


@dataclass(frozen=True)
class SettingsWithImportDirs(Settings):
    """``Settings`` plus the allow-list of folders admins may register images from by path
    (read by ``service_layer.image_registration.import_roots`` as ``settings.import_dirs``)."""

    import_dirs: tuple[Path, ...] = ()


def test_paths_import_stays_inside_the_allowed_folders(tmp_path: Path) -> None:
    data = tmp_path / "data"
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    for d in (allowed / "sub", outside):
        d.mkdir(parents=True)
    (allowed / "sub" / "a.png").write_bytes(png_bytes(10, 10))
    (allowed / "b.jpg").write_bytes(png_bytes(12, 10, fmt="JPEG"))
    (allowed / "notes.txt").write_text("not an image")
    (outside / "secret.png").write_bytes(png_bytes(11, 11))
    (allowed / "escape.png").symlink_to(outside / "secret.png")
    (allowed / "escape_dir").symlink_to(outside)
    site = Site(SettingsWithImportDirs(data_dir=data, import_dirs=(allowed,)))
    try:
        pid = site.new_project()
        head = site.head()
        for path, status, code in [
            (str(outside / "secret.png"), 403, "forbidden"),
            (str(allowed / ".." / "outside" / "secret.png"), 403, "forbidden"),
            (str(allowed / "escape.png"), 403, "forbidden"),
            (str(allowed / "escape_dir" / "secret.png"), 403, "forbidden"),
            ("/etc/passwd", 403, "forbidden"),
            (str(allowed / "missing.png"), 422, "validation"),
            (str(allowed / "notes.txt"), 422, "validation"),
        ]:
            assert_error(site.post(f"/projects/{pid}/images", json={"paths": [path]}), status,
                         code)
        # Only admins register server paths, even managers of the project may not.
        assert_error(site.post(f"/projects/{pid}/images", "manager",
                               json={"paths": [str(allowed / "b.jpg")]}), 403, "forbidden")
        assert site.head() == head
        body = site.ok(site.post(f"/projects/{pid}/images", json={"paths": [str(allowed)]}),
                       201)
        # The folder's images, recursively and sorted; the link leading outside is skipped.
        assert [(i["file_name"], i["width"]) for i in body["images"]] == [("b.jpg", 12),
                                                                          ("a.png", 10)]
        assert body["images"][0]["content_type"] == "image/jpeg"
    finally:
        site.close()


def test_readyz_says_which_store_does_not_answer(shared_site: Site,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any) -> None:
        raise ConnectionError("view database unreachable")

    monkeypatch.setattr(shared_site.services.read.db, "query", down)
    error = assert_error(shared_site.get("/readyz", None), 503, "not_ready")
    assert error["details"]["checks"] == {"event_store": "ok", "view_database": "unavailable"}
    assert shared_site.ok(shared_site.get("/healthz", None)) == {"status": "ok"}
    monkeypatch.undo()
    assert shared_site.ok(shared_site.get("/readyz", None))["status"] == "ok"
