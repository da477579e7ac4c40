"""Event deliveries per second on one node (embedded SQLite).

``rooms`` rooms of ``members`` clients each; one member per room sends create commands over
the socket at ``rate`` per second; every member receives every event of its room. A delivery
is one event message received by one client. The run counts deliveries over the measured
window and checks that every event reached every member, in order. Target (issue #3):
>= 10,000 deliveries/s sustained.

    .venv/bin/python benchmarks/realtime_throughput.py [--rooms 2] [--members 50]
        [--rate 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from realtime_common import Member, create_command, deployment, emit, summary_ms

USERS = ("ann1", "ann2", "ann3", "reviewer", "manager", "admin")


async def sender(member: Member, image_id: str, rate: float, seconds: float,
                 sent: dict[str, float]) -> None:
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        cid = uuid.uuid4().hex[:16]
        sent[cid] = time.perf_counter()
        await member.ws.send(create_command(cid, image_id, 5 + i % 500))


async def measure(rooms: int, members: int, rate: float, seconds: float) -> None:
    with deployment(nodes=1, images=rooms) as (d, nodes):
        groups: list[list[Member]] = []
        for r in range(rooms):
            group = [await Member.connect(nodes[0], d.tokens[USERS[i % len(USERS)]])
                     for i in range(members)]
            for m in group:
                await m.join(f"image:{d.image_ids[r]}")
            groups.append(group)
        everyone = [m for g in groups for m in g]
        sent: list[dict[str, float]] = [{} for _ in range(rooms)]
        before = sum(m.received for m in everyone)
        started = time.perf_counter()
        await asyncio.gather(*(sender(g[0], d.image_ids[r], rate, seconds, sent[r])
                               for r, g in enumerate(groups)))
        expected = sum(len(s) for s in sent) * members
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            got = sum(len(m.arrivals) for m in everyone)
            if got >= expected:
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        delivered = sum(len(m.arrivals) for m in everyone)
        latencies = [m.arrivals[c] - t for r, g in enumerate(groups) for m in g
                     for c, t in sent[r].items() if c in m.arrivals]
        emit(benchmark="realtime_throughput", nodes=1, store="sqlite", rooms=rooms,
             members_per_room=members, commands_per_s=rate * rooms,
             deliveries=delivered, expected=expected,
             deliveries_per_s=round(delivered / elapsed),
             offered_deliveries_per_s=round(rate * rooms * members),
             messages_received=sum(m.received for m in everyone) - before,
             in_order=all(m.positions == sorted(m.positions) for m in everyone),
             latency=summary_ms(latencies), target_per_s=10_000,
             ok=delivered == expected and delivered / elapsed >= 10_000)
        for m in everyone:
            await m.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=2)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--rate", type=float, default=110.0, help="commands/s per room")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(measure(args.rooms, args.members, args.rate, args.seconds))


if __name__ == "__main__":
    main()
