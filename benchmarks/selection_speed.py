"""Time of each selection strategy on a scored pool the size the issue names (issue #11).

10,000 rows, 10 classes (Dirichlet(0.3) probabilities, float32), embeddings of width 128 and
512 (standard normal, float32), 1,000 of the rows labeled (so coreset starts from them), k = 100,
seed 0. Each strategy runs ``--runs`` times (first a warm-up run, not counted); the median is
reported. This is ``inference_workers.selection.select`` alone: what the selection endpoint adds
(reading the stored scores, JSON) is measured by the endpoint's own benchmark.

Targets (issue #11): margin <= 200 ms, coreset and BADGE <= 2 s.

Measured (2-core machine, load 2.5, 7 runs), median ms for width 128 / 512: margin 2.0 / 2.8,
least_confidence 2.1 / 3.6, entropy 1.9 / 2.7, random 1.2 / 2.1, coreset 91 / 244 (more than half
of it the 9,000 x 1,000 distances to the labeled rows: 28 / 106 ms with none labeled), BADGE
34 / 96. At load 10 (other test runs): coreset 369 / 567, BADGE 118 / 199; before the per-pick
products went to one thread (``selection._dot_rows``) the same load made them 4.2 / 5.8 s and
3.1 / 5.6 s.

Usage: ``python benchmarks/selection_speed.py [--rows 10000] [--k 100] [--runs 7]
[--widths 128,512] [--labeled 1000]``. One JSON line per strategy and width.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from inference_workers.selection import STRATEGIES, select  # noqa: E402

TARGET_MS = {"margin": 200, "coreset": 2000, "badge": 2000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--widths", default="128,512")
    parser.add_argument("--labeled", type=int, default=1_000)
    args = parser.parse_args()
    for width in (int(w) for w in args.widths.split(",")):
        rng = np.random.default_rng(0)
        probabilities = rng.dirichlet(np.full(args.classes, 0.3), args.rows).astype(np.float32)
        embeddings = rng.standard_normal((args.rows, width)).astype(np.float32)
        labeled = np.zeros(args.rows, dtype=bool)
        labeled[rng.choice(args.rows, args.labeled, replace=False)] = True
        for strategy in STRATEGIES:
            times = []
            for run in range(args.runs + 1):
                started = time.perf_counter()
                select(strategy, probabilities, args.k, embeddings=embeddings, labeled=labeled)
                if run:
                    times.append((time.perf_counter() - started) * 1000)
            median = statistics.median(times)
            line = {"benchmark": "selection_speed", "strategy": strategy, "rows": args.rows,
                    "classes": args.classes, "width": width, "labeled": args.labeled,
                    "k": args.k, "runs": args.runs, "median_ms": round(median, 1),
                    "max_ms": round(max(times), 1)}
            if strategy in TARGET_MS:
                line["target_ms"] = TARGET_MS[strategy]
                line["met"] = median <= TARGET_MS[strategy]
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
