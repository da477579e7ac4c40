"""Annotator and pre-label metrics equal a recount from the events."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.image import Image
from event_store.log_reader import LoggedEvent
from projections.annotator_metrics import AnnotatorMetrics
from projections.database import ViewDatabase
from projections.prelabel_audit import score_bucket
from tests.projections import recount
from tests.projections.conftest import Stack


def assert_close(actual: Any, expected: Any) -> None:
    """Equal, with floats compared to 1e-9 (sums in another order differ in the last bits)."""
    if isinstance(expected, float) and isinstance(actual, float):
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9), (actual, expected)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), (actual, expected)
        for k in expected:
            assert_close(actual[k], expected[k])
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (actual, expected)
        for a, e in zip(actual, expected, strict=True):
            assert_close(a, e)
    else:
        assert actual == expected


def test_metrics_equal_recount(stack: Stack) -> None:
    work = stack.workload(seed=9)
    work.setup()
    work.add_images(24)
    work.rounds(30)
    stack.runner.catch_up()
    for project_id in work.projects:
        annotators = stack.read.annotator_metrics(project_id)
        assert annotators, "the workload must produce metrics"
        assert_close(annotators, recount.annotator_metrics(stack.app, project_id))
        for group_by in ("model", "label", "annotator", "score_bucket"):
            groups = stack.read.prelabel_metrics(project_id, group_by)
            assert_close(groups, recount.prelabel_metrics(stack.app, project_id, group_by))
        by_model = stack.read.prelabel_metrics(project_id, "model")
        assert sum(g["accepted"] + g["edited"] + g["rejected"] for g in by_model) > 0
        assert any(g["mean_iou_edited"] is not None for g in by_model)
        by_annotator = stack.read.prelabel_metrics(project_id, "annotator")
        assert by_annotator[0]["key"] == {"annotator": None}  # pending ones
        assert by_annotator[0]["acceptance_rate"] is None


def test_unknown_group_by(stack: Stack) -> None:
    from domain.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        stack.read.prelabel_metrics("p", "colour")


@pytest.mark.parametrize(("score", "bucket"), [
    (None, "none"), (0.0, "0.0"), (0.05, "0.0"), (0.1, "0.1"), (0.7, "0.7"), (0.79, "0.7"),
    (0.99, "0.9"), (1.0, "0.9"),
])
def test_score_bucket(score: float | None, bucket: str) -> None:
    assert score_bucket(score) == bucket


# -- active time and review credit, from hand-made events (times under our control) -------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)
IMAGE = uuid.uuid4()


def _event(cls: Any, version: int, seconds: float, actor: str, **fields: Any) -> Any:
    if version == 1:  # the creation event also names its aggregate class
        fields["originator_topic"] = "domain.image:Image"
    return cls(originator_id=IMAGE, originator_version=version,
               timestamp=T0 + timedelta(seconds=seconds), actor=actor, command_id=None,
               **fields)


def _logged(events: list[Any]) -> list[LoggedEvent]:
    return [LoggedEvent(i + 1, e, str(e.originator_id), e.timestamp.isoformat())
            for i, e in enumerate(events)]


def test_active_seconds_and_review_credit(tmp_path: Any) -> None:
    from migrations.apply import apply_migrations

    box = {"x": 1.0, "y": 1.0, "w": 2.0, "h": 2.0}
    events = [
        _event(Image.ImageAdded, 1, 0, "mgr", project_id="p", file_name="a", width=10,
               height=10, sha256="s", content_type="image/png"),
        _event(Image.AnnotationCreated, 2, 10, "ann", annotation_id="a1",
               annotation_type="box", label="cat", geometry=box, source="manual"),
        _event(Image.AnnotationEdited, 3, 70, "ann", annotation_id="a1", label="dog",
               geometry=None),                      # +60 s
        _event(Image.AssistClicked, 4, 1000, "ann", mode="extreme_points", points=[],
               label="cat", annotation_id="a2"),    # a 930 s pause: a break, +0
        _event(Image.ImageSubmitted, 5, 1300, "ann"),  # exactly 300 s: counts
        _event(Image.ReviewRecorded, 6, 1400, "rui", verdict="reject", comment=None),
        _event(Image.ImageSubmitted, 7, 1500, "bob"),  # bob submits last
        _event(Image.ReviewRecorded, 8, 1600, "rui", verdict="approve", comment=None),
    ]
    db = ViewDatabase.sqlite(tmp_path / "v.sqlite")
    apply_migrations(db)
    projection = AnnotatorMetrics()
    logged = _logged(events)
    for split in (1, 3, 8):  # any batching gives the same rows
        with db.transaction() as cur:
            projection.reset(cur)
        for i in range(0, len(logged), split):
            with db.transaction() as cur:
                projection.apply(cur, logged[i:i + split])
        rows = {r[0]: r for r in db.query(
            "SELECT username, created, edited, assists, images_submitted, review_approvals, "
            "review_rejections, reviews_given, active_seconds, first_at, last_at "
            "FROM annotator_metrics WHERE project_id = 'p'")}
        assert rows["ann"][1:] == (1, 1, 1, 1, 0, 1, 0, 360.0, (T0 + timedelta(seconds=10))
                                   .isoformat(), (T0 + timedelta(seconds=1300)).isoformat())
        assert rows["bob"][1:8] == (0, 0, 0, 1, 1, 0, 0)
        assert rows["rui"][7:9] == (2, 200.0)
        assert "mgr" not in rows  # uploading is not labeling work
    db.close()
