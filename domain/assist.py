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
composition root (``registry.register("clicks", SamClicks(weights))``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from domain import commands as c
from domain import geometry as g
from domain.errors import DomainError, ValidationFailed

log = logging.getLogger(__name__)

Points = tuple[tuple[float, float, int], ...]


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


class AssistEngine(Protocol):
    """The one interface of an assist engine: clicks on an image in, a geometry out.

    Raise ``ValidationFailed`` for input the engine cannot use (it reaches the client as
    422). It runs on a worker thread (or, if registered ``inline``, on the caller's thread:
    only for engines that take microseconds), never in the command writer."""

    def propose(self, request: AssistRequest) -> g.Geometry: ...


class ExtremePoints:
    """Four extreme clicks (left, top, right, bottom) → the tight box through them."""

    def propose(self, request: AssistRequest) -> g.Geometry:
        if len(request.points) != 4:
            raise ValidationFailed("extreme_points needs exactly 4 points", {"field": "points"})
        return g.box_from_extreme_points([(x, y) for x, y, _ in request.points],
                                         request.image.width, request.image.height)


class AssistRegistry:
    """The engines available in this process, by mode."""

    def __init__(self) -> None:
        self._engines: dict[str, tuple[AssistEngine, bool]] = {}

    def register(self, mode: str, engine: AssistEngine, *, inline: bool = False) -> None:
        """Serve ``mode`` with ``engine`` (replacing any engine it had). ``inline``: cheap
        enough (microseconds, no model) to run on the submitting thread without a hop."""
        if mode not in c.ASSIST_MODES:
            raise ValueError(f"assist mode {mode!r} is not one of the API's {c.ASSIST_MODES}")
        self._engines[mode] = (engine, inline)

    @property
    def modes(self) -> list[str]:
        return sorted(self._engines)

    def inline(self, mode: str) -> bool:
        """Whether ``mode`` can be prepared on the caller's thread (an unknown mode can: it
        is refused at once)."""
        found = self._engines.get(mode)
        return found is None or found[1]

    def propose(self, mode: str, points: Points, image: ImageFacts) -> g.Geometry:
        found = self._engines.get(mode)
        if found is None:
            raise ValidationFailed(
                f"assist mode {mode!r} needs a learned assist model, and none is configured",
                {"field": "mode", "available": self.modes},
            )
        return found[0].propose(AssistRequest(mode, points, image))

    def prepare(self, command: c.Assist, image: ImageFacts) -> c.Assist:
        """``command`` with its proposal computed on ``image``. An engine's error is kept in
        the proposal, not raised: the aggregate raises it after the checks that came before
        the engine when it ran inside the decision (role, base_version, label), so answers
        stay the same. A preview calls this and then ``proposal.result()``."""
        try:
            proposal = c.Proposal(image.image_id, self.propose(command.mode, command.points,
                                                               image))
        except Exception as e:  # raised again by the aggregate (logged there if unexpected)
            if not isinstance(e, DomainError):
                log.debug("assist engine %r failed", command.mode, exc_info=True)
            proposal = c.Proposal(image.image_id, None, e)
        return dataclasses.replace(command, proposal=proposal)


def default_registry() -> AssistRegistry:
    """The engines that need nothing from outside the domain."""
    registry = AssistRegistry()
    registry.register("extreme_points", ExtremePoints(), inline=True)
    return registry
