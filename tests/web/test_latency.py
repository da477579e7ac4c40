"""The hot path, measured for real: ``labelwright serve`` in its own process, a keep-alive
HTTP client, one command after another. The budget is a p50 of 5 ms per command round trip
(parse, authorise, decide, durable commit, answer) on the 2-core CI box.

The client is the standard library's ``http.client``: httpx costs about 1.2 ms of client-side
Python per request on this box (measured against a bare Starlette app), which would hide the
server's own time. Neighbouring processes (a parallel test worker, say) steal CPU, so the best
of a few rounds counts: contention only ever makes a round slower, never faster.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labelwright.bootstrap import bootstrap, shutdown
from labelwright.settings import Settings
from tests.web.conftest import png_bytes

BUDGET_MS = float(os.environ.get("LABELWRIGHT_COMMAND_P50_MS", "5.0"))
ROUNDS = 3
PER_ROUND = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("latency") / "data"
    services = bootstrap(Settings(data_dir=data))
    try:
        services.app.register_user("admin", "password123", is_admin=True)
        project, _ = services.app.create_project("latency", ["cat"], None, "admin")
        files = []
        for i in range(ROUNDS + 1):
            sha = services.images.put(png_bytes(640, 480, (i, 0, 0)))
            files.append({"file_name": f"{i}.png", "width": 640, "height": 480,
                          "sha256": sha, "content_type": "image/png"})
        added, _ = services.app.add_images(str(project.id), files, "admin")
        token = services.tokens.issue("admin")
    finally:
        shutdown(services)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from labelwright.cli import main; "
         "sys.exit(main(sys.argv[1:]))", "serve", "--data-dir", str(data), "--port", str(port)],
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("labelwright serve did not come up")
            time.sleep(0.1)
        yield {"base": base, "token": token, "images": [str(a[0].id) for a in added]}
    finally:
        proc.terminate()
        proc.wait(15)


def _p50(samples: list[float]) -> float:
    return sorted(samples)[len(samples) // 2]


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get("PYTEST_XDIST_WORKER")),
                    reason="a latency budget is measured alone (pytest tests/web/test_latency.py"
                           "): parallel test workers share the CPU cores it measures")
def test_command_round_trip_p50_within_budget(server: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {server['token']}",
               "Content-Type": "application/json"}
    box = json.dumps({"type": "create", "annotation": {
        "type": "box", "label": "cat", "geometry": {"x": 10, "y": 10, "w": 50, "h": 40}}})
    conn = http.client.HTTPConnection(server["base"].removeprefix("http://"), timeout=30)

    def post(image_id: str) -> float:
        started = time.perf_counter()
        conn.request("POST", f"/api/v1/images/{image_id}/commands", body=box, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status == 200, body
        return elapsed

    rounds: list[float] = []
    try:
        for _ in range(30):  # warm up: caches, connections, the projection runner
            post(server["images"][-1])
        for image_id in server["images"][:ROUNDS]:
            rounds.append(_p50([post(image_id) for _ in range(PER_ROUND)]))
            if rounds[-1] <= BUDGET_MS:
                break
    finally:
        conn.close()
    print(f"command round trip p50 per round (ms): {[round(r, 2) for r in rounds]}")
    assert min(rounds) <= BUDGET_MS, rounds
