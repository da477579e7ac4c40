"""``labelwright backup`` of a busy embedded store while it serves, and the web API meanwhile.

Seeds a real ``labelwright serve`` over its API: ``--images`` PNG uploads (10,000) and a
predictions import of ``--boxes`` pre-labels each (9: with the images' own events, ~100,000
events). Then ``--runs`` times (3): a client reads and writes in a loop (``GET
/images/{id}/annotations`` and a ``create`` command, one after the other, on random images) for
a few seconds with nothing else running (the idle latencies), then ``labelwright backup``
runs as its own process while the client goes on. Each run prints a JSON line with the
backup's wall time and CPU seconds, its size, and the client's latency percentiles idle and
during the backup
(targets: backup <= 60 s, p99 during <= 50 ms); a last line has the medians of the runs, and
the time of one ``labelwright restore`` of the last backup (read models rebuilt).

    .venv/bin/python benchmarks/backup.py [--images 10000] [--boxes 9] [--runs 3] [--nice]

``--nice`` runs the backup under ``nice -n 10`` (what docs/operations.md suggests on a
machine short of cores).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness import (  # noqa: E402
    BIN,
    create_project,
    emit,
    request,
    server,
    upload_images,
)


class Client:
    """Reads and writes in a loop, recording each request's latency in ms."""

    def __init__(self, port: int, token: str, image_ids: list[str]) -> None:
        self.port, self.token, self.image_ids = port, token, image_ids
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        rng = random.Random(5)
        i = 0
        while not self.stop.is_set():
            image_id = rng.choice(self.image_ids)
            started = time.perf_counter()
            if i % 2:
                status, body = request(self.port, "GET", f"/api/v1/images/{image_id}/annotations",
                                       token=self.token, conn=conn)
            else:
                status, body = request(self.port, "POST", f"/api/v1/images/{image_id}/commands",
                                       {"type": "create", "annotation": {
                                           "type": "box", "label": "car",
                                           "geometry": {"x": 1, "y": 1, "w": 9, "h": 7}}},
                                       token=self.token, conn=conn)
            assert status == 200, body
            self.latencies.append((time.perf_counter() - started) * 1000)
            i += 1

    def take(self) -> list[float]:
        taken, self.latencies = self.latencies, []
        return taken

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


def import_prelabels(port: int, token: str, pid: str, image_ids: list[str], boxes: int
                     ) -> None:
    """One predictions import of ``boxes`` pre-labels on each of ``image_ids``."""
    predictions = [{"image_id": iid, "annotations": [
        {"type": "box", "label": ["car", "person", "dog"][k % 3], "score": 0.1 + 0.8 * k / boxes,
         "geometry": {"x": 2 + 3 * k, "y": 3, "w": 20, "h": 15}}
        for k in range(boxes)]} for iid in image_ids]
    status, body = request(port, "POST", f"/api/v1/projects/{pid}/predictions",
                           {"model": {"name": "bench", "version": "1"},
                            "predictions": predictions}, token)
    assert status == 200, body


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children: the backup's own
    cost, which a wall-clock time on a shared machine does not tell."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pct(values: list[float]) -> dict[str, float]:
    return {"p50": round(float(np.percentile(values, 50)), 2),
            "p99": round(float(np.percentile(values, 99)), 2),
            "max": round(max(values), 2), "requests": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--boxes", type=int, default=9, help="pre-labels per image")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--nice", action="store_true", help="run the backup under nice -n 10")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="lw-bench-backup-"))
    runs: list[dict[str, Any]] = []
    with server() as s:
        port, token, data_dir = s["port"], s["token"], s["data_dir"]
        started = time.perf_counter()
        pid = create_project(port, token)
        image_ids = upload_images(port, token, pid, args.images)
        for first in range(0, len(image_ids), 2000):  # imports of at most 2,000 images
            import_prelabels(port, token, pid, image_ids[first:first + 2000], args.boxes)
        head = request(port, "GET", "/api/v1/projections", token=token)[1]["head"]
        seed_s = time.perf_counter() - started
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABELWRIGHT_")}
        client = Client(port, token, image_ids)
        try:
            for run in range(args.runs):
                client.take()
                time.sleep(args.idle_seconds)
                idle = client.take()
                dest = out / f"backup-{run}"
                command = [str(BIN), "backup", "--data-dir", data_dir, "--quiet", str(dest)]
                if args.nice:
                    command = ["nice", "-n", "10", *command]
                t, cpu = time.perf_counter(), _children_cpu()
                done = subprocess.run(command, env=env, capture_output=True, text=True,
                                      check=True)
                backup_s = time.perf_counter() - t
                backup_cpu_s = _children_cpu() - cpu
                during = client.take()
                summary = json.loads(done.stdout)
                result = {"benchmark": "backup", "run": run + 1, "events": head,
                          "images": args.images, "position": summary["position"],
                          "files": summary["files"], "mb": round(summary["bytes"] / 1e6, 1),
                          "backup_s": round(backup_s, 2),
                          "backup_cpu_s": round(backup_cpu_s, 2), "idle_ms": _pct(idle),
                          "during_backup_ms": _pct(during), "nice": args.nice,
                          "load_avg": round(os.getloadavg()[0], 2)}
                emit(**result)
                runs.append(result)
                if run < args.runs - 1:
                    shutil.rmtree(dest)
        finally:
            client.close()
    restored = out / "restored"
    t = time.perf_counter()
    subprocess.run([str(BIN), "restore", "--data-dir", str(restored), "--quiet",
                    str(out / f"backup-{args.runs - 1}")], env=env, capture_output=True,
                   check=True)
    restore_s = time.perf_counter() - t
    backup_median = statistics.median(r["backup_s"] for r in runs)
    p99_median = statistics.median(r["during_backup_ms"]["p99"] for r in runs)
    emit(benchmark="backup_summary", events=head, images=args.images, runs=len(runs),
         seed_s=round(seed_s, 1), backup_s_median=backup_median,
         idle_p99_ms_median=statistics.median(r["idle_ms"]["p99"] for r in runs),
         during_backup_p99_ms_median=p99_median, restore_s=round(restore_s, 2),
         target_backup_s=60, target_p99_ms=50,
         ok=backup_median <= 60 and p99_median <= 50, nice=args.nice, cpus=os.cpu_count())
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
