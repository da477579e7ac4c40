"""Shared by the benchmarks: start a real `labelwright serve`, seed data over the API."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

BIN = Path(sys.executable).parent / "labelwright"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg

    name = f"lw_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def server(database_url: str | None = None) -> Iterator[dict[str, Any]]:
    data = tempfile.mkdtemp(prefix="lw-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
    if database_url:
        env["LABELWRIGHT_DATABASE_URL"] = database_url
    subprocess.run([str(BIN), "user", "add", "admin", "--admin", "--password-stdin",
                    "--data-dir", data], input=b"bench-password\n", env=env, check=True,
                   capture_output=True)
    port = free_port()
    log = open(Path(data) / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(BIN), "serve", "--port", str(port), "--data-dir", data],
                            env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, _ = request(port, "GET", "/healthz")
                if status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not start: " + (Path(data) / "server.log").read_text())
        _, body = request(port, "POST", "/api/v1/auth/login",
                          {"username": "admin", "password": "bench-password"})
        yield {"port": port, "token": body["token"], "pid": proc.pid, "data_dir": data}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def process_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of a running process in MB from /proc (``VmRSS`` now, ``VmHWM`` its
    peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def request(port: int, method: str, path: str, body: Any = None, token: str | None = None,
            conn: http.client.HTTPConnection | None = None, raw: bytes | None = None,
            content_type: str = "application/json") -> tuple[int, Any]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if payload is not None:
        headers["Content-Type"] = content_type
    conn.request(method, path, body=payload, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if own:
        conn.close()
    try:
        return resp.status, json.loads(data) if data else None
    except ValueError:
        return resp.status, data


def png(i: int, size: tuple[int, int] = (64, 48)) -> bytes:
    rng = np.random.default_rng(i)
    array = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, data in files:
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"{name}\"\r\nContent-Type: image/png\r\n\r\n".encode() + data
                     + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


def seed_project(port: int, token: str, images: int, boxes_per_image: int = 3
                 ) -> dict[str, Any]:
    """A project with `images` uploaded images and pre-labels; returns ids and timings."""
    pid = create_project(port, token)
    image_ids = upload_images(port, token, pid, images)
    imported = import_predictions(port, token, pid, image_ids, boxes_per_image)
    return {"project_id": pid, "image_ids": image_ids, **imported}


def create_project(port: int, token: str, name: str = "bench") -> str:
    status, project = request(port, "POST", "/api/v1/projects",
                              {"name": name, "classes": ["car", "person", "dog"]}, token)
    assert status == 201, project
    return str(project["id"])


def upload_images(port: int, token: str, pid: str, images: int, first: int = 0) -> list[str]:
    """Upload `images` distinct PNGs (numbered from `first`) in requests of 100."""
    image_ids: list[str] = []
    for start in range(first, first + images, 100):
        body, ctype = multipart([(f"img{i}.png", png(i))
                                 for i in range(start, min(first + images, start + 100))])
        status, out = request(port, "POST", f"/api/v1/projects/{pid}/images", raw=body,
                              token=token, content_type=ctype)
        assert status == 201, out
        image_ids += [img["id"] for img in out["images"]]
    return image_ids


def import_predictions(port: int, token: str, pid: str, image_ids: list[str],
                       boxes_per_image: int = 3) -> dict[str, Any]:
    """POST one predictions document for `image_ids`; its position and how long it took."""
    predictions = [{"image_id": iid, "annotations": [
        {"type": "box", "label": ["car", "person", "dog"][k % 3], "score": 0.3 + 0.2 * k,
         "geometry": {"x": 2 + 5 * k, "y": 3, "w": 20, "h": 15}}
        for k in range(boxes_per_image)]} for iid in image_ids]
    t = time.perf_counter()
    status, out = request(port, "POST", f"/api/v1/projects/{pid}/predictions",
                          {"model": {"name": "bench", "version": "1"},
                           "predictions": predictions}, token)
    import_s = time.perf_counter() - t
    assert status == 200, out
    return {"import_seconds": import_s, "position": out["position"]}


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)
