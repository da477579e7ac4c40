"""A Site's app under a real uvicorn server in a thread of the test process, so requests
really overlap while the test can still reach into the services (pause the runner, say)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.realtime.nodes import free_port
from tests.web.conftest import Site, sqlite_settings


class Served:
    """A Site's app under uvicorn on a free port, in a thread of this process."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.port = free_port()
        config = uvicorn.Config(site.app, host="127.0.0.1", port=self.port, lifespan="off",
                                log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(name="served")
def served_fixture(tmp_path: Path) -> Iterator[Served]:
    site = Site(sqlite_settings(tmp_path / "data"))
    s = Served(site)
    yield s
    s.close()
    site.close()
