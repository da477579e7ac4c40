"""Browser tests of the web UI: a real ``labelwright demo`` and Debian's Chromium via Playwright.

One demo server per test session (per xdist worker), on a free port with its own data dir.
Each test makes its own image(s) through the API, so tests do not see each other's work.
Screenshots of every screen go to ``test-artifacts/screenshots/`` (gitignored).

Never downloads a browser: the tests use ``/usr/bin/chromium`` (``LABELWRIGHT_CHROMIUM``) and
are skipped when it or Playwright is missing, and fail under ``CI=true``
(``tests/required_services.py``; ``test_ui_assets`` needs neither).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import CHROMIUM, CHROMIUM_ARGS, DemoServer, free_port, start_demo, stop_demo
from tests.required_services import unavailable


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    data = tmp_path_factory.mktemp("lw-browser")
    port = free_port()
    proc = start_demo(data, port)
    try:
        srv = DemoServer(f"http://127.0.0.1:{port}", data, proc)
        projects = srv.api("admin").get("/projects")["projects"]
        srv.project_id = next(p["id"] for p in projects if p["name"] == "Demo: everyday objects")
        yield srv
    finally:
        stop_demo(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright import sync_api
    except ImportError:
        unavailable("Playwright is not installed")
    if not Path(CHROMIUM).exists():
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    """Factory of browser contexts (each one a separate person), closed after the test."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        # bypass_csp: Playwright's wait_for_function evaluates strings, which the page's
        # Content-Security-Policy (no eval) would refuse.
        options = {"viewport": {"width": 1440, "height": 900}, **options}
        ctx = browser.new_context(bypass_csp=True, **options)
        ctx.set_default_timeout(15000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        with contextlib.suppress(Exception):
            ctx.close()


