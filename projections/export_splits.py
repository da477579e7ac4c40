"""Train/val/test splits of an export: ``split=train:0.8,val:0.1,test:0.1`` and ``seed``.

An image's split is a function of the seed and the image's content hash (its ``sha256``) only:
``sha256("<seed>:<image sha256>")`` read as a number in [0, 1) falls into one of the
fractions, taken in the order given. It does not depend on which other images the project has,
on the order of the rows or on the position exported, so an image keeps its split in every
later export as images are added (and the same bytes uploaded to two projects land in the same
split of each). The fractions hold for large numbers of images, not exactly for a handful.

Names are 1-32 characters of ``a-z 0-9 _ -`` starting with a letter (they become folder and
file names), at most 8 splits, each fraction above 0, the fractions adding up to 1. Without a
``split`` every image is in ``train``.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from domain.errors import ValidationFailed

SPLIT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_SPLITS = 8
MAX_SEED = 2**63 - 1
_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class SplitPlan:
    """Named fractions and the seed that assigns images to them."""

    fractions: tuple[tuple[str, float], ...] = (("train", 1.0),)
    seed: int = 0

    @property
    def names(self) -> list[str]:
        """The split names, in the order given."""
        return [name for name, _ in self.fractions]

    def of(self, image: dict[str, Any]) -> str:
        """The split of ``image`` (an export row's image: its ``sha256``, else its ``id``)."""
        if len(self.fractions) == 1:
            return self.fractions[0][0]
        key = image.get("sha256") or str(image["id"])
        digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
        total = 0.0
        for name, fraction in self.fractions:
            total += fraction
            if point < total:
                return name
        return self.fractions[-1][0]  # rounding: the fractions add up to 1 within 1e-6


DEFAULT_SPLIT = SplitPlan()


def parse_split(raw: str | None, seed: int | None = None) -> SplitPlan:
    """The plan of ``split`` (``name:fraction,...``) and ``seed`` (``ValidationFailed`` with
    ``field`` ``split`` or ``seed`` and the reason when either is malformed)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed <= MAX_SEED):
        raise ValidationFailed(f"seed must be a whole number from 0 to {MAX_SEED}",
                               {"field": "seed"})
    if raw is None or not raw.strip():
        return SplitPlan(seed=seed or 0)
    fractions: list[tuple[str, float]] = []
    for part in raw.split(","):
        name, colon, value = part.strip().partition(":")
        if not colon:
            raise _bad(f"{part.strip()!r} is not name:fraction")
        if not SPLIT_NAME.fullmatch(name):
            raise _bad(f"split name {name!r} must be 1-32 characters of a-z, 0-9, _ and -, "
                       "starting with a letter")
        if name in (n for n, _ in fractions):
            raise _bad(f"split {name!r} is named twice")
        try:
            fraction = float(value)
        except ValueError:
            raise _bad(f"the fraction of {name!r} is not a number: {value!r}") from None
        if not math.isfinite(fraction) or not 0 < fraction <= 1:
            raise _bad(f"the fraction of {name!r} must be above 0 and at most 1")
        fractions.append((name, fraction))
    if len(fractions) > MAX_SPLITS:
        raise _bad(f"at most {MAX_SPLITS} splits")
    total = sum(f for _, f in fractions)
    if abs(total - 1.0) > _TOLERANCE:
        raise _bad(f"the fractions add up to {total:g}, not 1")
    return SplitPlan(tuple(fractions), seed or 0)


def _bad(reason: str) -> ValidationFailed:
    return ValidationFailed(f"split: {reason} (e.g. train:0.8,val:0.1,test:0.1)",
                            {"field": "split"})
