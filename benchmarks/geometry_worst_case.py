"""Worst-case cost of the geometry operations on the write path.

The single group-commit writer validates every geometry and, for an edited pre-label, computes
its IoU against the model's proposal; whatever that costs, every command of every project
waits for. This times (median of --repeat runs) the worst geometry the API accepts for each
operation, on a 100 megapixel (10,000 x 10,000) image:

* polygon IoU of an n-point polygon against another one like it, n = 300 / 1,000 / 10,000
  (10,000 is the most a polygon may have): a valid detailed outline, a self-intersecting star
  (~n**2/4 self-intersections), two interleaved combs (each valid, their edges cross
  ~n**2/16 times) and valid zig-zags whose every row crosses ~n/2 edges;
* polygon validation (``parse_geometry``) of 10,000-point polygons of those shapes;
* mask validation and IoU at 100 MP: a smooth blob, a ragged mask whose counts fill a
  command body (1 MiB, the most an edit can carry), uncompressed counts filling a command
  body, and a ragged mask filling a predictions import body (16 MiB);
* area and bbox (the export path) of the largest polygon and mask;
* the whole edit through the real command pipeline (SQLite), and through the real HTTP
  service, together with how long a command on another image waits behind it.

Target: every operation <= 50 ms p50 on a 2-core machine.

    .venv/bin/python benchmarks/geometry_worst_case.py [--repeat 7] [--no-http]
"""

from __future__ import annotations

import argparse
import http.client
import io
import itertools
import json
import math
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np
from harness import create_project, emit, multipart, request, server
from PIL import Image as PILImage

from domain import geometry as g
from domain import rle
from domain.application import Labeling
from domain.command_pipeline import Actor, CommandPipeline
from domain.commands import parse_command, parse_prelabel
from event_store.positions import EventPositions

SIZE = 10_000
POINTS = (300, 1_000, 10_000)


def timings(f: Callable[[], Any], repeat: int) -> dict[str, float]:
    f()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return {"p50_ms": round(statistics.median(times) * 1000, 2),
            "max_ms": round(max(times) * 1000, 2)}


# -- polygons ---------------------------------------------------------------------------------


def outline(n: int, shift: float = 0.0) -> list[list[float]]:
    """A valid, detailed outline (a wobbly blob): what a careful annotator or a model draws."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    r = 3500 * (1 + 0.15 * np.sin(7 * t) + 0.05 * np.sin(53 * t + shift))
    return np.stack((5000 + shift * 300 + r * np.cos(t), 5000 + r * np.sin(t)), 1).tolist()


def star(n: int, shift: float = 0.0) -> list[list[float]]:
    k = n // 2
    while math.gcd(n, k) != 1:
        k -= 1
    a = 2 * math.pi * k * np.arange(n) / n
    return np.stack((5000 + shift * 100 + 4000 * np.cos(a), 5000 + 4000 * np.sin(a)), 1).tolist()


def comb(n: int, shift: float = 0.0) -> list[list[float]]:
    teeth = max(1, (n - 4) // 4)
    pitch = 8000.0 / teeth
    x0, y0 = 1000.0 + 100 * shift, 1000.0 - 100 * shift
    pts = [[x0, y0]]
    for i in range(teeth):
        y = y0 + i * pitch
        pts += [[x0 + 8000, y], [x0 + 8000, y + pitch / 2], [x0 + 400, y + pitch / 2],
                [x0 + 400, y + pitch]]
    pts.append([x0, y0 + 8000])
    return [[y, x] for x, y in pts] if shift else pts  # the second comb stands upright


def zigzag(n: int, shift: float = 0.0) -> list[list[float]]:
    rng = np.random.default_rng(int(shift))
    xs = np.linspace(1000, 9000, n - 2)
    ys = np.where(np.arange(n - 2) % 2 == 0, 9000.0, rng.uniform(1100, 8900, n - 2))
    return [[9000.0, 1000.0], [1000.0, 1000.0], *np.stack((xs, ys), 1).tolist()]


SHAPES: dict[str, Callable[[int, float], list[list[float]]]] = {
    "valid_outline": outline, "self_intersecting_star": star, "interleaved_combs": comb,
    "zigzag": zigzag,
}


def polygon(points: list[list[float]]) -> g.Polygon:
    parsed = g.parse_geometry("polygon", {"points": points}, SIZE, SIZE)
    assert isinstance(parsed, g.Polygon)
    return parsed


def polygons(repeat: int) -> None:
    for name, shape in SHAPES.items():
        for n in POINTS:
            a, b = polygon(shape(n, 0.0)), polygon(shape(n, 1.0))
            emit(benchmark="geometry_worst_case", op="polygon_iou", shape=name, points=n,
                 iou=round(g.iou(a, b), 6), **timings(partial(g.iou, a, b), repeat))
    for name, shape in SHAPES.items():
        raw = json.loads(json.dumps({"points": shape(10_000, 0.0)}))  # as a request has it
        emit(benchmark="geometry_worst_case", op="polygon_validation", shape=name,
             points=10_000,
             **timings(partial(g.parse_geometry, "polygon", raw, SIZE, SIZE), repeat))
    big = polygon(star(10_000))
    emit(benchmark="geometry_worst_case", op="polygon_area_bbox", shape="self_intersecting_star",
         points=10_000, **timings(partial(area_bbox, big), repeat))


def area_bbox(geometry: g.Geometry) -> tuple[float, Any]:
    return g.area(geometry), g.bbox(geometry)


def unparsed_iou(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The IoU of masks that were not just validated (it decodes both)."""
    return g.iou(g.Mask(a), g.Mask(b))


