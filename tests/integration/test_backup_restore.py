"""A backup taken while the service writes restores to exactly the log it copied.

A real ``labelwright serve`` takes commands from four client threads; ``labelwright backup``
runs (as its own process) in the middle of that load. The backup is restored into a fresh
data dir with ``labelwright restore`` and served by a second ``labelwright serve``: every
command acknowledged before the backup started is there, nothing after the backup's position
is, the images' bytes and the API tokens came along, and the COCO export as of the backup's
position is byte-identical on the two services. The PostgreSQL path does the same with
``pg_dump``/``pg_restore`` for the database and ``labelwright backup`` for the files.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.realtime.nodes import (
    BIN,
    PG_ADMIN_URL,
    Deployment,
    Node,
    http_json,
    postgres_available,
    postgres_database,
)
from tests.required_services import unavailable

pytestmark = pytest.mark.slow


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (seed % 256, (seed * 7) % 256, 90)).save(buf, "PNG")
    return buf.getvalue()


def _seed_with_files(deployment: Deployment, images: int = 4) -> dict[str, bytes]:
    """Users, tokens and projects (``Deployment.seed``), then images whose bytes are really
    in the image store, and a file in the model store. Returns image id -> bytes."""
    deployment.seed(images=1)
    contents: dict[str, bytes] = {}
    with deployment.services() as s:
        files = []
        for k in range(images):
            data = _png(k + 1)
            sha = s.images.put(data)
            files.append({"file_name": f"img{k}.png", "width": 64, "height": 48,
                          "sha256": sha, "content_type": "image/png"})
        added, _ = s.app.add_images(deployment.project_id, files, "admin")
        for (image, _), k in zip(added, range(images), strict=True):
            contents[str(image.id)] = _png(k + 1)
        s.models.put(b"weights that no model names yet")
        s.runner.catch_up()
    deployment.image_ids = list(contents)
    return contents


class WriteLoad:
    """Client threads sending ``create`` commands (each with a ``command_id``) until stopped;
    ``acked`` holds (command id, position) of every acknowledged one, in order."""

    def __init__(self, node: Node, token: str, image_ids: list[str], clients: int = 4) -> None:
        self.node, self.token, self.image_ids = node, token, image_ids
        self.acked: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(k,)) for k in range(clients)]
        for t in self.threads:
            t.start()

    def _client(self, k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=30)
        i = 0
        while not self.stop.is_set():
            cid = f"c{k}-{i}"
            body = {"type": "create", "command_id": cid, "annotation": {
                "type": "box", "label": "cat" if i % 2 else "dog",
                "geometry": {"x": i % 40, "y": k, "w": 5, "h": 4}}}
            conn.request("POST", f"/api/v1/images/{self.image_ids[i % len(self.image_ids)]}"
                         "/commands", body=json.dumps(body),
                         headers={"Authorization": f"Bearer {self.token}",
                                  "Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200, data
            with self.lock:
                self.acked.append((cid, int(json.loads(data)["position"])))
            i += 1

    def snapshot(self) -> list[tuple[str, int]]:
        with self.lock:
            return list(self.acked)

    def wait_for(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.snapshot()) < n:
            assert time.monotonic() < deadline, "the write load stalled"
            time.sleep(0.02)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def _cli(deployment: Deployment, *args: str) -> dict[str, Any]:
    done = subprocess.run([str(BIN), *args], env=deployment.env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _stored_command_ids(node: Node, token: str, image_ids: list[str], head: int
                        ) -> dict[str, int]:
    """command id -> position of every event with one, from each image's history."""
    found: dict[str, int] = {}
    for image_id in image_ids:
        after = 0
        while True:
            status, body = http_json(node.port, "GET", f"/api/v1/images/{image_id}/history"
                                     f"?after={after}&limit=1000&min_position={head}", token)
            assert status == 200, body
            for e in body["events"]:
                if e.get("command_id"):
                    found[e["command_id"]] = e["position"]
            if body["next_after"] is None:
                break
            after = body["next_after"]
    return found


