"""Projection ``image_scores``: per model, the newest score of each image (issue 11: what
active-learning selection ranks).

Built from ``ScoredShard.ShardScored`` (``domain.image_scores``): one row per
``(model_id, image_id)``; a later score of the same image by the same model (another score
job, later in the log) replaces the row, so the row always holds the score of the highest
``position``. The decoded form keeps what selection needs compact and cheap to read back:

* ``least_confidence``, ``margin``, ``entropy``, ``stability``: the event's uncertainty
  numbers (higher = less sure; NULL where the model gave none, e.g. ``stability`` of a
  classifier);
* ``probabilities``: little-endian float32 bytes of the class probabilities;
* ``embedding``: the event's little-endian float16 bytes (``dims`` wide), or NULL;
* ``boxes``: how many detections the image had.

Queries: ``ReadModels.score_summary`` and ``ReadModels.image_scores``; the use case is
``service_layer.selection``.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any

from domain.image_scores import ScoredShard
from event_store.log_reader import LoggedEvent
from projections.database import Cursor
from projections.projection import Projection

SCORE_COLUMNS = ("model_id", "image_id", "project_id", "job_id", "position",
                 "least_confidence", "margin", "entropy", "stability", "probabilities",
                 "embedding", "dims", "boxes")
UNCERTAINTY_COLUMNS = ("least_confidence", "margin", "entropy", "stability")

_UPSERT = (
    f"INSERT INTO image_scores ({', '.join(SCORE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(SCORE_COLUMNS))}) "
    "ON CONFLICT (model_id, image_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in SCORE_COLUMNS[2:]))


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _float32_bytes(values: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def score_row(le: LoggedEvent, score: dict[str, Any]) -> tuple[Any, ...]:
    """The row of one entry of a ``ShardScored`` event's ``scores``."""
    e = le.event
    uncertainty = score.get("uncertainty") or {}
    embedding = score.get("embedding")
    return (
        e.model_id, score["image_id"], e.project_id, e.job_id, le.position,
        *(_number(uncertainty.get(k)) for k in UNCERTAINTY_COLUMNS),
        _float32_bytes(score.get("probabilities") or []),
        base64.b64decode(embedding) if embedding else None,
        int(score.get("dims") or 0), int(score.get("boxes") or 0),
    )


class ImageScores(Projection):
    """The newest score of each image, per model."""

    name = "image_scores"
    tables = ("image_scores",)

    def apply(self, cur: Cursor, events: Sequence[LoggedEvent]) -> None:
        rows: dict[tuple[str, str], tuple[Any, ...]] = {}
        for le in events:
            if type(le.event) is not ScoredShard.ShardScored:
                continue
            for score in le.event.scores:
                row = score_row(le, score)
                rows[(row[0], row[1])] = row  # later in the log wins
        if rows:
            cur.executemany(_UPSERT, list(rows.values()))
