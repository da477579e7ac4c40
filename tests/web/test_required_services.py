"""A missing service skips its tests locally and fails them under CI=true."""

from __future__ import annotations

import pytest

from tests.required_services import unavailable


def test_locally_a_missing_service_is_a_loud_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="NOT TESTED: Redis is down"):
        unavailable("Redis is down")


def test_under_ci_a_missing_service_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Redis is down; CI=true"):
        unavailable("Redis is down")