def _export(node: Node, token: str, project_id: str, position: int) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
    conn.request("GET", f"/api/v1/projects/{project_id}/export?format=coco&position={position}",
                 headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    data = resp.read()
    assert resp.status == 200, data[:300]
    return data


def _content(node: Node, token: str, image_id: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    conn.request("GET", f"/api/v1/images/{image_id}/content",
                 headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    data = resp.read()
    assert resp.status == 200
    return data


def _check_restored(source: Deployment, node: Node, restored_node: Node, position: int,
                    before: list[tuple[str, int]], contents: dict[str, bytes]) -> None:
    admin = source.tokens["admin"]  # the auth store came along: the old tokens work
    head = http_json(restored_node.port, "GET", "/api/v1/projections", admin)[1]["head"]
    assert head == position
    stored = _stored_command_ids(restored_node, admin, source.image_ids, head)
    missing = [cid for cid, _ in before if cid not in stored]
    assert not missing, f"acknowledged before the backup, missing after restore: {missing[:5]}"
    assert all(p <= position for p in stored.values())
    for image_id, data in contents.items():
        assert _content(restored_node, admin, image_id) == data
    theirs = _export(node, admin, source.project_id, position)
    ours = _export(restored_node, admin, source.project_id, position)
    assert json.loads(ours)["annotations"], "the export holds the load's boxes"
    assert hashlib.sha256(ours).hexdigest() == hashlib.sha256(theirs).hexdigest()


def test_backup_while_serving_restores_every_acknowledged_command(tmp_path: Path) -> None:
    source = Deployment(data_dir=tmp_path / "data")
    contents = _seed_with_files(source)
    node = source.start_node()
    load = WriteLoad(node, source.tokens["ann1"], source.image_ids)
    try:
        load.wait_for(100)
        before = load.snapshot()  # acknowledged before the backup started
        backup = _cli(source, "backup", str(tmp_path / "backup"), "--quiet")
        load.wait_for(len(load.snapshot()) + 50)  # the load went on during and after it
    finally:
        load.finish()
    position = backup["position"]
    assert backup["store"] == "sqlite"
    assert max(p for _, p in before) <= position < max(p for _, p in load.snapshot())
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    paths = {f["path"] for f in manifest["files"]}
    assert {"events.sqlite", "auth.sqlite"} <= paths and "views.sqlite" not in paths
    assert sum(p.startswith("images/") for p in paths) == len(contents)
    assert sum(p.startswith("models/") for p in paths) == 1

    restored = Deployment(data_dir=tmp_path / "restored", tokens=source.tokens)
    result = _cli(restored, "restore", str(tmp_path / "backup"), "--quiet")
    assert result["head"] == position
    restored_node = restored.start_node()
    try:
        _check_restored(source, node, restored_node, position, before, contents)
    finally:
        restored.stop_all()
        source.stop_all()


@pytest.mark.postgres
def test_postgres_backup_is_pg_dump_plus_the_files(tmp_path: Path) -> None:
    if not postgres_available():
        unavailable("PostgreSQL is not reachable at " + PG_ADMIN_URL)
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")
    with postgres_database() as url, postgres_database() as restored_url:
        source = Deployment(data_dir=tmp_path / "data", database_url=url)
        contents = _seed_with_files(source)
        node = source.start_node()
        load = WriteLoad(node, source.tokens["ann1"], source.image_ids, clients=2)
        dump = tmp_path / "db.dump"
        try:
            load.wait_for(60)
            before = load.snapshot()
            subprocess.run(["pg_dump", "--format=custom", "--file", str(dump), url],
                           check=True, timeout=120)
            backup = _cli(source, "backup", str(tmp_path / "backup"), "--quiet")
            load.wait_for(len(load.snapshot()) + 30)
        finally:
            load.finish()
        assert backup["store"] == "files"
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname",
                        restored_url, str(dump)], check=True, timeout=120)
        restored = Deployment(data_dir=tmp_path / "restored", database_url=restored_url,
                              tokens=source.tokens)
        result = _cli(restored, "restore", str(tmp_path / "backup"), "--quiet")
        assert result["store"] == "files" and result["files"] == len(contents) + 1
        restored_node = restored.start_node()
        try:
            admin = source.tokens["admin"]
            position = http_json(restored_node.port, "GET", "/api/v1/projections",
                                 admin)[1]["head"]
            assert max(p for _, p in before) <= position <= backup["position"]
            _check_restored(source, node, restored_node, position, before, contents)
        finally:
            restored.stop_all()
            source.stop_all()


def test_restored_store_takes_new_commands(tmp_path: Path) -> None:
    """A restored store is a working store: commands append after the backup's position."""
    source = Deployment(data_dir=tmp_path / "data")
    _seed_with_files(source, images=1)
    backup = _cli(source, "backup", str(tmp_path / "backup"), "--quiet")
    restored = Deployment(data_dir=tmp_path / "restored", tokens=source.tokens)
    _cli(restored, "restore", str(tmp_path / "backup"), "--quiet")
    node = restored.start_node()
    try:
        status, body = http_json(node.port, "POST",
                                 f"/api/v1/images/{source.image_ids[0]}/commands",
                                 source.tokens["ann1"],
                                 {"type": "create", "command_id": uuid.uuid4().hex,
                                  "annotation": {"type": "point", "label": "cat",
                                                 "geometry": {"x": 1, "y": 1}}})
        assert status == 200, body
        assert body["position"] == backup["position"] + 1
    finally:
        restored.stop_all()
