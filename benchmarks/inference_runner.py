"""The runner's overhead: ``OnnxRunner.predict`` against a bare ONNX Runtime loop.

Same model (``tests.inference.model_factory.random_yolov8_onnx``: a small real conv net with
random weights in the YOLOv8 layout, 320x320 input, by default as costly as YOLOv8n: 2.2
GFLOPs; some 60 boxes above 0.25 per image on these images, a stress case for decoding),
same images, same batch size, same intra-op threads. The bare loop is the strictest baseline:
it feeds batches that were letterboxed and converted to float *before* the clock starts, so
everything the runner does besides ``session.run`` -- letterbox, NCHW float conversion,
decoding, NMS, mapping boxes back -- counts against it. It runs with ONNX Runtime's defaults
(threads spin-wait between operators: best for a tight loop); the same loop without spinning
(the runner's setting) is shown too. They are timed alternately, ``--repeat`` times each; the
medians and their ratio are printed, and the ratio of each runner pass to the bare pass just
before it (target: the runner reaches >= 85 % of the bare throughput), with the CPU time per
image of each (``process_time``: spinning threads count). One JSON line per measurement.

Usage: ``python benchmarks/inference_runner.py [--images 64] [--batch 8] [--threads 2]
[--repeat 5] [--size 640x480] [--width 28]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from inference_workers.letterbox import letterbox_batch  # noqa: E402
from inference_workers.model_api import ModelSpec  # noqa: E402
from inference_workers.onnx_runner import OnnxRunner  # noqa: E402
from tests.inference.model_factory import YOLOV8N_WIDTH, random_yolov8_onnx  # noqa: E402

NAMES = ["car", "person", "bicycle", "dog", "cat"]


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def images_of(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """Photos stand-ins: smooth gradients with a few flat rectangles and a little noise."""
    rng = np.random.default_rng(seed)
    out = []
    ys, xs = np.mgrid[0:height, 0:width]
    for _ in range(count):
        base = np.stack([(xs * rng.uniform(0.1, 0.4) + ys * rng.uniform(0.1, 0.4)
                          + rng.uniform(0, 255)) % 256 for _ in range(3)], axis=-1)
        for _ in range(4):
            x0, y0 = rng.integers(0, width - 20), rng.integers(0, height - 20)
            base[y0:y0 + rng.integers(10, height // 3), x0:x0 + rng.integers(10, width // 3)] = \
                rng.uniform(0, 255, 3)
        base += rng.normal(0, 4, base.shape)
        out.append(base.clip(0, 255).astype(np.uint8))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", default="640x480", help="image WIDTHxHEIGHT")
    parser.add_argument("--width", type=int, default=YOLOV8N_WIDTH,
                        help="the model's base width (28: YOLOv8n's cost, 16: a third of it)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory() as folder:
        path = random_yolov8_onnx(Path(folder) / "random_yolov8.onnx", NAMES, (320, 320),
                                  width=args.width)
        spec = ModelSpec(format="onnx", task="detect", layout="yolov8", architecture=None,
                         classes=NAMES, input_size=None)
        runner = OnnxRunner(spec, path, device="cpu", threads=args.threads,
                            batch_size=args.batch)

        def session(spinning: bool) -> ort.InferenceSession:
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if not spinning:
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(str(path), sess_options=options,
                                        providers=["CPUExecutionProvider"])

        bare, bare_quiet = session(True), session(False)
        input_name = bare.get_inputs()[0].name

        images = images_of(args.images, height, width)
        batches = [letterbox_batch(images[i:i + args.batch], (320, 320))[0].numpy()
                   for i in range(0, len(images), args.batch)]

        def bare_loop(session: ort.InferenceSession) -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            for batch in batches:
                session.run(None, {input_name: batch})
            return (len(images) / (time.perf_counter() - wall),
                    (time.process_time() - cpu) * 1000 / len(images))

        def runner_loop() -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            predictions = runner.predict(images)
            rate = len(images) / (time.perf_counter() - wall)
            assert len(predictions) == len(images)
            return rate, (time.process_time() - cpu) * 1000 / len(images)

        bare_loop(bare)  # warm-up: arena allocation, first-run graph work
        bare_loop(bare_quiet)
        detections = sum(len(p) for p in runner.predict(images))
        bare_runs, quiet_runs, runner_runs = [], [], []
        for _ in range(args.repeat):
            bare_runs.append(bare_loop(bare))
            runner_runs.append(runner_loop())
            quiet_runs.append(bare_loop(bare_quiet))
        common = {"model": f"random_yolov8_onnx 320x320 width {args.width}",
                  "images": args.images,
                  "image_size": f"{width}x{height}", "batch": args.batch,
                  "threads": args.threads, "repeat": args.repeat,
                  "load_average_1min": round(os.getloadavg()[0], 2)}
        for name, runs in (("inference_bare_onnxruntime", bare_runs),
                           ("inference_bare_onnxruntime_no_spinning", quiet_runs),
                           ("inference_onnx_runner", runner_runs)):
            emit({"benchmark": name, **common,
                  "images_per_s_median": round(statistics.median(r for r, _ in runs), 1),
                  "images_per_s": [round(r, 1) for r, _ in runs],
                  "cpu_ms_per_image_median": round(statistics.median(c for _, c in runs), 2)})
        # each runner pass is timed between a pass of each bare loop: the ratios of neighbours
        # cancel slow drifts in the machine's load, which the medians of all passes do not
        record: dict[str, Any] = {"benchmark": "inference_runner_vs_bare", **common}
        for name, runs in (("", bare_runs), ("_no_spinning", quiet_runs)):
            pairs = [r / b for (r, _), (b, _) in zip(runner_runs, runs, strict=True)]
            record[f"ratio{name}"] = round(statistics.median(r for r, _ in runner_runs)
                                           / statistics.median(r for r, _ in runs), 3)
            record[f"pairwise_ratio{name}_median"] = round(statistics.median(pairs), 3)
            record[f"cpu_ratio{name}"] = round(statistics.median(c for _, c in runs)
                                               / statistics.median(c for _, c in runner_runs),
                                               3)
        record.update({"detections_per_image": round(detections / len(images), 2),
                       "target": 0.85, "ok": record["pairwise_ratio_median"] >= 0.85})
        emit(record)


if __name__ == "__main__":
    main()
