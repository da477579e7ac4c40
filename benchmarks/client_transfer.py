"""The Python client's transfers against a real ``labelwright serve``: uploads and exports.

Starts the server (benchmarks/harness.py), writes N distinct JPEGs (640x480) into a folder per
run, and times ``Client.upload_images`` with batches of 1, 10 and 100 files, each into a fresh
project with fresh bytes (the image store is content-addressed, so reused bytes would skip the
writes), next to the same 100-file requests posted with bare httpx. Then, on the last project
with 3 pre-labels an image, ``Client.export`` of COCO (streamed to a file, hashed) against a
bare httpx GET read into memory, and of YOLO with the image files (download, hash, unpack).
Prints one JSON line per measurement; ``--runs`` repeats the whole thing.

    .venv/bin/python benchmarks/client_transfer.py [--files 300] [--runs 3]

Measured (2026-11-30, shared 2-core machine at load average 6-12, medians of 3 runs): 300
JPEGs of 640x480 (26 MB): batches of 1 file 85 files/s, of 10 111 files/s, of 100 250 files/s
(1.20 s), bare httpx in the same 100-file requests 257 files/s (1.17 s): batching is what
counts, the client adds nothing measurable. Exports of those 300 images with 900 boxes, as of
a position: COCO (334 KB) 0.27 s to a hashed file vs 0.20 s into memory with bare httpx; YOLO
with the image files (601 files, 26 MB) 0.54 s downloaded, hashed and unpacked.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import emit, import_predictions, server

from labelwright.client import Client


def jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((640, 480), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write_folder(folder: Path, first: int, n: int) -> int:
    folder.mkdir(parents=True)
    total = 0
    for i in range(first, first + n):
        data = jpeg(i)
        (folder / f"img{i:05d}.jpg").write_bytes(data)
        total += len(data)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    n = args.files
    with server() as srv, tempfile.TemporaryDirectory(prefix="lw-client-bench-") as tmp:
        url = f"http://127.0.0.1:{srv['port']}"
        lw = Client(url, srv["token"], timeout=120)
        seed = 0
        for run in range(args.runs):
            for batch in (1, 10, 100):
                folder = Path(tmp) / f"run{run}-batch{batch}"
                size = write_folder(folder, seed, n)
                seed += n
                pid = lw.create_project(f"client {run} {batch}", ["car", "person", "dog"])["id"]
                t = time.perf_counter()
                result = lw.upload_images(pid, folder, batch_files=batch)
                seconds = time.perf_counter() - t
                assert len(result.images) == n and not result.errors
                emit(bench="client_upload", run=run, batch_files=batch, files=n, bytes=size,
                     seconds=round(seconds, 3), files_per_s=round(n / seconds, 1),
                     mb_per_s=round(size / seconds / 1e6, 1))
            # The same 100-file requests, bare httpx, for the client's own overhead.
            folder = Path(tmp) / f"run{run}-bare"
            size = write_folder(folder, seed, n)
            seed += n
            bare_pid = lw.create_project(f"bare {run}", ["car"])["id"]
            paths = sorted(folder.iterdir())
            with httpx.Client(base_url=url + "/api/v1", timeout=120,
                              headers={"Authorization": f"Bearer {srv['token']}"}) as http:
                t = time.perf_counter()
                for start in range(0, n, 100):
                    files = [("file", (p.name, p.read_bytes(), "application/octet-stream"))
                             for p in paths[start:start + 100]]
                    http.post(f"/projects/{bare_pid}/images", files=files).raise_for_status()
                seconds = time.perf_counter() - t
                emit(bench="bare_httpx_upload", run=run, batch_files=100, files=n, bytes=size,
                     seconds=round(seconds, 3), files_per_s=round(n / seconds, 1))

                ids = [row["id"] for row in lw.images(pid)]
                position = import_predictions(srv["port"], srv["token"], pid, ids, 3)["position"]
                # The first export as of a position replays the project's images (cold); time
                # the client and bare httpx on the warm path alike.
                http.get(f"/projects/{pid}/export", params={
                    "format": "coco", "position": position}).raise_for_status()
                t = time.perf_counter()
                out = lw.export(pid, "coco", position=position, include_proposed=True,
                                dest=Path(tmp) / f"coco-{run}.json")
                client_s = time.perf_counter() - t
                t = time.perf_counter()
                body = http.get(f"/projects/{pid}/export", params={
                    "format": "coco", "position": position, "include_proposed": "true"}).content
                bare_s = time.perf_counter() - t
                assert len(body) == out.path.stat().st_size
                emit(bench="client_export", run=run, format="coco", images=n,
                     bytes=len(body), client_seconds=round(client_s, 3),
                     bare_httpx_seconds=round(bare_s, 3))
                t = time.perf_counter()
                out = lw.export(pid, "yolo", position=position, include_proposed=True,
                                images=True, dest=Path(tmp) / f"yolo-{run}/")
                seconds = time.perf_counter() - t
                emit(bench="client_export", run=run, format="yolo", images=n,
                     files=len(out.files), bytes=sum(p.stat().st_size for p in out.files),
                     client_seconds=round(seconds, 3))
        lw.close()


if __name__ == "__main__":
    main()
