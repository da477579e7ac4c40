"""orjson transcoder for stored events.

Event payloads are JSON-native by design (strings, numbers, lists, dicts). The only non-JSON
values eventsourcing itself puts in event state are datetimes (``timestamp`` on every event and
the ``_created_on``/``_modified_on`` attributes inside snapshot state), so those are tagged on the
way in and restored on the way out: at the top level, and one level down under ``state``
(snapshots). Nothing else is walked, which keeps decoding cheap.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder

_TAG = "_type_"
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return {_TAG: "datetime", "_data_": obj.isoformat()}
    if isinstance(obj, UUID):
        return {_TAG: "uuid", "_data_": obj.hex}
    if isinstance(obj, (tuple, frozenset, set)):
        return list(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} in an event")


def _restore(value: Any) -> Any:
    if isinstance(value, dict) and _TAG in value:
        kind = value[_TAG]
        if kind == "datetime":
            return datetime.fromisoformat(value["_data_"])
        if kind == "uuid":
            return UUID(value["_data_"])
    return value


class OrjsonTranscoder(Transcoder):
    """Encodes event state with orjson; restores tagged datetimes/UUIDs (see the module doc)."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=_default, option=_OPTIONS)

    def decode(self, data: bytes) -> Any:
        state = orjson.loads(data)
        if isinstance(state, dict):
            for key, value in state.items():
                if type(value) is dict and _TAG in value:
                    state[key] = _restore(value)
            inner = state.get("state")  # a snapshot's aggregate state
            if type(inner) is dict:
                for key, value in inner.items():
                    if type(value) is dict and _TAG in value:
                        inner[key] = _restore(value)
        return state
