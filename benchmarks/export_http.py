"""Every export format over HTTP from a real server, as of now and as of a position.

The project is made the way a user makes it: ``benchmarks/import_dataset.py``'s synthetic
COCO zip (10,000 PNGs, 100,000 boxes by default) imported through
``POST /projects/{id}/datasets`` of a real ``labelwright serve`` (SQLite, or ``--postgres``),
so the labels are real events. Then each format is downloaded ``--repeat`` times as of now
(read models) and as of the import's position (``?position=``: the log replayed), streamed
into a SHA-256 at the client. One JSON line per format and mode: median wall seconds to the
whole file and to its first byte, the size, whether every download had the same hash, and
how far the server's RSS rose above what it had before the downloads.

Target (issue 13): each export format <= 3 s, streamed (memory flat).

    .venv/bin/python benchmarks/export_http.py [--images 10000] [--boxes 100000]
        [--repeat 3] [--formats coco,yolo,...] [--postgres]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import statistics
import time
from contextlib import nullcontext

from harness import create_project, postgres_database, process_mb, request, server
from import_dataset import dataset_zip, multipart

FORMATS = ["coco", "yolo", "yolo_seg", "voc", "cvat", "labelstudio", "labelwright"]


def download(port: int, token: str, path: str) -> tuple[float, float, int, str]:
    """(seconds to the last byte, seconds to the first, bytes, sha256) of one GET."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {response.read()[:300]!r}")
    digest = hashlib.sha256()
    first = None
    size = 0
    while chunk := response.read(1 << 16):
        if first is None:
            first = time.perf_counter() - started
        digest.update(chunk)
        size += len(chunk)
    total = time.perf_counter() - started
    conn.close()
    return total, first if first is not None else total, size, digest.hexdigest()


def run(images: int, boxes: int, postgres: bool, repeat: int, formats: list[str]) -> None:
    body, ctype = multipart(dataset_zip(images, boxes), "coco")
    with (postgres_database() if postgres else nullcontext(None)) as url, server(url) as srv:
        port, token = srv["port"], srv["token"]
        pid = create_project(port, token)
        status, answer = request(port, "POST", f"/api/v1/projects/{pid}/datasets", raw=body,
                                 token=token, content_type=ctype)
        assert status == 200, answer
        position = answer["position"]
        # Wait until the read models hold the import (an export as of now reads them).
        deadline = time.time() + 300
        while True:  # a min_position wait answers 503 after a while: ask again
            status, _ = request(port, "GET", f"/api/v1/projects/{pid}?min_position={position}",
                                token=token)
            if status == 200 or time.time() > deadline:
                break
        assert status == 200, status
        for fmt in formats:
            for mode, query in (("now", ""), ("as_of", f"&position={position}")):
                before = process_mb(srv["pid"])
                runs = [download(port, token, f"/api/v1/projects/{pid}/export?format={fmt}"
                                              f"{query}") for _ in range(repeat)]
                after = process_mb(srv["pid"])
                print(json.dumps({
                    "benchmark": "export_http", "store": "postgres" if postgres else "sqlite",
                    "format": fmt, "mode": mode, "images": images, "boxes": boxes,
                    "seconds": round(statistics.median(r[0] for r in runs), 2),
                    "first_byte_s": round(statistics.median(r[1] for r in runs), 3),
                    "runs_s": [round(r[0], 2) for r in runs],
                    "mb": round(runs[0][2] / 2**20, 1),
                    "same_bytes": len({r[3] for r in runs}) == 1,
                    "server_rss_rise_mb": round(after - before, 1), "target_s": 3.0}),
                    flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--boxes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    run(args.images, args.boxes, args.postgres, args.repeat, args.formats.split(","))


if __name__ == "__main__":
    main()
