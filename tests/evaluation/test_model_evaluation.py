"""Gathering a model's predictions and the labels as of a position
(``service_layer.model_evaluation``), on the real write side and read models (SQLite)."""

from __future__ import annotations

import numpy as np
import pytest

from domain import rle
from domain.errors import NotFound, ValidationFailed
from event_store.stream_events import image_at
from tests.evaluation.conftest import EvaluationLab

CLASSES = ["car", "person"]
CAR = {"x": 10.0, "y": 10.0, "w": 100.0, "h": 80.0}
PERSON = {"x": 300.0, "y": 100.0, "w": 50.0, "h": 150.0}
FAR = {"x": 400.0, "y": 300.0, "w": 60.0, "h": 60.0}


def figures(result: dict[str, object], label: str) -> dict[str, object]:
    per_class = result["per_class"]
    assert isinstance(per_class, list)
    return next(c for c in per_class if c["label"] == label)


def test_accepted_imported_predictions_score_one(lab: EvaluationLab) -> None:
    pid = lab.create_project(CLASSES, ["box"])
    model_id = lab.register_model(pid)
    images = lab.add_images(pid, 3)
    proposals = [(i, lab.propose(i, "box", "car", CAR, 0.9),
                  lab.propose(i, "box", "person", PERSON, 0.8)) for i in images]
    for image_id, car, person in proposals[:2]:
        lab.run(image_id, {"type": "accept", "annotation_id": car},
                {"type": "accept", "annotation_id": person})
    result = lab.evaluate(pid, model_id)
    assert result["model"] == {"id": model_id, "name": "detector", "version": "1", "task": "detect"}
    assert result["job"] is None and result["kind"] == "bbox" and result["threshold"] == 0.0
    assert result["position"] == lab.head()
    # The third image: nobody has looked at it, so it is left out, not counted as 2 FPs.
    assert result["images"] == 2 and result["images_excluded"] == 1
    assert result["map50"] == 1.0 and result["map50_95"] == 1.0
    assert figures(result, "car")["tp"] == 2 and figures(result, "person")["fp"] == 0


def test_evaluation_as_of_an_earlier_position_ignores_later_labels(lab: EvaluationLab) -> None:
    pid = lab.create_project(CLASSES, ["box"])
    model_id = lab.register_model(pid)
    first, second = lab.add_images(pid, 2)
    car = lab.propose(first, "box", "car", CAR, 0.9)
    wrong = lab.propose(second, "box", "car", FAR, 0.6)
    before_anyone = lab.head()
    lab.run(first, {"type": "accept", "annotation_id": car})
    accepted = lab.head()
    # Later: the model missed a person on the first image, and its car on the second is wrong.
    lab.create(first, "box", "person", PERSON)
    lab.run(second, {"type": "delete", "annotation_id": wrong})

    nothing = lab.evaluate(pid, model_id, position=before_anyone)
    assert nothing["images"] == 0 and nothing["images_excluded"] == 2
    assert nothing["map50"] is None and nothing["per_class"] == []

    then = lab.evaluate(pid, model_id, position=accepted)
    assert then["position"] == accepted
    assert then["images"] == 1 and then["images_excluded"] == 1
    assert then["map50"] == 1.0
    assert [c["label"] for c in then["per_class"]] == ["car"]

    now = lab.evaluate(pid, model_id)
    assert now["images"] == 2 and now["images_excluded"] == 0
    car_now, person_now = figures(now, "car"), figures(now, "person")
    assert (car_now["tp"], car_now["fp"], car_now["fn"]) == (1, 1, 0)
    assert (person_now["tp"], person_now["fp"], person_now["fn"]) == (0, 0, 1)
    assert person_now["ap50"] == 0.0
    assert {(c["label"], c["predicted"]): c["count"] for c in now["confusion"]} == {
        ("car", "car"): 1, ("person", None): 1, (None, "car"): 1}
    # Evaluating as of a position is repeatable.
    assert lab.evaluate(pid, model_id, position=accepted) == then


def test_the_original_proposal_is_judged_not_what_people_made_of_it(lab: EvaluationLab) -> None:
    pid = lab.create_project(CLASSES, ["box"])
    model_id = lab.register_model(pid)
    (image_id,) = lab.add_images(pid, 1)
    moved = lab.propose(image_id, "box", "car", CAR, 0.9)
    relabelled = lab.propose(image_id, "box", "car", PERSON, 0.7)
    # A person moves the first box far away and calls the second a person.
    lab.run(image_id, {"type": "edit", "annotation_id": moved, "changes": {"geometry": FAR}},
            {"type": "edit", "annotation_id": relabelled, "changes": {"label": "person"}})
    result = lab.evaluate(pid, model_id)
    car, person = figures(result, "car"), figures(result, "person")
    assert (car["tp"], car["fp"], car["fn"]) == (0, 2, 1)
    assert (person["tp"], person["fn"]) == (0, 1)
    assert {(c["label"], c["predicted"]): c["count"] for c in result["confusion"]} == {
        ("car", None): 1, ("person", "car"): 1, (None, "car"): 1}


