"""A server, CLI or worker that never runs a model must not carry torch, kornia or OpenCV:
idle RSS (target 150 MB, see benchmarks/idle_memory.py) went from 80 MB to ~300 MB once when a
job module imported torch at module level. The modules a server process imports at start
(the job queue's, among them) are imported in a fresh interpreter and checked."""

from __future__ import annotations

import subprocess
import sys

STARTUP_MODULES = (
    "labelwright.cli",
    "labelwright.server",
    "labelwright.bootstrap",
    "web.app",
    "inference_workers.embedded_jobs",
    "inference_workers.redis_jobs",
    "inference_workers.job_queue",
    "inference_workers.job_work",
    "inference_workers.prelabel_job",
    "inference_workers.score_job",
    "inference_workers.train_job",
)
HEAVY = ("torch", "kornia", "cv2", "onnxruntime")


def test_starting_a_server_imports_no_model_runtime() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {STARTUP_MODULES!r}: importlib.import_module(m)\n"
        f"print(','.join(h for h in {HEAVY!r} if h in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "", f"imported at start: {out.stdout.strip()}"
