"""``labelwright select PROJECT_ID --model MODEL_ID [--strategy S] [--k K]``: what to label next.

Prints the ranked image ids, one a line with its score (``IMAGE_ID<TAB>SCORE``, best first),
so the output pipes into other tools; ``--json`` prints the API's JSON
(``GET /projects/{id}/selection``). The ranking is ``service_layer.selection``'s; this module
only parses and prints. Bad input (an unknown strategy, k beyond the pool, a model never
scored) prints the API's message and exits 2.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from labelwright.settings import Settings

AddCommand = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def add_select_command(add: AddCommand) -> None:
    """Register ``select`` with ``add(name, func, help)`` (``labelwright.cli``'s helper)."""
    p = add("select", cmd_select, "the images to label next, ranked by a selection strategy "
            "over a model's scores (run a score job first)")
    p.add_argument("project_id")
    p.add_argument("--model", required=True, metavar="MODEL_ID",
                   help="a model of the project that a score job ran")
    p.add_argument("--strategy", default=None,
                   help="least_confidence, margin (default), entropy, coreset, badge or random")
    p.add_argument("--k", type=int, default=50, help="how many images (default 50, at most "
                   "1000)")
    p.add_argument("--status", default="new", help="new (default: only images nobody has "
                   "worked on) or all")
    p.add_argument("--seed", type=int, default=0, help="badge and random draw from it")
    p.add_argument("--json", action="store_true", help="print the API's JSON")


def cmd_select(args: argparse.Namespace) -> int:
    from labelwright.bootstrap import bootstrap, shutdown
    from service_layer.selection import select_images

    settings = Settings.from_env(data_dir=args.data_dir, database_url=args.database_url)
    services = bootstrap(settings, background=False, live=False)
    try:
        services.runner.catch_up()  # the scores and image statuses: the projections
        result = select_images(services.app, services.read, args.project_id, args.model,
                               args.strategy, args.k, args.status, args.seed)
    finally:
        shutdown(services)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for image in result["images"]:
            score = "-" if image["score"] is None else f"{image['score']:.6g}"
            print(f"{image['image_id']}\t{score}")
    return 0
