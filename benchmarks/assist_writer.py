"""Does the command writer wait on assist engines? Command latency on other images, alone and
while 4 users preview and commit assists continuously (issue 10: "command p99 for other
images unchanged while 4 users click assist continuously").

A real `labelwright serve` (SQLite). One client creates boxes on images nobody assists, for
``--seconds``, first alone, then beside 4 assist users on 1024 px images (2 calling the
preview, 2 committing the assist command, each as fast as answers come). The assist users
drag a box with mask output when the server has an engine for boxes (GrabCut, wired in the
composition root), else they click extreme points (the built-in engine), pausing
``--think-ms`` between answers as people do (0: a stress test). Prints one JSON line.

    .venv/bin/python benchmarks/assist_writer.py [--seconds 10] [--size 1024] [--think-ms 300]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import threading
import time
from typing import Any

from harness import emit, multipart, png, request, server


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def commands(port: int, token: str, image_ids: list[str], seconds: float) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    out: list[float] = []
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        iid = image_ids[i % len(image_ids)]
        started = time.perf_counter()
        status, body = request(port, "POST", f"/api/v1/images/{iid}/commands", {
            "type": "create", "annotation": {"type": "box", "label": "car", "geometry": {
                "x": 1 + i % 40, "y": 2, "w": 10, "h": 8}}}, token, conn=conn)
        out.append((time.perf_counter() - started) * 1000)
        assert status == 200, body
        i += 1
    return out


def assist_user(port: int, token: str, image_id: str, body: dict[str, Any], preview: bool,
                stop: threading.Event, served: list[float], think: float) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    path = f"/api/v1/images/{image_id}/" + ("assist/preview" if preview else "commands")
    while not stop.is_set():
        started = time.perf_counter()
        status, answer = request(port, "POST", path, body, token, conn=conn)
        assert status == 200, answer
        served.append((time.perf_counter() - started) * 1000)
        stop.wait(think)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--think-ms", type=float, default=300.0,
                        help="each assist user's pause between answers (a person clicking "
                             "3 times a second); 0: as fast as the server answers")
    args = parser.parse_args()
    with server() as s:
        port, token = s["port"], s["token"]
        status, project = request(port, "POST", "/api/v1/projects", {
            "name": "assist", "classes": ["car"], "annotation_types": ["box", "mask"]}, token)
        assert status == 201, project
        pid = project["id"]
        raw, ctype = multipart([(f"big{i}.png", png(i, (args.size, args.size * 3 // 4)))
                                for i in range(4)]
                               + [(f"small{i}.png", png(100 + i)) for i in range(20)])
        status, out = request(port, "POST", f"/api/v1/projects/{pid}/images", raw=raw,
                              token=token, content_type=ctype)
        assert status == 201, out
        ids = [img["id"] for img in out["images"]]
        big, small = ids[:4], ids[4:]
        w, h = args.size, args.size * 3 // 4
        box = {"type": "assist", "mode": "box", "label": "car", "output": "mask",
               "points": [[w * 0.3, h * 0.3], [w * 0.7, h * 0.7]]}
        status, _ = request(port, "POST", f"/api/v1/images/{big[0]}/assist/preview", box, token)
        if status != 200:  # no engine for boxes on this server: the built-in one
            box = {"type": "assist", "mode": "extreme_points", "label": "car", "points": [
                [w * 0.3, h / 2], [w / 2, h * 0.3], [w * 0.7, h / 2], [w / 2, h * 0.7]]}
        alone = commands(port, token, small, args.seconds)
        stop = threading.Event()
        served: list[list[float]] = [[], [], [], []]
        users = [threading.Thread(target=assist_user, args=(
            port, token, big[k], box, k < 2, stop, served[k], args.think_ms / 1000),
            daemon=True) for k in range(4)]
        for t in users:
            t.start()
        time.sleep(1.0)
        beside = commands(port, token, small, args.seconds)
        stop.set()
        for t in users:
            t.join(60)
        previews = served[0] + served[1]
        assists = served[2] + served[3]
        emit(**{"benchmark": "assist_writer", "engine_mode": box["mode"], "image_px": [w, h],
              "seconds": args.seconds, "think_ms": args.think_ms,
              "alone": {"n": len(alone), "p50_ms": round(statistics.median(alone), 2),
                        "p99_ms": round(percentile(alone, 0.99), 2)},
              "beside_4_assist_users": {"n": len(beside),
                                        "p50_ms": round(statistics.median(beside), 2),
                                        "p99_ms": round(percentile(beside, 0.99), 2)},
              "previews": {"n": len(previews),
                           "p50_ms": round(statistics.median(previews), 1) if previews else None},
              "assists": {"n": len(assists),
                          "p50_ms": round(statistics.median(assists), 1) if assists else None}})


if __name__ == "__main__":
    main()