# -- masks ------------------------------------------------------------------------------------


def disc(cx: float) -> dict[str, Any]:
    """A disc of radius 3,000 px: one run of 1s in each column it crosses."""
    x = np.arange(int(cx) - 2999, int(cx) + 3000)
    half = np.sqrt(np.maximum(3000.0**2 - (x - cx) ** 2, 1)).astype(np.int64)
    bounds = np.stack((x * SIZE + 5000 - half, x * SIZE + 5000 + half), 1).ravel()
    runs = np.diff(np.concatenate(([0], bounds, [SIZE * SIZE])))
    return {"size": [SIZE, SIZE], "counts": rle.counts_from_runs(runs)}


def ragged(chars: int, seed: int, longest: int = 120) -> dict[str, Any]:
    """A mask of random runs of 1 to ``longest`` px whose compressed counts are about
    ``chars`` characters long (runs short enough to fit in 100 MP)."""
    runs = np.random.default_rng(seed).integers(1, longest + 1, chars)
    deltas = runs.copy()
    deltas[3:] -= runs[1:-2]
    magnitude = np.where(deltas >= 0, deltas, ~deltas)
    used = np.cumsum(np.searchsorted(rle._CHAR_THRESHOLDS, magnitude, side="right") + 1)
    runs = runs[: int(np.searchsorted(used, chars - 8))]
    runs[-1] = SIZE * SIZE - int(runs[:-1].sum())  # the rest of the image, as 0s or 1s
    assert runs[-1] > 0
    return {"size": [SIZE, SIZE], "counts": rle.counts_from_runs(runs)}