def test_the_newest_job_is_judged_on_its_finished_shards(lab: EvaluationLab) -> None:
    pid = lab.create_project(CLASSES, ["box"])
    model_id = lab.register_model(pid)
    images = lab.add_images(pid, 4)
    for image_id in images:
        lab.create(image_id, "box", "car", CAR)
    lab.propose(images[0], "box", "person", FAR, 0.99)  # imported with the same name/version
    old = lab.queue_job(pid, model_id, images)
    for image_id in images:  # the old run was wrong everywhere
        lab.propose_for_job(image_id, model_id, old, "box", "person", CAR, 0.9)
    lab.finish_shards(old, 0, 1, finish=True)
    new = lab.queue_job(pid, model_id, images, threshold=0.3)
    for image_id in images[:2]:  # still running: its first shard (2 images) is done
        lab.propose_for_job(image_id, model_id, new, "box", "car", CAR, 0.9)
    lab.finish_shards(new, 0)
    queued = lab.queue_job(pid, model_id, images)  # nothing done yet: not judged
    assert queued

    result = lab.evaluate(pid, model_id)
    assert result["job"] == new and result["threshold"] == 0.3
    assert result["images"] == 2 and result["images_excluded"] == 0
    assert result["map50"] == 1.0
    assert [c["label"] for c in result["per_class"]] == ["car"]

    strict = lab.evaluate(pid, model_id, threshold=0.95)
    car = figures(strict, "car")
    assert (car["tp"], car["fp"], car["fn"]) == (0, 0, 2)
    assert strict["map50"] == 1.0  # AP ranks every prediction, whatever the threshold


def test_images_sent_back_in_review_are_left_out_and_empty_submissions_count(
        lab: EvaluationLab) -> None:
    pid = lab.create_project(CLASSES, ["box"])
    model_id = lab.register_model(pid)
    rejected, empty = lab.add_images(pid, 2)
    car = lab.propose(rejected, "box", "car", CAR, 0.9)
    lab.propose(empty, "box", "car", CAR, 0.8)
    lab.run(rejected, {"type": "accept", "annotation_id": car}, {"type": "submit"})
    lab.run(rejected, {"type": "review", "verdict": "reject", "comment": "not a car"})
    lab.run(empty, {"type": "submit"})  # "nothing here": its pre-label is a false positive
    result = lab.evaluate(pid, model_id)
    assert result["images"] == 1 and result["images_excluded"] == 1
    car_figures = figures(result, "car")
    assert (car_figures["tp"], car_figures["fp"], car_figures["fn"]) == (0, 1, 0)
    assert result["map50"] is None  # no ground truth at all


def test_a_segmenter_is_scored_on_its_masks(lab: EvaluationLab) -> None:
    pid = lab.create_project(CLASSES, ["mask"])
    model_id = lab.register_model(pid, name="seg", task="segment")
    (image_id,) = lab.add_images(pid, 1, width=64, height=48)
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[5:30, 10:50] = 1
    proposed = lab.propose(image_id, "mask", "car", {"rle": rle.encode(mask)}, 0.9,
                           model="seg")
    lab.run(image_id, {"type": "accept", "annotation_id": proposed})
    result = lab.evaluate(pid, model_id)
    assert result["kind"] == "segm" and result["map50"] == 1.0


def test_bad_requests_are_refused_clearly(lab: EvaluationLab) -> None:
    pid = lab.create_project(CLASSES, ["box"])
    other = lab.create_project(CLASSES, ["box"])
    model_id = lab.register_model(pid)
    foreign = lab.register_model(other)
    head = lab.head()
    with pytest.raises(ValidationFailed) as beyond:
        lab.evaluate(pid, model_id, position=head + 1)
    assert beyond.value.details == {"field": "position", "head": head}
    with pytest.raises(ValidationFailed) as negative:
        lab.evaluate(pid, model_id, position=-1)
    assert negative.value.details["field"] == "position"
    with pytest.raises(ValidationFailed) as threshold:
        lab.evaluate(pid, model_id, threshold=1.5)
    assert threshold.value.details["field"] == "threshold"
    with pytest.raises(ValidationFailed) as missing:
        lab.evaluate(pid, "")
    assert missing.value.details["field"] == "model_id"
    with pytest.raises(NotFound) as elsewhere:
        lab.evaluate(pid, foreign)
    assert elsewhere.value.details["field"] == "model_id"
    with pytest.raises(NotFound):
        lab.evaluate(pid, "not-a-model")


def test_the_replay_at_a_version_is_the_repository_s(lab: EvaluationLab) -> None:
    """``image_at`` (one read serves the proposals and the state) against
    ``Labeling.image(id, version)`` at every version of a stream with every kind of event."""
    pid = lab.create_project(CLASSES, ["box"])
    (image_id,) = lab.add_images(pid, 1)
    first = lab.propose(image_id, "box", "car", CAR, 0.9)
    second = lab.propose(image_id, "box", "person", PERSON, 0.5)
    lab.run(image_id, {"type": "accept", "annotation_id": first})
    lab.run(image_id, {"type": "edit", "annotation_id": second, "changes": {"label": "car"}})
    made = lab.create(image_id, "box", "person", FAR)
    lab.run(image_id, {"type": "edit", "annotation_id": made, "changes": {"geometry": CAR}})
    lab.run(image_id, {"type": "delete", "annotation_id": first}, {"type": "submit"})
    events = list(lab.app.image_events(image_id, 1, 10**9))
    assert len(events) == 9
    for version in range(1, len(events) + 1):
        mine, theirs = image_at(events, version), lab.app.image(image_id, version=version)
        assert mine.version == theirs.version == version
        assert mine.status == theirs.status
        assert mine.annotations == theirs.annotations
        assert mine.proposals == theirs.proposals
