"""Labels needed to reach 95 % test accuracy on scikit-learn's digits, per selection strategy.

The issue #11 benchmark for ``inference_workers.selection``: how much labeling each strategy
saves over picking images at random. Per seed:

* digits (1,797 8x8 images, shipped inside the scikit-learn wheel): a stratified split into 500
  test images and a pool of 1,297;
* features: the raw pixel values (0-16, as the dataset comes and as the issue's reference run
  used them); ``--standardise`` scales them to mean 0, variance 1 (fitted on the pool's
  features, which are known before any label is);
* 20 initial labels drawn at random from the pool (plain random, not stratified: a class may be
  missing at first, as in a real start; its probability column is then 0);
* then rounds: fit a logistic regression (scikit-learn, lbfgs, ``max_iter`` 300, C = 1, the
  library's default; ``--C`` changes it), measure test accuracy, stop the first time it is
  >= 95 %, else ask the strategy for the next 10 images of the pool (seed of the round:
  ``seed * 1000 + round``) and label them.

coreset and BADGE need an embedding: the features themselves, which is what a
logistic regression's (only) layer sees, i.e. the penultimate-equivalent features (BADGE's
gradient embedding of a linear model is then exactly its last-layer gradient).

Prints one JSON line per strategy (labels needed per seed and the median over seeds; a seed
that never reaches 95 % counts as the whole pool, 1,317) and one with margin's median over
random's (the issue's target: <= 0.5; it reports margin ~170 vs random ~440).

Usage: ``python benchmarks/selection_label_efficiency.py [--seeds 5] [--strategies margin,random]``.
Needs scikit-learn (not a run-time dependency of Labelwright: ``pip install scikit-learn``).

Measured on raw pixels (2-core machine, 5 seeds), median labels to 95 %: margin 160, random 410:
margin/random 0.39, the issue's target (<= 0.5) met, close to its reference (170 vs 440).

Measured on standardised features (``--standardise``; busy machine, 5 seeds, 3.3 min for all
six strategies), median labels to 95 %: margin 180, BADGE 180, least_confidence 200, entropy
230, random 270, coreset 330;
margin/random 0.67, so the issue's <= 0.5 is NOT met at scikit-learn's default C = 1. The ratio
depends on the regularisation, through random mostly (a weaker model needs more random labels):
``--C 0.1``: margin 190, random 350, 0.54 (BADGE 300, coreset 380); over 10 seeds C = 0.1 gave
0.51 (180 vs 350) and C = 0.05 0.38 (200 vs 530). C was not tuned to meet the target; the issue's
random 440 lies between those two. coreset does worse than random here: k-center greedy on
64 pixel features spends labels on outlying digits, while the classes are well separated.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from inference_workers.selection import STRATEGIES, select  # noqa: E402

TEST_SIZE = 500
INITIAL = 20
BATCH = 10
TARGET = 0.95
MAX_ITER = 300


def labels_to_target(strategy: str, seed: int, c: float = 1.0, raw: bool = True
                     ) -> tuple[int | None, list[tuple[int, float]]]:
    """Labels needed to reach TARGET test accuracy (None: never), and the learning curve."""
    x, y = load_digits(return_X_y=True)
    x_pool, x_test, y_pool, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=seed)
    if raw:  # the pixel values (0-16) as they come
        x_pool, x_test = x_pool.astype(np.float32), x_test.astype(np.float32)
    else:
        scaler = StandardScaler().fit(x_pool)
        x_pool = scaler.transform(x_pool).astype(np.float32)
        x_test = scaler.transform(x_test).astype(np.float32)
    classes = np.unique(y)
    labeled = np.zeros(len(x_pool), dtype=bool)
    labeled[np.random.default_rng(seed).choice(len(x_pool), INITIAL, replace=False)] = True
    curve = []
    for round_ in range(len(x_pool)):
        model = LogisticRegression(max_iter=MAX_ITER, C=c)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_pool[labeled], y_pool[labeled])
        accuracy = float((model.predict(x_test) == y_test).mean())
        count = int(labeled.sum())
        curve.append((count, accuracy))
        if accuracy >= TARGET:
            return count, curve
        left = int((~labeled).sum())
        if left == 0:
            return None, curve
        probabilities = np.zeros((len(x_pool), len(classes)), dtype=np.float32)
        probabilities[:, np.searchsorted(classes, model.classes_)] = model.predict_proba(x_pool)
        picked = select(strategy, probabilities, min(BATCH, left), embeddings=x_pool,
                        labeled=labeled, seed=seed * 1000 + round_)
        labeled[picked] = True
    return None, curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--standardise", action="store_true",
                        help="standardised features instead of the raw pixel values (0-16)")
    args = parser.parse_args()
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    pool_size = load_digits().data.shape[0] - TEST_SIZE + INITIAL
    medians = {}
    for strategy in strategies:
        started = time.perf_counter()
        needed = []
        for seed in range(args.seeds):
            count, _ = labels_to_target(strategy, seed, args.C, not args.standardise)
            needed.append(count)
        median = statistics.median(n if n is not None else pool_size for n in needed)
        medians[strategy] = median
        print(json.dumps({"benchmark": "selection_label_efficiency", "strategy": strategy,
                          "target_accuracy": TARGET, "C": args.C,
                          "raw": not args.standardise, "labels_median": median,
                          "labels_per_seed": needed, "seeds": args.seeds,
                          "seconds": round(time.perf_counter() - started, 1)}), flush=True)
    if "margin" in medians and "random" in medians:
        print(json.dumps({"benchmark": "selection_label_efficiency",
                          "ratio": "margin/random",
                          "C": args.C, "raw": not args.standardise,
                          "value": round(medians["margin"] / medians["random"], 3),
                          "target": 0.5}), flush=True)


if __name__ == "__main__":
    main()
