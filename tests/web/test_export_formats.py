"""Every export format over real HTTP (uvicorn): media types, file names, zips with the
uploaded image files, the same bytes as of a position, and a 422 with a stable code and a
message for every malformed request (nothing is streamed then)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import httpx
import pytest

from projections.exports import EXPORTERS
from tests.web.conftest import Site, assert_error, png_bytes
from tests.web.served import Served, served_fixture  # noqa: F401 - the fixture

FORMATS = sorted(EXPORTERS)
ZIPPED = {"yolo", "yolo_seg", "voc"}


def labelled_project(site: Site) -> tuple[str, list[dict[str, Any]]]:
    pid = site.new_project(["cat", "dog"], types=["box", "polygon", "point", "tag"])
    images = site.upload(pid, ("one.png", png_bytes(64, 48, (1, 2, 3))),
                         ("two.png", png_bytes(32, 24, (4, 5, 6))))
    site.create(images[0]["id"], "box", "cat", {"x": 1, "y": 2, "w": 10, "h": 8})
    site.create(images[0]["id"], "polygon", "dog", {"points": [[1, 1], [20, 1], [10, 15]]})
    site.create(images[1]["id"], "point", "dog", {"x": 3, "y": 4})
    site.settle()
    return pid, images


def test_every_format_downloads_with_its_media_type_and_name(served: Served) -> None:
    site = served.site
    pid, images = labelled_project(site)
    head = site.head()
    with httpx.Client(base_url=served.url, headers=site.headers("manager"),
                      timeout=30) as client:
        for fmt in FORMATS:
            for position in (None, head):
                params: dict[str, Any] = {"format": fmt}
                if position is not None:
                    params["position"] = position
                response = client.get(f"/projects/{pid}/export", params=params)
                assert response.status_code == 200, (fmt, response.text[:300])
                kind = response.headers["content-type"].split(";")[0]
                name = response.headers["content-disposition"]
                at = "" if position is None else f"-at-{position}"
                if fmt in ZIPPED:
                    assert kind == "application/zip"
                    assert name.endswith(f'{pid}-{fmt}{at}.zip"')
                    assert zipfile.ZipFile(io.BytesIO(response.content)).testzip() is None
                elif fmt == "cvat":
                    assert kind == "application/xml" and name.endswith(f'{at}.xml"')
                else:
                    assert kind == "application/json" and name.endswith(f'{at}.json"')
                    response.json()
        # images=true: the uploaded bytes are in the zip, named as uploaded.
        for fmt, folder in (("yolo", "images/train/"), ("voc", "JPEGImages/"),
                            ("cvat", "images/")):
            response = client.get(f"/projects/{pid}/export",
                                  params={"format": fmt, "images": "true"})
            assert response.headers["content-type"] == "application/zip"
            archive = zipfile.ZipFile(io.BytesIO(response.content))
            for image, color, size in ((images[0], (1, 2, 3), (64, 48)),
                                       (images[1], (4, 5, 6), (32, 24))):
                assert archive.read(folder + image["file_name"]) == png_bytes(*size, color)


def test_same_position_same_sha256_while_the_log_moves_on(served: Served) -> None:
    site = served.site
    pid, images = labelled_project(site)
    head = site.head()
    with httpx.Client(base_url=served.url, headers=site.headers("manager"),
                      timeout=30) as client:

        def digest(fmt: str, **extra: Any) -> str:
            response = client.get(f"/projects/{pid}/export", params={
                "format": fmt, "position": head, "split": "train:0.5,val:0.5", "seed": 9,
                **extra})
            assert response.status_code == 200, response.text[:300]
            return hashlib.sha256(response.content).hexdigest()

        before = {fmt: digest(fmt) for fmt in FORMATS}
        with_files = digest("yolo", images="true")
        site.create(images[1]["id"], "box", "cat", {"x": 0, "y": 0, "w": 4, "h": 4})
        site.upload(pid, ("three.png", png_bytes(16, 16, (7, 8, 9))))
        site.settle()
        assert {fmt: digest(fmt) for fmt in FORMATS} == before
        assert digest("yolo", images="true") == with_files


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_position_past_the_head_is_422_in_every_format(site: Site, fmt: str) -> None:
    pid = site.new_project()
    site.settle()
    beyond = site.head() + 50
    error = assert_error(site.get(f"/projects/{pid}/export",
                                  params={"format": fmt, "position": beyond}), 422,
                         "validation")
    assert error["details"]["field"] == "position"
    assert f"position {beyond} is beyond the head" in error["message"]


@pytest.mark.parametrize("params,field,words", [
    ({"format": "pdf"}, "format", "one of: " + ", ".join(FORMATS)),
    ({"format": "coco", "images": "true"}, "images", "needs a folder format"),
    ({"format": "labelstudio", "images": "true"}, "images", "needs a folder format"),
    ({"format": "yolo", "images": "maybe"}, "images", "true or false"),
    ({"format": "yolo", "split": "train:0.5"}, "split", "add up to 0.5"),
    ({"format": "voc", "split": "../etc:1"}, "split", "split name"),
    ({"format": "yolo", "split": "train:1", "seed": "-1"}, "seed", "seed must be"),
    ({"format": "yolo", "seed": "abc"}, "seed", "seed must be"),
])
def test_malformed_export_requests_are_422(site: Site, params: dict[str, str], field: str,
                                           words: str) -> None:
    pid = site.new_project()
    error = assert_error(site.get(f"/projects/{pid}/export", params=params), 422,
                         "validation")
    assert error["details"]["field"] == field
    assert words in error["message"]
    if field == "format":
        assert error["details"]["allowed"] == FORMATS


def test_only_managers_export(site: Site) -> None:
    pid = site.new_project()
    for user in ("annotator", "reviewer", "outsider"):
        response = site.get(f"/projects/{pid}/export", user, params={"format": "yolo"})
        assert response.status_code in (403, 404), user
    assert site.get(f"/projects/{pid}/export", None, params={"format": "voc"}
                    ).status_code == 401


@pytest.mark.parametrize("fmt", ["yolo", "cvat", "labelstudio"])
def test_as_of_a_position_on_both_databases(any_site: Site, fmt: str) -> None:
    site = any_site
    pid, images = labelled_project(site)
    head = site.head()
    first = site.get(f"/projects/{pid}/export", "manager",
                     params={"format": fmt, "position": head})
    assert first.status_code == 200, first.text[:300]
    site.create(images[0]["id"], "box", "dog", {"x": 5, "y": 5, "w": 5, "h": 5})
    site.settle()
    again = site.get(f"/projects/{pid}/export", "manager",
                     params={"format": fmt, "position": head})
    now = site.get(f"/projects/{pid}/export", "manager", params={"format": fmt})
    assert again.content == first.content
    assert now.content != first.content
