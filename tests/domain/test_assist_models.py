"""Assist with a registered interactive model: dispatched to the engine the composition root
registers for interactive models, after checking the model is one, of the image's project."""

from __future__ import annotations

from typing import Any

import pytest

from domain import geometry as g
from domain.assist import AssistRequest, Scored
from domain.errors import NotFound, ValidationFailed
from tests.domain.conftest import World


class ModelBoxes:
    """An interactive-model engine for the test: a 10 px box around the last click, scored
    by how many clicks it has seen. Remembers what it was asked."""

    def __init__(self) -> None:
        self.requests: list[AssistRequest] = []

    def propose(self, request: AssistRequest) -> Scored:
        self.requests.append(request)
        x, y, _ = request.points[-1]
        return Scored(g.Box(x - 5, y - 5, 10, 10), 1 - 1 / (2 + len(request.previous)))


def _model(world: World, task: str, project_id: str | None = None, name: str = "m") -> str:
    model, _ = world.app.register_model(
        project_id or world.project_id, "mgr", name=name, version="1", task=task,
        format="onnx", architecture=None, layout="generic", classes=[] if task ==
        "interactive" else ["cat"], input_size=None, sha256="e" * 64, size_bytes=10,
        file_name="m.onnx", details={})
    return str(model.id)


def _assist(world: World, **extra: Any) -> list[dict[str, Any]]:
    return world.run({"type": "assist", "mode": "clicks", "label": "cat",
                      "points": [[30, 30, 1]], **extra}).events


def test_an_interactive_model_answers_and_is_recorded(world: World) -> None:
    engine = ModelBoxes()
    world.pipeline.assist.register_model_engine(engine)
    model_id = _model(world, "interactive")
    clicked, created = _assist(world, model_id=model_id)
    assert clicked["data"]["model_id"] == model_id and clicked["data"]["output"] == "box"
    assert created["data"]["geometry"] == {"x": 25.0, "y": 25.0, "w": 10.0, "h": 10.0}
    assert engine.requests[0].model_id == model_id
    # A refinement keeps the model without naming it again; another engine is refused.
    aid = created["data"]["annotation_id"]
    _assist(world, annotation_id=aid, points=[[40, 30, 1]])
    assert engine.requests[-1].model_id == model_id
    with pytest.raises(ValidationFailed) as e:
        _assist(world, annotation_id=aid, model_id=_model(world, "interactive", name="other"))
    assert e.value.details["field"] == "model_id"


def test_models_that_cannot_assist_are_refused(world: World) -> None:
    world.pipeline.assist.register_model_engine(ModelBoxes())
    other, _ = world.app.create_project("Q", ["cat"], None, "mgr")
    detector = _model(world, "detect")
    elsewhere = _model(world, "interactive", project_id=str(other.id))
    retired = _model(world, "interactive", name="old")
    world.app.change_model(retired, lambda m: m.retire("mgr"))
    head = world.head()
    with pytest.raises(ValidationFailed) as e:
        _assist(world, model_id=detector)
    assert e.value.details == {"field": "model_id", "task": "detect"}
    assert "interactive" in str(e.value)
    for model_id in (elsewhere, world.project_id, "not-a-uuid"):
        with pytest.raises(NotFound) as e:
            _assist(world, model_id=model_id)
        assert e.value.details["field"] == "model_id"
    with pytest.raises(ValidationFailed, match="retired"):
        _assist(world, model_id=retired)
    assert world.head() == head


def test_without_a_model_engine_a_model_id_is_refused(world: World) -> None:
    model_id = _model(world, "interactive")
    with pytest.raises(ValidationFailed, match="no engine for interactive models") as e:
        _assist(world, model_id=model_id)
    assert e.value.details["field"] == "model_id"
