"""Registering a 50 MB ONNX model over HTTP against a real ``labelwright serve`` (issue #9:
target <= 2 s). Prints one JSON line per run and a summary line (median of the runs).

The model is the tests' planted YOLOv8 detector (``tests/inference/model_factory``) padded with
a 12.5M-float initializer that the graph really uses (``ReduceSum`` x 0 added to the output),
so ONNX Runtime loads all 50 MB when the inspection probes the graph. Each run uploads
different bytes (a ``run`` metadata entry), so every run streams, hashes, inspects, fsyncs and
renames a new file; nothing is served from a previous run's stored copy. The time is the
client's: from the first byte of the request to the 201 (multipart body built beforehand).
A second summary times the same steps in-process without HTTP (the inspection alone, and
``register_model`` whole) to show where the time goes.

    .venv/bin/python benchmarks/model_registration.py [--runs 5] [--megabytes 50]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness import create_project, emit, server  # noqa: E402

from tests.inference import model_factory  # noqa: E402

NAMES = ["car", "person", "dog"]


def padded_model(folder: Path, megabytes: float) -> onnx.ModelProto:
    """The planted YOLOv8 detector with ``megabytes`` of float weights it really uses."""
    path = model_factory.yolov8_onnx(folder / "base.onnx", NAMES, imgsz=(320, 320))
    model = onnx.load(str(path))
    graph = model.graph
    floats = int(megabytes * 1024 * 1024 / 4)
    pad = np.random.default_rng(0).standard_normal(floats).astype(np.float32)
    graph.initializer.append(numpy_helper.from_array(pad, "padding"))
    graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
    output = graph.output[0].name
    for node in graph.node:  # the last producer now writes an inner name
        node.output[:] = [output + "_raw" if o == output else o for o in node.output]
    graph.node.extend([
        helper.make_node("ReduceSum", ["padding"], ["padding_sum"], keepdims=0),
        helper.make_node("Mul", ["padding_sum", "zero"], ["padding_zero"]),
        helper.make_node("Add", [output + "_raw", "padding_zero"], [output]),
    ])
    onnx.checker.check_model(model)
    return model


def with_run_marker(model: onnx.ModelProto, run: int) -> bytes:
    marked = onnx.ModelProto()
    marked.CopyFrom(model)
    marked.metadata_props.append(onnx.StringStringEntryProto(key="run", value=str(run)))
    return marked.SerializeToString()


def multipart_body(weights: bytes, file_name: str, fields: dict[str, str]
                   ) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
             .encode() for k, v in fields.items()]
    parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"weights\"; "
                 f"filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                 .encode() + weights + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


def over_http(model: onnx.ModelProto, runs: int) -> list[float]:
    seconds: list[float] = []
    with server() as s:
        pid = create_project(s["port"], s["token"])
        for run in range(runs):
            body, ctype = multipart_body(with_run_marker(model, run), "big.onnx",
                                         {"name": "big", "version": str(run + 1)})
            conn = http.client.HTTPConnection("127.0.0.1", s["port"], timeout=120)
            start = time.perf_counter()
            conn.request("POST", f"/api/v1/projects/{pid}/models", body=body,
                         headers={"Authorization": f"Bearer {s['token']}",
                                  "Content-Type": ctype})
            response = conn.getresponse()
            answer = response.read()
            elapsed = time.perf_counter() - start
            conn.close()
            assert response.status == 201, answer[:500]
            seconds.append(elapsed)
            emit(benchmark="model_registration_http", run=run, bytes=len(body),
                 seconds=round(elapsed, 3))
    return seconds


def in_process(model: onnx.ModelProto, runs: int) -> tuple[list[float], list[float]]:
    from inference_workers.model_files import inspect_model
    from labelwright.bootstrap import bootstrap, shutdown
    from labelwright.settings import Settings
    from service_layer.model_registry import register_model

    inspect_s: list[float] = []
    register_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="lw-bench-") as tmp:
        services = bootstrap(Settings(data_dir=Path(tmp) / "data"), live=False)
        try:
            project, _ = services.app.create_project("bench", [{"name": n} for n in NAMES],
                                                     None, "bench")
            for run in range(runs):
                path = Path(tmp) / f"big{run}.onnx"
                path.write_bytes(with_run_marker(model, 1000 + run))
                start = time.perf_counter()
                inspect_model(path, path.name)
                inspect_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                register_model(services.app, services.models, str(project.id), weights=path,
                               actor="bench", max_bytes=services.settings.max_model_bytes,
                               inspect=inspect_model)
                register_s.append(time.perf_counter() - start)
        finally:
            shutdown(services)
    return inspect_s, register_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--megabytes", type=float, default=50.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model = padded_model(Path(folder), args.megabytes)
    size = len(model.SerializeToString())
    http_s = over_http(model, args.runs)
    emit(benchmark="model_registration_http_summary", model_bytes=size, runs=args.runs,
         median_seconds=round(statistics.median(http_s), 3),
         min_seconds=round(min(http_s), 3), max_seconds=round(max(http_s), 3),
         target_seconds=2.0, ok=statistics.median(http_s) <= 2.0)
    inspect_s, register_s = in_process(model, args.runs)
    emit(benchmark="model_registration_in_process_summary", model_bytes=size,
         runs=args.runs, inspect_median_seconds=round(statistics.median(inspect_s), 3),
         register_median_seconds=round(statistics.median(register_s), 3))


if __name__ == "__main__":
    main()
