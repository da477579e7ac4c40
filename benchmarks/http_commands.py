"""Commands over HTTP: 8 concurrent clients and 1 client, SQLite and PostgreSQL.

Workload (issue #2): 2,000 images with 3 pre-labels each; each client repeatedly accepts or
edits a pre-label of a random image. Prints one JSON line per (backend, clients) run, plus the
predictions import rate (right after the upload, as users do, and into images the writer has
not cached) and read latencies.

    .venv/bin/python benchmarks/http_commands.py [--backend sqlite|postgres|both] [--seconds 10]
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import threading
import time
from contextlib import nullcontext
from typing import Any

from harness import (
    create_project,
    emit,
    import_predictions,
    postgres_database,
    request,
    seed_project,
    server,
    upload_images,
)

IMAGES = 2000


def prelabels(port: int, token: str, image_ids: list[str]) -> dict[str, list[str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    out = {}
    for iid in image_ids:
        _, body = request(port, "GET", f"/api/v1/images/{iid}/annotations", token=token,
                          conn=conn)
        out[iid] = [a["id"] for a in body["annotations"]]
    return out


ACCEPTED: set[str] = set()  # shared: a pre-label can be accepted once, by whoever is first
LOCK = threading.Lock()


def client_loop(port: int, token: str, targets: dict[str, list[str]], seconds: float,
                latencies: list[float], errors: list[int], seed: int) -> None:
    rng = random.Random(seed)
    ids = list(targets)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    accepted = ACCEPTED
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        iid = rng.choice(ids)
        aid = rng.choice(targets[iid])
        with LOCK:
            accept = aid not in accepted and rng.random() < 0.5
            accepted.add(aid)
        if accept:
            cmd: dict[str, Any] = {"type": "accept", "annotation_id": aid}
        else:
            cmd = {"type": "edit", "annotation_id": aid, "changes": {"geometry": {
                "x": rng.uniform(0, 20), "y": rng.uniform(0, 20), "w": 20, "h": 15}}}
        t = time.perf_counter()
        status, _ = request(port, "POST", f"/api/v1/images/{iid}/commands", cmd, token,
                            conn=conn)
        latencies.append(time.perf_counter() - t)
        if status != 200:
            errors.append(status)


def run(backend: str, seconds: float) -> None:
    ctx = postgres_database() if backend == "postgres" else nullcontext(None)
    with ctx as url, server(url) as srv:
        port, token = srv["port"], srv["token"]
        seeded = seed_project(port, token, IMAGES)
        # Then until the read models show the import (a read with min_position answers).
        t = time.perf_counter()
        request(port, "GET", f"/api/v1/images/{seeded['image_ids'][-1]}/annotations"
                f"?min_position={seeded['position']}", token=token)
        visible = seeded["import_seconds"] + time.perf_counter() - t
        emit(benchmark="predictions_import_http", backend=backend, images=IMAGES, boxes=IMAGES * 3,
             seconds=round(seeded["import_seconds"], 3),
             images_per_s=round(IMAGES / seeded["import_seconds"]),
             until_read_models_show_it_s=round(visible, 3))
        targets = prelabels(port, token, seeded["image_ids"])
        # read latency of current labels
        conn = http.client.HTTPConnection("127.0.0.1", port)
        reads = []
        for iid in seeded["image_ids"][:500]:
            t = time.perf_counter()
            request(port, "GET", f"/api/v1/images/{iid}/annotations", token=token, conn=conn)
            reads.append(time.perf_counter() - t)
        emit(benchmark="current_labels_http", backend=backend,
             p50_ms=round(statistics.median(reads) * 1000, 2))
        for clients in (1, 8):
            latencies: list[float] = []
            errors: list[int] = []
            threads = [threading.Thread(target=client_loop, args=(
                port, token, targets, seconds, latencies, errors, k)) for k in range(clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
            lat = sorted(latencies)
            emit(benchmark="http_commands", backend=backend, clients=clients,
                 commands=len(lat), errors=len(errors), seconds=round(elapsed, 2),
                 commands_per_s=round(len(lat) / elapsed, 1),
                 p50_ms=round(lat[len(lat) // 2] * 1000, 2),
                 p95_ms=round(lat[int(len(lat) * 0.95)] * 1000, 2),
                 p99_ms=round(lat[int(len(lat) * 0.99)] * 1000, 2))
        # Last (it grows the store): the same import into images the writer has not cached,
        # uploaded and then pushed out of its cache (2,048 images) by later uploads, as after
        # a restart. The import above follows its upload, as users usually do.
        cold_pid = create_project(port, token, "cold")
        cold_ids = upload_images(port, token, cold_pid, IMAGES, first=IMAGES)
        upload_images(port, token, create_project(port, token, "later"), IMAGES,
                      first=2 * IMAGES)
        cold = import_predictions(port, token, cold_pid, cold_ids)
        emit(benchmark="predictions_import_http_cold_cache", backend=backend, images=IMAGES,
             boxes=IMAGES * 3, seconds=round(cold["import_seconds"], 3),
             images_per_s=round(IMAGES / cold["import_seconds"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgres", "both"])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        run(backend, args.seconds)


if __name__ == "__main__":
    main()
