"""``labelwright prelabel``, ``labelwright score`` and ``labelwright train``: run a job from the
command line.

``prelabel`` runs a model over a project's images; ``score`` records each image's uncertainty
and embedding under a model (for ``labelwright select`` and the queue's "most informative
first"); ``train`` trains a built-in model on the project's labels as of a position and
registers it as a new model version.

The job is queued exactly as ``POST /projects/{id}/jobs`` queues it (``service_layer.jobs``).
Then, unless ``--detach``:

* without Redis (an embedded data dir, or PostgreSQL without ``LABELWRIGHT_REDIS_URL``), the
  command runs the job itself, in this process, under the job's lock file: it works alone,
  with no server running. If a server on the same data dir takes the job first, the command
  just follows its progress (and takes over if that server stops);
* with Redis, ``labelwright worker`` processes run it; the command follows its progress.

Ctrl-C stops following (and this process's work on the job) without cancelling it: the job
stays queued, and a server or worker resumes it from its first unfinished shard. ``--detach``
only queues it (a running server or worker picks it up within seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from domain.job import Job
    from labelwright.services import Services

FOLLOW_INTERVAL = 0.3  # seconds between progress reads
WAITING_HINT_AFTER = 10.0  # seconds queued before saying who is expected to run it


def _follow(services: Services, job_id: str, quiet: bool, redis: bool,
            desc: str = "pre-labels") -> Job:
    from tqdm import tqdm

    job = services.app.job(job_id)
    queued_since = time.monotonic()
    hinted = False
    with tqdm(total=job.total, unit="img", disable=quiet, file=sys.stderr,
              desc=desc) as bar:
        while True:
            job = services.app.job(job_id)
            bar.update(max(0, job.done + job.failed - bar.n))
            bar.set_postfix(recorded=job.recorded, failed=job.failed, refresh=False)
            if job.finished:
                return job
            if (redis and not hinted and job.state == "queued"
                    and time.monotonic() - queued_since > WAITING_HINT_AFTER):
                print("waiting for a worker: start `labelwright worker` with "
                      "LABELWRIGHT_REDIS_URL set", file=sys.stderr)
                hinted = True
            time.sleep(FOLLOW_INTERVAL)


def _follow_training(services: Services, job_id: str, quiet: bool, redis: bool) -> Job:
    """A bar over the epochs, with the last epoch's losses and held-out metric."""
    from tqdm import tqdm

    job = services.app.job(job_id)
    queued_since = time.monotonic()
    hinted = False
    with tqdm(total=int(job.params.get("epochs", 1)), unit="epoch", disable=quiet,
              file=sys.stderr, desc="training") as bar:
        while True:
            job = services.app.job(job_id)
            epochs = job.epochs()
            if epochs:
                last = epochs[-1]
                bar.update(max(0, int(last["epoch"]) - bar.n))
                bar.set_postfix(loss=last["train_loss"], val_loss=last["val_loss"],
                                metric=last["val_metric"], refresh=False)
            if job.finished:
                return job
            if (redis and not hinted and job.state == "queued"
                    and time.monotonic() - queued_since > WAITING_HINT_AFTER):
                print("waiting for a worker: start `labelwright worker` with "
                      "LABELWRIGHT_REDIS_URL set", file=sys.stderr)
                hinted = True
            time.sleep(FOLLOW_INTERVAL)


def cmd_prelabel(args: argparse.Namespace,
                 services_for: Callable[[argparse.Namespace], Services],
                 close: Callable[[Services], None]) -> int:
    body: dict[str, Any] = {"type": "prelabel", "model_id": args.model,
                            "images": args.images, "threshold": args.threshold,
                            "iou": args.iou, "max_per_image": args.max_per_image}
    return _run_job(args, services_for, close, body, "images", _follow)


def cmd_score(args: argparse.Namespace,
              services_for: Callable[[argparse.Namespace], Services],
              close: Callable[[Services], None]) -> int:
    body: dict[str, Any] = {"type": "score", "model_id": args.model, "images": args.images,
                            "aggregate": args.aggregate, "tta": not args.no_tta}

    def follow(services: Services, job_id: str, quiet: bool, redis: bool) -> Job:
        return _follow(services, job_id, quiet, redis, desc="scoring")

    return _run_job(args, services_for, close, body, "images", follow)


def cmd_train(args: argparse.Namespace,
              services_for: Callable[[argparse.Namespace], Services],
              close: Callable[[Services], None]) -> int:
    body: dict[str, Any] = {"type": "train", "architecture": args.architecture,
                            "name": args.name}
    for field, value in (("position", args.position), ("epochs", args.epochs),
                         ("validation_fraction", args.validation_fraction),
                         ("base_model_id", args.base_model)):
        if value is not None:
            body[field] = value
    return _run_job(args, services_for, close, body, "labeled images", _follow_training)


