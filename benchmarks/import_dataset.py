"""Import a synthetic COCO dataset end to end over HTTP into a running server.

10,000 small generated PNGs (64x48) and 100,000 boxes in one zip, sent to
``POST /projects/{id}/datasets`` of a real ``labelwright serve`` (SQLite by default,
``--postgres`` for PostgreSQL). Targets (issue 13): >= 5,000 annotations/s end to end, the
server's peak RSS <= 300 MB. Prints one JSON line per run.

    .venv/bin/python benchmarks/import_dataset.py [--images 10000] [--boxes 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import time
import uuid
import zipfile
from contextlib import nullcontext

import numpy as np
from harness import create_project, postgres_database, process_mb, request, server
from PIL import Image


def small_png(i: int) -> bytes:
    """A 64x48 PNG that differs from every other one (its number in the first pixels)."""
    array = np.full((48, 64, 3), 200, dtype=np.uint8)
    array[0, :4, 0] = np.frombuffer(i.to_bytes(4, "big"), dtype=np.uint8)
    array[10:30, 10:40] = (i * 37 % 256, i * 91 % 256, 90)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def dataset_zip(images: int, boxes: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(["car", "person", "dog"])]
    doc_images = [{"id": i + 1, "file_name": f"img{i:05d}.png", "width": 64, "height": 48}
                  for i in range(images)]
    anns = []
    for k in range(boxes):
        w, h = rng.uniform(2, 30), rng.uniform(2, 20)
        x, y = rng.uniform(0, 64 - w), rng.uniform(0, 48 - h)
        anns.append({"id": k + 1, "image_id": k % images + 1, "category_id": k % 3 + 1,
                     "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                     "area": round(w * h, 2), "iscrowd": 0, "segmentation": []})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("annotations/instances_train.json", json.dumps(
            {"images": doc_images, "annotations": anns, "categories": categories}))
        for i in range(images):
            z.writestr(f"images/train/img{i:05d}.png", small_png(i))
    return buf.getvalue()


def multipart(data: bytes, fmt: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\n{fmt}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"dataset.zip\"\r\nContent-Type: application/zip\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def peak_rss_mb(pid: int) -> float:
    return process_mb(pid, "VmHWM")


def run(images: int, boxes: int, postgres: bool) -> dict[str, object]:
    data = dataset_zip(images, boxes)
    body, ctype = multipart(data, "coco")
    with (postgres_database() if postgres else nullcontext(None)) as url, server(url) as srv:
        port, token = srv["port"], srv["token"]
        pid = create_project(port, token)
        idle = peak_rss_mb(srv["pid"])
        started = time.perf_counter()
        status, answer = request(port, "POST", f"/api/v1/projects/{pid}/datasets", raw=body,
                                 token=token, content_type=ctype)
        seconds = time.perf_counter() - started
        assert status == 200, answer
        assert answer["annotations"] == boxes and answer["images"] == images, answer
        peak = peak_rss_mb(srv["pid"])
        started = time.perf_counter()
        status, again = request(port, "POST", f"/api/v1/projects/{pid}/datasets", raw=body,
                                token=token, content_type=ctype)
        retry = time.perf_counter() - started
        assert status == 200 and again["position"] == answer["position"], again
    return {"benchmark": "import_dataset", "store": "postgres" if postgres else "sqlite",
            "images": images, "annotations": boxes, "zip_mb": round(len(data) / 2**20, 1),
            "seconds": round(seconds, 2), "annotations_per_s": round(boxes / seconds),
            "target_per_s": 5000, "server_rss_idle_mb": round(idle),
            "server_rss_peak_mb": round(peak), "target_rss_mb": 300,
            "retry_seconds": round(retry, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--boxes", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    for _ in range(args.runs):
        print(json.dumps(run(args.images, args.boxes, args.postgres)), flush=True)


if __name__ == "__main__":
    main()
