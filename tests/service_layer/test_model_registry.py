"""Registering model weights (service_layer.model_registry) against the real stores: every
supported kind is inspected, stored content-addressed and recorded; a refusal records nothing
and leaves no file behind; class maps are re-mapped and models retired by events."""

from __future__ import annotations

import io
import pickle
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import torch

from domain.errors import Conflict, NotFound, TooLarge, ValidationFailed
from event_store.positions import log_head
from inference_workers.model_files import inspect_model
from labelwright.bootstrap import bootstrap, shutdown
from labelwright.services import Services
from labelwright.settings import Settings
from service_layer.model_registry import (
    StagedWeights,
    next_version,
    parse_input_size,
    project_models,
    register_model,
    stage_weights,
    update_model,
)
from tests.inference import model_factory as factory

NAMES = ["Cat", "dog", "bird"]
MB = 1024 * 1024


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real file of every supported kind, built once for the module."""
    folder = tmp_path_factory.mktemp("weights")
    return {
        "yolov8": factory.yolov8_onnx(folder / "yolov8n.onnx", NAMES),
        "yolov5": factory.yolov5_onnx(folder / "yolov5s.onnx", NAMES),
        "yolov8_seg": factory.yolov8_seg_onnx(folder / "seg.onnx", NAMES),
        "semantic": factory.semantic_onnx(folder / "semantic.onnx", NAMES),
        "classifier": factory.classifier_onnx(folder / "cls.onnx", NAMES, [0.2, 0.3, 0.5]),
        "torchscript": factory.torchscript_yolov8(folder / "ts.torchscript", NAMES),
    }


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    s = bootstrap(Settings(data_dir=tmp_path_factory.mktemp("registry") / "data"), live=False)
    yield s
    shutdown(s)


@pytest.fixture
def project_id(services: Services) -> str:
    project, _ = services.app.create_project(
        "models", [{"name": "cat"}, {"name": "Dog"}, {"name": "car"}], None, "admin")
    return str(project.id)


def register(services: Services, project_id: str, weights: Any, **kw: Any) -> Any:
    kw.setdefault("actor", "admin")
    kw.setdefault("max_bytes", 64 * MB)
    return register_model(services.app, services.models, project_id, weights=weights,
                          inspect=inspect_model, **kw)


def leftovers(services: Services) -> list[Path]:
    tmp = services.models.root / "tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


def stored(services: Services) -> set[str]:
    root = services.models.root
    return {p.name for p in root.glob("??/??/*")} if root.exists() else set()


KINDS = [("yolov8", "detect", "onnx", "yolov8"), ("yolov5", "detect", "onnx", "yolov5"),
         ("yolov8_seg", "segment", "onnx", "yolov8_seg"),
         ("semantic", "segment", "onnx", "semantic"),
         ("classifier", "classify", "onnx", "classifier"),
         ("torchscript", "detect", "torchscript", "yolov8")]


@pytest.mark.parametrize(("kind", "task", "fmt", "layout"), KINDS, ids=[k[0] for k in KINDS])
def test_each_kind_is_inspected_stored_and_recorded(services: Services, project_id: str,
                                                    models: dict[str, Path], kind: str,
                                                    task: str, fmt: str, layout: str) -> None:
    path = models[kind]
    model, position = register(services, project_id, path)
    assert position == log_head(services.app)
    described = model.describe()
    assert (described["task"], described["format"], described["layout"]) == (task, fmt, layout)
    assert described["name"] == path.stem and described["version"] == "1"
    assert described["classes"] == NAMES
    # Case-insensitive defaults onto the project's names as the project spells them.
    assert described["class_map"] == {"Cat": "cat", "dog": "Dog", "bird": None}
    assert described["unmapped"] == ["bird"]
    assert described["input_size"] == [64, 64]
    assert described["size_bytes"] == path.stat().st_size
    assert services.models.path(described["sha256"]).read_bytes() == path.read_bytes()
    assert described["file_name"] == path.name and described["created_by"] == "admin"
    assert leftovers(services) == []
    assert services.app.model(described["id"]).describe() == described
    assert [m["id"] for m in project_models(services.app, project_id)] == [described["id"]]


def test_defaults_name_and_next_version_and_explicit_conflict(
        services: Services, project_id: str, models: dict[str, Path]) -> None:
    first, _ = register(services, project_id, models["yolov8"])
    second, _ = register(services, project_id, models["yolov8"])
    assert (first.name, first.model_version) == ("yolov8n", "1")
    assert (second.name, second.model_version) == ("yolov8n", "2")
    assert first.sha256 == second.sha256  # one stored file for both
    named, _ = register(services, project_id, models["yolov8"], name="detector",
                        version="2024.1")
    assert (named.name, named.model_version) == ("detector", "2024.1")
    assert next_version(services.app, project_id, "detector") == "1"  # "2024.1" is no number
    head = log_head(services.app)
    with pytest.raises(Conflict) as clash:
        register(services, project_id, models["yolov5"], name="yolov8n", version="2")
    assert clash.value.details["field"] == "version"
    assert log_head(services.app) == head and leftovers(services) == []


def test_concurrent_default_versions_are_consecutive(services: Services, project_id: str,
                                                     models: dict[str, Path]) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            model, _ = register(services, project_id, models["yolov8"], name="racer")
            results.append(model.model_version)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(results) == ["1", "2", "3"]


def test_a_classes_file_names_the_classes(services: Services, project_id: str,
                                          models: dict[str, Path]) -> None:
    model, _ = register(services, project_id, models["yolov8"],
                        classes=("data.yaml", b"names: [car, Person, tree]\n"))
    assert model.classes == ["car", "Person", "tree"]
    assert model.class_map == {"car": "car", "Person": None, "tree": None}
    head = log_head(services.app)
    with pytest.raises(ValidationFailed) as short:  # 2 names for a 3-class model
        register(services, project_id, models["yolov8"], name="x",
                 classes=("classes.txt", b"a\nb\n"))
    assert short.value.details["field"] == "classes"
    assert log_head(services.app) == head


def _pickle_bytes() -> bytes:
    return pickle.dumps({"weights": [1.0, 2.0]})


def _needs_weights_only_false() -> bytes:
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2), "scale": Fraction(1, 3)}, buffer)
    return buffer.getvalue()


# A state dict is only loaded once its architecture and classes are known.
AS_STATE_DICT = {"architecture": "centernet", "classes": ("classes.txt", b"cat\ndog\n")}
BAD: list[tuple[str, str, Callable[[], bytes], dict[str, Any]]] = [
    ("garbage", "model.onnx", lambda: b"\x00garbage, not a model" * 100, {}),
    ("pickle", "model.pt", _pickle_bytes, {}),
    ("unsafe_state_dict", "model.pth", _needs_weights_only_false, AS_STATE_DICT),
    ("empty", "model.onnx", lambda: b"", {}),
]


@pytest.mark.parametrize(("case", "file_name", "make", "fields"), BAD, ids=[b[0] for b in BAD])
def test_refused_files_record_nothing_and_leave_nothing(
        services: Services, project_id: str, tmp_path: Path, case: str, file_name: str,
        make: Callable[[], bytes], fields: dict[str, Any]) -> None:
    path = tmp_path / file_name
    path.write_bytes(make())
    head, before = log_head(services.app), stored(services)
    with pytest.raises(ValidationFailed) as refused:
        register(services, project_id, path, **fields)
    assert refused.value.details["field"] == "weights", refused.value.message
    assert log_head(services.app) == head
    assert stored(services) == before and leftovers(services) == []


def test_non_image_input_is_refused(services: Services, project_id: str,
                                    tmp_path: Path) -> None:
    path = factory.non_image_input_onnx(tmp_path / "flat.onnx")
    head = log_head(services.app)
    with pytest.raises(ValidationFailed):
        register(services, project_id, path)
    assert log_head(services.app) == head and leftovers(services) == []


def test_over_the_limit_stops_reading(services: Services, project_id: str,
                                      models: dict[str, Path]) -> None:
    data = models["yolov8"].read_bytes()
    head, before = log_head(services.app), stored(services)

    class Counting(io.BytesIO):
        consumed = 0

        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            Counting.consumed += len(chunk)
            return chunk

    big = Counting(data * 4 + b"\0" * (3 * MB))
    with pytest.raises(TooLarge) as too_large:
        register(services, project_id, big, file_name="big.onnx", max_bytes=2 * MB)
    assert too_large.value.details == {"field": "weights", "file_name": "big.onnx",
                                       "limit": 2 * MB}
    assert Counting.consumed <= 3 * MB  # stopped about one chunk past the limit
    with pytest.raises(TooLarge):  # a path: refused from its size, unread
        register(services, project_id, models["yolov8"], max_bytes=100)
    assert log_head(services.app) == head
    assert stored(services) == before and leftovers(services) == []


def test_bad_fields_are_refused_before_reading(services: Services, project_id: str,
                                               models: dict[str, Path]) -> None:
    for fields, field in (({"task": "dance"}, "task"), ({"name": "a\nb"}, "name"),
                          ({"version": "v" * 51}, "version"), ({"input_size": "big"},
                                                                "input_size")):
        with pytest.raises(ValidationFailed) as refused:
            register(services, project_id, models["yolov8"], **fields)
        assert refused.value.details["field"] == field
    with pytest.raises(NotFound):
        register(services, "00000000-0000-0000-0000-000000000000", models["yolov8"])
    assert leftovers(services) == []


def test_staged_weights_hash_and_move(services: Services) -> None:
    staged = stage_weights(services.models, io.BytesIO(b"abc" * 1000), "w.onnx", 10_000)
    assert staged.size == 3000
    sha = staged.move_into_store()
    assert services.models.path(sha).read_bytes() == b"abc" * 1000
    staged.discard()  # after the move: nothing to remove, and the stored file stays
    assert services.models.exists(sha)
    again = StagedWeights(services.models, "w.onnx", 10)
    with pytest.raises(TooLarge):
        again.write(b"x" * 11)
    assert not again.path.exists()


def test_parse_input_size() -> None:
    assert parse_input_size("640") == [640, 640]
    assert parse_input_size(" 480, 640 ") == [480, 640]
    assert parse_input_size("480x640") == [480, 640]
    assert parse_input_size([320]) == [320, 320]
    assert parse_input_size(None) is None and parse_input_size("") is None
    for bad in ("0", "1,2,3", "-5", "a,b", [True], [1.5], {"h": 1}, "99999999"):
        with pytest.raises(ValidationFailed):
            parse_input_size(bad)


def test_remap_and_retire_are_events(services: Services, project_id: str,
                                     models: dict[str, Path]) -> None:
    model, _ = register(services, project_id, models["yolov8"])
    mid = str(model.id)
    changed, position = update_model(services.app, mid, {"class_map": {"BIRD": "CAR",
                                                                       "cat": None}}, "boss")
    assert position == log_head(services.app)
    assert changed.class_map == {"Cat": None, "dog": "Dog", "bird": "car"}
    assert changed.unmapped == ["Cat"]
    same, nothing = update_model(services.app, mid, {"class_map": {"bird": "car"}}, "boss")
    assert nothing is None and same.class_map == changed.class_map
    for body, field in (({"class_map": {"fish": "car"}}, "class_map.fish"),
                        ({"class_map": {"bird": "plane"}}, "class_map.bird"),
                        ({"class_map": {}}, "class_map"), ({"retired": "yes"}, "retired"),
                        ({"name": "x"}, "name"), ({}, "body"), ([], "body")):
        with pytest.raises(ValidationFailed) as refused:
            update_model(services.app, mid, body, "boss")
        assert refused.value.details["field"] == field, body
    retired, _ = update_model(services.app, mid, {"retired": True}, "boss")
    assert retired.retired and retired.describe()["retired"] is True
    with pytest.raises(ValidationFailed):
        update_model(services.app, mid, {"retired": False}, "boss")
    events = [type(e).__name__ for e in services.app.events.get(model.id)]
    assert events == ["ModelRegistered", "ClassMapChanged", "ModelRetired"]
    assert services.app.model(mid).retired
    with pytest.raises(NotFound):
        update_model(services.app, "not-an-id", {"retired": True}, "boss")
