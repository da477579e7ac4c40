"""Assisted drawing: turning a few clicks into a proposed geometry.

An assist engine (:class:`AssistEngine`, one per mode) answers an :class:`AssistRequest` with
a geometry. Engines never run in the command writer: the pipeline's preparation step
(:meth:`AssistRegistry.prepare`, called from ``CommandPipeline.submit`` before the request is
queued, or on its own for a preview) computes the proposal and the ``Assist`` command carries
it to the aggregate, which only validates and records it. A learned engine (seconds per call)
therefore holds up nothing but its own request.

Extreme clicking (Papadopoulos et al., ICCV 2017: the left-, top-, right- and bottom-most
points of the object) needs no model: the tight box through the four points. Learned engines
(masks from clicks or a box) plug in under their mode name: write the engine in its own module
and register it, in :func:`default_registry` if it needs nothing from outside, else in the
composition root (``registry.register("clicks", SamClicks(weights))``). Interactive models a
user registers (``model_id`` in the command) are answered by one engine for all of them
(``registry.register_model_engine(engine)``, in the composition root).

The registry is also where every engine's input is checked the same way (points inside the
image, 4 extreme points, a box with area, at least one positive click, a bounded click history,
an image big enough to segment, an interactive model of the image's own project) and where
its answer becomes the geometry asked for (a box as a polygon or mask, a mask as its box) and
is validated like any client's geometry, so a faulty engine cannot record a shape a client
could not.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import numpy as np

from domain import commands as c
from domain import geometry as g
from domain import rle
from domain.errors import DomainError, NotFound, ValidationFailed
from domain.model import Model

log = logging.getLogger(__name__)

Points = tuple[tuple[float, float, int], ...]
# Smaller images have nothing an engine could segment (a 1x1 image is a click, not an object).
MIN_IMAGE_SIDE = 8


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What an engine may know of the image: its identity and fixed dimensions (none of this
    ever changes after ``ImageAdded``). ``sha256`` names the file, for engines that need the
    pixels."""

    image_id: UUID
    project_id: str
    width: int
    height: int
    sha256: str


@dataclass(frozen=True, slots=True)
class AssistRequest:
    mode: str  # extreme_points | clicks | box
    points: Points  # (x, y, +1 | -1); for "box" the two corners
    image: ImageFacts
    output: str = "box"  # the geometry wanted: box | mask | polygon
    model_id: str | None = None  # an interactive model of the project (None: built-in engine)
    previous: Points = ()  # clicks made earlier on the same proposal (refining it), in order
    # When refining (mode is then "clicks"): the mode of the proposal's first request, which
    # says how to read ``previous``: "box": its first 2 points are the corners,
    # "extreme_points": its first 4 are the extreme points; the rest are clicks.
    started_with: str | None = None


@dataclass(frozen=True, slots=True)
class Scored:
    """An engine's answer with its own confidence (a SAM decoder's predicted IoU): engines
    may return this instead of a bare geometry."""

    geometry: g.Geometry
    score: float | None


@dataclass(frozen=True, slots=True)
class Refining:
    """What the image knows of an assist proposal being refined (``Image.assist_proposal``)."""

    started_with: str
    output: str
    model_id: str | None
    clicks: Points


class AssistEngine(Protocol):
    """The one interface of an assist engine: clicks on an image in, a geometry out.

    Raise ``ValidationFailed`` for input the engine cannot use (it reaches the client as
    422). It runs on a worker thread (or, if registered ``inline``, on the caller's thread:
    only for engines that take microseconds), never in the command writer."""

    def propose(self, request: AssistRequest) -> g.Geometry | Scored: ...


class ExtremePoints:
    """Four extreme clicks (left, top, right, bottom) → the tight box through them."""

    def propose(self, request: AssistRequest) -> g.Geometry:
        if len(request.points) != 4:
            raise ValidationFailed("extreme_points needs exactly 4 points", {"field": "points"})
        return g.box_from_extreme_points([(x, y) for x, y, _ in request.points],
                                         request.image.width, request.image.height)


