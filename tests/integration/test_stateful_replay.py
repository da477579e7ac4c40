"""Hypothesis drives random command sequences (valid and invalid) through the real pipeline
on SQLite and checks, after every step, that the write model, the read models, a replay of
the stream and a rebuild of every projection agree, and that refused commands recorded
nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from domain.command_pipeline import Actor
from domain.commands import parse_command, parse_prelabel
from domain.errors import DomainError
from projections.database import ViewDatabase
from tests.projections.conftest import Stack, dump
from tests.projections.workload import event_store_env

pytestmark = pytest.mark.slow

W, H = 200, 150
coord = st.floats(min_value=-3, max_value=210, allow_nan=False)
size = st.floats(min_value=-1, max_value=120, allow_nan=False)
labels = st.sampled_from(["cat", "dog", "cow", "retired"])
users = st.sampled_from(["ann", "bob", "rui", "eve"])


def _box(x: float, y: float, w: float, h: float) -> dict[str, Any]:
    return {"x": x, "y": y, "w": w, "h": h}


class LabelingMachine(RuleBasedStateMachine):
    """Random commands on two images; invariants compare every view of the truth."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self.tmp_path_factory = tmp_path_factory

    @initialize()
    def setup(self) -> None:
        self.tmp: Path = self.tmp_path_factory.mktemp("stateful")  # pytest cleans it up
        self.stack = Stack(event_store_env(str(self.tmp / "events.sqlite")),
                           ViewDatabase.sqlite(self.tmp / "views.sqlite"), poll_interval=0.01)
        app = self.stack.app
        project, _ = app.create_project("S", ["cat", "dog", "retired"], None, "mgr")
        pid = str(project.id)
        app.update_project(pid, "mgr", {"retire_classes": ["retired"]})
        project = app.project(pid)
        for user, role in (("ann", "annotator"), ("bob", "annotator"), ("rui", "reviewer")):
            project.set_member(user, role, "mgr")
        app.save(project)
        added, _ = app.add_images(pid, [
            {"file_name": f"{i}.png", "width": W, "height": H, "sha256": f"{i:064x}",
             "content_type": "image/png"} for i in range(2)], "mgr")
        self.images = [img.id for img, _ in added]
        self.annotation_ids: list[str] = ["missing-id"]
        self.steps = 0
        self.rebuilds = 0

    def teardown(self) -> None:
        if hasattr(self, "stack"):
            self.stack.close()

    def _run(self, image: UUID, raw: dict[str, Any], user: str) -> None:
        head = self.stack.head()
        try:
            command = parse_command(raw)
            result = self.stack.pipeline.execute(image, [command], Actor(user))
        except DomainError:
            assert self.stack.head() == head, "a refused command recorded something"
            return
        for event in result.events:
            if "annotation_id" in event["data"]:
                self.annotation_ids.append(event["data"]["annotation_id"])

    @rule(i=st.integers(0, 1), user=users, label=labels, x=coord, y=coord, w=size, h=size)
    def create_box(self, i: int, user: str, label: str, x: float, y: float, w: float,
                   h: float) -> None:
        self._run(self.images[i], {"type": "create", "annotation": {
            "type": "box", "label": label, "geometry": _box(x, y, w, h)}}, user)

    @rule(i=st.integers(0, 1), label=labels, x=coord, y=coord, w=size, h=size,
          score=st.floats(0, 1))
    def propose(self, i: int, label: str, x: float, y: float, w: float, h: float,
                score: float) -> None:
        head = self.stack.head()
        try:
            command = parse_prelabel({"type": "box", "label": label, "score": score,
                                      "geometry": _box(x, y, w, h)}, "m", "1")
            result = self.stack.pipeline.execute(self.images[i], [command],
                                                 Actor("mgr", trusted=True))
        except DomainError:
            assert self.stack.head() == head
            return
        self.annotation_ids.append(result.events[0]["data"]["annotation_id"])

    @rule(i=st.integers(0, 1), user=users, data=st.data(), kind=st.sampled_from(
        ["edit_label", "edit_geometry", "delete", "accept"]), label=labels, x=coord, y=coord,
        base=st.one_of(st.none(), st.integers(1, 4)))
    def act_on_annotation(self, i: int, user: str, data: st.DataObject, kind: str, label: str,
                          x: float, y: float, base: int | None) -> None:
        aid = data.draw(st.sampled_from(self.annotation_ids))
        raw: dict[str, Any] = {"annotation_id": aid, "base_revision": base}
        if kind == "edit_label":
            raw.update(type="edit", changes={"label": label})
        elif kind == "edit_geometry":
            raw.update(type="edit", changes={"geometry": _box(x, y, 10, 10)})
        else:
            raw["type"] = kind
        self._run(self.images[i], raw, user)

    @rule(i=st.integers(0, 1), user=users, verdict=st.sampled_from(["approve", "reject"]),
          kind=st.sampled_from(["submit", "review", "reopen"]))
    def submit_review_or_reopen(self, i: int, user: str, verdict: str, kind: str) -> None:
        raw: dict[str, Any] = {"type": kind}
        if kind == "review":
            raw["verdict"] = verdict
        self._run(self.images[i], raw, user)

    @invariant()
    def views_agree_with_the_write_model(self) -> None:
        if not hasattr(self, "stack"):
            return
        self.stack.runner.catch_up()
        for image_id in self.images:
            image = self.stack.app.image(image_id)
            view = self.stack.read.image_annotations(str(image_id))
            assert view is not None
            assert view["version"] == image.version
            assert view["annotations"] == image.public_annotations()
            meta = self.stack.read.image(str(image_id))
            assert meta is not None and meta["status"] == image.status
            history, _ = self.stack.read.history(str(image_id), 0, 1000)
            assert [e["version"] for e in history] == list(range(1, image.version + 1))
            # Replaying to the previous version equals folding all but the last event.
            if image.version > 1:
                before = self.stack.app.image(image_id, version=image.version - 1)
                assert before.version == image.version - 1

    @invariant()
    def a_rebuild_equals_the_live_projections(self) -> None:
        if not hasattr(self, "stack"):
            return
        self.steps += 1
        if self.steps % 8:
            return
        self.rebuilds += 1
        tables = tuple(t for p in self.stack.runner.projections for t in p.tables)
        self.stack.runner.catch_up()
        live = dump(self.stack.db, tables)
        self.stack.runner.rebuild()
        assert dump(self.stack.db, tables) == live


def test_labeling_machine(tmp_path_factory: pytest.TempPathFactory) -> None:
    run_state_machine_as_test(
        lambda: LabelingMachine(tmp_path_factory),
        settings=settings(max_examples=40, stateful_step_count=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.filter_too_much]))
