"""Random JSON at the commands endpoint: always a 4xx in the error shape, never an event."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.commands import COMMAND_TYPES
from tests.web.conftest import Site, check_schema

_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
_keys = st.sampled_from(["type", "annotation", "annotation_id", "changes", "base_revision",
                         "base_version", "command_id", "mode", "points", "label", "verdict",
                         "comment", "commands", "geometry"])
# Bodies that look like commands, so the fuzzing gets past the first checks often.
_commandish = st.fixed_dictionaries(
    {"type": st.sampled_from([*COMMAND_TYPES, "propose", "", "CREATE"])},
    optional={"annotation": st.fixed_dictionaries(
        {"type": st.sampled_from(["box", "polygon", "mask", "point", "tag", "cube"]),
         "label": st.sampled_from(["cat", "dog", "nope", ""]), "geometry": _json}),
        "annotation_id": _json, "changes": _json, "base_revision": _json,
        "mode": _json, "points": _json, "verdict": _json, "label": _json})
_bodies = _json | st.dictionaries(_keys, _json, max_size=5) | _commandish | st.builds(
    lambda cmds: {"commands": cmds}, st.lists(_commandish | _json, max_size=3))


@pytest.fixture(scope="module")
def target(shared_site: Site) -> str:
    pid = shared_site.new_project()
    return shared_site.new_image(pid)


def _is_valid_command(body: Any) -> bool:
    """Bodies that could legitimately succeed (hypothesis rarely builds one; skip them)."""
    cmds = body.get("commands") if isinstance(body, dict) and "commands" in body else [body]
    return isinstance(cmds, list) and all(
        isinstance(c, dict) and c.get("type") in ("submit", "assist", "create", "reopen")
        for c in cmds)  # reopen: a bare one is valid once an earlier example submitted the image


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=_bodies)
def test_random_bodies_are_refused_cleanly(shared_site: Site, target: str, body: Any) -> None:
    head = shared_site.head()
    response = shared_site.command(target, body, user="reviewer")
    if response.status_code == 200:
        assert _is_valid_command(body), body  # only a well-formed command may get through
        return
    assert 400 <= response.status_code < 500, (response.status_code, response.text, body)
    check_schema(response.json(), "Error")
    assert shared_site.head() == head