class AssistRegistry:
    """The engines available in this process: one per mode, and one for interactive models."""

    def __init__(self) -> None:
        self._engines: dict[str, tuple[AssistEngine, bool]] = {}
        self._model_engine: AssistEngine | None = None

    def register(self, mode: str, engine: AssistEngine, *, inline: bool = False) -> None:
        """Serve ``mode`` with ``engine`` (replacing any engine it had). ``inline``: cheap
        enough (microseconds, no model) to run on the submitting thread without a hop."""
        if mode not in c.ASSIST_MODES:
            raise ValueError(f"assist mode {mode!r} is not one of the API's {c.ASSIST_MODES}")
        self._engines[mode] = (engine, inline)

    def register_model_engine(self, engine: AssistEngine) -> None:
        """Serve every request naming a ``model_id`` (an ``interactive`` model of the image's
        project, checked before it is called) with ``engine``, whatever its mode."""
        self._model_engine = engine

    @property
    def modes(self) -> list[str]:
        return sorted(self._engines)

    def inline(self, mode: str) -> bool:
        """Whether ``mode`` can be prepared on the caller's thread (an unknown mode can: it
        is refused at once)."""
        found = self._engines.get(mode)
        return found is None or found[1]

    def propose(self, request: AssistRequest) -> Scored:
        """The engine's answer to ``request`` (checked first), as the output asked for and
        validated against the image."""
        if request.model_id is not None:
            if self._model_engine is None:
                raise ValidationFailed(
                    "this server has no engine for interactive models; leave model_id out to "
                    "use the built-in engine", {"field": "model_id"})
            engine = self._model_engine
            name = f"model {request.model_id}"
        else:
            found = self._engines.get(request.mode)
            if found is None:
                raise ValidationFailed(
                    f"assist mode {request.mode!r} needs a learned assist model, and none is "
                    f"configured", {"field": "mode", "available": self.modes},
                )
            engine = found[0]
            name = f"{request.mode} engine"
        _check_request(request)
        answer = engine.propose(request)
        scored = answer if isinstance(answer, Scored) else Scored(answer, None)
        return Scored(_as_output(scored.geometry, request, name), scored.score)

    def prepare(self, command: c.Assist, image: ImageFacts, *,
                refining: Refining | None = None,
                find_model: Callable[[str], Model] | None = None) -> c.Assist:
        """``command`` with its proposal computed on ``image``. ``refining``: what the image
        knows of the proposal the command names (None for a new one, or when the command's
        annotation is no assist proposal: the aggregate then refuses it). ``find_model``
        loads a model named by ``model_id`` (a store read). An error is kept in the proposal,
        not raised: the aggregate raises it after the checks that came before the engine when
        it ran inside the decision (role, base_version, label), so answers stay the same. A
        preview calls this and then ``proposal.result()``."""
        output = command.output or (refining.output if refining else "box")
        model_id = command.model_id or (refining.model_id if refining else None)
        previous = refining.clicks if refining else ()
        try:
            if command.annotation_id is not None and refining is None:
                raise ValidationFailed("annotation_id must name an assist proposal of this "
                                       "image", {"field": "annotation_id"})
            if refining is not None:
                _check_refinement(command, refining, output, model_id)
            if model_id is not None:
                _check_model(model_id, image, find_model)
            request = AssistRequest(command.mode, command.points, image, output, model_id,
                                    previous, refining.started_with if refining else None)
            scored = self.propose(request)
            proposal = c.Proposal(image.image_id, scored.geometry, None, scored.score, output,
                                  model_id, previous)
        except Exception as e:  # raised again by the aggregate (logged there if unexpected)
            if not isinstance(e, DomainError):
                log.debug("assist engine %r failed", command.mode, exc_info=True)
            proposal = c.Proposal(image.image_id, None, e, None, output, model_id, previous)
        return dataclasses.replace(command, proposal=proposal)


def _check_request(request: AssistRequest) -> None:
    """The input every engine may rely on."""
    image = request.image
    if image.width < MIN_IMAGE_SIDE or image.height < MIN_IMAGE_SIDE:
        raise ValidationFailed(
            f"assist needs an image of at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels; this "
            f"one is {image.width}x{image.height}", {"field": "image_id"})
    for i, (x, y, _) in enumerate(request.points):
        if not (-g.OVERHANG_PX <= x <= image.width + g.OVERHANG_PX
                and -g.OVERHANG_PX <= y <= image.height + g.OVERHANG_PX):
            raise ValidationFailed(
                f"point {i} ({x:g}, {y:g}) lies outside the image ({image.width}x"
                f"{image.height})", {"field": f"points[{i}]"})
    n = len(request.points)
    if request.mode == "extreme_points" and n != 4:
        raise ValidationFailed(f"extreme_points needs exactly 4 points, not {n}",
                               {"field": "points"})
    if request.mode == "box":
        if n != 2:
            raise ValidationFailed(f"a box is given by its 2 corners, not {n} points",
                                   {"field": "points"})
        (x0, y0, _), (x1, y1, _) = request.points
        if x0 == x1 or y0 == y1:
            raise ValidationFailed("the box's two corners span no area", {"field": "points"})
    if request.mode == "clicks" and request.started_with in (None, "clicks") and not any(
            sign > 0 for _, _, sign in request.previous + request.points):
        raise ValidationFailed("clicks need at least one positive click on the object",
                               {"field": "points"})
    total = len(request.previous) + n
    if total > c.MAX_PROPOSAL_CLICKS:
        raise ValidationFailed(
            f"a proposal takes at most {c.MAX_PROPOSAL_CLICKS} clicks in all; this one would "
            f"have {total}: start a new one", {"field": "points"})


