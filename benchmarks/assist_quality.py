"""Quality of the classical assist engine on the composite benchmark (issue #10).

Dataset: ``inference_workers.assist_dataset.composites`` (48 images by default, exact masks).
Measures, as interactive-segmentation papers (RITM) report them:

- ``box_miou``: mean IoU of the mask proposed from the object's tight box (two corners);
- ``extreme_miou``: from the four extreme points of the ground truth (left/top/right/bottom
  -most pixel centres);
- ``noc85`` / ``noc90``: mean number of clicks until IoU >= 85 / 90 % (at most 20; a sample
  that never gets there counts 20): the first click is the object's centre (the maximum of the
  distance transform of the mask), each next one the centre of the largest error region
  (distance transform maximum over missed object pixels and wrongly taken background pixels),
  positive on a missed object pixel, negative otherwise;
- ``baseline_box_miou``: untuned GrabCut, ``cv2.grabCut`` from the box on the whole image, 5
  iterations, nothing else.

Usage: ``python benchmarks/assist_quality.py [--count 48] [--seed 10] [--set work_size=384
--set iterations=4 ...] [--per-image] [--no-clicks]``. One JSON line per measurement.
Targets: box mIoU >= 0.80 and extreme points > box.

Measured (48 images, seed 10, 2-core machine, 2 min): box 0.806, extreme points 0.889,
untuned GrabCut from the box 0.751; NoC@85 5.52, NoC@90 6.48, mIoU after 5 clicks 0.875; 6
images never reach 90 % in 20 clicks (camouflage: an object cut from the background's own
photograph, where colour models cannot help).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from inference_workers.assist_dataset import composites, extreme_points  # noqa: E402
from inference_workers.assist_grabcut import GrabCutEngine, Tuning  # noqa: E402

Bool = npt.NDArray[np.bool_]
MAX_CLICKS = 20


def iou(a: Bool, b: Bool) -> float:
    union = int(np.count_nonzero(a | b))
    return int(np.count_nonzero(a & b)) / union if union else 1.0


def _deepest(region: Bool) -> tuple[float, float, float]:
    """``(x, y, depth)``: the pixel of ``region`` farthest from its edge (the image border
    counts as an edge), as a click at its centre."""
    padded = np.pad(region, 1).astype(np.uint8)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x) + 0.5, float(y) + 0.5, float(dist[y, x])


def noc(engine: GrabCutEngine, image: Any, gt: Bool) -> tuple[int, int, float]:
    """Clicks to 85 % and 90 % IoU (``MAX_CLICKS`` when never reached), and the IoU after
    five clicks."""
    x, y, _ = _deepest(gt)
    clicks = [(x, y, 1)]
    reached: dict[float, int] = {}
    at5 = 0.0
    for n in range(1, MAX_CLICKS + 1):
        pred = engine.segment(image, "clicks", tuple(clicks))
        score = iou(pred, gt)
        if n == 5:
            at5 = score
        for threshold in (0.85, 0.90):
            if score >= threshold and threshold not in reached:
                reached[threshold] = n
        if 0.90 in reached and n >= 5:
            break
        missed = gt & ~pred
        extra = pred & ~gt
        mx, my, md = _deepest(missed)
        ex, ey, ed = _deepest(extra)
        clicks.append((mx, my, 1) if md >= ed else (ex, ey, -1))
    if at5 == 0.0:
        at5 = score
    return reached.get(0.85, MAX_CLICKS), reached.get(0.90, MAX_CLICKS), at5


def baseline(image: Any, box: tuple[int, int, int, int]) -> Bool:
    seeds = np.zeros(image.shape[:2], np.uint8)
    cv2.setRNGSeed(0)
    cv2.grabCut(image, seeds, box, np.zeros((1, 65)), np.zeros((1, 65)), 5,
                cv2.GC_INIT_WITH_RECT)
    return (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--per-image", action="store_true")
    parser.add_argument("--no-clicks", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    changes: dict[str, Any] = {}
    for item in args.set:
        name, value = item.split("=", 1)
        kind = type(getattr(Tuning(), name))
        changes[name] = kind(value)
    tuning = dataclasses.replace(Tuning(), **changes)
    engine = GrabCutEngine(lambda sha: Path(sha), tuning=tuning)
    rows: dict[str, list[float]] = {"box": [], "extreme": [], "baseline": [], "noc85": [],
                                    "noc90": [], "iou@5": []}
    started = time.perf_counter()
    for sample in composites(args.count, args.seed):
        image = cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR)
        gt = sample.mask
        ys, xs = np.nonzero(gt)
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        row: dict[str, Any] = {"image": sample.name}
        row["box"] = iou(engine.segment(image, "box", ((x0, y0, 1), (x1, y1, 1))), gt)
        ext = tuple((x, y, 1) for x, y in extreme_points(gt))
        row["extreme"] = iou(engine.segment(image, "extreme_points", ext), gt)
        if not args.no_baseline:
            row["baseline"] = iou(baseline(image, (x0, y0, x1 - x0, y1 - y0)), gt)
        if not args.no_clicks:
            row["noc85"], row["noc90"], row["iou@5"] = noc(engine, image, gt)
        for key, value in row.items():
            if key != "image":
                rows[key].append(float(value))
        if args.per_image:
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                              for k, v in row.items()}), flush=True)
    summary = {
        "images": args.count, "seed": args.seed, "tuning": dataclasses.asdict(tuning),
        "box_miou": statistics.fmean(rows["box"]),
        "extreme_miou": statistics.fmean(rows["extreme"]),
    }
    if rows["baseline"]:
        summary["baseline_box_miou"] = statistics.fmean(rows["baseline"])
    if rows["noc85"]:
        summary |= {"noc85": statistics.fmean(rows["noc85"]),
                    "noc90": statistics.fmean(rows["noc90"]),
                    "miou_at_5_clicks": statistics.fmean(rows["iou@5"]),
                    "failures_at_20_clicks_90": sum(v >= MAX_CLICKS for v in rows["noc90"])}
    summary["seconds"] = time.perf_counter() - started
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                      for k, v in summary.items()}))


if __name__ == "__main__":
    main()
