"""Writes tests/golden/events-vN.jsonl: stored events of the image, project and user event
types of the current release (``python -m tests.golden.make_golden tests/golden/events-vN.jsonl``).

Run once per released schema, with the next N (never overwrite an existing golden file):
later versions of the code must keep loading these exact bytes (see
tests/domain/test_golden_events.py, which replays every ``events-v*.jsonl``). events-v1 was
written before the v2 steps below existed (git history has the script as it was).
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path

from domain.application import Labeling
from domain.command_pipeline import Actor, CommandPipeline
from domain.commands import parse_command, parse_prelabel
from domain.image import Image
from event_store.positions import EventPositions


def main(out: Path) -> None:
    if out.exists():
        sys.exit(f"{out} exists: golden files are never regenerated")
    tmp = tempfile.mkdtemp()
    app = Labeling(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": f"{tmp}/events.sqlite"})
    app.register_user("ann", "password123")
    app.update_user("ann", password="password456", is_admin=True)
    project, _ = app.create_project("Golden", ["cat", {"name": "dog", "color": "#00ff00"}],
                                    None, "mgr")
    pid = str(project.id)
    app.update_project(pid, "mgr", {"name": "Golden 2", "add_classes": ["cow"],
                                    "retire_classes": ["cow"]})
    app.set_member(pid, "ann", "reviewer", "mgr")
    added, _ = app.add_images(pid, [{"file_name": "a.png", "width": 64, "height": 48,
                                     "sha256": "0" * 64, "content_type": "image/png"}], "mgr")
    iid = added[0][0].id
    pipe = CommandPipeline(app, EventPositions(app))
    run = lambda raw, actor=Actor("ann"): pipe.execute(iid, [parse_command(raw)], actor)  # noqa: E731
    props = [pipe.execute(iid, [parse_prelabel(
        {"type": "box", "label": "cat", "geometry": {"x": 1, "y": 1, "w": 10, "h": 8},
         "score": s}, "yolo", "v8")], Actor("mgr", trusted=True)).events[0]["data"]
        ["annotation_id"] for s in (0.9, 0.5, 0.2)]
    run({"type": "accept", "annotation_id": props[0], "command_id": "k1"})
    run({"type": "edit", "annotation_id": props[1], "changes": {"geometry":
         {"x": 2, "y": 1, "w": 10, "h": 8}, "label": "dog"}})
    run({"type": "delete", "annotation_id": props[2]})
    made = run({"type": "create", "annotation": {"type": "polygon", "label": "dog",
                "geometry": {"points": [[1, 1], [20, 1], [10, 15]]}}}).events[0]["data"]
    run({"type": "edit", "annotation_id": made["annotation_id"],
         "changes": {"geometry": {"points": [[2, 1], [20, 1], [10, 15]]}}})
    run({"type": "create", "annotation": {"type": "mask", "label": "cat", "geometry": {
        "rle": {"size": [48, 64], "counts": [100, 20, 2952]}}}})
    pt = run({"type": "create", "annotation": {"type": "point", "label": "cat",
              "geometry": {"x": 3, "y": 4}}}).events[0]["data"]
    run({"type": "delete", "annotation_id": pt["annotation_id"]})
    run({"type": "create", "annotation": {"type": "tag", "label": "dog", "geometry": {}}})
    run({"type": "assist", "mode": "extreme_points", "label": "cat",
         "points": [[5, 10], [10, 5], [15, 10], [10, 20]]})
    # Since v2: a rejected pre-label restored, a review hold reopened (AssistClicked is now
    # stored at class_version 2).
    run({"type": "restore", "annotation_id": props[2]})
    run({"type": "submit"})
    run({"type": "review", "verdict": "approve", "comment": None})
    run({"type": "reopen", "comment": "one box is loose"})
    run({"type": "submit"})
    run({"type": "review", "verdict": "reject", "comment": "tail missing"})
    pipe.stop()
    rows = []
    for n in app.recorder.select_notifications(start=1, limit=10_000):
        rows.append({"position": n.id, "originator_id": str(n.originator_id),
                     "originator_version": n.originator_version, "topic": n.topic,
                     "state": base64.b64encode(n.state).decode()})
    snapshot = Image.Snapshot.take(app.image(iid))
    stored = app.mapper.to_stored_event(snapshot)
    rows.append({"snapshot": True, "originator_id": str(stored.originator_id),
                 "originator_version": stored.originator_version, "topic": stored.topic,
                 "state": base64.b64encode(stored.state).decode()})
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    expected = {"image": app.image(iid).public_annotations(), "status": app.image(iid).status,
                "project": {"name": app.project(pid).name, "classes": app.project(pid).classes,
                            "members": app.project(pid).members}}
    out.with_suffix(".expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True))
    print(f"wrote {len(rows)} events to {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.golden.make_golden tests/golden/events-vN.jsonl")
    main(Path(sys.argv[1]))