def _run_job(args: argparse.Namespace, services_for: Callable[[argparse.Namespace], Services],
             close: Callable[[Services], None], body: dict[str, Any], what: str,
             follow: Callable[[Services, str, bool, bool], Job]) -> int:
    """Queue the job, then (unless ``--detach``) run it here or follow a worker's run."""
    from labelwright.bootstrap import job_queue

    services = services_for(args)
    try:
        assert services.jobs is not None
        job = services.jobs.queue(args.project_id, args.actor, body)
        job_id = str(job.id)
        print(f"job {job_id} queued: {job.total} {what}", file=sys.stderr)
        if args.detach:
            print(json.dumps(job.describe()))
            return 0
        redis = bool(services.settings.redis_url)
        local = None
        if not redis:
            local = job_queue(services.settings, services.app, services.pipeline,
                              services.images, services.models, workers=1, only={job_id})
            local.start()
        try:
            job = follow(services, job_id, args.quiet, redis)
        except KeyboardInterrupt:
            print(f"\nstopped following job {job_id}; it is not cancelled: a server or "
                  "worker resumes it (POST /api/v1/jobs/{id}/cancel cancels it)",
                  file=sys.stderr)
            return 130
        finally:
            if local is not None:
                local.stop()
        print(json.dumps(job.describe()))
        return 0 if job.state == "done" else 1
    finally:
        close(services)


def run_options(p: argparse.ArgumentParser, recorded: str) -> None:
    """The options every job command shares: --detach, --actor (recorded on ``recorded``),
    --quiet."""
    p.add_argument("--detach", action="store_true",
                   help="only queue the job (a server or worker runs it) and print it")
    p.add_argument("--actor", default="cli", help=f"username recorded on the {recorded}")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_job_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None],
                     services_for: Callable[[argparse.Namespace], Services],
                     close: Callable[[Services], None]) -> None:
    """Add ``prelabel``, ``score`` and ``train`` to the ``labelwright`` parser
    (``labelwright.cli``)."""
    text = "run a registered model over a project's images as pre-labels (a job)"
    p = sub.add_parser("prelabel", help=text, description=text)
    common(p)
    p.add_argument("project_id")
    p.add_argument("--model", required=True, help="the id of a model registered in the project")
    p.add_argument("--images", choices=("unlabeled", "all"), default="unlabeled",
                   help="unlabeled (default): images whose status is new; all: every image")
    p.add_argument("--threshold", type=float, default=0.25, help="least score (0.25)")
    p.add_argument("--iou", type=float, default=0.45, help="class-aware NMS IoU (0.45)")
    p.add_argument("--max-per-image", type=int, default=300, help="at most this many a image")
    run_options(p, "pre-labels")
    p.set_defaults(func=lambda args: cmd_prelabel(args, services_for, close))

    text = ("score a project's images with a registered model: each image's uncertainty and "
            "embedding, for `labelwright select` and the queue's most informative first (a job)")
    p = sub.add_parser("score", help=text, description=text)
    common(p)
    p.add_argument("project_id")
    p.add_argument("--model", required=True, help="the id of a model registered in the project")
    p.add_argument("--images", choices=("all", "unlabeled"), default="all",
                   help="all (default: core-set needs the labeled images too); unlabeled: "
                   "images whose status is new")
    p.add_argument("--aggregate", choices=("max", "mean", "sum"), default="max",
                   help="a detector's box uncertainties as the image's: max (default: the "
                   "least sure box), mean, or sum (favours crowded images)")
    p.add_argument("--no-tta", action="store_true",
                   help="no test-time augmentation for a detector (1 pass instead of 3)")
    run_options(p, "job")
    p.set_defaults(func=lambda args: cmd_score(args, services_for, close))

    text = ("train a built-in model on the project's labels as of a position and register "
            "it as a new model version (a job)")
    p = sub.add_parser("train", help=text, description=text)
    common(p)
    p.add_argument("project_id")
    p.add_argument("--architecture", required=True, choices=("centernet", "classifier"),
                   help="centernet: a detector (box labels); classifier: one tag per image")
    p.add_argument("--name", required=True, help="the model's name (its version: the next "
                   "free number)")
    p.add_argument("--position", type=int, default=None,
                   help="the labels as of this global position (default: the head now)")
    p.add_argument("--epochs", type=int, default=None, help="at most this many (default 30; "
                   "early stopping may end sooner)")
    p.add_argument("--validation-fraction", type=float, default=None,
                   help="share of images held out (default 0.2, at most 0.5)")
    p.add_argument("--base-model", default=None, metavar="MODEL_ID",
                   help="start from this model's weights")
    run_options(p, "job")
    p.set_defaults(func=lambda args: cmd_train(args, services_for, close))
