"""Writes tests/golden/events-vN.jsonl: stored events of every event type of the current
release (``python -m tests.golden.make_golden tests/golden/events-vN.jsonl``), and beside it
``events-vN.expected.json``, the state they replay to.

Run once per released schema, with the next N (never overwrite an existing golden file):
later versions of the code must keep loading these exact bytes (see
tests/domain/test_golden_events.py, which replays every ``events-v*.jsonl``). events-v1 was
written before the v2 steps below existed, events-v2 before the v3 ones (git history has the
script as it was). v1 and v2 hold the image, project and user events of their release; v3 at
least one event of every type (``persisted_event_classes``) and a snapshot of each
snapshotted aggregate. A new event type fails that test until a step below records it and
the next events-vN is written.
"""

from __future__ import annotations

import base64
import importlib
import json
import pkgutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEvent

from domain.application import Labeling
from domain.command_pipeline import Actor, CommandPipeline, CommandResult
from domain.commands import ProposePrelabel, parse_command, parse_prelabel
from domain.image import Image, rejected_prelabels
from domain.image_scores import ImageScore, ScoredShard, encode_embedding
from domain.job import Job
from domain.model import Model
from domain.project import Project
from domain.user import User
from domain.work_queue import ImageLease, WorkQueue
from event_store.positions import EventPositions
from migrations.apply import apply_migrations
from projections.database import ViewDatabase
from projections.read_models import ReadModels
from projections.runner import ProjectionRunner
from service_layer.jobs import JobService
from service_layer.model_registry import update_model
from service_layer.work_queue import NextRequest, WorkQueueService

# Where the aggregates (and so the event types) that the application stores are defined.
EVENT_PACKAGES = ("domain", "service_layer")


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def persisted_event_classes() -> list[type[DomainEvent]]:
    """Every event class the current code stores: the events nested in the aggregates
    defined in ``EVENT_PACKAGES`` (every module imported), less the classes that are only
    bases (an aggregate's ``Event``, which it never triggers itself, and the library's
    ``Created`` of an aggregate that declares its own created event). Snapshots are not
    among them (see ``Labeling.snapshotting_intervals``)."""
    for name in EVENT_PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(info.name)
    found: list[type[DomainEvent]] = []
    for aggregate in _subclasses(Aggregate):
        if aggregate.__module__.split(".")[0] not in EVENT_PACKAGES:
            continue
        nested = [v for v in vars(aggregate).values()
                  if isinstance(v, type) and issubclass(v, DomainEvent)]
        for cls in nested:
            if cls.__name__ == "Event" or any(o is not cls and issubclass(o, cls)
                                              for o in nested):
                continue  # a base class of the aggregate's events
            if cls.__name__ == "Created" and any(
                    o is not cls and issubclass(o, Aggregate.Created) for o in nested):
                continue  # the library's default, replaced by the aggregate's own
            found.append(cls)
    return found


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.isoformat()
                                 if isinstance(v, datetime) else str(v)))


