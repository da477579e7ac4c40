"""``labelwright import-predictions``: a predictions file → pre-label events.

The parsing and the all-or-nothing validation are ``service_layer.prediction_import``'s, so the
CLI and ``POST /projects/{id}/predictions`` accept exactly the same files. Images are written
in batches (one pipeline request per image, group-committed), with a progress bar.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from domain.errors import ValidationFailed
from service_layer.prediction_formats import parse_predictions
from service_layer.prediction_import import plan_prelabels, record_prelabels

BATCH = 2000


def import_predictions_file(services: Any, project_id: str, path: Path, model: str,
                            model_version: str, actor: str, progress: bool = True
                            ) -> dict[str, Any]:
    try:
        raw = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise ValidationFailed(f"{path} is not valid JSON: {e}") from None
    services.runner.catch_up()  # file names resolve through the image list read model
    project = services.app.project(project_id)
    parsed = parse_predictions(raw, project.class_names(), model, model_version)
    started = time.perf_counter()
    plans = plan_prelabels(services.app, services.read, project_id, parsed)
    report: dict[str, Any] = {"images": 0, "annotations": 0, "position": None}
    with tqdm(total=len(plans), unit="img", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(plans), BATCH):
            part = record_prelabels(services.pipeline, plans[start:start + BATCH], actor)
            report["images"] += part["images"]
            report["annotations"] += part["annotations"]
            if part["position"] is not None:
                report["position"] = part["position"]
            bar.update(part["images"])
    report["seconds"] = round(time.perf_counter() - started, 3)
    return report
