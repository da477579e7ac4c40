"""Resident memory of an idle `labelwright serve` (embedded mode), after start-up settles.

    .venv/bin/python benchmarks/idle_memory.py
"""

from __future__ import annotations

import time

from harness import emit, request, server


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main() -> None:
    with server() as srv:
        request(srv["port"], "GET", "/api/v1/projects", token=srv["token"])
        time.sleep(3)
        emit(benchmark="idle_server_rss", backend="sqlite",
             rss_mb=round(rss_kb(srv["pid"]) / 1024, 1))


if __name__ == "__main__":
    main()