def aggregate_state(aggregate: Any) -> dict[str, Any]:
    """What ``.expected.json`` records of one replayed aggregate (under ``aggregates``, by
    id, since v3): its class name and its state, as JSON. The test compares every key of the
    state recorded, so a key may be added here for a later golden file, but must keep its
    meaning for the files already written."""
    if isinstance(aggregate, Image):
        state = {"project_id": aggregate.project_id, "file_name": aggregate.file_name,
                 "width": aggregate.width, "height": aggregate.height,
                 "sha256": aggregate.sha256, "content_type": aggregate.content_type,
                 "status": aggregate.status, "submitted_by": aggregate.submitted_by,
                 "annotations": aggregate.public_annotations(),
                 "deleted": aggregate.deleted, "rejected": rejected_prelabels(aggregate),
                 "proposals": aggregate.proposals, "command_log": aggregate.command_log}
    elif isinstance(aggregate, Project):
        state = {"name": aggregate.name, "classes": aggregate.classes,
                 "annotation_types": aggregate.annotation_types,
                 "attributes": aggregate.attributes, "members": aggregate.members,
                 "model_ids": aggregate.model_ids, "job_ids": aggregate.job_ids,
                 "created_by": aggregate.created_by}
    elif isinstance(aggregate, User):
        state = {"username": aggregate.username, "password_hash": aggregate.password_hash,
                 "is_admin": aggregate.is_admin, "disabled": aggregate.disabled,
                 "login_tokens_revoked_at": aggregate.tokens_revoked_at("login"),
                 "api_tokens_revoked_at": aggregate.tokens_revoked_at("api")}
    elif isinstance(aggregate, Model):
        state = aggregate.describe()
    elif isinstance(aggregate, Job):
        state = {**aggregate.describe(), "image_ids": aggregate.image_ids,
                 "shard_size": aggregate.shard_size, "shards_done": aggregate.shards_done}
    elif isinstance(aggregate, ScoredShard):
        state = {"project_id": aggregate.project_id, "job_id": aggregate.job_id,
                 "model_id": aggregate.model_id, "shard": aggregate.shard,
                 "aggregate": aggregate.aggregate_by, "scores": aggregate.scores,
                 "created_by": aggregate.created_by}
    elif isinstance(aggregate, ImageLease):
        state = {"project_id": aggregate.project_id, "image_id": aggregate.image_id,
                 "holder": aggregate.holder, "granted_at": aggregate.granted_at,
                 "expires_at": aggregate.expires_at, "seconds": aggregate.seconds,
                 "skipped_by": aggregate.skipped_by, "skipped_until": aggregate.skipped_until}
    elif isinstance(aggregate, WorkQueue):
        state = {"project_id": aggregate.project_id, **aggregate.describe()}
    else:
        raise TypeError(f"aggregate_state has no view of a {type(aggregate).__name__}: "
                        "add one before writing a golden file with it")
    return {"aggregate": type(aggregate).__name__, "state": _json(state)}


