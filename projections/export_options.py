"""What an export is asked for besides format and position (:class:`ExportOptions`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from projections.export_files import ImageFiles
from projections.export_splits import DEFAULT_SPLIT, SplitPlan

EXPORTED_STATUSES = frozenset({"accepted", "edited", "manual"})
"""Annotation states every label export contains (``proposed`` with ``include_proposed``)."""
WITH_PROPOSED = EXPORTED_STATUSES | {"proposed"}


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """The choices of one export.

    ``include_proposed`` adds pending pre-labels where the format has room for them;
    ``images``, when given, is where the image files are read from to put them in the archive
    (``images=true``); ``split`` assigns each image to a split (:mod:`projections.export_splits`).
    """

    include_proposed: bool = False
    images: ImageFiles | None = None
    split: SplitPlan = DEFAULT_SPLIT

    @property
    def statuses(self) -> frozenset[str]:
        """The annotation states the export contains."""
        return WITH_PROPOSED if self.include_proposed else EXPORTED_STATUSES

    def exported(self, annotation: dict[str, Any]) -> bool:
        """Whether ``annotation`` belongs in the export (by its status)."""
        return annotation.get("status") in self.statuses


def attributes_of(annotation: dict[str, Any]) -> dict[str, Any]:
    """The annotation's per-object attributes (``{}`` when the row has none)."""
    found = annotation.get("attributes")
    return found if isinstance(found, dict) else {}
