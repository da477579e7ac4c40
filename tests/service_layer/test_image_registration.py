"""Staging server-side paths refuses with domain errors (the web layer maps their codes), so
the CLI and workers can call it without the HTTP layer."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from domain.errors import Forbidden, TooLarge, ValidationFailed
from service_layer.image_registration import staged_paths


def settings_for(data_dir: Path) -> SimpleNamespace:
    return SimpleNamespace(data_dir=data_dir, import_dirs=[])


def test_paths_outside_the_import_roots_are_forbidden(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (tmp_path / "outside.png").write_bytes(b"x")
    with pytest.raises(Forbidden) as refused:
        staged_paths(["../outside.png"], settings_for(data_dir), 1000)
    assert refused.value.code == "forbidden"
    assert refused.value.details == {"field": "paths[0]"}


def test_missing_and_oversized_files_are_validation_and_too_large(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(b"x" * 11)
    with pytest.raises(ValidationFailed) as missing:
        staged_paths(["nope.png"], settings_for(tmp_path), 10)
    assert missing.value.details == {"field": "paths[0]"}
    with pytest.raises(TooLarge) as too_large:
        staged_paths(["big.png"], settings_for(tmp_path), 10)
    assert too_large.value.code == "too_large"
    assert too_large.value.details == {"field": "file", "file_name": "big.png", "limit": 10}


def test_a_folder_stages_its_image_files_only(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    (tmp_path / "notes.txt").write_bytes(b"txt")
    staged = staged_paths(["."], settings_for(tmp_path), 1000)
    assert [f.file_name for f in staged] == ["a.png"]