class _NoDispatch:
    """Jobs are run by hand below, by the calls their workers make."""

    def publish(self, job: Job) -> None:
        pass


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
    ann = Actor("ann")
    run = lambda raw, actor=ann: pipe.execute(iid, [parse_command(raw)], actor)  # noqa: E731
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
    # Since v3: every other event type (projects' settings, accounts, attributes, assist
    # verdicts, the work queue and its leases, models, jobs of each kind and outcome, scores).
    snapshotted = since_v3(app, pipe, tmp, pid, iid, run)
    pipe.stop()
    rows = []
    for n in app.recorder.select_notifications(start=1, limit=10_000):
        rows.append({"position": n.id, "originator_id": str(n.originator_id),
                     "originator_version": n.originator_version, "topic": n.topic,
                     "state": base64.b64encode(n.state).decode()})
    for aggregate in [app.image(iid), *snapshotted]:
        snapshot = type(aggregate).Snapshot.take(aggregate)
        stored = app.mapper.to_stored_event(snapshot)
        rows.append({"snapshot": True, "originator_id": str(stored.originator_id),
                     "originator_version": stored.originator_version, "topic": stored.topic,
                     "state": base64.b64encode(stored.state).decode()})
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    expected: dict[str, Any] = {
        "image": app.image(iid).public_annotations(), "status": app.image(iid).status,
        "project": {"name": app.project(pid).name, "classes": app.project(pid).classes,
                    "members": app.project(pid).members}}
    streams = dict.fromkeys(UUID(r["originator_id"]) for r in rows if not r.get("snapshot"))
    expected["aggregates"] = {str(i): aggregate_state(app.repository.get(i)) for i in streams}
    out.with_suffix(".expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True))
    print(f"wrote {len(rows)} events to {out}")


def since_v3(app: Labeling, pipe: CommandPipeline, tmp: str, pid: str, iid: UUID,
             run: Callable[..., CommandResult]) -> list[Any]:
    """The v3 steps, through the services the API and the workers call (a job's worker
    steps are the calls its worker makes); the aggregates to snapshot besides the image."""
    views = ViewDatabase.sqlite(f"{tmp}/views.sqlite")
    apply_migrations(views)
    runner = ProjectionRunner(app, views)
    app.commit_listeners.append(runner.wake)
    read = ReadModels(views, runner)
    runner.start()
    # Project settings: a class recoloured, a shape type taken away, per-object attributes.
    app.update_project(pid, "mgr", {
        "class_colors": {"cat": "#ff8800"}, "annotation_types": ["box", "polygon", "mask", "tag"],
        "attributes": [{"name": "occluded", "type": "checkbox", "default": False},
                       {"name": "pose", "type": "select", "values": ["front", "side"],
                        "classes": ["dog"]}]})
    # Attributes on the golden image: a drawn box gets the defaults, then a change of
    # attributes only; assist proposals edited (AssistEdited) and deleted (AssistRejected).
    box = run({"type": "create", "annotation": {"type": "box", "label": "dog", "geometry": {
        "x": 30, "y": 20, "w": 12, "h": 10}, "attributes": {"pose": "side"}}}).events[0]["data"]
    run({"type": "edit", "annotation_id": box["annotation_id"],
         "changes": {"attributes": {"occluded": True}}})
    assisted = [run({"type": "assist", "mode": "extreme_points", "label": "cat",
                     "points": points}).events[1]["data"]["annotation_id"]
                for points in ([[20, 30], [26, 24], [32, 30], [26, 40]],
                               [[40, 10], [45, 5], [50, 10], [45, 15]])]
    run({"type": "edit", "annotation_id": assisted[0],
         "changes": {"geometry": {"x": 20, "y": 24, "w": 13, "h": 16}}})
    run({"type": "delete", "annotation_id": assisted[1]})
    # Another annotator, and the work queue: an assignment, a priority image, leases handed
    # out by "next", one given back (skipped).
    app.register_user("bob", "password123")
    app.set_member(pid, "bob", "annotator", "mgr")
    added, _ = app.add_images(pid, [{"file_name": f"{n}.png", "width": 64, "height": 48,
                                     "sha256": n * 64, "content_type": "image/png"}
                                    for n in ("b", "c")], "mgr")
    b_id, c_id = (str(image.id) for image, _ in added)
    queue = WorkQueueService(app, read, lease_seconds=600)
    queue.assign(app.project(pid), {"username": "bob", "image_ids": [b_id]}, "mgr")
    queue.prioritise(app.project(pid), {"image_ids": [c_id]}, "mgr")
    first = queue.next_image(app.project(pid), "bob", NextRequest(), "label")
    assert first is not None and first.image_id == b_id, first
    second = queue.next_image(app.project(pid), "bob", NextRequest(skip=b_id), "label")
    assert second is not None and second.image_id == c_id, second
    queue.clear_priority(app.project(pid), "mgr")
    for label, x in (("cat", 2), ("dog", 30)):
        pipe.execute(UUID(c_id), [parse_command({"type": "create", "annotation": {
            "type": "box", "label": label, "geometry": {"x": x, "y": 4, "w": 20, "h": 16}}})],
            Actor("bob"))
    pipe.execute(UUID(c_id), [parse_command({"type": "submit"})], Actor("bob"))
    # Accounts: disabled, enabled again, API tokens revoked.
    app.disable_user("bob", "ann")
    app.enable_user("bob", "ann")
    app.revoke_user_tokens("bob", "ann", ["api"])
    # A model, re-mapped; jobs of every kind and end.
    model, _ = app.register_model(
        pid, "mgr", name="golden-det", version="1", task="detect", format="onnx",
        architecture=None, layout="yolov8", classes=["cat", "dog", "bird"], input_size=[64, 64],
        sha256="d" * 64, size_bytes=1234, file_name="det.onnx",
        details={"input_name": "images", "num_classes": 3, "opset": 17}, lineage=None)
    model_id = str(model.id)
    update_model(app, model_id, {"class_map": {"bird": "dog"}}, "mgr")
    jobs = JobService(app, read, _NoDispatch(), shard_size=1)
    prelabel = str(jobs.queue(pid, "mgr", {"type": "prelabel", "model_id": model_id,
                                          "images": [b_id]}).id)
    app.change_job(prelabel, lambda j: j.start("golden-worker"))
    pipe.execute(UUID(b_id), [ProposePrelabel(
        command_id=f"job:{prelabel}:{b_id}:0", base_version=None, annotation_type="box",
        label="cat", geometry={"x": 5, "y": 5, "w": 20, "h": 20}, model_name="golden-det",
        model_version="1", score=0.75, model_id=model_id, job_id=prelabel)],
        Actor("mgr", trusted=True))

    def prelabelled(job: Job) -> None:
        job.shard_done(0, done=1, failed=0, recorded=1, errors=[], dropped=1)
        job.finish({"images": job.done, "failed": job.failed, "recorded": job.recorded,
                    "dropped": job.dropped})

    app.change_job(prelabel, prelabelled)
    score = str(jobs.queue(pid, "mgr", {"type": "score", "model_id": model_id,
                                       "images": [str(iid), c_id]}).id)
    app.change_job(score, lambda j: j.start("golden-worker"))
    for shard, image_id in enumerate((str(iid), c_id)):
        scores = [ImageScore(image_id=image_id, probabilities=[0.75, 0.5, 0.125],
                             uncertainty={"least_confidence": 0.25, "margin": 0.25,
                                          "entropy": 1.25, "stability": 0.5},
                             embedding=encode_embedding([0.5, -1.0, 2.0, 0.0]), dims=4,
                             boxes=2)]

        def scored(job: Job, shard: int = shard) -> None:
            job.shard_done(shard, done=1, failed=0, recorded=0, errors=[])
            if not job.pending_shards():
                job.finish({"images": job.done, "failed": job.failed, "embedding_dims": 4,
                            "aggregate": "max", "tta": True})

        app.record_scored_shard(score, shard, scores, "max", scored)
    train = str(jobs.queue(pid, "mgr", {"type": "train", "architecture": "centernet",
                                       "name": "golden-trained", "epochs": 2}).id)
    app.change_job(train, lambda j: j.start("golden-worker"))
    for epoch in (1, 2):
        app.change_job(train, lambda j, e=epoch: j.training_progress(
            epoch=e, train_loss=2.5 / e, val_loss=3.0 / e, val_metric=0.25 * e,
            seconds=1.5 * e))
    queued = app.job(train)
    lineage = {"job_id": train, "project_id": pid, "position": queued.params["position"],
               "base_model_id": None, "architecture": "centernet",
               "hyperparameters": {"epochs": 2, "validation_fraction": 0.2},
               "metrics": {"metric": "map50", "best": 0.5, "best_epoch": 2, "epochs_run": 2,
                           "final_train_loss": 1.25, "seconds": 3.0},
               "training_images": 1, "validation_images": 1, "skipped_images": 0,
               "classes": queued.params["classes"]}
    trained, _ = app.register_model(
        pid, "mgr", name="golden-trained", version="1", task="detect", format="state_dict",
        architecture="centernet", layout="centernet", classes=queued.params["classes"],
        input_size=[64, 64], sha256="e" * 64, size_bytes=4321,
        file_name="centernet.safetensors", details={"output_stride": 4}, lineage=lineage)

    def trained_done(job: Job) -> None:
        job.shard_done(0, done=len(job.image_ids), failed=0, recorded=0, errors=[])
        job.finish({"model_id": str(trained.id), "name": trained.name, "version": "1",
                    "metrics": lineage["metrics"], "training_images": 1,
                    "validation_images": 1})

    app.change_job(train, trained_done)
    failed = str(jobs.queue(pid, "mgr", {"type": "prelabel", "model_id": model_id,
                                        "images": [b_id]}).id)
    app.change_job(failed, lambda j: j.start("golden-worker"))
    app.change_job(failed, lambda j: j.fail("model_error", "the weights could not be read"))
    cancelled = str(jobs.queue(pid, "mgr", {"type": "prelabel", "model_id": model_id,
                                           "images": [b_id]}).id)
    jobs.cancel(cancelled, "mgr")
    update_model(app, model_id, {"retired": True}, "mgr")
    runner.stop()
    views.close()
    return [app.job(train)]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.golden.make_golden tests/golden/events-vN.jsonl")
    main(Path(sys.argv[1]))
