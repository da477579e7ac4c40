"""What the metrics cost (issue #14): a scrape of ``GET /metrics`` with 1,000 open WebSockets,
and command latency with the metrics on and off.

* ``scrape``: one node (embedded SQLite), 1,000 WebSocket connections joined to 100 image
  rooms, then ``--scrapes`` sequential ``GET /metrics`` as the admin, timed at the client
  (request to last byte), each followed by a ``GET /healthz`` timed the same way (what any
  request costs on that node then). Target: p50 <= 20 ms.
* ``commands``: two nodes side by side, one with ``LABELWRIGHT_METRICS=0``; one client sends
  ``--commands`` box edits over keep-alive HTTP to each, alternating in blocks of 50 so that
  whatever else the machine does weighs on both alike. Target: p50 (and mean) latency with
  the metrics at most 3 % above without. Beside latency (which the machine's other load
  moves), the server's CPU time per command (``/proc/PID/stat``) on each side.

Each run prints one JSON line per part; after ``--runs`` runs (default 3) a ``summary`` line
gives the medians over the runs.

    .venv/bin/python benchmarks/metrics_overhead.py [--runs 3] [--connections 1000]
        [--scrapes 50] [--commands 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from realtime_common import Deployment, Member, Node, deployment, emit, percentile

USERS = ("ann1", "ann2", "ann3", "reviewer", "manager", "admin")
PER_ROOM = 10
BLOCK = 50


def timed_get(conn: http.client.HTTPConnection, path: str, token: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    body = resp.read()
    elapsed = time.perf_counter() - started
    assert resp.status == 200, body[:200]
    return elapsed, body


async def scrape_with_connections(connections: int, scrapes: int) -> dict[str, Any]:
    rooms = max(1, connections // PER_ROOM)
    with deployment(nodes=1, images=rooms) as (d, nodes):
        node = nodes[0]
        members = []
        for i in range(connections):
            members.append(await Member.connect(node, d.tokens[USERS[i % len(USERS)]]))
        await asyncio.gather(*(m.join(f"image:{d.image_ids[i // PER_ROOM % rooms]}")
                               for i, m in enumerate(members)))

        def scrape_many() -> tuple[list[float], list[float], bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
            timed_get(conn, "/metrics", d.tokens["admin"])  # warm: imports, caches
            times, probes, body = [], [], b""
            for _ in range(scrapes):
                elapsed, body = timed_get(conn, "/metrics", d.tokens["admin"])
                times.append(elapsed)
                # The same trip to a route that does nothing: how busy the node is anyway.
                probes.append(timed_get(conn, "/healthz", d.tokens["admin"])[0])
            conn.close()
            return times, probes, body

        times, probes, body = await asyncio.to_thread(scrape_many)
        gauge = next(line for line in body.decode().splitlines()
                     if line.startswith("labelwright_websocket_connections "))
        open_now = float(gauge.split()[1])
        for m in members:
            await m.close()
    ms = [t * 1000 for t in times]
    p50 = statistics.median(ms)
    return {"part": "scrape", "connections": connections, "connections_seen": open_now,
            "scrapes": scrapes, "p50_ms": round(p50, 2), "p95_ms": round(percentile(ms, 95), 2),
            "healthz_p50_ms": round(statistics.median(probes) * 1000, 2),
            "bytes": len(body), "lines": body.count(b"\n"), "target_ms": 20, "ok": p50 <= 20}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _edit(annotation_id: str, i: int) -> bytes:
    return json.dumps({"type": "edit", "annotation_id": annotation_id, "changes": {
        "geometry": {"x": 5 + i % 20, "y": 5, "w": 20, "h": 15}}}).encode()


def _prepare(node: Node, token: str, image_ids: list[str]) -> list[tuple[str, str]]:
    """One box per image; the (image, annotation) pairs the edits go to."""
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    targets = []
    for iid in image_ids:
        body = json.dumps({"type": "create", "annotation": {"type": "box", "label": "cat",
                           "geometry": {"x": 5, "y": 5, "w": 20, "h": 15}}}).encode()
        conn.request("POST", f"/api/v1/images/{iid}/commands", body=body,
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        out = json.loads(resp.read())
        assert resp.status == 200, out
        targets.append((iid, out["events"][-1]["data"]["annotation_id"]))
    conn.close()
    return targets


def command_latency(commands: int, root: Path) -> dict[str, Any]:
    sides: dict[str, tuple[Deployment, Node]] = {}
    try:
        for name, flag in (("on", "1"), ("off", "0")):
            d = Deployment(root / name / "data")
            d.seed(images=20)
            sides[name] = (d, d.start_node(env={"LABELWRIGHT_METRICS": flag}))
        conns, targets, latencies = {}, {}, {}
        for name, (d, node) in sides.items():
            targets[name] = _prepare(node, d.tokens["ann1"], d.image_ids)
            conns[name] = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
            latencies[name] = []
        cpu_before = {name: cpu_seconds(node.proc.pid) for name, (_, node) in sides.items()}
        sent = 0
        while sent < commands * 2:
            order = list(sides.items())
            if (sent // (2 * BLOCK)) % 2:
                order.reverse()  # neither side always goes first
            for name, (d, _) in order:
                conn, token = conns[name], d.tokens["ann1"]
                headers = {"Authorization": f"Bearer {token}",
                           "Content-Type": "application/json"}
                for k in range(BLOCK):
                    iid, aid = targets[name][(sent + k) % len(targets[name])]
                    started = time.perf_counter()
                    try:
                        conn.request("POST", f"/api/v1/images/{iid}/commands",
                                     body=_edit(aid, sent + k), headers=headers)
                        resp = conn.getresponse()
                        resp.read()
                    except (OSError, http.client.HTTPException):
                        # The server closed an idle keep-alive connection (a stall on a
                        # loaded machine): reconnect, and leave this sample out.
                        conn.close()
                        conn = conns[name] = http.client.HTTPConnection(
                            "127.0.0.1", sides[name][1].port, timeout=30)
                        continue
                    latencies[name].append(time.perf_counter() - started)
                    assert resp.status == 200
            sent += 2 * BLOCK
        cpu = {name: cpu_seconds(node.proc.pid) - cpu_before[name]
               for name, (_, node) in sides.items()}
        for conn in conns.values():
            conn.close()
    finally:
        for d, _ in sides.values():
            d.stop_all()
    on, off = latencies["on"][BLOCK:], latencies["off"][BLOCK:]  # the first block warms up
    p50_on, p50_off = statistics.median(on) * 1000, statistics.median(off) * 1000
    mean_on, mean_off = statistics.fmean(on) * 1000, statistics.fmean(off) * 1000
    overhead = (p50_on - p50_off) / p50_off * 100
    cpu_on = cpu["on"] / len(latencies["on"]) * 1e6
    cpu_off = cpu["off"] / len(latencies["off"]) * 1e6
    return {"part": "commands", "commands_each": len(on), "p50_on_ms": round(p50_on, 3),
            "server_cpu_us_per_command_on": round(cpu_on, 1),
            "server_cpu_us_per_command_off": round(cpu_off, 1),
            "overhead_cpu_pct": round((cpu_on - cpu_off) / cpu_off * 100, 2),
            "p50_off_ms": round(p50_off, 3), "mean_on_ms": round(mean_on, 3),
            "mean_off_ms": round(mean_off, 3), "overhead_p50_pct": round(overhead, 2),
            "overhead_mean_pct": round((mean_on - mean_off) / mean_off * 100, 2),
            "target_pct": 3, "ok": overhead <= 3}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--commands", type=int, default=3000)
    args = parser.parse_args()
    scrapes, overheads, cpu_overheads, p50s_on, p50s_off = [], [], [], [], []
    for run in range(1, args.runs + 1):
        scrape = asyncio.run(scrape_with_connections(args.connections, args.scrapes))
        emit(benchmark="metrics_overhead", run=run, **scrape)
        root = Path(tempfile.mkdtemp(prefix="lw-metrics-"))
        try:
            commands = command_latency(args.commands, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        emit(benchmark="metrics_overhead", run=run, **commands)
        scrapes.append(scrape["p50_ms"])
        overheads.append(commands["overhead_p50_pct"])
        cpu_overheads.append(commands["overhead_cpu_pct"])
        p50s_on.append(commands["p50_on_ms"])
        p50s_off.append(commands["p50_off_ms"])
    emit(benchmark="metrics_overhead", part="summary", runs=args.runs,
         scrape_p50_ms_median=statistics.median(scrapes),
         command_p50_on_ms_median=statistics.median(p50s_on),
         command_p50_off_ms_median=statistics.median(p50s_off),
         overhead_pct_median=statistics.median(overheads),
         overhead_cpu_pct_median=statistics.median(cpu_overheads),
         ok=statistics.median(scrapes) <= 20 and statistics.median(overheads) <= 3)


if __name__ == "__main__":
    main()
