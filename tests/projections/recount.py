"""Independent recounts from the raw event log, to check the projections against.

Deliberately written differently from the projections (one pass over every event, plain
Python, no batching, no SQL) so a shared mistake is unlikely.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any

from domain.application import Labeling
from domain.image import Image


def all_events(app: Labeling) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    position = 0
    while True:
        batch = app.recorder.select_notifications(start=position + 1, limit=5000)
        if not batch:
            return out
        out += [(n.id, app.mapper.to_domain_event(n)) for n in batch]
        position = batch[-1].id


def annotator_metrics(app: Labeling, project_id: str) -> list[dict[str, Any]]:
    project_of: dict[Any, str] = {}
    submitter: dict[Any, str] = {}
    names = {
        "AnnotationCreated": "created", "AnnotationEdited": "edited",
        "AnnotationDeleted": "deleted", "PrelabelAccepted": "prelabels_accepted",
        "PrelabelEdited": "prelabels_edited", "PrelabelRejected": "prelabels_rejected",
        "ImageSubmitted": "images_submitted", "ReviewRecorded": "reviews_given",
        "AssistClicked": "assists",
    }
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    ious: dict[str, list[float]] = defaultdict(list)
    times: dict[str, list[Any]] = defaultdict(list)
    for _, e in all_events(app):
        kind = type(e).__name__
        if isinstance(e, Image.ImageAdded):
            project_of[e.originator_id] = e.project_id
            continue
        if kind == "PrelabelRestored" and project_of.get(e.originator_id) == project_id:
            rows[e.undone_by][f"prelabels_{e.undone}"] -= 1  # the verdict taken back
            rows[e.actor]["created"] += 0  # the restorer has a row
            times[e.actor].append(e.timestamp)
            continue
        if kind not in names or project_of.get(e.originator_id) != project_id:
            continue
        row = rows[e.actor]
        row[names[kind]] += 1
        times[e.actor].append(e.timestamp)
        if kind == "PrelabelEdited":
            ious[e.actor].append(e.iou)
        if kind == "ImageSubmitted":
            submitter[e.originator_id] = e.actor
        if kind == "ReviewRecorded":
            who = submitter[e.originator_id]
            rows[who]["review_approvals" if e.verdict == "approve" else "review_rejections"] += 1
    out = []
    for user in sorted(rows):
        t = times[user]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(t)]
        item: dict[str, Any] = {"username": user}
        for key in ("created", "edited", "deleted", "prelabels_accepted", "prelabels_edited",
                    "prelabels_rejected", "images_submitted", "review_approvals",
                    "review_rejections", "reviews_given", "assists"):
            item[key] = rows[user][key]
        item["mean_iou_edited"] = (sum(ious[user]) / len(ious[user])) if ious[user] else None
        item["active_seconds"] = sum(g for g in gaps if 0 < g <= 300)
        out.append(item)
    return out


def prelabels(app: Labeling, project_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every pre-label of the project with its latest outcome, actor and IoU."""
    project_of: dict[Any, str] = {}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for _, e in all_events(app):
        if isinstance(e, Image.ImageAdded):
            project_of[e.originator_id] = e.project_id
        if project_of.get(e.originator_id) != project_id:
            continue
        key = (str(e.originator_id), getattr(e, "annotation_id", ""))
        if isinstance(e, Image.PrelabelProposed):
            score = e.score
            bucket = "none" if score is None else f"{min(math.floor(score * 10), 9) / 10:.1f}"
            out[key] = {"model": f"{e.model['name']}@{e.model['version']}", "label": e.label,
                        "score_bucket": bucket, "outcome": "proposed", "annotator": None,
                        "iou": None, "final": e.label,
                        "model_id": e.model.get("id")}
        elif isinstance(e, Image.PrelabelRestored):
            out[key].update(outcome="proposed", annotator=None, iou=None,
                            final=out[key]["label"])
        elif isinstance(e, (Image.PrelabelAccepted, Image.PrelabelEdited,
                            Image.PrelabelRejected)):
            out[key]["outcome"] = {"PrelabelAccepted": "accepted", "PrelabelEdited": "edited",
                                   "PrelabelRejected": "rejected"}[type(e).__name__]
            out[key]["annotator"] = e.actor
            if isinstance(e, Image.PrelabelEdited):
                out[key]["iou"] = e.iou
                if e.label is not None:
                    out[key]["final"] = e.label
                if e.iou >= 0.99:  # the same geometry: a relabel, or nothing changed
                    out[key]["outcome"] = ("relabeled" if out[key]["final"] != out[key]["label"]
                                           else "accepted")
    return out


def prelabel_confusion(app: Labeling, project_id: str) -> list[dict[str, Any]]:
    cells: dict[tuple[str, str | None], int] = defaultdict(int)
    for p in prelabels(app, project_id).values():
        if p["outcome"] != "proposed":
            cells[(p["label"], None if p["outcome"] == "rejected" else p["final"])] += 1
    return [{"proposed": a, "final": b, "count": n}
            for (a, b), n in sorted(cells.items(),
                                    key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or ""))]


def prelabel_metrics(app: Labeling, project_id: str, group_by: str) -> list[dict[str, Any]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for p in prelabels(app, project_id).values():
        groups[p[group_by]].append(p)
    out = []
    for key in sorted(groups, key=lambda k: (k is not None, k or "")):
        items = groups[key]
        count = {o: sum(1 for p in items if p["outcome"] == o)
                 for o in ("accepted", "edited", "relabeled", "rejected")}
        acted = sum(count.values())
        edited_ious = [p["iou"] for p in items if p["outcome"] == "edited"]
        out.append({"key": {group_by: key}, "proposed": len(items), **count,
                    "acceptance_rate": count["accepted"] / acted if acted else None,
                    "mean_iou_edited": sum(edited_ious) / len(edited_ious) if edited_ious
                    else None})
    return out
