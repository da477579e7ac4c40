"""Room latency: from a client sending a command to every member of the room receiving its
event (the sender included), at 20 commands/s per room.

1 node (embedded SQLite) and 2 nodes (PostgreSQL + Redis, members split across the nodes,
the sender on the first), rooms of 2, 10 and 50 clients, one room at a time. Prints one JSON
line per (nodes, room size). Targets (issue #3): p99 <= 50 ms on one node, <= 80 ms on two.

    .venv/bin/python benchmarks/realtime_latency.py [--nodes 1|2|both] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from realtime_common import Member, create_command, deployment, emit, summary_ms

RATE = 20.0  # commands per second per room
SIZES = (2, 10, 50)
USERS = ("ann1", "ann2", "ann3", "reviewer", "manager", "admin")


async def one_room(nodes: list, tokens: dict[str, str], image_id: str, size: int,
                   seconds: float) -> dict[str, object]:
    room = f"image:{image_id}"
    members = [await Member.connect(nodes[i % len(nodes)], tokens[USERS[i % len(USERS)]])
               for i in range(size)]
    for m in members:
        await m.join(room)
    sender = members[0]
    sent: dict[str, float] = {}
    count = int(seconds * RATE)
    start = time.perf_counter()
    for i in range(count):
        # Paced to the schedule, not to the previous send: no coordinated omission.
        delay = start + i / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        cid = uuid.uuid4().hex[:16]
        sent[cid] = time.perf_counter()
        await sender.ws.send(create_command(cid, image_id, 5 + i % 500))
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline and not all(
            len(m.arrivals) >= count for m in members):
        await asyncio.sleep(0.05)
    latencies = [m.arrivals[cid] - t for m in members for cid, t in sent.items()
                 if cid in m.arrivals]
    # The sender's ack comes after the commit; "after_ack" is what the fan-out adds to that
    # for the slowest member of the room.
    acked = [sender.acks_at[cid] - t for cid, t in sent.items() if cid in sender.acks_at]
    after_ack = [max(m.arrivals.get(cid, 0.0) for m in members) - sender.acks_at[cid]
                 for cid in sent if cid in sender.acks_at
                 and all(cid in m.arrivals for m in members)]
    missing = count * size - len(latencies)
    ordered = all(m.positions == sorted(m.positions) for m in members)
    for m in members:
        await m.close()
    return {**summary_ms(latencies), "ack": summary_ms(acked),
            "last_member_after_ack": summary_ms(after_ack), "missing": missing,
            "in_order": ordered,
            "errors": sum(len(m.errors) for m in members)}


async def run_nodes(n_nodes: int, seconds: float) -> None:
    with deployment(nodes=n_nodes, images=len(SIZES) + 1) as (d, nodes):
        await one_room(nodes, d.tokens, d.image_ids[-1], 2, 2.0)  # warm-up
        for size, image_id in zip(SIZES, d.image_ids, strict=False):
            result = await one_room(nodes, d.tokens, image_id, size, seconds)
            target = 50 if n_nodes == 1 else 80
            emit(benchmark="realtime_latency", nodes=n_nodes,
                 store="sqlite" if n_nodes == 1 else "postgres+redis", room_size=size,
                 commands_per_s=RATE, seconds=seconds, **result, target_p99_ms=target,
                 ok=result["p99_ms"] <= target and result["missing"] == 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", choices=["1", "2", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    for n in ((1, 2) if args.nodes == "both" else (int(args.nodes),)):
        asyncio.run(run_nodes(n, args.seconds))


if __name__ == "__main__":
    main()
