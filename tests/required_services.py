"""What a test does when a service it needs is missing (PostgreSQL, Redis, Chromium...).

Locally the test is skipped with a loud reason. Under ``CI=true`` (``.ci/run``) it fails: a
CI run that silently skipped the PostgreSQL, Redis or browser tests would pass without testing
what the deployment uses.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the calling test (fixture) because ``reason``; under ``CI=true`` fail it."""
    if in_ci():
        pytest.fail(f"{reason}; CI=true, so a missing service fails the run "
                    "(scripts/ensure-services, scripts/ensure-browser)", pytrace=False)
    pytest.skip(f"NOT TESTED: {reason} (start it with `make services`; "
                "under CI=true this is a failure)")