def _check_refinement(command: c.Assist, refining: Refining, output: str,
                      model_id: str | None) -> None:
    if command.mode != "clicks":
        raise ValidationFailed("a proposal is refined with clicks (mode 'clicks')",
                               {"field": "mode"})
    if output != refining.output:
        raise ValidationFailed(f"this proposal is a {refining.output}; a refinement keeps it "
                               f"one", {"field": "output"})
    if model_id != refining.model_id:
        raise ValidationFailed("a refinement uses the engine that made the proposal",
                               {"field": "model_id"})


def _check_model(model_id: str, image: ImageFacts,
                 find_model: Callable[[str], Model] | None) -> None:
    """``model_id`` names an interactive model of the image's project, not retired."""
    if find_model is None:
        raise ValidationFailed("this server has no engine for interactive models",
                               {"field": "model_id"})
    try:
        model = find_model(model_id)
    except (NotFound, ValueError):
        model = None
    if model is None or model.project_id != image.project_id:
        raise NotFound(f"no model {model_id!r} in this image's project", {"field": "model_id"})
    if model.task != "interactive":
        raise ValidationFailed(
            f"model {model.name!r} is a {model.task} model; assist needs an interactive one",
            {"field": "model_id", "task": model.task})
    if model.retired:
        raise ValidationFailed(f"model {model.name!r} is retired", {"field": "model_id"})


def _as_output(geometry: g.Geometry, request: AssistRequest, engine: str) -> g.Geometry:
    """``geometry`` as the kind ``request.output`` names, validated against the image. Only
    lossless or obvious conversions are made here (a box as a polygon or a filled mask, a
    mask or polygon as its bounding box); an engine answers polygons from masks itself."""
    width, height = request.image.width, request.image.height
    wanted = request.output
    if not isinstance(geometry, g.Box | g.Polygon | g.Mask):
        raise RuntimeError(f"the {engine} proposed a {type(geometry).__name__}")
    if geometry.kind != wanted:
        if isinstance(geometry, g.Box) and wanted == "polygon":
            x0, y0 = geometry.x, geometry.y
            x1, y1 = x0 + geometry.w, y0 + geometry.h
            geometry = g.Polygon(((x0, y0), (x1, y0), (x1, y1), (x0, y1)))
        elif isinstance(geometry, g.Box) and wanted == "mask":
            pixels = np.zeros((height, width), dtype=np.bool_)
            pixels[round(geometry.y):round(geometry.y + geometry.h),
                   round(geometry.x):round(geometry.x + geometry.w)] = True
            geometry = g.Mask(rle.encode(pixels))
        elif isinstance(geometry, g.Mask | g.Polygon) and wanted == "box":
            found = g.bbox(geometry)
            if found is None or found[2] <= 0 or found[3] <= 0:
                raise ValidationFailed("no object was found at these clicks",
                                       {"field": "points"})
            geometry = g.Box(*found)
        else:
            raise ValidationFailed(f"the {engine} cannot answer a {wanted}",
                                   {"field": "output"})
    if isinstance(geometry, g.Mask) and not rle.area(geometry.rle):
        raise ValidationFailed("no object was found at these clicks", {"field": "points"})
    try:
        return g.parse_geometry(wanted, geometry.to_json(), width, height)
    except ValidationFailed as e:  # e.g. a polygon of a few pixels: nothing usable found
        log.warning("the %s proposed an invalid %s: %s", engine, wanted, e)
        raise ValidationFailed(f"no usable {wanted} was found at these clicks",
                               {"field": "points"}) from e


def default_registry() -> AssistRegistry:
    """The engines that need nothing from outside the domain."""
    registry = AssistRegistry()
    registry.register("extreme_points", ExtremePoints(), inline=True)
    return registry
