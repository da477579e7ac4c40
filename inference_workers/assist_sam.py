"""The SAM assist engine: clicks, a box or extreme points on an image → a mask proposal from a
registered ``interactive`` model (``architectures.sam``).

SAM splits its work in two, and so does this engine. The image encoder turns the image into an
embedding once (MobileSAM at 1024 px on this 2-core machine: 1.1 s with two idle cores, 1.9 s
with the server's one thread beside other work; ViT-H takes tens of seconds); each prompt then
costs one prompt-encoder + mask-decoder pass on that embedding (MobileSAM: 40-50 ms idle, a
prompt p50 of 81 ms end to end with one thread beside other work, ``benchmarks/assist_sam.py``),
which is what an annotator clicking away waits for. So the embedding of
each (model, image file) is kept in a bounded LRU cache (:class:`EmbeddingCache`, by count and
by bytes: a 1024 px embedding is 4 MiB), and every later click on the image, by anyone, only
decodes.

Prompts follow Meta's ``SamPredictor`` (``segment-anything@3518c86``): the image is resized so
its long side is the model's input side (bilinear, antialiased), normalised with SAM's pixel
mean and deviation and padded right and bottom; points and box corners (continuous image
coordinates) are scaled by the same factors; positive clicks are label 1, negative 0. The
decoder answers three masks with their predicted IoU; the best scoring one is upsampled to the
image (to the padded input, cropped, then to the image, as the reference does) and thresholded
at 0, and ``mask_geometry.geometry_from_mask`` makes the geometry the request asked for.

* ``clicks``: positive and negative clicks (at least one positive);
* ``box``: two opposite corners, SAM's box prompt;
* ``extreme_points``: the four extreme points as positive clicks plus the box through them;
* a refinement (``previous`` clicks, ``started_with`` the first request's mode): the first
  request's box or extreme points prompt as before, plus every click since.

Engines run on the pipeline's preparation threads (two): one model serves one pass at a time
(its lock), the caches have their own locks. The model is checked on every request: a model of
the image's project, ``interactive``, not retired; anything else is ValidationFailed, so the
client learns why (a detector's id: "model yolo@1 is a detector, not an interactive model").
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import numpy as np
import torch
import torch.nn.functional as F
from kornia.models.sam import Sam
from PIL import Image as PILImage

from domain import geometry as g
from domain.assist import AssistRequest, Points, Scored
from domain.errors import NotFound, ValidationFailed
from inference_workers.architectures import choose_device, sam
from inference_workers.mask_geometry import geometry_from_mask
from inference_workers.model_api import ModelInfo

log = logging.getLogger(__name__)

# SAM's normalisation (its training images' statistics), on 0-255 pixels.
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)
MAX_PROMPT_POINTS = 200  # clicks of one proposal, earlier ones included (as the commands')
DEFAULT_EMBEDDINGS = 16
DEFAULT_EMBEDDING_BYTES = 256 * 1024 * 1024
DEFAULT_MODELS = 2
_TASK_NOUNS = {"detect": "a detector", "segment": "a segmentation model",
               "classify": "a classifier"}


class InteractiveModel(ModelInfo, Protocol):
    """What the engine reads of a registered model (``domain.model.Model`` fits): what
    loading needs (``ModelInfo``) and whose it is."""

    @property
    def project_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def model_version(self) -> str: ...
    @property
    def retired(self) -> bool: ...
    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True)
class Embedding:
    """One image through the encoder: the embedding ``(1, 256, side/16, side/16)`` and the
    size the image was resized to before padding (to crop the masks back)."""

    tensor: torch.Tensor
    resized: tuple[int, int]  # (height, width) inside the padded input
    seconds: float

    @property
    def nbytes(self) -> int:
        return int(self.tensor.numel() * self.tensor.element_size())


class EmbeddingCache:
    """The most recently used image embeddings, at most ``capacity`` of them and at most
    ``max_bytes`` in all (the least recently used go first). Thread-safe."""

    def __init__(self, capacity: int = DEFAULT_EMBEDDINGS,
                 max_bytes: int = DEFAULT_EMBEDDING_BYTES) -> None:
        self.capacity = max(1, capacity)
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], Embedding] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Embedding | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], embedding: Embedding) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[key] = embedding
            self._bytes += embedding.nbytes
            while len(self._entries) > 1 and (len(self._entries) > self.capacity
                                              or self._bytes > self.max_bytes):
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


@dataclass(frozen=True)
class Prompt:
    """A request's prompt in image coordinates: points with SAM labels (1 in, 0 out) and
    an optional box ``(x0, y0, x1, y1)``."""

    points: list[tuple[float, float]]
    labels: list[int]
    box: tuple[float, float, float, float] | None


@dataclass(frozen=True)
class Proposal:
    """The decoder's answer: the chosen mask at image resolution and its predicted IoU."""

    mask: np.ndarray[Any, np.dtype[np.bool_]]
    score: float


