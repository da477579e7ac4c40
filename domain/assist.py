"""Assisted drawing: turning a few clicks into a proposed geometry.

The Image aggregate asks an ``AssistEngine`` for a geometry; which engines are available is
decided by the composition root. Extreme clicking (Papadopoulos et al., ICCV 2017: the
left-, top-, right- and bottom-most points of the object) needs no model: the tight box
through the four points. Learned engines (masks from clicks or a box) plug in under their
mode name.
"""

from __future__ import annotations

from typing import Protocol

from domain import geometry as g
from domain.errors import ValidationFailed

Points = tuple[tuple[float, float, int], ...]


class AssistMode(Protocol):
    def __call__(self, points: Points, width: int, height: int) -> g.Geometry: ...


def extreme_points_box(points: Points, width: int, height: int) -> g.Geometry:
    if len(points) != 4:
        raise ValidationFailed("extreme_points needs exactly 4 points", {"field": "points"})
    return g.box_from_extreme_points([(x, y) for x, y, _ in points], width, height)


class AssistEngine:
    """Dispatches an assist request to the engine registered for its mode."""

    def __init__(self, modes: dict[str, AssistMode] | None = None) -> None:
        self.modes: dict[str, AssistMode] = {"extreme_points": extreme_points_box}
        self.modes.update(modes or {})

    def propose(self, mode: str, points: Points, width: int, height: int) -> g.Geometry:
        engine = self.modes.get(mode)
        if engine is None:
            raise ValidationFailed(
                f"assist mode {mode!r} needs a learned assist model, and none is configured",
                {"field": "mode", "available": sorted(self.modes)},
            )
        return engine(points, width, height)
