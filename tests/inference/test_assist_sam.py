"""The SAM assist engine (inference_workers.assist_sam) and the `sam` architecture, end to end
with the real stores: randomly initialised MobileSAM weights (kornia's, built from the config,
nothing downloaded) are saved to a file and registered as an `interactive` model; the engine
answers clicks, boxes and extreme points with masks of the image's size, computes each image's
embedding once (LRU, bounded), and refuses models and weights it must not run.

Random weights say nothing of quality (benchmarks/assist_sam.py measures speed; quality needs
real weights): these tests hold the plumbing. The model is registered at 256 px so an embedding
costs about 0.1 s here.
"""

from __future__ import annotations

import io
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from safetensors.torch import save_file

from domain import geometry as g
from domain import rle
from domain.assist import AssistRequest, ImageFacts
from domain.errors import ValidationFailed
from inference_workers.architectures import inspect_state_dict, sam
from inference_workers.assist_sam import EmbeddingCache, SamEngine, prompt_of
from inference_workers.model_files import inspect_model
from labelwright.bootstrap import bootstrap, shutdown
from labelwright.services import Services
from labelwright.settings import Settings
from service_layer.image_file_import import register_images
from service_layer.model_registry import register_model, update_model

SIDE = 256
MB = 1024 * 1024


def mobile_sam_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return sam.build("mobile_sam", SIDE).state_dict()


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random MobileSAM weights as safetensors, in float16 (half the bytes; loaded as float32)."""
    path = tmp_path_factory.mktemp("sam") / "mobile_sam.safetensors"
    tensors = {k: v.half() if v.is_floating_point() else v
               for k, v in mobile_sam_state_dict().items()}
    save_file(tensors, str(path))
    return path


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    s = bootstrap(Settings(data_dir=tmp_path_factory.mktemp("assist-sam") / "data"), live=False)
    yield s
    shutdown(s)


def png(width: int, height: int, seed: int) -> bytes:
    """A dark image with a bright square in the middle (and a little noise)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
    pixels[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = (220, 200, 60)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def register(services: Services, project_id: str, path: Path, **kw: Any) -> Any:
    kw.setdefault("actor", "admin")
    kw.setdefault("max_bytes", 64 * MB)
    model, _ = register_model(services.app, services.models, project_id, weights=path,
                              inspect=inspect_model, **kw)
    return model


class World:
    """A project with two images and a registered random MobileSAM, and an engine for it."""

    def __init__(self, services: Services, weights: Path, name: str) -> None:
        self.services = services
        project, _ = services.app.create_project(name, [{"name": "thing"}], None, "admin")
        self.project_id = str(project.id)
        rows = register_images(services, self.project_id,
                               [("wide.png", png(200, 120, 1)), ("tall.png", png(90, 160, 2))],
                               "admin")
        self.images = [ImageFacts(UUID(r["id"]), self.project_id, r["width"], r["height"],
                                  r["sha256"]) for r in rows]
        self.model = register(services, self.project_id, weights, name="mobile-sam",
                              architecture="sam", task="interactive", input_size=str(SIDE))
        self.model_id = str(self.model.id)

    def engine(self, **kw: Any) -> SamEngine:
        return SamEngine(self.services.app.model, self.services.models.path,
                         self.services.images.path, **kw)

    def request(self, mode: str, points: list[tuple[float, float, int]], *, image: int = 0,
                output: str = "mask", model_id: str | None = None, **kw: Any) -> AssistRequest:
        return AssistRequest(mode, tuple(points), self.images[image], output,
                             model_id or self.model_id, **kw)


@pytest.fixture
def world(services: Services, weights: Path, request: pytest.FixtureRequest) -> World:
    return World(services, weights, request.node.name[:60])


def mask_of(answer: Any, image: ImageFacts) -> np.ndarray[Any, Any]:
    geometry = answer.geometry
    assert isinstance(geometry, g.Mask)
    assert geometry.rle["size"] == [image.height, image.width]
    pixels = rle.decode(geometry.rle)
    assert pixels.shape == (image.height, image.width) and pixels.any()
    return pixels


# -- registration ------------------------------------------------------------------------------


def test_random_mobile_sam_registers_as_an_interactive_model(world: World) -> None:
    model = world.model
    assert (model.task, model.format, model.architecture, model.layout) == (
        "interactive", "state_dict", "sam", "sam")
    assert model.classes == [] and model.input_size == [SIDE, SIDE]
    assert model.details["variant"] == "mobile_sam"
    assert model.details["parameters"] > 10_000_000
    assert model.details["dtypes"] == ["float16"]


def test_weights_that_are_not_sam_are_refused_with_what_they_lack(tmp_path: Path) -> None:
    from inference_workers.architectures.centernet import CenterNet

    path = tmp_path / "centernet.safetensors"
    save_file(CenterNet(3, width=8).state_dict(), str(path))
    with pytest.raises(ValidationFailed) as caught:
        inspect_model(path, path.name, architecture="sam")
    assert caught.value.details["field"] == "weights"
    assert "not a SAM model" in caught.value.message
    assert "image_encoder" in caught.value.message


def test_a_sam_with_a_tensor_missing_or_reshaped_is_refused_naming_it() -> None:
    tensors = mobile_sam_state_dict()
    key = "mask_decoder.iou_prediction_head.layers.0.weight"
    missing = dict(tensors)
    del missing[key]
    with pytest.raises(ValidationFailed) as caught:
        inspect_state_dict("sam", missing, [])
    assert caught.value.details == {"field": "weights", "key": key}
    reshaped = {**tensors, key: torch.zeros(3, 3)}
    with pytest.raises(ValidationFailed) as caught:
        inspect_state_dict("sam", reshaped, [])
    assert caught.value.details["key"] == key and "shape" in caught.value.message


def test_a_vit_of_no_known_size_is_refused_and_vit_b_is_named() -> None:
    odd = {"image_encoder.patch_embed.proj.weight": torch.zeros(384, 3, 16, 16),
           **{f"image_encoder.blocks.{i}.norm1.weight": torch.zeros(384) for i in range(6)}}
    with pytest.raises(ValidationFailed) as caught:
        inspect_state_dict("sam", odd, [])
    assert "384 wide with 6 blocks" in caught.value.message
    assert "vit_b (768 wide, 12 blocks)" in caught.value.message
    vit_b = {"image_encoder.patch_embed.proj.weight": torch.zeros(768, 3, 16, 16),
             **{f"image_encoder.blocks.{i}.norm1.weight": torch.zeros(768) for i in range(12)}}
    assert sam.identify(vit_b).name == "vit_b"
    with pytest.raises(ValidationFailed) as caught:  # ViT-B's tables fix the side at 1024
        sam.input_side(sam.identify(vit_b), [512, 512])
    assert caught.value.details["field"] == "input_size"


def test_sam_registration_refuses_classes_a_wrong_task_and_odd_sides(weights: Path) -> None:
    refusals = [
        ({"classes": ("c.txt", b"cat\n")}, "classes"),
        ({"task": "detect"}, "task"),
        ({"input_size": [300, 300]}, "input_size"),
        ({"input_size": [256, 512]}, "input_size"),
    ]
    for kw, field in refusals:
        with pytest.raises(ValidationFailed) as caught:
            inspect_model(weights, weights.name, architecture="sam", **kw)
        assert caught.value.details["field"] == field, kw


def test_a_pickle_is_refused_unread(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Hostile:
        def __reduce__(self) -> Any:
            return (Path.touch, (marker,))

    path = tmp_path / "mobile_sam.pt"
    torch.save({"image_encoder.neck.0.weight": torch.zeros(1), "x": Hostile()}, path)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(Hostile()))
    for file in (path, raw):
        with pytest.raises(ValidationFailed) as caught:
            inspect_model(file, file.name, architecture="sam")
        assert "pickle" in caught.value.message
    assert not marker.exists()


def test_a_sam_model_runs_no_prelabel_job(world: World) -> None:
    from inference_workers.architectures import load_state_dict_runner

    with pytest.raises(ValidationFailed) as caught:
        load_state_dict_runner(world.model, world.services.models.path(world.model.sha256))
    assert "does not pre-label" in caught.value.message


# -- the engine --------------------------------------------------------------------------------


def test_clicks_box_and_extreme_points_give_masks_of_the_image_size(world: World) -> None:
    engine = world.engine()
    wide, tall = world.images
    answers = [
        (engine.propose(world.request("clicks", [(100, 60, 1), (10, 10, -1)])), wide),
        (engine.propose(world.request("box", [(50, 30, 1), (150, 90, 1)])), wide),
        (engine.propose(world.request("extreme_points", [(22, 80, 1), (45, 40, 1), (68, 80, 1),
                                                         (45, 120, 1)], image=1)), tall),
    ]
    for answer, image in answers:
        mask_of(answer, image)
        assert answer.score is not None and np.isfinite(answer.score)
    box = engine.propose(world.request("box", [(50, 30, 1), (150, 90, 1)], output="box"))
    assert isinstance(box.geometry, g.Box)
    polygon = engine.propose(world.request("clicks", [(100, 60, 1)], output="polygon"))
    assert isinstance(polygon.geometry, g.Polygon) and len(polygon.geometry.points) >= 3


def test_the_embedding_is_computed_once_per_image(world: World) -> None:
    engine = world.engine()
    for x in (60, 100, 140):
        engine.propose(world.request("clicks", [(x, 60, 1)]))
    engine.propose(world.request("box", [(50, 30, 1), (150, 90, 1)]))
    assert engine.encoder_calls == 1
    engine.propose(world.request("clicks", [(45, 80, 1)], image=1))
    assert engine.encoder_calls == 2
    engine.propose(world.request("clicks", [(100, 60, 1)], image=0))
    assert engine.encoder_calls == 2


def test_the_embedding_cache_evicts_the_least_recently_used(world: World) -> None:
    engine = world.engine(embedding_cache_size=1)
    click = [(40, 40, 1)]
    engine.propose(world.request("clicks", click, image=0))
    engine.propose(world.request("clicks", click, image=1))  # evicts image 0
    engine.propose(world.request("clicks", click, image=0))
    assert engine.encoder_calls == 3 and len(engine.embeddings) == 1


def test_embedding_cache_bounds_by_count_and_bytes() -> None:
    from inference_workers.assist_sam import Embedding

    def entry(kib: int) -> Embedding:
        return Embedding(torch.zeros(kib * 256), (1, 1), 0.0)  # kib KiB of float32

    cache = EmbeddingCache(capacity=3, max_bytes=10 * 1024)
    for name in "abc":
        cache.put(("m", name), entry(3))
    assert cache.get(("m", "a")) is not None  # a is now the most recent
    cache.put(("m", "d"), entry(3))
    assert ("m", "b") not in cache and len(cache) == 3 and cache.nbytes == 9 * 1024
    cache.put(("m", "e"), entry(8))  # over the bytes: the oldest go until it fits
    assert list(k[1] for k in cache._entries) == ["e"] and cache.nbytes == 8 * 1024
    cache.put(("m", "huge"), entry(20))  # larger than the bound alone: kept, alone
    assert len(cache) == 1 and ("m", "huge") in cache


def test_a_refinement_keeps_its_box_and_adds_clicks(world: World) -> None:
    first = world.request("box", [(50, 30, 1), (150, 90, 1)])
    refined = world.request("clicks", [(70, 50, -1)], previous=first.points,
                            started_with="box")
    prompt = prompt_of(refined)
    assert prompt.box == (50, 30, 150, 90) and prompt.points == [(70, 50)]
    assert prompt.labels == [0]
    extreme = [(22, 80, 1), (45, 40, 1), (68, 80, 1), (45, 120, 1)]
    again = prompt_of(world.request("clicks", [(45, 80, 1)], image=1, previous=tuple(extreme),
                                    started_with="extreme_points"))
    assert again.box == (22, 40, 68, 120) and again.labels == [1, 1, 1, 1, 1]
    engine = world.engine()
    mask_of(engine.propose(refined), world.images[0])


def test_bad_prompts_are_refused_clearly(world: World) -> None:
    cases = [
        (world.request("clicks", [(500, 60, 1)]), "outside the image"),
        (world.request("clicks", [(10, 10, -1)]), "positive"),
        (world.request("extreme_points", [(1, 1, 1), (2, 2, 1), (3, 3, 1)]), "exactly 4"),
        (world.request("box", [(50, 30, 1), (50.5, 90, 1)]), "at least 1 pixel"),
        (world.request("clicks", [(10, 10, 1)] * 10_000), "at most"),
    ]
    for request, words in cases:
        with pytest.raises(ValidationFailed) as caught:
            prompt_of(request)
        assert words in caught.value.message
        assert caught.value.details["field"] == "points"
    near = prompt_of(world.request("clicks", [(200.5, -0.5, 1)]))  # within the overhang
    assert near.points == [(200.0, 0.0)]


def test_a_detector_or_a_foreign_or_retired_model_is_refused(world: World,
                                                              tmp_path: Path) -> None:
    from inference_workers.architectures.centernet import CenterNet

    path = tmp_path / "detector.safetensors"
    save_file(CenterNet(1, width=8).state_dict(), str(path))
    detector = register(world.services, world.project_id, path, name="yolo",
                        architecture="centernet", classes=("c.txt", b"thing\n"))
    engine = world.engine()
    click = [(100, 60, 1)]
    with pytest.raises(ValidationFailed) as caught:
        engine.propose(world.request("clicks", click, model_id=str(detector.id)))
    assert caught.value.message.startswith(
        f"model yolo@{detector.model_version} is a detector, not an interactive model")
    assert caught.value.details["field"] == "model_id"
    foreign = world.request("clicks", click)
    foreign = AssistRequest("clicks", foreign.points,
                            ImageFacts(foreign.image.image_id, "another-project", 200, 120,
                                       foreign.image.sha256), "mask", world.model_id)
    with pytest.raises(ValidationFailed, match="no model"):
        engine.propose(foreign)
    with pytest.raises(ValidationFailed, match="no model"):
        engine.propose(world.request("clicks", click, model_id="not-a-uuid"))
    update_model(world.services.app, world.model_id, {"retired": True}, "admin")
    with pytest.raises(ValidationFailed, match="retired"):
        engine.propose(world.request("clicks", click))
    assert engine.encoder_calls == 0


def test_two_threads_share_one_model_and_one_embedding(world: World) -> None:
    engine = world.engine()
    errors: list[BaseException] = []

    def click(x: float) -> None:
        try:
            mask_of(engine.propose(world.request("clicks", [(x, 60, 1)])), world.images[0])
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=click, args=(60 + 20 * i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and engine.encoder_calls == 1


def test_the_composition_root_serves_model_ids_with_sam(world: World) -> None:
    """Through the server's own pipeline (bootstrap registers the engine): a preview records
    nothing and scores; a command records the proposal and its AssistClicked; a refinement
    names the proposal and adds a negative click."""
    from domain.command_pipeline import Actor
    from domain.commands import parse_command

    pipeline, image = world.services.pipeline, world.images[0]

    def assist(**fields: Any) -> Any:
        return parse_command({"type": "assist", "label": "thing", "output": "mask",
                              "model_id": world.model_id, **fields})

    head = world.services.app.image(image.image_id).version
    preview = pipeline.prepare(image.image_id, [assist(mode="box", points=[[50, 30, 1],
                                                                           [150, 90, 1]])],
                               Actor("admin", is_admin=True))[0]
    assert preview.proposal.score is not None
    assert preview.proposal.result().rle["size"] == [image.height, image.width]
    assert world.services.app.image(image.image_id).version == head
    done = pipeline.execute(image.image_id, [assist(mode="box", points=[[50, 30, 1],
                                                                        [150, 90, 1]])],
                            Actor("admin", is_admin=True), timeout=30)
    kinds = [e["type"] for e in done.to_json()["events"]]
    assert "AssistClicked" in kinds
    created = world.services.app.image(image.image_id).annotations
    (annotation_id, annotation), = created.items()
    assert annotation["type"] == "mask" and annotation["source"] == "assist"
    assert annotation["geometry"]["rle"]["size"] == [image.height, image.width]
    refined = pipeline.execute(image.image_id, [assist(mode="clicks", points=[[60, 40, -1]],
                                                       annotation_id=annotation_id)],
                               Actor("admin", is_admin=True), timeout=30)
    assert "AssistClicked" in [e["type"] for e in refined.to_json()["events"]]


def test_a_box_gives_the_mask_kornias_visual_prompter_gives(world: World) -> None:
    """The engine's own preprocessing, prompt scaling and upsampling against kornia's
    ``VisualPrompter`` (a transcription of Meta's ``SamPredictor``) on the same weights: a
    box maps the same way in both, so the masks agree but for pixels on the threshold."""
    from kornia.augmentation import AugmentationSequential, Resize
    from kornia.contrib.visual_prompter import VisualPrompter
    from kornia.models.sam import SamConfig

    engine = world.engine()
    image = world.images[0]
    corners = [(50.0, 30.0, 1), (150.0, 90.0, 1)]
    ours = mask_of(engine.propose(world.request("box", corners)), image).astype(bool)

    net = sam.load_sam(world.model, world.services.models.path(world.model.sha256),
                       device=torch.device("cpu"))
    prompter = VisualPrompter(SamConfig("mobile_sam"))
    prompter.model = net
    prompter.transforms = AugmentationSequential(
        Resize(SIDE, side="long", align_corners=False, antialias=True), same_on_batch=True)
    with PILImage.open(world.services.images.path(image.sha256)) as im:
        pixels = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).float() / 255
    prompter.set_image(pixels)
    result = prompter.predict(boxes=torch.tensor([[50.0, 30.0, 150.0, 90.0]]),
                              multimask_output=True)
    best = int(result.scores[0].argmax())
    theirs = result.binary_masks[0, best].numpy()
    assert theirs.shape == ours.shape
    iou = (ours & theirs).sum() / max(1, (ours | theirs).sum())
    assert iou > 0.99, iou
