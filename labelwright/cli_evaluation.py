"""``labelwright evaluate PROJECT_ID --model MODEL_ID [--position P]``: a model against the labels.

Prints mAP and per-class figures as a table (``--json``: the API's JSON,
``GET /projects/{id}/evaluation``). What is compared is ``service_layer.model_evaluation``'s
definition (docs/api.md, "Evaluation"); this module only parses and prints.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from labelwright.settings import Settings

AddCommand = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def add_evaluate_command(add: AddCommand) -> None:
    """Register ``evaluate`` with ``add(name, func, help)`` (``labelwright.cli``'s helper)."""
    p = add("evaluate", cmd_evaluate, "a model's predictions (its last pre-label job's) against "
            "the labels as of a global position: mAP and per-class figures")
    p.add_argument("project_id")
    p.add_argument("--model", required=True, metavar="MODEL_ID",
                   help="a model registered in the project")
    p.add_argument("--position", type=int, default=None,
                   help="the labels as of this global position (default: the head)")
    p.add_argument("--threshold", type=float, default=None,
                   help="least score counted in TP/FP/FN, precision, recall and confusions "
                        "(default: the job's threshold, else 0)")
    p.add_argument("--json", action="store_true", help="print the API's JSON")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from inference_workers.evaluation import evaluate_task
    from labelwright.bootstrap import bootstrap, shutdown
    from service_layer.model_evaluation import evaluate_model

    settings = Settings.from_env(data_dir=args.data_dir, database_url=args.database_url)
    services = bootstrap(settings, background=False, live=False)
    try:
        services.runner.catch_up()  # which version each image had at P: the projections
        result = evaluate_model(services.app, services.read, evaluate_task, args.project_id,
                                args.model, args.position, args.threshold)
    finally:
        shutdown(services)
    print(json.dumps(result, indent=2) if args.json else evaluation_table(result))
    return 0


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _name(label: str | None, none: str) -> str:
    return none if label is None else label


def evaluation_table(result: dict[str, Any]) -> str:
    """The evaluation as text: a header, the mAP line, a per-class table, the confusions."""
    model = result["model"]
    source = (f"pre-label job {result['job']}" if result["job"] is not None
              else "its imported pre-labels")
    lines = [
        f"model {model['name']} {model['version']} ({model['task']}), {source}; "
        f"labels as of position {result['position']}",
        f"images evaluated: {result['images']} (left out: {result['images_excluded']} "
        "nobody had worked on, or rejected in review)",
        f"mAP@0.5 {_figure(result['map50'])}   mAP@0.5:0.95 {_figure(result['map50_95'])}   "
        f"({result['kind']}; TP/FP/FN at IoU {result['iou']} and score >= "
        f"{result['threshold']})",
        "",
    ]
    header = ["class", "AP50", "AP50:95", "precision", "recall", "TP", "FP", "FN"]
    rows = [[c["label"], _figure(c["ap50"]), _figure(c.get("ap50_95")),
             _figure(c["precision"]), _figure(c["recall"]), str(c["tp"]), str(c["fp"]),
             str(c["fn"])] for c in result["per_class"]]
    if rows:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            lines.append("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                                   for i, cell in enumerate(row)).rstrip())
    else:
        lines.append("no labels and no predictions on the evaluated images")
    mistakes = [c for c in result["confusion"] if c["label"] != c["predicted"]]
    if mistakes:
        lines += ["", "confusions (true -> predicted):"]
        lines += [f"  {_name(c['label'], '(background)')} -> "
                  f"{_name(c['predicted'], '(missed)')}: {c['count']}" for c in mistakes]
    return "\n".join(lines)