def masks(repeat: int) -> None:
    command = 1024 * 1024 - 200  # a command body, less the JSON around the mask
    cases = {
        "blob": (disc(5000), disc(5300)),
        "ragged_1MiB_command_max": (ragged(command, 0), ragged(command, 1)),
        "ragged_16MiB_import_max": (ragged(16 * command, 2, longest=10), ragged(command, 1)),
    }
    for name, (a, b) in cases.items():
        ma = g.parse_geometry("mask", {"rle": a}, SIZE, SIZE)
        mb = g.parse_geometry("mask", {"rle": b}, SIZE, SIZE)
        chars = len(a["counts"])
        emit(benchmark="geometry_worst_case", op="mask_validation", shape=name, chars=chars,
             **timings(partial(g.parse_geometry, "mask", {"rle": a}, SIZE, SIZE), repeat))
        emit(benchmark="geometry_worst_case", op="mask_iou", shape=name, chars=chars,
             other_chars=len(b["counts"]), iou=round(g.iou(ma, mb), 6),
             **timings(partial(g.iou, ma, mb), repeat))
        emit(benchmark="geometry_worst_case", op="mask_iou_unparsed", shape=name, chars=chars,
             **timings(partial(unparsed_iou, a, b), repeat))
        emit(benchmark="geometry_worst_case", op="mask_area_bbox", shape=name, chars=chars,
             **timings(partial(area_bbox, ma), repeat))
    # uncompressed counts: a JSON list of run lengths ("12," per run) filling a command body
    runs = np.random.default_rng(3).integers(1, 99, command // 3)
    runs[-1] = SIZE * SIZE - int(runs[:-1].sum())
    listed = {"size": [SIZE, SIZE], "counts": runs.tolist()}
    emit(benchmark="geometry_worst_case", op="mask_validation", shape="uncompressed_1MiB",
         runs=len(listed["counts"]),
         **timings(lambda: g.parse_geometry("mask", {"rle": listed}, SIZE, SIZE), repeat))


# -- through the command pipeline and the HTTP service ----------------------------------------


def pipeline_edit(repeat: int) -> None:
    """The whole edit of a pre-label in the writer (validation of the new geometry, the IoU
    against the proposal, the append and the commit) on the SQLite event store."""
    tmp = tempfile.mkdtemp()
    app = Labeling(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": f"{tmp}/events.sqlite"})
    project, _ = app.create_project("bench", ["car"], None, "mgr")
    added, _ = app.add_images(str(project.id), [{
        "file_name": "big.png", "width": SIZE, "height": SIZE, "sha256": "e" * 64,
        "content_type": "image/png"}], "mgr")
    image_id = added[0][0].id
    pipeline = CommandPipeline(app, EventPositions(app))
    try:
        cases: dict[str, tuple[str, dict[str, Any], list[dict[str, Any]]]] = {
            "self_intersecting_star_10000": (
                "polygon", {"points": outline(64)},
                [{"points": star(10_000, s)} for s in (0, 1)]),
            "ragged_mask_1MiB": (
                "mask", {"rle": disc(5000)},
                [{"rle": ragged(1024 * 1024 - 200, s)} for s in (0, 1)]),
        }
        for name, (kind, proposal, edits) in cases.items():
            result = pipeline.execute(image_id, [parse_prelabel(
                {"type": kind, "label": "car", "geometry": proposal, "score": 0.5}, "m", "1")],
                Actor("mgr", trusted=True))
            aid = result.events[0]["data"]["annotation_id"]
            commands = [parse_command({"type": "edit", "annotation_id": aid,
                                       "changes": {"geometry": e}}) for e in edits]
            turn = itertools.cycle(commands)  # alternate, so that each edit changes it

            def edit(turn: Iterator[Any] = turn) -> None:
                pipeline.execute(image_id, [next(turn)], Actor("mgr"))

            emit(benchmark="geometry_worst_case", op="pipeline_edit", shape=name,
                 **timings(edit, repeat))
    finally:
        pipeline.stop()


def solid_png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    PILImage.new("L", (width, height), 128).save(buf, format="PNG")
    return buf.getvalue()


def http_edit(repeat: int) -> None:
    """Over HTTP: edit a polygon pre-label into a 10,000-point star, and right behind it
    create a point on another image; the latency of both."""
    with server() as s:
        port, token = s["port"], s["token"]
        pid = create_project(port, token)
        body, ctype = multipart([("big.png", solid_png(5000, 4000)),
                                 ("small.png", solid_png(64, 48))])
        status, out = request(port, "POST", f"/api/v1/projects/{pid}/images", raw=body,
                              token=token, content_type=ctype)
        assert status == 201, out
        big, small = (img["id"] for img in out["images"])
        status, out = request(port, "POST", f"/api/v1/projects/{pid}/predictions", {
            "model": {"name": "bench", "version": "1"}, "predictions": [{
                "image_id": big, "annotations": [{
                    "type": "polygon", "label": "car", "score": 0.5,
                    "geometry": {"points": [[2500 + 1500 * math.cos(a), 2000 + 1500 * math.sin(a)]
                                            for a in np.linspace(0, 6.28, 64).tolist()]}}]}]},
            token)
        assert status == 200, out
        _, anns = request(port, "GET", f"/api/v1/images/{big}/annotations"
                          f"?min_position={out['position']}", token=token)
        aid = anns["annotations"][0]["id"]
        stars = [[[x / 2, y / 2.5] for x, y in star(10_000, s)] for s in (0, 1)]
        heavy_conn = http.client.HTTPConnection("127.0.0.1", port)
        light_conn = http.client.HTTPConnection("127.0.0.1", port)
        heavy: list[float] = []
        light: list[float] = []

        def edit(i: int) -> None:
            start = time.perf_counter()
            status, out = request(port, "POST", f"/api/v1/images/{big}/commands", {
                "type": "edit", "annotation_id": aid,
                "changes": {"geometry": {"points": stars[i % 2]}}}, token, conn=heavy_conn)
            assert status == 200, out
            heavy.append(time.perf_counter() - start)

        for i in range(repeat + 1):
            thread = threading.Thread(target=edit, args=(i,))
            thread.start()
            time.sleep(0.01)  # the edit's body is read and parsed by now
            start = time.perf_counter()
            status, out = request(port, "POST", f"/api/v1/images/{small}/commands", {
                "type": "create", "annotation": {"type": "point", "label": "car",
                                                 "geometry": {"x": i % 60, "y": 5}}},
                token, conn=light_conn)
            assert status in (200, 201), out
            light.append(time.perf_counter() - start)
            thread.join()
        emit(benchmark="geometry_worst_case", op="http_edit", shape="self_intersecting_star",
             points=10_000, p50_ms=round(statistics.median(heavy[1:]) * 1000, 2),
             other_image_command_p50_ms=round(statistics.median(light[1:]) * 1000, 2),
             other_image_command_max_ms=round(max(light[1:]) * 1000, 2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    polygons(args.repeat)
    masks(args.repeat)
    pipeline_edit(args.repeat)
    if not args.no_http:
        http_edit(args.repeat)


if __name__ == "__main__":
    main()
