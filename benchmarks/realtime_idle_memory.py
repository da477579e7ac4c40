"""Memory per idle connection on one node: the server's RSS before and after opening 1,000
WebSocket connections, each joined to an image room (100 rooms of 10). Target (issue #3):
<= 50 KB per connection.

    .venv/bin/python benchmarks/realtime_idle_memory.py [--connections 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc

from realtime_common import Member, deployment, emit, rss_kb

USERS = ("ann1", "ann2", "ann3", "reviewer", "manager", "admin")
PER_ROOM = 10


async def measure(connections: int) -> None:
    rooms = max(1, connections // PER_ROOM)
    with deployment(nodes=1, images=rooms) as (d, nodes):
        node = nodes[0]
        pid = node.proc.pid
        # Warm up every code path once (imports, caches, pools), then let it settle.
        warm = [await Member.connect(node, d.tokens["ann1"]) for _ in range(20)]
        for i, m in enumerate(warm):
            await m.join(f"image:{d.image_ids[i % rooms]}")
        for m in warm:
            await m.close()
        await asyncio.sleep(2)
        before = rss_kb(pid)
        members = []
        for i in range(connections):
            m = await Member.connect(node, d.tokens[USERS[i % len(USERS)]])
            members.append(m)
        await asyncio.gather(*(m.join(f"image:{d.image_ids[i // PER_ROOM % rooms]}")
                               for i, m in enumerate(members)))
        await asyncio.sleep(3)  # idle: pings only
        gc.collect()
        after = rss_kb(pid)
        per = (after - before) / connections
        emit(benchmark="realtime_idle_memory", connections=connections, rooms=rooms,
             rss_before_kb=before, rss_after_kb=after, kb_per_connection=round(per, 1),
             target_kb=50, ok=per <= 50)
        for m in members:
            await m.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(measure(args.connections))


if __name__ == "__main__":
    main()
