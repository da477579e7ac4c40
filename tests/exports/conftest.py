from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.exports.lab import Lab


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    workspace = Lab(tmp_path)
    yield workspace
    workspace.close()
