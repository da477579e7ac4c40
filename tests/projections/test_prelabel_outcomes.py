"""Pre-label metrics count the latest decision (issue 12, defects 5 and 6): a restored pre-label
is proposed again, a class-only correction is a relabel (not an IoU 1.0 geometry correction),
and the class confusion follows the class people left. Rebuilt from the log, all equal."""

from __future__ import annotations

from typing import Any

from domain.command_pipeline import Actor
from domain.commands import parse_command, parse_prelabel
from projections.runner import all_projections
from tests.projections import recount
from tests.projections.conftest import Backends, Stack, dump

ALL_TABLES = tuple(t for p in all_projections() for t in p.tables)
BOX = {"x": 10, "y": 10, "w": 40, "h": 30}


class Scene:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        app = stack.app
        for user in ("ana", "bo"):
            app.register_user(user, "password123")
        project, _ = app.create_project("P", ["cat", "dog", "bird"], None, "mgr")
        self.project_id = str(project.id)
        for user in ("ana", "bo"):
            app.set_member(self.project_id, user, "annotator", "mgr")
        added, _ = app.add_images(self.project_id, [{
            "file_name": "a.png", "width": 200, "height": 100, "sha256": "b" * 64,
            "content_type": "image/png"}], "mgr")
        self.image_id = added[0][0].id

    def propose(self, label: str, model: tuple[str, str] = ("yolo", "8")) -> str:
        result = self.stack.pipeline.execute(self.image_id, [parse_prelabel(
            {"type": "box", "label": label, "geometry": BOX, "score": 0.9}, *model)],
            Actor("mgr", trusted=True))
        return str(result.events[0]["data"]["annotation_id"])

    def run(self, user: str, **raw: Any) -> None:
        self.stack.pipeline.execute(self.image_id, [parse_command(raw)], Actor(user))

    def metrics(self, group_by: str) -> list[dict[str, Any]]:
        self.stack.runner.catch_up()
        return self.stack.read.prelabel_metrics(self.project_id, group_by)


def play(stack: Stack) -> Scene:
    s = Scene(stack)
    relabel, geometry, both, rejected, accepted, undone_accept = (
        s.propose(label) for label in ("cat", "cat", "dog", "cat", "dog", "cat"))
    s.propose("bird", ("detr", "1"))  # never decided
    s.run("ana", type="edit", annotation_id=relabel, changes={"label": "dog"})
    s.run("ana", type="edit", annotation_id=geometry,
          changes={"geometry": {"x": 10, "y": 10, "w": 20, "h": 30}})
    s.run("bo", type="edit", annotation_id=both,
          changes={"label": "bird", "geometry": {"x": 10, "y": 10, "w": 20, "h": 30}})
    s.run("bo", type="delete", annotation_id=rejected)
    s.run("ana", type="accept", annotation_id=accepted)
    s.run("ana", type="accept", annotation_id=undone_accept)
    s.run("ana", type="restore", annotation_id=undone_accept)
    # A rejection undone (by another person) is no rejection any more.
    extra = s.propose("cat")
    s.run("bo", type="delete", annotation_id=extra)
    s.run("ana", type="restore", annotation_id=extra)
    return s


def test_restored_relabeled_and_edited_are_counted_apart(stack: Stack) -> None:
    s = play(stack)
    [detr, yolo] = s.metrics("model")
    assert detr["key"] == {"model": "detr@1"} and detr["proposed"] == 1
    assert {k: yolo[k] for k in ("proposed", "accepted", "edited", "relabeled", "rejected")} == {
        "proposed": 7, "accepted": 1, "edited": 2, "relabeled": 1, "rejected": 1}
    assert yolo["mean_iou_edited"] == 0.5  # over the two geometry corrections only, not 1.0
    assert yolo["acceptance_rate"] == 1 / 5
    by_annotator = {g["key"]["annotator"]: g for g in s.metrics("annotator")}
    assert by_annotator[None]["proposed"] == 3  # two restored, one never decided
    assert by_annotator["ana"]["relabeled"] == 1 and by_annotator["ana"]["edited"] == 1
    assert by_annotator["bo"]["rejected"] == 1 and by_annotator["bo"]["edited"] == 1
    by_label = {g["key"]["label"]: g for g in s.metrics("label")}
    assert by_label["cat"]["relabeled"] == 1 and by_label["dog"]["edited"] == 1
    for group_by in ("model", "label", "annotator", "score_bucket"):
        assert s.metrics(group_by) == recount.prelabel_metrics(stack.app, s.project_id,
                                                               group_by)
    # The person who rejected and then saw it restored is not charged with the rejection.
    people = {a["username"]: a for a in stack.read.annotator_metrics(s.project_id)}
    assert people["bo"]["prelabels_rejected"] == 1
    assert people["ana"]["prelabels_accepted"] == 1


def test_the_class_confusion(stack: Stack) -> None:
    s = play(stack)
    s.metrics("model")
    cells = stack.read.prelabel_confusion(s.project_id)
    assert cells == [
        {"proposed": "cat", "final": "cat", "count": 1},
        {"proposed": "cat", "final": "dog", "count": 1},
        {"proposed": "cat", "final": None, "count": 1},
        {"proposed": "dog", "final": "bird", "count": 1},
        {"proposed": "dog", "final": "dog", "count": 1},
    ]
    assert cells == recount.prelabel_confusion(stack.app, s.project_id)
    assert stack.read.prelabel_confusion(s.project_id, model="detr@1") == []
    assert stack.read.prelabel_confusion(s.project_id, model="yolo@8") == cells
    assert stack.read.prelabel_confusion(s.project_id, model_id="no-such-model") == []


def test_an_edit_back_to_the_proposal_counts_as_accepted(stack: Stack) -> None:
    s = Scene(stack)
    a = s.propose("cat")
    s.run("ana", type="edit", annotation_id=a, changes={"label": "dog"})
    s.run("ana", type="edit", annotation_id=a, changes={"label": "cat"})
    [group] = s.metrics("model")
    assert (group["accepted"], group["relabeled"], group["edited"]) == (1, 0, 0)


def test_rebuild_and_batching_give_the_same_tables(backends: Backends) -> None:
    stack = backends.stack()
    play(stack)
    stack.runner.catch_up()
    live = dump(stack.db, ALL_TABLES)
    assert live["prelabel_audit"]
    assert stack.runner.rebuild() == stack.head()
    assert dump(stack.db, ALL_TABLES) == live
    for batch_size in (1, 3):
        other = backends.stack(batch_size=batch_size)
        other.runner.rebuild()
        assert dump(other.db, ALL_TABLES) == live


def test_current_labels_and_exports_see_a_restored_prelabel_as_proposed(stack: Stack) -> None:
    s = Scene(stack)
    a = s.propose("cat")
    s.run("ana", type="delete", annotation_id=a)
    s.run("ana", type="restore", annotation_id=a)
    stack.runner.catch_up()
    labels = stack.read.image_annotations(str(s.image_id))
    assert labels is not None
    [ann] = labels["annotations"]
    replayed = stack.app.image(s.image_id).public_annotations()
    assert ann == replayed[0]
    assert ann["status"] == "proposed" and ann["source"] == "prelabel"
