"""An acknowledgement is a promise: SIGKILL the server mid-stream, restart, count.

Clients send a stream of commands (each with a ``command_id``) to a real ``labelwright serve``;
the server is killed with SIGKILL while requests are in flight. After a restart on the same
data dir every command that was acknowledged (HTTP 200) is in the log exactly once; resending
any command (acknowledged or not) with its ``command_id`` never records it twice.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.realtime.nodes import Deployment, http_json

pytestmark = pytest.mark.slow


def _send(port: int, token: str, image_id: str, body: dict[str, Any],
          conn: http.client.HTTPConnection) -> int:
    conn.request("POST", f"/api/v1/images/{image_id}/commands", body=json.dumps(body),
                 headers={"Authorization": f"Bearer {token}",
                          "Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def _history_command_ids(port: int, token: str, image_id: str, head: int) -> list[str]:
    ids: list[str] = []
    after = 0
    while True:
        status, body = http_json(port, "GET", f"/api/v1/images/{image_id}/history?after={after}"
                                 f"&limit=1000&min_position={head}", token)
        assert status == 200, body
        ids += [e["command_id"] for e in body["events"] if e.get("command_id")]
        if body["next_after"] is None:
            return ids
        after = body["next_after"]


def test_sigkill_loses_no_acknowledged_command_and_applies_none_twice(tmp_path: Path) -> None:
    deployment = Deployment(data_dir=tmp_path / "data")
    deployment.seed(images=4)
    token = deployment.tokens["ann1"]
    node = deployment.start_node()
    acked: list[str] = []
    sent: dict[str, tuple[str, dict[str, Any]]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
        i = 0
        while not stop.is_set():
            cid = f"c{k}-{i}"
            image_id = deployment.image_ids[i % len(deployment.image_ids)]
            body = {"type": "create", "command_id": cid, "annotation": {
                "type": "point", "label": "cat", "geometry": {"x": i % 600, "y": k}}}
            with lock:
                sent[cid] = (image_id, body)
            try:
                status = _send(node.port, token, image_id, body, conn)
            except (OSError, http.client.HTTPException):
                return  # the server died under us: this one is unacknowledged
            if status == 200:
                with lock:
                    acked.append(cid)
            i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.02)
    node.kill()  # SIGKILL with requests in flight
    stop.set()
    for t in threads:
        t.join(15)
    assert len(acked) >= 150

    node = deployment.start_node()
    try:
        admin = deployment.tokens["admin"]
        head = http_json(node.port, "GET", "/api/v1/projections", admin)[1]["head"]
        stored = Counter(cid for image_id in deployment.image_ids
                         for cid in _history_command_ids(node.port, admin, image_id, head))
        assert all(stored[cid] == 1 for cid in acked), "an acknowledged command is missing"
        assert max(stored.values()) == 1, "a command was recorded twice"
        assert set(stored) <= set(sent)
        # Retrying every command (as a client would after the crash) records nothing new for
        # the stored ones and stores the others exactly once.
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
        for _cid, (image_id, body) in sent.items():
            assert _send(node.port, token, image_id, body, conn) == 200
        after = http_json(node.port, "GET", "/api/v1/projections", admin)[1]["head"]
        assert after - head == len(set(sent) - set(stored))
        again = Counter(cid for image_id in deployment.image_ids
                        for cid in _history_command_ids(node.port, admin, image_id, after))
        assert set(again) == set(sent) and max(again.values()) == 1
    finally:
        deployment.stop_all()