class _LoadedSam:
    """One model in memory, with the lock that lets one pass run at a time."""

    def __init__(self, model: Sam, side: int) -> None:
        self.model = model
        self.side = side
        self.lock = threading.Lock()


class SamEngine:
    """The assist engine of registered SAM models (``AssistEngine``): answers requests that
    name a ``model_id``.

    ``models(model_id)`` is the registered model (``Labeling.model``: NotFound when none),
    ``weights_path(sha256)`` its weights file, ``image_path_for(sha256)`` an image's file.
    Up to ``models_cache_size`` models stay loaded, ``embedding_cache_size`` embeddings (and at
    most ``embedding_cache_bytes``) stay cached. ``device``: None for CUDA when present.
    ``threads``: torch's intra-op threads, set when a model loads (None: torch's default).
    In a server, one thread fewer than the cores: beside the web server and the writer, two
    threads on this 2-core machine made a cached prompt 3 times slower than one (p50 323 ms
    vs 94 ms, load average 5)."""

    def __init__(self, models: Callable[[UUID], InteractiveModel],
                 weights_path: Callable[[str], Path], image_path_for: Callable[[str], Path], *,
                 embedding_cache_size: int = DEFAULT_EMBEDDINGS,
                 embedding_cache_bytes: int = DEFAULT_EMBEDDING_BYTES,
                 models_cache_size: int = DEFAULT_MODELS, device: str | None = "cpu",
                 threads: int | None = None) -> None:
        self.models = models
        self.weights_path = weights_path
        self.image_path_for = image_path_for
        self.embeddings = EmbeddingCache(embedding_cache_size, embedding_cache_bytes)
        self.device = choose_device(device)
        self.threads = threads
        self._loaded: OrderedDict[tuple[str, str], _LoadedSam] = OrderedDict()
        self._models_cache_size = max(1, models_cache_size)
        self._loading = threading.Lock()
        self.encoder_calls = 0  # image embeddings computed (cache misses), for the curious
        self._counting = threading.Lock()

    # -- the AssistEngine interface ----------------------------------------------------------

    def propose(self, request: AssistRequest) -> Scored:
        """The geometry (``request.output``) of the best mask SAM finds for the request, and
        SAM's predicted IoU of that mask (the preview's ``score``)."""
        image = request.image
        proposal = self.mask(request)
        return Scored(geometry_from_mask(proposal.mask, request.output, image.width,
                                         image.height), proposal.score)

    def mask(self, request: AssistRequest) -> Proposal:
        """The best mask for the request at image resolution, with its score."""
        model = self.model_for(request)
        prompt = prompt_of(request)
        loaded = self._load(model)
        image = request.image
        key = (model.sha256 + str(model.input_size), image.sha256)
        embedding = self.embeddings.get(key)
        # A new image is decoded before taking the model: others' prompts need not wait on it.
        pixels = None if embedding else self._pixels(image.sha256, image.width, image.height)
        with loaded.lock:
            if embedding is None:
                embedding = self.embeddings.get(key)  # another thread may have just made it
            if embedding is None:
                assert pixels is not None
                embedding = self._embed(loaded, key, pixels)
            return self._decode(loaded, embedding, prompt, image.width, image.height)

    # -- the model ---------------------------------------------------------------------------

    def model_for(self, request: AssistRequest) -> InteractiveModel:
        """The request's model, if it may serve it (ValidationFailed, field ``model_id``)."""
        raw = request.model_id
        if not raw:
            raise ValidationFailed("the SAM engine needs the model_id of an interactive model",
                                   {"field": "model_id"})
        unknown = ValidationFailed(f"no model {raw!r} in this image's project",
                                   {"field": "model_id"})
        try:
            model = self.models(UUID(str(raw)))
        except (ValueError, NotFound):
            raise unknown from None
        if model.project_id != request.image.project_id:
            raise unknown  # the same answer as for no model: other projects stay private
        who = f"model {model.name}@{model.model_version}"
        if model.task != "interactive":
            noun = _TASK_NOUNS.get(model.task, f"a {model.task} model")
            raise ValidationFailed(f"{who} is {noun}, not an interactive model: assist needs "
                                   "an interactive model (SAM), or no model_id for the "
                                   "built-in engine", {"field": "model_id"})
        if model.retired:
            raise ValidationFailed(f"{who} is retired", {"field": "model_id"})
        if model.layout != "sam":
            raise ValidationFailed(f"{who} is an interactive model of layout {model.layout!r}; "
                                   "this engine runs SAM models", {"field": "model_id"})
        return model

    def _load(self, model: InteractiveModel) -> _LoadedSam:
        key = (model.sha256, str(model.input_size))
        with self._loading:  # two threads asking for a new model load it once
            found = self._loaded.get(key)
            if found is not None:
                self._loaded.move_to_end(key)
                return found
            weights = self.weights_path(model.sha256)
            if not weights.is_file():
                raise ValidationFailed(f"the weights of model {model.name}@"
                                       f"{model.model_version} are missing from the model store",
                                       {"field": "model_id"})
            if self.threads:  # torch's pool is per process: the same choice as the job runners'
                torch.set_num_threads(self.threads)
            started = time.perf_counter()
            net = sam.load_sam(model, weights, device=self.device)
            side = int(net.image_encoder.img_size)
            log.info("loaded SAM model %s@%s (%s, %d px) in %.2f s", model.name,
                     model.model_version, model.details.get("variant"), side,
                     time.perf_counter() - started)
            loaded = _LoadedSam(net, side)
            self._loaded[key] = loaded
            while len(self._loaded) > self._models_cache_size:
                self._loaded.popitem(last=False)
            return loaded

    # -- the two passes ----------------------------------------------------------------------

    def _embed(self, loaded: _LoadedSam, key: tuple[str, str],
               pixels: np.ndarray[Any, np.dtype[np.uint8]]) -> Embedding:
        """The image through the encoder (the caller holds the model's lock), cached."""
        started = time.perf_counter()
        with torch.inference_mode():
            batch, resized = preprocess(pixels, loaded.side, self.device)
            tensor = loaded.model.image_encoder(batch)
        embedding = Embedding(tensor, resized, time.perf_counter() - started)
        with self._counting:
            self.encoder_calls += 1
        self.embeddings.put(key, embedding)
        return embedding

    def _pixels(self, sha: str, width: int, height: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
        try:
            with PILImage.open(self.image_path_for(sha)) as im:
                pixels = np.array(im.convert("RGB"))  # writable: torch takes it as it is
        except Exception as e:  # a missing or corrupt file: this request fails alone
            log.warning("assist could not decode image file %s: %r", sha, e)
            raise ValidationFailed(f"the image file could not be decoded ({type(e).__name__})",
                                   {"field": "image_id"}) from None
        if pixels.shape[:2] != (height, width):
            raise ValidationFailed(f"the image file is {pixels.shape[1]}x{pixels.shape[0]}, "
                                   f"not the {width}x{height} it was registered as",
                                   {"field": "image_id"})
        return pixels

    def _decode(self, loaded: _LoadedSam, embedding: Embedding, prompt: Prompt, width: int,
                height: int) -> Proposal:
        net, device = loaded.model, self.device
        rh, rw = embedding.resized
        sx, sy = rw / width, rh / height
        with torch.inference_mode():
            points = None
            if prompt.points:
                coords = torch.tensor([[(x * sx, y * sy) for x, y in prompt.points]],
                                      dtype=torch.float32, device=device)
                labels = torch.tensor([prompt.labels], dtype=torch.int64, device=device)
                points = (coords, labels)
            boxes = None
            if prompt.box is not None:
                x0, y0, x1, y1 = prompt.box
                boxes = torch.tensor([[x0 * sx, y0 * sy, x1 * sx, y1 * sy]],
                                     dtype=torch.float32, device=device)
            sparse, dense = net.prompt_encoder(points=points, boxes=boxes, masks=None)
            logits, scores = net.mask_decoder(
                image_embeddings=embedding.tensor, image_pe=net.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=True)
            best = int(torch.argmax(scores[0]))
            chosen = logits[:, best:best + 1]
            side = loaded.side
            chosen = F.interpolate(chosen, size=(side, side), mode="bilinear",
                                   align_corners=False)[..., :rh, :rw]
            chosen = F.interpolate(chosen, size=(height, width), mode="bilinear",
                                   align_corners=False)
            mask = (chosen[0, 0] > net.mask_threshold).cpu().numpy()
        return Proposal(mask, float(scores[0, best]))


def preprocess(pixels: np.ndarray[Any, np.dtype[np.uint8]], side: int, device: torch.device
               ) -> tuple[torch.Tensor, tuple[int, int]]:
    """RGB ``uint8`` ``(H, W, 3)`` → the encoder's input ``(1, 3, side, side)`` and the size
    the image was resized to inside it (long side = ``side``, short side truncated as
    kornia's ``VisualPrompter`` does)."""
    height, width = pixels.shape[:2]
    scale = side / max(height, width)
    resized = (max(1, int(height * scale)), max(1, int(width * scale)))
    x = torch.from_numpy(pixels).to(device).permute(2, 0, 1)[None]
    x = x.float()
    x = F.interpolate(x, size=resized, mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(PIXEL_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(PIXEL_STD, device=device).view(1, 3, 1, 1)
    x = (x - mean) / std
    x = F.pad(x, (0, side - resized[1], 0, side - resized[0]))
    return x, resized


def prompt_of(request: AssistRequest) -> Prompt:
    """The request's clicks as a SAM prompt (ValidationFailed, field ``points``, for clicks
    outside the image, the wrong number of points, or no positive click). A refinement
    (``previous`` clicks) starts with the points of the proposal's first request, read as
    ``started_with`` says (a box's 2 corners, 4 extreme points), then clicks."""
    width, height = request.image.width, request.image.height
    clicks: Points = tuple(request.previous) + tuple(request.points)
    if len(clicks) > MAX_PROMPT_POINTS:
        raise _bad_points(f"at most {MAX_PROMPT_POINTS} clicks make one proposal (earlier "
                          f"clicks included); got {len(clicks)}")
    clicks = _inside(clicks, width, height)
    first = request.started_with if request.previous else request.mode
    if first not in ("clicks", "box", "extreme_points", None):
        raise ValidationFailed(f"unknown assist mode {first!r}", {"field": "mode"})
    if request.mode not in ("clicks", "box", "extreme_points"):
        raise ValidationFailed(f"unknown assist mode {request.mode!r}", {"field": "mode"})
    box: tuple[float, float, float, float] | None = None
    points: list[tuple[float, float]] = []
    labels: list[int] = []
    if first == "box":
        if len(clicks) < 2:
            raise _bad_points(f"box needs exactly 2 points (opposite corners); got {len(clicks)}")
        (ax, ay, _), (bx, by, _) = clicks[:2]
        box = (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))
        clicks = clicks[2:]
    elif first == "extreme_points":
        if len(clicks) < 4:
            raise _bad_points(f"extreme_points needs exactly 4 points; got {len(clicks)}")
        extreme = clicks[:4]
        box = (min(x for x, _, _ in extreme), min(y for _, y, _ in extreme),
               max(x for x, _, _ in extreme), max(y for _, y, _ in extreme))
        points, labels = [(x, y) for x, y, _ in extreme], [1, 1, 1, 1]
        clicks = clicks[4:]
    if request.mode != "clicks" and clicks:  # a fresh box or extreme points: nothing more
        raise _bad_points(f"{request.mode} needs exactly {2 if first == 'box' else 4} points; "
                          f"got {len(request.points)}")
    if box is not None and (box[2] - box[0] < 1 or box[3] - box[1] < 1):
        raise _bad_points(f"the {first.replace('_', ' ') if first else 'box'} must span at "
                          "least 1 pixel in x and in y")
    points += [(x, y) for x, y, _ in clicks]
    labels += [1 if label > 0 else 0 for _, _, label in clicks]
    if box is None and 1 not in labels:
        raise _bad_points("clicks need at least one positive (+1) click on the object")
    return Prompt(points, labels, box)


def _inside(points: Points, width: int, height: int) -> Points:
    """``points`` clamped onto the image; a point further out than the geometry's overhang
    allowance is refused."""
    margin = g.OVERHANG_PX
    for i, (x, y, _) in enumerate(points):
        if not (-margin <= x <= width + margin and -margin <= y <= height + margin):
            raise ValidationFailed(f"point {i} ({x:g}, {y:g}) lies outside the image "
                                   f"({width}x{height})", {"field": "points", "index": i})
    return tuple((min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height)), label)
                 for x, y, label in points)


def _bad_points(message: str) -> ValidationFailed:
    return ValidationFailed(message, {"field": "points"})
