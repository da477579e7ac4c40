"""Resume: a client that missed 1,000 events of its image re-joins with ``after_position`` and
is caught up. Timed from opening the new connection to holding the last missed event (and,
separately, from sending ``join``). Target (issue #3): <= 200 ms.

    .venv/bin/python benchmarks/realtime_resume.py [--missed 1000] [--rounds 5]
        [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import orjson
from realtime_common import Member, deployment, emit, http_json


def commit_batch(port: int, token: str, image_id: str, n: int) -> int:
    """``n`` events on the image in batches of commands over HTTP; the last position."""
    position = 0
    while n > 0:
        k = min(n, 500)
        status, body = http_json(port, "POST", f"/api/v1/images/{image_id}/commands", token,
                                 {"commands": [{"type": "create", "annotation": {
                                     "type": "box", "label": "cat",
                                     "geometry": {"x": i % 500, "y": 20, "w": 30, "h": 40}}}
                                     for i in range(k)]})
        assert status == 200, body
        position, n = body["position"], n - k
    return int(position)


async def measure(backend: str, missed: int, rounds: int) -> None:
    with deployment(nodes=1, images=rounds, postgres=backend == "postgres") as (d, nodes):
        node = nodes[0]
        token = d.tokens["ann1"]
        totals, joins = [], []
        for r in range(rounds):
            image_id = d.image_ids[r]
            room = f"image:{image_id}"
            client = await Member.connect(node, token)
            await client.join(room)
            assert client.joined is not None
            last_seen = client.joined["position"]
            await client.close()
            last = await asyncio.to_thread(commit_batch, node.port, token, image_id, missed)
            started = time.perf_counter()
            back = await Member.connect(node, token)
            sent_join = time.perf_counter()
            await back.ws.send(orjson.dumps({"op": "join", "room": room,
                                             "after_position": last_seen}).decode())
            while not back.positions or back.positions[-1] < last:
                await asyncio.sleep(0.001)
            done = time.perf_counter()
            assert len(back.positions) == missed and back.joined is not None \
                and back.joined["resumed"], (len(back.positions), back.joined)
            totals.append(done - started)
            joins.append(done - sent_join)
            await back.close()
        emit(benchmark="realtime_resume", store=backend, missed_events=missed,
             rounds=rounds, connect_to_caught_up_ms=[round(t * 1000, 1) for t in totals],
             median_ms=round(statistics.median(totals) * 1000, 1),
             max_ms=round(max(totals) * 1000, 1),
             join_to_caught_up_median_ms=round(statistics.median(joins) * 1000, 1),
             target_ms=200, ok=max(totals) <= 0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--missed", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    for backend in (("sqlite", "postgres") if args.backend == "both" else (args.backend,)):
        asyncio.run(measure(backend, args.missed, args.rounds))


if __name__ == "__main__":
    main()
